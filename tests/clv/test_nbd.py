"""The NBD (no dropout) model, and data in which no dropout is identified."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import gammaln
from scipy.stats import nbinom

import segml
from segml.clv.likelihood import bgnbd_loglik, nbd_loglik

NO_CHURN = {"r": 0.5, "alpha": 10.0, "a": 1e-6, "b": 1.0}  # p ~ Beta(1e-6, 1): nobody leaves


@pytest.fixture(scope="module")
def no_churn() -> pd.DataFrame:
    tx = segml.simulate_transactions(3000, frequency_params=NO_CHURN, random_state=0)
    return segml.summarize(tx, calibration_end="2024-09-30", holdout_end="2025-06-30")


def test_nbd_on_cdnow_equals_a_direct_count_likelihood_fit(cdnow) -> None:
    nbd = segml.NBD().fit(cdnow)
    x, T = cdnow["frequency"].to_numpy(float), cdnow["T"].to_numpy(float)

    # scipy's negative binomial pmf of X(T) ~ NB(r, alpha / (alpha + T)), maximised directly
    def negative(theta: np.ndarray) -> float:
        r, alpha = np.exp(theta)
        return -float(nbinom.logpmf(x, r, alpha / (alpha + T)).sum())

    direct = minimize(negative, np.log([1.0, 1.0]), method="Nelder-Mead",
                      options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 5000})  # fmt: skip
    r, alpha = np.exp(direct.x)
    assert nbd.params_["r"] == pytest.approx(r, rel=1e-4)
    assert nbd.params_["alpha"] == pytest.approx(alpha, rel=1e-4)
    # the two likelihoods differ by sum(x log T - log x!), free of the parameters
    constant = float(np.sum(x * np.log(T) - gammaln(x + 1)))
    assert nbd.log_likelihood_ + constant == pytest.approx(-direct.fun, abs=1e-4)
    assert nbd.log_likelihood_ < segml.BetaGeo().fit(cdnow).log_likelihood_ - 150


@pytest.fixture(scope="module")
def nbd(cdnow) -> segml.NBD:
    return segml.NBD().fit(cdnow)


def _histories(cdnow) -> tuple[np.ndarray, ...]:
    return tuple(cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))


def test_nbd_predictions_are_the_gamma_posterior_rate(cdnow, nbd) -> None:
    r, alpha = nbd.params_["r"], nbd.params_["alpha"]
    x, _, T = _histories(cdnow)
    ours = nbd.expected_purchases(cdnow, 39.0).to_numpy()
    assert ours == pytest.approx((r + x) / (alpha + T) * 39.0, rel=1e-12)
    # Monte Carlo: lambda | x, T ~ Gamma(r + x, alpha + T), purchases ~ Poisson(39 lambda)
    rng = np.random.default_rng(0)
    for i in (0, 5, int(np.argmax(x))):
        lam = rng.gamma(r + x[i], 1.0 / (alpha + T[i]), 200_000)
        draws = rng.poisson(39.0 * lam)
        assert draws.mean() == pytest.approx(ours[i], rel=0.02)


def test_nbd_predictions_are_the_bgnbd_limit(cdnow, nbd) -> None:
    from segml.clv.conditional import ConditionalPredictor

    r, alpha = nbd.params_["r"], nbd.params_["alpha"]
    x, t_x, T = _histories(cdnow)
    # segml's BG/NBD as p ~ Beta(1e-16, 1) (lifetimes' own BG/NBD returns NaN below a = 1e-4);
    # the limit is not uniform: a lapsed heavy buyer needs a tiny a to look alive
    limit = ConditionalPredictor("bgnbd", {"r": r, "alpha": alpha, "a": 1e-16, "b": 2.0}, x, t_x, T)
    ours = nbd.expected_purchases(cdnow, 39.0).to_numpy()
    assert limit.expected(39.0) == pytest.approx(ours, rel=1e-6)
    assert (nbd.p_alive(cdnow) == 1.0).all()


def test_nbd_prospects_buy_at_the_prior_mean_rate(nbd) -> None:
    new = nbd.expected_purchases_new(np.array([10.0, 52.0]))
    assert new == pytest.approx(nbd.params_["r"] / nbd.params_["alpha"] * np.array([10.0, 52.0]))


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(0, 40),
    frac=st.floats(0.0, 1.0),
    T=st.floats(0.5, 200.0),
    r=st.floats(0.05, 5.0),
    alpha=st.floats(0.1, 50.0),
)
def test_nbd_likelihood_is_the_bgnbd_likelihood_as_a_goes_to_zero(x, frac, T, r, alpha) -> None:
    t_x = 0.0 if x == 0 else max(frac * T, 1e-6)
    data = (np.array([float(x)]), np.array([t_x]), np.array([T]))
    ours = nbd_loglik({"r": r, "alpha": alpha}, *data)
    # a small enough that the dropout term, a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x),
    # is below 1e-9 of the alive term
    log_a = np.log(1e-9) - (r + x) * np.log((alpha + T) / (alpha + t_x))
    assume(log_a > -700)
    limit = bgnbd_loglik({"r": r, "alpha": alpha, "a": float(np.exp(log_a)), "b": 2.0}, *data)
    assert ours == pytest.approx(limit, abs=1e-8)


def test_nbd_recovers_known_parameters(no_churn) -> None:
    nbd = segml.NBD().fit(no_churn)
    for name in ("r", "alpha"):
        z = (nbd.params_[name] - NO_CHURN[name]) / nbd.standard_errors_[name]
        assert abs(z) < 3.5, (name, nbd.params_, nbd.standard_errors_)
    again = segml.NBD.from_json(nbd.to_json())
    assert again.params_ == nbd.params_
    assert (again.expected_purchases(no_churn, 10) == nbd.expected_purchases(no_churn, 10)).all()


def test_auto_picks_the_nbd_on_data_without_churn_giving_its_reason(no_churn) -> None:
    clv = segml.CLVModel(frequency="auto").fit(no_churn)
    sel = clv.selection_
    assert sel["chosen"] == "nbd" and clv.frequency_model_._model == "nbd"
    assert sel["dropout_test"]["p_value"] > 0.05
    assert sel["no_dropout"].startswith("no dropout identified in 9 months: CLV assumes every")
    assert "no dropout identified" in sel["reason"]
    scores = clv.predict(no_churn, horizon=52, discount_rate=0.1)
    assert (scores["p_alive"] == 1.0).all() and np.isfinite(scores["clv"]).all()


def test_a_dropout_model_asked_for_by_name_notes_the_data_do_not_back_it(no_churn) -> None:
    fixed = segml.CLVModel(frequency="bgnbd").fit(no_churn).selection_
    assert "fits no better than the NBD" in fixed["no_dropout"]


def test_an_estimate_at_the_no_dropout_edge_is_named_at_once() -> None:
    rng = np.random.default_rng(0)
    lam, T = rng.gamma(0.5, 1 / 10.0, 3000), rng.uniform(20, 60, 3000)
    x = rng.poisson(lam * T)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    table = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
    for model in (segml.BetaGeo(), segml.ModifiedBetaGeo(), segml.ParetoNBD()):
        with pytest.raises(segml.BoundaryError, match="no dropout identified") as info:
            model.fit(table)
        text = str(info.value)
        assert "frequency='nbd'" in text and "of customers estimated to have left" in text
        assert "lifetimes" not in text, "named at the first attempt, before any fallback"


def test_a_convergence_error_suggests_only_other_models() -> None:
    nobody_returns = pd.DataFrame(
        {"frequency": [0] * 20, "recency": [0.0] * 20, "T": [float(t) for t in range(1, 21)]}
    )
    for cls in (segml.BetaGeo, segml.ModifiedBetaGeo, segml.ParetoNBD, segml.NBD):
        with pytest.raises(segml.ConvergenceError) as info:
            cls().fit(nobody_returns)
        assert not re.search(rf"\b{cls.__name__} \(", str(info.value)), cls.__name__
