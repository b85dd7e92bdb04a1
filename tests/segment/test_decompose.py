"""Hypotheses decomposed into the processes they act on, on make_b2b's planted effects."""

from __future__ import annotations

import pytest

import segml

H = segml.Hypothesis
HYPOTHESES = [
    H("big", "annual_revenue >= 10_000_000"),
    H("healthcare", "industry == 'healthcare'"),
    H("enterprise", "plan == 'enterprise'"),
    H("north", "region == 'north'", expect="different"),
    H("web", "channel == 'web'", expect="different"),
    H("large", "employees >= 250"),
]
# make_b2b's planted effects: revenue >= 10M buys twice as often and spends 1.5x per order,
# healthcare's dropout probability is 0.4x, enterprise spends 1.4x; region and channel are
# true nulls, and employees >= 250 acts only through its correlation with revenue.
TRUTH = {
    "big": {"purchase": 2.0, "dropout": 1.0, "spend": 1.5},
    "healthcare": {"purchase": 1.0, "dropout": 0.4, "spend": 1.0},
    "enterprise": {"purchase": 1.0, "dropout": 1.0, "spend": 1.4},
    "north": {"purchase": 1.0, "dropout": 1.0, "spend": 1.0},
    "web": {"purchase": 1.0, "dropout": 1.0, "spend": 1.0},
    "large": {"purchase": 1.0, "dropout": 1.0, "spend": 1.0},
}


@pytest.fixture(scope="module")
def decomposed():
    tx, customers = segml.make_b2b(5000, random_state=0)
    # the whole 104 weeks observed: a year shows too few dropouts to pin healthcare's
    table = segml.summarize(tx, calibration_end="2024-12-29", customers=customers)
    return segml.decompose_hypotheses(HYPOTHESES, table, n_draws=100), table


@pytest.mark.slow
def test_every_planted_multiplier_lies_in_its_interval(decomposed):
    out, _ = decomposed
    for name, processes in TRUTH.items():
        for process, truth in processes.items():
            low, high = out.loc[name, f"{process}_low"], out.loc[name, f"{process}_high"]
            assert low < truth < high, (name, process, low, high)


@pytest.mark.slow
def test_each_hypothesis_acts_on_its_planted_processes_only(decomposed):
    out, _ = decomposed
    assert out["acts_on"].to_dict() == {
        "big": "purchase, spend",
        "healthcare": "dropout",
        "enterprise": "spend",
        "north": "",
        "web": "",
        "large": "",
    }
    assert "acts on purchase rate" in out.loc["big", "summary"]
    assert "dropout probability" in out.loc["healthcare", "summary"]
    assert out.loc["big", "clv_low"] > 1.5  # twice the orders at 1.5x: the value of a prospect


@pytest.mark.slow
def test_employees_look_valuable_alone_but_add_nothing_once_revenue_is_in(decomposed):
    out, table = decomposed
    alone = segml.validate_hypotheses([HYPOTHESES[-1]], table, value="total_revenue")
    assert alone.loc["large", "verdict"] == "validated"  # a proxy of revenue, seen alone
    assert out.loc["large", "verdict"] == "no_effect"
    assert out.loc["large", "purchase_p_holm"] > 0.05


def test_hypothesis_names_must_not_shadow_columns():
    tx, customers = segml.make_b2b(300, random_state=1)
    table = segml.summarize(tx, calibration_end="2024-12-29", customers=customers)
    with pytest.raises(segml.DataError, match="also table columns"):
        segml.decompose_hypotheses([H("plan", "plan == 'pro'")], table)
