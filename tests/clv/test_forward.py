"""Histories aged by the fitted model: counts, timing and spend agree with the closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import segml
from segml.clv.forward import age_histories


@pytest.fixture(scope="module", params=["bgnbd", "mbgnbd", "pnbd"])
def fitted(request, cdnow) -> segml.CLVModel:
    return segml.CLVModel(frequency=request.param).fit(cdnow)


def test_new_purchases_average_the_expected_purchases(fitted, cdnow) -> None:
    rng = np.random.default_rng(0)
    added = np.array(
        [
            (age_histories(fitted, cdnow, 39.0, rng)["frequency"] - cdnow["frequency"]).sum()
            for _ in range(200)
        ]
    )
    expected = fitted.frequency_model_.expected_purchases(cdnow, horizon=39.0).sum()
    assert abs(added.mean() - expected) < 4 * added.std() / np.sqrt(len(added))


def test_customers_without_a_new_purchase_match_the_purchase_distribution(fitted, cdnow) -> None:
    rng = np.random.default_rng(1)
    none = np.mean(
        [
            (age_histories(fitted, cdnow, 39.0, rng)["frequency"] == cdnow["frequency"]).mean()
            for _ in range(100)
        ]
    )
    p0 = fitted.frequency_model_.probability_of_purchases(cdnow, 0, horizon=39.0).mean()
    assert none == pytest.approx(p0, abs=0.005)


def test_aged_histories_are_consistent(fitted, cdnow) -> None:
    aged = age_histories(fitted, cdnow, 26.0, np.random.default_rng(2))
    assert (aged["T"] == cdnow["T"] + 26.0).all()
    assert (aged["recency"] >= cdnow["recency"]).all() and (aged["recency"] <= aged["T"]).all()
    bought = aged["frequency"] > cdnow["frequency"]
    assert (aged.loc[bought, "recency"] > cdnow.loc[bought, "T"]).all()
    assert (aged.loc[~bought, "recency"] == cdnow.loc[~bought, "recency"]).all()
    assert (aged.loc[aged["frequency"] == 0, "monetary_value"] == 0).all()


def test_new_spend_averages_the_expected_spend(cdnow) -> None:
    """Repeat buyers' new purchases cost, on average, their Gamma-Gamma expected spend."""
    fitted = segml.CLVModel(frequency="bgnbd").fit(cdnow)
    rng = np.random.default_rng(3)
    repeat = cdnow[cdnow["frequency"] > 0]
    spent, count = [], []
    for _ in range(100):
        aged = age_histories(fitted, repeat, 39.0, rng)
        new = aged["frequency"] - repeat["frequency"]
        spent.append(
            (
                aged["monetary_value"] * aged["frequency"]
                - repeat["monetary_value"] * repeat["frequency"]
            ).sum()
        )
        count.append((new * fitted.spend_model_.expected_spend(repeat)).sum())
    assert np.mean(spent) == pytest.approx(np.mean(count), rel=0.02)
