"""The closed-form row terms of the covariate fits against differences of the plain
log-likelihoods, and the Newton route against the guarded search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segml.clv import FREQUENCY_MODELS
from segml.clv.covariate_fit import layout_of
from segml.clv.covariates import CovariateData, covariate_objective, numeric_terms, theta_of
from segml.clv.design import CovariateDesign
from segml.clv.likelihood import pnbd_loglik
from segml.clv.pnbd_gradients import pnbd_terms

RNG = np.random.default_rng(3)
N = 400
X = RNG.poisson(3, N).astype(float)
T_ = np.round(RNG.uniform(20, 80, N), 3)
TX = np.where(X > 0, np.round(T_ * RNG.uniform(0, 1, N), 3), 0.0)
TX[:5] = T_[:5]  # a purchase on the last day: F(t_x) = F(T)
X[:5] = np.maximum(X[:5], 1)
PATTERN = RNG.integers(0, 4, N)


def groups(pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data = CovariateData((X, TX, T_), pattern, np.ones(N), np.zeros((4, 1)))
    return data.time_groups


@settings(max_examples=40, deadline=None)
@given(
    r=st.floats(0.1, 5.0),
    s=st.floats(0.1, 5.0),
    alpha=st.floats(0.5, 200.0),
    ratio=st.sampled_from([0.05, 0.5, 0.999999, 1.0, 1.000001, 2.0, 20.0]),
)
def test_pareto_nbd_rows_are_the_likelihood_and_its_derivatives(r, s, alpha, ratio):
    # four patterns, beta from far below to far above alpha, equal included
    scale = np.array([1.0, 0.7, 1.3, 2.0])[PATTERN]
    a, b = alpha * scale, alpha * ratio * scale
    ll, grad, H = pnbd_terms(r, a, s, b, (X, TX, T_), groups(PATTERN), hessian=True)
    assert H is not None

    def plain(shift: np.ndarray) -> np.ndarray:
        e = np.exp(shift)
        p = {"r": r * e[0], "alpha": a * e[1], "s": s * e[2], "beta": b * e[3]}
        return pnbd_loglik(p, X, TX, T_)

    np.testing.assert_allclose(ll, plain(np.zeros(4)), rtol=1e-11, atol=1e-11)
    h = 1e-5
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        numeric = (plain(e) - plain(-e)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-5, atol=1e-6)
        # the Hessian's column j: differences of the gradient in direction j
        up = pnbd_terms(*_shifted(r, a, s, b, e * 10), (X, TX, T_), groups(PATTERN), False)[1]
        down = pnbd_terms(*_shifted(r, a, s, b, -e * 10), (X, TX, T_), groups(PATTERN), False)[1]
        np.testing.assert_allclose(H[:, :, j], (up - down) / (20 * h), rtol=1e-3, atol=1e-4)


def _shifted(r: float, a: np.ndarray, s: float, b: np.ndarray, e: np.ndarray) -> tuple:
    f = np.exp(e)
    return r * f[0], a * f[1], s * f[2], b * f[3]


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pnbd"])
def test_the_closed_form_hessian_is_the_differences_one(model):
    cov = pd.DataFrame({"g": np.array(list("abcd"))[PATTERN]})
    est = FREQUENCY_MODELS[model](purchase_covariates=["g"], dropout_covariates=["g"])
    design = CovariateDesign.fit(cov, ["g"])
    Z = design.transform(cov)
    patterns, which = np.unique(Z, axis=0, return_inverse=True)
    layout = layout_of(est, design)
    data = CovariateData((X, TX, T_), which.reshape(-1), np.ones(N), patterns)
    start = dict(zip(est._param_names, (0.8, 10.0, 0.9, 3.0), strict=True))
    theta = theta_of(layout, start, {}) + np.linspace(-0.3, 0.3, layout.size)
    _, closed_grad, closed_H = covariate_objective(layout, data, {})[1](theta)
    _, grad, H = numeric_terms(layout, theta, data, hessian=True)
    J = layout.jacobian(data.Z)
    np.testing.assert_allclose(closed_grad, np.einsum("gj,gjk->k", grad, J), rtol=1e-5)
    np.testing.assert_allclose(closed_H, np.einsum("gji,gjl,glm->im", J, H, J), rtol=2e-3)
