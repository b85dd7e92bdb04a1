"""Factored conditional predictions equal lifetimes' closed forms called directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from segml.clv import _lifetimes as engine
from segml.clv.conditional import ConditionalPredictor, alive_expected, p_alive

MODELS = [segml.BetaGeo, segml.ModifiedBetaGeo, segml.ParetoNBD]


@pytest.fixture(scope="module", params=MODELS, ids=lambda c: c.__name__)
def fitted(request, cdnow):
    return request.param().fit(cdnow)


def _histories(cdnow: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    # Add extreme histories: heavy buyers, long-silent buyers, brand-new customers.
    x = np.concatenate([x, [60.0, 150.0, 30.0, 0.0, 1.0]])
    t_x = np.concatenate([t_x, [38.0, 38.9, 1.0, 0.0, 0.1]])
    T = np.concatenate([T, [39.0, 39.0, 78.0, 0.01, 0.2]])
    return x, t_x, T


@pytest.mark.parametrize("horizon", [0.5, 39.0, 52.1775, 260.0])
def test_expected_purchases_equal_lifetimes(fitted, cdnow, horizon) -> None:
    x, t_x, T = _histories(cdnow)
    ours = ConditionalPredictor(fitted._model, fitted.params_, x, t_x, T).expected(horizon)
    ref = engine.conditional_expected_purchases(fitted._model, fitted.params_, horizon, x, t_x, T)
    finite = np.isfinite(ref)
    assert finite.mean() > 0.99
    np.testing.assert_allclose(ours[finite], np.maximum(ref[finite], 0.0), rtol=1e-9, atol=1e-12)
    assert np.all(ours >= 0)


def test_p_alive_equals_lifetimes(fitted, cdnow) -> None:
    x, t_x, T = _histories(cdnow)
    ours = p_alive(fitted._model, fitted.params_, x, t_x, T)
    ref = np.clip(engine.conditional_p_alive(fitted._model, fitted.params_, x, t_x, T), 0, 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    assert np.all((ours >= 0) & (ours <= 1))


def test_alive_factor_is_shared_by_equal_x_and_T(fitted) -> None:
    # Same x and T, different recency: the ratio of expectations is the ratio of P(alive).
    x = np.array([3.0, 3.0])
    t_x = np.array([5.0, 30.0])
    T = np.array([39.0, 39.0])
    pred = ConditionalPredictor(fitted._model, fitted.params_, x, t_x, T)
    e = pred.expected(52.0)
    assert e[0] / e[1] == pytest.approx(pred.p_alive[0] / pred.p_alive[1], rel=1e-12)
    assert e[0] < e[1]  # the customer silent for longer is less likely alive


def _simulate_bgnbd_future_of_a_non_buyer(params, T, horizon, n=200_000, seed=0):
    """Monte Carlo of purchases in (T, T + horizon] for a BG/NBD customer with no repeat
    purchase by T: the posterior is lambda ~ Gamma(r, alpha + T), p ~ Beta(a, b), alive
    (without a purchase there was no chance to drop out)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / (params["alpha"] + T), n)
    p = rng.beta(params["a"], params["b"], n)
    alive = np.ones(n, dtype=bool)
    count = np.zeros(n)
    t = np.zeros(n)
    for _ in range(500):
        t = t + rng.exponential(1 / lam)
        ok = alive & (t <= horizon)
        count += ok
        alive = ok & (rng.random(n) >= p)
        if not alive.any():
            break
    return count.mean(), count.std() / np.sqrt(n)


def test_u_shaped_dropout_a_plus_b_below_one_is_finite_and_right() -> None:
    """a + b < 1 is a legitimate BG/NBD maximum; expected purchases stay finite there and
    agree with a Monte Carlo of the model (0.351 for a customer without repeat purchases)."""
    from segml.clv.conditional import ConditionalPredictor

    params = {"r": 0.43, "alpha": 7.7, "a": 0.32, "b": 0.63}
    x, t_x, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 30.0, 40.0]), np.full(3, 46.0)
    pred = ConditionalPredictor("bgnbd", params, x, t_x, T)
    short, long = pred.expected(26.0), pred.expected(52.0)
    assert np.all(np.isfinite(long)) and np.all(short >= 0) and np.all(long >= short)
    mc, se = _simulate_bgnbd_future_of_a_non_buyer(params, 46.0, 52.0)
    assert abs(long[0] - mc) < 4 * se, (long[0], mc, se)
    assert long[0] == pytest.approx(0.351, abs=5e-4)


@pytest.mark.parametrize(("model", "name"), [("bgnbd", "a"), ("mbgnbd", "a"), ("pnbd", "s")])
def test_expectation_is_continuous_where_the_closed_form_is_zero_over_zero(model, name) -> None:
    # BG/NBD's and MBG/NBD's closed form divides by a - 1, Pareto/NBD's by s - 1.
    params = {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0, "s": 1.0, "beta": 2.0}
    x, T = np.array([0.0, 3.0, 12.0]), np.array([1.0, 5.0, 20.0])
    at_one = alive_expected(model, params, 10.0, x, T)
    near = [alive_expected(model, {**params, name: 1.0 + e}, 10.0, x, T) for e in (-1e-4, 1e-4)]
    assert np.isfinite(at_one).all()
    np.testing.assert_allclose(at_one, (near[0] + near[1]) / 2, rtol=1e-7)
