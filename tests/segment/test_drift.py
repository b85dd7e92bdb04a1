"""Population drift (PSI on frozen bins) and segment migration between two scorings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segml
from segml.segment.drift import baseline_of, psi, segment_shares


def population(n: int, rng: np.random.Generator, top: float = 0.1, shift: float = 1.0):
    """Customers in three segments (``top`` of them in segment 0) with a skewed value,
    a value with a mass of ties (one-time buyers) and a text attribute."""
    seg = rng.choice([0, 1, 2], size=n, p=[top, (1 - top) / 2, (1 - top) / 2])
    ties = np.where(rng.random(n) < 0.5, 7.0, rng.gamma(2.0, 10.0, n))
    return pd.DataFrame(
        {
            "segment": seg,
            "clv": rng.lognormal(3.0, 1.0, n) * shift,
            "tied": ties,
            "region": rng.choice(["north", "south", "east"], size=n),
        }
    )


def test_psi_grows_with_the_gap_between_shares() -> None:
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    small, large = psi([0.5, 0.5], [0.55, 0.45]), psi([0.5, 0.5], [0.8, 0.2])
    assert 0 < small < 0.1 < 0.25 < large
    # an empty bin is a large, finite term (shares floored at 1e-4)
    assert np.isfinite(psi([0.5, 0.5], [1.0, 0.0]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=8), st.data())
def test_psi_is_never_negative(weights, data) -> None:
    other = data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(weights), max_size=len(weights)))
    b = np.array(weights) / sum(weights)
    c = np.array(other) / sum(other)
    assert psi(b, c) >= -1e-12


def test_same_population_is_stable_in_nineteen_of_twenty_batches() -> None:
    """False positives: batches drawn from the training population are 'stable' on every
    quantity (bins frozen on the baseline, ties in one bin)."""
    rng = np.random.default_rng(0)
    base = baseline_of(population(5000, rng), ["clv", "tied", "region"])
    flagged = sum(
        int((segml.drift(base, population(5000, rng))["band"] != "stable").any()) for _ in range(20)
    )
    assert flagged <= 1


def test_a_planted_shift_is_reported_shifted() -> None:
    rng = np.random.default_rng(1)
    base = baseline_of(population(5000, rng), ["clv", "tied", "region"])
    # segment 0 doubles and the value doubles (0.7 sd on the log scale); the rest unchanged
    report = segml.drift(base, population(5000, rng, top=0.2, shift=2.0))
    # a 10 % segment doubling is PSI 0.1 ln 2 + 2 (0.05 ln(0.45 / 0.40)) = 0.081 by itself:
    # the shares table shows it, the value's PSI carries the alarm
    assert report.loc["segment", "psi"] == pytest.approx(0.081, abs=0.03)
    assert report.loc["clv", "psi"] > 0.25 and report.loc["clv", "band"] == "shifted"
    assert report.loc["tied", "band"] == "stable" and report.loc["region", "band"] == "stable"
    doubled = population(5000, rng, top=0.4)
    assert segml.drift(base, doubled).loc["segment", "psi"] > 0.25
    shares = segment_shares(base, doubled)
    assert shares.loc[0, "current_share"] == pytest.approx(0.4, abs=0.03)
    assert shares.loc[0, "baseline_share"] == pytest.approx(0.1, abs=0.02)


def test_a_previous_scoring_as_the_baseline() -> None:
    rng = np.random.default_rng(2)
    before = population(3000, rng)
    report = segml.drift(before, before)
    assert set(report.index) == {"segment", "clv", "tied", "region"}
    assert (report["psi"] == 0).all()
    assert (report["n_baseline"] == 3000).all()


def test_missing_values_have_a_bin_of_their_own() -> None:
    rng = np.random.default_rng(3)
    before = population(3000, rng)
    after = before.copy()
    after.loc[: len(after) // 2, "clv"] = np.nan
    report = segml.drift(baseline_of(before, ["clv"]), after)
    assert report.loc["clv", "missing_share"] == pytest.approx(0.5, abs=0.01)
    assert report.loc["clv", "band"] == "shifted"


scorings = st.lists(
    st.tuples(st.sampled_from(list("abcdefghij")), st.integers(-1, 3)),
    max_size=10,
    unique_by=lambda t: t[0],
)


@settings(max_examples=100, deadline=None)
@given(scorings, scorings)
def test_migration_conserves_customers(first, second) -> None:
    previous = pd.DataFrame(first, columns=["customer_id", "segment"])
    current = pd.DataFrame(second, columns=["customer_id", "segment"])
    moves = segml.migration(previous, current)
    rows = moves.drop(index="new", errors="ignore").sum(axis=1)
    cols = moves.drop(columns="lost", errors="ignore").sum(axis=0)
    assert set(previous["segment"]) <= set(rows.index)
    assert set(current["segment"]) <= set(cols.index)
    for seg, total in rows.items():
        assert total == (previous["segment"] == seg).sum()
    for seg, total in cols.items():
        assert total == (current["segment"] == seg).sum()
    everyone = set(previous["customer_id"]) | set(current["customer_id"])
    assert int(moves.to_numpy().sum()) == len(everyone)


def test_migration_of_value() -> None:
    previous = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "segment": [0, 0, 1], "clv": [5.0, 4.0, 3.0]}
    )
    current = pd.DataFrame(
        {"customer_id": ["a", "b", "d"], "segment": [0, 1, 1], "clv": [6.0, 2.0, 1.0]}
    )
    moves = segml.migration(previous, current, value="clv")
    assert moves.loc[0, 0] == 6.0 and moves.loc[0, 1] == 2.0
    assert moves.loc[1, "lost"] == 3.0  # a lost customer's value is the previous one
    assert moves.loc["new", 1] == 1.0


def test_a_scoring_listing_a_customer_twice_is_refused() -> None:
    twice = pd.DataFrame({"customer_id": ["a", "a"], "segment": [0, 1]})
    with pytest.raises(segml.DataError, match="lists a customer twice"):
        segml.migration(twice, twice)
