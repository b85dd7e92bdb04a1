"""Value-separation metrics against hand-computed values, invariances, and compare()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from segml.segment.evaluate import compare, separation_metrics, stability

LABELS = np.array([0, 0, 1, 1, 1])
VALUES = np.array([1.0, 3.0, 2.0, 4.0, 6.0])


def test_hand_computed_values() -> None:
    m = separation_metrics(LABELS, VALUES)
    # means 2 and 4, grand mean 3.2; SSB 4.8, SST 14.8, SSW 10 (MSW 10/3)
    assert m["eta2"] == pytest.approx(4.8 / 14.8)
    assert m["omega2"] == pytest.approx((4.8 - 10 / 3) / (14.8 + 10 / 3))
    # ranks 1,3,2,4,5: H = 12/30 * (16/2 + 121/3) - 18 = 4/3; epsilon2 = H / (n - 1)
    assert m["epsilon2"] == pytest.approx((4 / 3) / 4)
    assert m["k"] == 2 and m["min_share"] == pytest.approx(0.4) and m["noise_share"] == 0
    assert m["top_lift"] == pytest.approx(4 / 3.2)
    assert m["top_value_share"] == pytest.approx(12 / 16)
    # Lorenz over segments (0.4, 0.25), (1, 1): area 0.425
    assert m["lorenz_gini"] == pytest.approx(0.15)
    # gain curve (0.6, 0.75), (1, 1): area 0.575; oracle area 0.65
    assert m["gini"] == pytest.approx(0.15)
    assert m["oracle_gini"] == pytest.approx(0.3)
    assert m["normalised_gini"] == pytest.approx(0.5)


def test_log_metrics_use_log1p() -> None:
    m = separation_metrics(LABELS, VALUES)
    ref = separation_metrics(LABELS, np.log1p(VALUES))
    assert m["eta2_log"] == pytest.approx(ref["eta2"])
    assert m["omega2_log"] == pytest.approx(ref["omega2"])


def test_invariant_to_relabelling() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 500)
    values = rng.gamma(1.0, 10.0, 500) + labels * 3
    mapping = np.array([3, 7, 0, 11, 2])
    a = separation_metrics(labels, values)
    b = separation_metrics(mapping[labels], values)
    for key, value in a.items():
        assert b[key] == pytest.approx(value), key


def test_a_perfect_segmentation_scores_one() -> None:
    labels = np.random.default_rng(1).integers(0, 4, 5000)
    perfect = separation_metrics(labels, labels * 10.0 + 1)
    assert perfect["eta2"] == 1.0 and perfect["normalised_gini"] == pytest.approx(1.0)


def test_a_random_segmentation_scores_about_zero() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 5000)
    random = separation_metrics(labels, rng.gamma(2.0, 5.0, 5000))
    assert random["eta2"] < 0.005
    assert abs(random["omega2"]) < 0.005
    assert abs(random["normalised_gini"]) < 0.1


def test_out_of_sample_ranks_by_predicted_value() -> None:
    # The segment predicted best is actually the worst: the ranking Gini turns negative.
    predicted = np.array([1.0, 1.0, 9.0, 9.0])
    actual = np.array([5.0, 5.0, 1.0, 1.0])
    labels = np.array([0, 0, 1, 1])
    m = separation_metrics(labels, actual, ranking_value=predicted)
    assert m["gini"] < 0
    assert m["top_lift"] == pytest.approx(1 / 3)


def test_noise_counts_as_a_group_with_its_share() -> None:
    m = separation_metrics(np.array([-1, 0, 0, 1]), np.array([1.0, 2.0, 2.0, 3.0]))
    assert m["k"] == 2 and m["noise_share"] == 0.25 and m["min_share"] == 0.25


def test_bad_input() -> None:
    with pytest.raises(segml.DataError, match="same length"):
        separation_metrics(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(segml.DataError, match="finite"):
        separation_metrics(np.array([0, 1]), np.array([1.0, np.nan]))


@pytest.fixture(scope="module")
def scored(cdnow) -> pd.DataFrame:
    return cdnow.join(segml.CLVModel().fit(cdnow).predict(cdnow, horizon=39))


def test_compare_names_a_champion_by_the_rule(scored) -> None:
    segs = {
        "tiers": segml.ValueTierSegmenter(),
        "rfm": segml.RFMSegmenter(),
        "repeat": segml.RuleSegmenter([("repeat", "frequency >= 1")]),
        "tiny": segml.RuleSegmenter([("whales", "total_revenue > 2000")]),
    }
    table = compare(segs, scored, min_share=0.05, max_k=12)
    assert list(table.index) == list(segs)
    assert table.attrs["score"] == "oos_normalised_gini"
    assert not table.loc["tiny", "eligible"], "a segment below min_share is not eligible"
    eligible = table[table["eligible"]]
    best = eligible["oos_normalised_gini"].idxmax()
    assert table.loc[best, "tied_with_best"] and table.loc[best, "diff_to_best"] == 0
    assert table.loc[table.attrs["champion"], "tied_with_best"]
    assert table["champion"].sum() == 1
    assert {"is_eta2", "oos_eta2", "oos_top_lift", "kind", "targetable"} <= set(table.columns)
    assert (table["kind"] == "hypothesis").all()


def test_compare_ties_go_to_the_widest_audience(scored) -> None:
    attr = np.where(scored["frequency"] >= 1, "a", "b")
    frame = scored.assign(attr=attr, first_attr=attr)
    segs = {
        "behaviour": segml.RuleSegmenter(
            [("repeat", "frequency >= 1"), ("once", "frequency == 0")]
        ),
        "first_order": segml.RuleSegmenter(
            [("a", "first_attr == 'a'"), ("b", "first_attr == 'b'")]
        ),
        "attribute": segml.RuleSegmenter([("a", "attr == 'a'"), ("b", "attr == 'b'")]),
    }
    messages: list[str] = []
    table = compare(segs, frame, progress=messages.append)
    assert table["targetability"].tolist() == ["behavioural", "acquisition", "prospect"]
    assert table["oos_normalised_gini"].to_numpy() == pytest.approx(
        table.loc["attribute", "oos_normalised_gini"]
    )
    assert table.attrs["champion"] == "attribute"
    assert table.attrs["champion_status"] == "tied with first_order, behaviour"
    # progress names each segmentation, then the intervals
    assert [m.split(" ")[0] for m in messages] == [*segs, "intervals"]


def test_compare_without_holdout_is_in_sample(scored) -> None:
    table = compare({"tiers": segml.ValueTierSegmenter()}, scored.drop(columns="holdout_revenue"))
    assert table.attrs["score"] == "is_normalised_gini"
    assert not any(c.startswith("oos_") for c in table.columns)


def test_stability_of_clusters(scored) -> None:
    seg = segml.ClusterSegmenter("kmeans", k=3, random_state=0).fit(scored)
    s = stability(seg, scored, n_bootstrap=3, random_state=0)
    assert 0.5 < s["ari"] <= 1.0
    assert 0 < s["jaccard_min"] <= s["jaccard_mean"] <= 1


def test_interval_draws_at_unit_weights_are_the_point_estimates(scored) -> None:
    from segml.segment.intervals import GiniDraws

    segs = {"tiers": segml.ValueTierSegmenter(), "rfm": segml.RFMSegmenter()}
    labels = {n: s.fit(scored).predict(scored) for n, s in segs.items()}
    actual, predicted = scored["holdout_revenue"].to_numpy(), scored["clv"].to_numpy()
    got = GiniDraws(labels, actual, predicted).draw(np.ones(len(scored)))
    for name, lab in labels.items():
        want = separation_metrics(lab, actual, ranking_value=predicted)["normalised_gini"]
        assert got[name] == pytest.approx(want, rel=1e-12), name


@pytest.mark.slow
def test_gini_intervals_cover_the_population_value_at_the_nominal_rate() -> None:
    """Samples of 1,500 customers from a population of 300,000 with a known labelling: the
    95 % bootstrap interval of the normalised Gini covers the population's value."""
    from segml.segment.intervals import normalised_gini_draws

    rng = np.random.default_rng(11)
    n_pop = 300_000
    segment = rng.integers(0, 4, n_pop)
    predicted = rng.gamma(2.0, 1.0 + segment)  # the segments differ in value
    actual = rng.poisson(predicted * 0.5) * rng.gamma(3.0, 10.0, n_pop)
    truth = separation_metrics(segment, actual, ranking_value=predicted)["normalised_gini"]
    covered = []
    for _ in range(200):
        idx = rng.integers(0, n_pop, 1_500)
        draws = normalised_gini_draws(
            {"s": segment[idx]}, actual[idx], predicted[idx], n_resamples=200, random_state=rng
        )["s"]
        lo, hi = np.nanpercentile(draws, [2.5, 97.5])
        covered.append(lo <= truth <= hi)
    assert 0.91 <= np.mean(covered) <= 0.985, np.mean(covered)


def _coin() -> segml.RuleSegmenter:
    return segml.RuleSegmenter([("heads", "first_purchase_month <= 2")])


def test_a_copy_of_the_best_segmentation_is_tied_with_it(scored) -> None:
    tiers = segml.ValueTierSegmenter
    segs = {"tiers": tiers(), "copy": tiers(), "coin": _coin()}
    table = compare(segs, scored)
    assert table.attrs["champion_status"].startswith("tied with")
    assert table.loc["copy", "tied_with_best"] and not table.loc["coin", "tied_with_best"]
    assert table.loc["coin", "diff_to_best_high"] < 0


def test_a_clearly_better_segmentation_is_a_clear_champion(scored) -> None:
    alone = compare({"tiers": segml.ValueTierSegmenter(), "coin": _coin()}, scored)
    assert alone.attrs["champion"] == "tiers" and alone.attrs["champion_status"] == "clear"
    low, high = alone.loc["tiers", ["oos_normalised_gini_low", "oos_normalised_gini_high"]]
    assert low < alone.loc["tiers", "oos_normalised_gini"] < high


def test_a_small_comparison_warns_in_words(scored) -> None:
    small = scored.iloc[:200]
    with pytest.warns(UserWarning, match="only 200 customers"):
        table = compare({"tiers": segml.ValueTierSegmenter()}, small)
    assert any("only 200 customers" in w for w in table.attrs["warnings"])


def test_the_noise_group_counts_in_min_share() -> None:
    labels = np.array([0] * 50 + [1] * 48 + [-1] * 2)
    value = np.arange(100.0)
    assert separation_metrics(labels, value)["min_share"] == pytest.approx(0.02)
