"""Factored conditional predictions equal lifetimes' closed forms called directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from segml.clv import _lifetimes as engine
from segml.clv.conditional import ConditionalPredictor, p_alive

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
