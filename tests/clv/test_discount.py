"""Discounting at any horizon: the closed-form lifetime values of the papers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln, hyperu

import segml
from segml.clv.likelihood import pnbd_loglik


@pytest.fixture(scope="module")
def pnbd_clv(cdnow) -> segml.CLVModel:
    return segml.CLVModel(frequency="pnbd").fit(cdnow)


def test_pareto_lifetime_purchases_equal_the_published_dert(pnbd_clv, cdnow) -> None:
    # Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves", equation (2):
    # DERT = alpha^r beta^s delta^(s-1) Gamma(r+x+1) Psi(s, s; delta (beta+T))
    #        / (Gamma(r) (alpha+T)^(r+x+1) L), with Psi the confluent hypergeometric U.
    p = pnbd_clv.frequency_model_.params_
    r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
    delta = pnbd_clv._delta(0.15)
    rows = cdnow.drop_duplicates(["frequency", "recency", "T"]).iloc[::5]
    x, t_x, T = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    log_dert = (
        r * np.log(alpha)
        + s * np.log(beta)
        + (s - 1) * np.log(delta)
        + gammaln(r + x + 1)
        + np.log(hyperu(s, s, delta * (beta + T)))
        - gammaln(r)
        - (r + x + 1) * np.log(alpha + T)
        - pnbd_loglik(p, x, t_x, T)
    )
    ours = pnbd_clv.discounted_purchases(rows, np.inf, 0.15).to_numpy()
    np.testing.assert_allclose(ours, np.exp(log_dert), rtol=1e-6)


def test_nbd_lifetime_purchases_are_the_rate_over_the_discount(cdnow) -> None:
    clv = segml.CLVModel(frequency="nbd").fit(cdnow)
    p = clv.frequency_model_.params_
    x, T = cdnow["frequency"].to_numpy(), cdnow["T"].to_numpy()
    rate = (p["r"] + x) / (p["alpha"] + T)
    ours = clv.discounted_purchases(cdnow, np.inf, 0.1).to_numpy()
    np.testing.assert_allclose(ours, rate / clv._delta(0.1), rtol=1e-9)


@pytest.mark.parametrize("years", [200, 10_000, 100_000, 10**7])
def test_long_horizons_converge_to_the_lifetime_value(clv, cdnow, years) -> None:
    # a fixed rule over (0, H] put its nodes past the discount's decay: about 0 from 1e5 years
    lifetime = clv.discounted_purchases(cdnow, np.inf, 0.1).sum()
    long = clv.discounted_purchases(cdnow, 52.1775 * years, 0.1).sum()
    assert long == pytest.approx(lifetime, rel=1e-6)


def test_discounted_purchases_grow_with_the_horizon(clv, cdnow) -> None:
    sums = [clv.discounted_purchases(cdnow, h, 0.1).sum() for h in (1, 13, 52, 520, 5200)]
    assert np.all(np.diff(sums) > 0)
    undiscounted = clv.frequency_model_.expected_purchases(cdnow, 52).sum()
    assert sums[2] < undiscounted


@pytest.mark.parametrize(("horizon", "rate"), [(np.inf, 0.0), (float("nan"), 0.1), (-1.0, 0.1)])
def test_an_infinite_horizon_needs_a_discount(clv, cdnow, horizon, rate) -> None:
    with pytest.raises(segml.DataError, match="infinite only with a positive discount"):
        clv.discounted_purchases(cdnow, horizon, rate)
