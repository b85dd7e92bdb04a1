"""Parameter uncertainty: intervals of the parameters and of every prediction."""

from __future__ import annotations

import numpy as np
import pytest

import segml


@pytest.fixture(scope="module")
def booted(cdnow) -> tuple[segml.CLVModel, object]:
    clv = segml.CLVModel().fit(cdnow).bootstrap(cdnow, n_draws=200, random_state=0)
    return clv, clv.predict(cdnow, horizon=39, interval=0.9, interval_kind="parameter")


def test_bootstrap_on_cdnow_reproduces_the_reference_intervals(cdnow, booted) -> None:
    clv, scores = booted
    assert clv.draws_.failed == 0 and len(clv.draws_.frequency) == 200
    # bootstrap SDs of the reference (500 refits): r 0.0144, alpha 0.455, a 0.195, b 0.757
    sd = clv.draws_.frame().std()
    for name, ref in {"r": 0.0144, "alpha": 0.455, "a": 0.195, "b": 0.757}.items():
        assert sd[name] == pytest.approx(ref, rel=0.25), name
    total, low, high = scores.attrs["interval"]["totals"]["expected_purchases"]
    assert total == pytest.approx(1653.4, abs=0.1)
    assert low == pytest.approx(1531, rel=0.03) and high == pytest.approx(1784, rel=0.03)
    # the actual 1,882 lies above it: the model's known under-forecast on CDNOW
    assert cdnow["holdout_frequency"].sum() == 1882 > high
    one = scores[(cdnow["frequency"] == 2) & (cdnow["recency"].round(2) == 30.43)]
    one = one[cdnow.loc[one.index, "T"].round(2) == 38.86].iloc[0]
    assert one["expected_purchases"] == pytest.approx(1.2260, abs=1e-4)
    assert one["expected_purchases_lower"] == pytest.approx(1.156, rel=0.02)
    assert one["expected_purchases_upper"] == pytest.approx(1.311, rel=0.02)


def test_every_customer_gets_an_ordered_interval(booted) -> None:
    _, scores = booted
    for col in ("expected_purchases", "p_alive", "expected_spend", "clv"):
        low, high = scores[f"{col}_lower"], scores[f"{col}_upper"]
        assert low.notna().all() and (low <= high + 1e-12).all(), col


def test_identical_histories_get_the_same_interval(cdnow, booted) -> None:
    _, scores = booted
    key = ["frequency", "recency", "T", "monetary_value"]
    spread = scores.join(cdnow[key]).groupby(key)[["clv_lower", "clv_upper"]].nunique()
    assert (spread == 1).all().all()


def test_a_parameter_interval_is_no_forecast_of_the_count(cdnow, booted) -> None:
    # It holds about 1 % of the actual holdout purchases (a nominal 90 % predictive
    # interval would hold about 95 %).
    _, scores = booted
    actual = cdnow["holdout_frequency"]
    inside = (actual >= scores["expected_purchases_lower"]) & (
        actual <= scores["expected_purchases_upper"]
    )
    assert inside.mean() < 0.03


def test_a_parameter_interval_is_labelled_as_one(booted) -> None:
    _, scores = booted
    assert scores.attrs["interval"]["kind"] == "parameter"


def test_predictive_intervals_cover_the_holdout_purchases(cdnow, booted) -> None:
    from segml.clv.uncertainty import predictive_draws

    clv, _ = booted
    scores = clv.predict(cdnow, horizon=39, interval=0.9)
    assert scores.attrs["interval"]["kind"] == "predictive"
    actual = cdnow["holdout_frequency"].to_numpy()
    inside = (actual >= scores["expected_purchases_lower"]) & (
        actual <= scores["expected_purchases_upper"]
    )
    # the reference's 0.947, within 0.93-0.97 (discrete counts make a 90 % interval conservative)
    assert 0.93 <= inside.mean() <= 0.97
    # randomised PIT of the actual counts: each decile holds 8-12 % of the customers
    sim = predictive_draws(clv, cdnow, clv.draws_, 39.0, 0.0, random_state=1)
    sims = sim.counts[:, sim.rows.inverse]
    below, at_most = (sims <= actual - 1).mean(axis=0), (sims <= actual).mean(axis=0)
    pit = below + np.random.default_rng(0).random(len(actual)) * (at_most - below)
    shares = np.histogram(pit, bins=10, range=(0, 1))[0] / len(actual)
    assert ((shares >= 0.08) & (shares <= 0.12)).all(), shares
    total, low, high = scores.attrs["interval"]["totals"]["expected_purchases"]
    # the reference's predictive portfolio interval is about [1,487, 1,825]
    assert low == pytest.approx(1487, rel=0.03) and high == pytest.approx(1825, rel=0.03)
    assert low < total < high
    assert (scores["clv_lower"] <= scores["clv_upper"]).all()
    # identical histories, identical predictive intervals
    key = ["frequency", "recency", "T", "monetary_value"]
    spread = scores.join(cdnow[key]).groupby(key)["expected_purchases_upper"].nunique()
    assert (spread == 1).all()


def test_portfolio_total_sums_independent_customers(cdnow, booted) -> None:
    from segml.clv.uncertainty import predictive_draws

    clv, _ = booted
    sim = predictive_draws(clv, cdnow, clv.draws_, 39.0, 0.0, random_state=2)
    # Customers sharing a history are separate customers: the total is not a row's draw
    # times its weight. Across draws its variance is the parameter variance plus each
    # customer's own process variance, which a weighted sum of row draws would inflate.
    weighted = sim.counts.astype(float) @ sim.rows.weights
    totals = sim.totals["expected_purchases"]
    assert totals.mean() == pytest.approx(weighted.mean(), rel=0.02)
    assert totals.std() < 0.85 * weighted.std()
    assert sim.counts.shape == (len(clv.draws_.frequency), len(sim.rows.weights))


def test_an_interval_needs_bootstrap_draws(cdnow) -> None:
    clv = segml.CLVModel().fit(cdnow)
    with pytest.raises(segml.DataError, match=r"call clv.bootstrap\(training_table\)"):
        clv.predict(cdnow, interval=0.9)


def test_an_interval_level_is_a_fraction(cdnow) -> None:
    clv = segml.CLVModel().fit(cdnow)
    with pytest.raises(segml.DataError, match="a level in"):
        clv.bootstrap(cdnow, n_draws=5).predict(cdnow, interval=90)


def test_parameter_intervals_cover_the_truth_at_the_nominal_rate() -> None:
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    hits = dict.fromkeys(truth, 0)
    reps = 400
    for seed in range(reps):
        table = segml.simulate_customers(3000, frequency_params=truth, random_state=seed)
        ci = segml.BetaGeo().fit(table).conf_int(0.9)
        for name, value in truth.items():
            hits[name] += ci.loc[name, "lower"] <= value <= ci.loc[name, "upper"]
    for name, count in hits.items():
        assert 0.86 <= count / reps <= 0.96, (name, count / reps)


def test_conf_int_of_the_spend_model_brackets_its_estimate(cdnow) -> None:
    gg = segml.GammaGamma().fit(cdnow)
    ci = gg.conf_int(0.95)
    assert list(ci.index) == ["p", "q", "gamma"]
    assert ((ci["lower"] < ci["estimate"]) & (ci["estimate"] < ci["upper"])).all()
    weighted = segml.GammaGamma().fit(cdnow, sample_weight=np.full(len(cdnow), 2.0))
    assert weighted.params_ == pytest.approx(gg.params_, rel=1e-5)


def test_draws_travel_with_the_saved_model(cdnow, tmp_path) -> None:
    clv = segml.CLVModel().fit(cdnow).bootstrap(cdnow, n_draws=20, random_state=3)
    path = tmp_path / "clv.json"
    clv.to_json(path)
    loaded = segml.CLVModel.from_json(path)
    assert loaded.draws_.frequency == clv.draws_.frequency
    assert loaded.draws_.method == "refit"
    ours = clv.predict(cdnow, horizon=39, interval=0.9, interval_kind="parameter")
    again = loaded.predict(cdnow, horizon=39, interval=0.9, interval_kind="parameter")
    np.testing.assert_allclose(again["clv_upper"], ours["clv_upper"], rtol=1e-12)


def test_a_refit_drops_the_draws_of_the_earlier_estimate(cdnow) -> None:
    clv = segml.CLVModel().fit(cdnow).bootstrap(cdnow, n_draws=5, random_state=3)
    clv.fit(cdnow)
    assert not hasattr(clv, "draws_")
    assert "draws" not in clv.to_dict()


def test_predictive_draws_repeat_exactly_whatever_the_threads_do(cdnow, booted) -> None:
    from segml.clv.uncertainty import predictive_draws

    clv, _ = booted
    one, two = (predictive_draws(clv, cdnow, clv.draws_, 39.0, 0.1, random_state=7) for _ in "ab")
    assert np.array_equal(one.counts, two.counts) and np.array_equal(one.values, two.values)
    np.testing.assert_array_equal(one.totals["clv"], two.totals["clv"])
