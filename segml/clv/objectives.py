"""Weighted log-likelihoods with analytic gradients, for segml's own maximum likelihood.

lifetimes fits on the raw table with generic optimisers and numerical gradients; at a
million customers that is most of the cost of a fit. These objectives work on compressed
data (unique rows with counts), evaluate every term that depends only on the purchase count
``x`` once per distinct ``x``, and return the gradient in closed form, so L-BFGS needs a
few dozen cheap evaluations. Values equal :mod:`segml.clv.likelihood` (tested), gradients
equal central differences of it (tested).

Each objective takes log-parameters (the optimiser's unconstrained scale) and returns the
total weighted log-likelihood and its gradient with respect to the log-parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

from segml.clv._base import Compressed

__all__ = [
    "GRADIENT_OBJECTIVES",
    "MLE",
    "Objective",
    "central_gradient",
    "gamma_gamma_objective",
    "maximise",
]

#: log-parameters -> (total log-likelihood, gradient w.r.t. log-parameters)
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _by_count(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct purchase counts and each row's index into them."""
    ux, inv = np.unique(x, return_inverse=True)
    return ux, inv.reshape(-1)


def bgnbd_objective(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> Objective:
    """BG/NBD (Fader, Hardie & Lee 2005, eq. 6) on weighted unique rows.

    Per customer, ``ll = A1 + A2 + log(1 + exp(d))`` with ``d = A3 - A2`` (``-inf`` when
    ``x = 0``). Everything that depends on ``x`` alone is summed per distinct ``x``; a
    row costs a handful of array operations per evaluation.
    """
    ux, inv = _by_count(x)
    uT, iT = _by_count(T)  # ages and recencies take few distinct values (whole days)
    ut, it = _by_count(t_x)
    xr = np.maximum(ux, 1.0)  # b + x - 1 is only used where x > 0
    W = float(w.sum())
    wx = w * x
    w_by_x = np.bincount(inv, weights=w, minlength=len(ux))

    def f(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_theta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Terms in x only.
            lb = betaln(a, b)
            lb2 = betaln(a, b + ux) - lb
            # x = 0: no "dropped out after the last repeat" term; exp(-1e4) is exactly 0.
            lb3 = np.where(ux > 0, betaln(a + 1, b + xr - 1) - lb, -1e4)
            dab, dabx = digamma(a + b), digamma(a + b + ux)
            d_a2 = dab - dabx
            d_b2 = digamma(b + ux) - dabx - digamma(b) + dab
            d_a3 = digamma(a + 1) - dabx - digamma(a) + dab
            d_b3 = digamma(b + xr - 1) - dabx - digamma(b) + dab
            # Per row.
            lT, lt = np.log(alpha + uT)[iT], np.log(alpha + ut)[it]
            gap = lt - lT
            rx = r + x
            d = (lb3 - lb2)[inv] - rx * gap
            # softplus(d) = log(1 + e^d) and the logistic p3 = e^d / (1 + e^d), the weight
            # of the "dropped out after the last purchase" term; capped to avoid overflow.
            d_cap = np.minimum(d, 30.0)
            e = np.exp(d_cap)
            one_e = 1.0 + e
            softplus = np.log(one_e) + (d - d_cap)
            wp3 = w * e / one_e
            by_x3 = np.bincount(inv, weights=wp3, minlength=len(ux))
            ll = (
                float(w_by_x @ (gammaln(r + ux) - gammaln(r) + lb2))
                + W * r * np.log(alpha)
                - r * float(w @ lT)
                - float(wx @ lT)
                + float(w @ softplus)
            )
            inv_T, inv_t = (1.0 / (alpha + uT))[iT], (1.0 / (alpha + ut))[it]
            g_r = (
                float(w_by_x @ (digamma(r + ux) - digamma(r)))
                + W * np.log(alpha)
                - float(w @ lT)
                - float(wp3 @ gap)
            )
            g_alpha = (
                W * r / alpha
                - r * float(w @ inv_T)
                - float(wx @ inv_T)
                + float(wp3 @ (rx * (inv_T - inv_t)))
            )
            g_a = float(w_by_x @ d_a2) + float(by_x3 @ np.where(ux > 0, d_a3 - d_a2, 0.0))
            g_b = float(w_by_x @ d_b2) + float(by_x3 @ np.where(ux > 0, d_b3 - d_b2, 0.0))
        return ll, np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])

    return f


def mbgnbd_objective(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> Objective:
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007) on weighted unique rows."""
    ux, inv = _by_count(x)

    def f(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_theta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g1 = gammaln(r + ux) - gammaln(r) + betaln(a, b + ux + 1) - betaln(a, b)
            d_r1 = digamma(r + ux) - digamma(r)
            dab, dabx = digamma(a + b), digamma(a + b + ux + 1)
            d_a = dab - dabx
            d_b = digamma(b + ux + 1) - dabx - digamma(b) + dab
            rx = r + x
            lT, lt = np.log(alpha + T), np.log(alpha + t_x)
            alive = -rx * lT
            dead = np.log(a) - np.log(b + x) - rx * lt
            top = np.maximum(alive, dead)
            e_alive, e_dead = np.exp(alive - top), np.exp(dead - top)
            s = e_alive + e_dead
            ll = g1[inv] + r * np.log(alpha) + top + np.log(s)
            pa, pd_ = e_alive / s, e_dead / s
            g_r = d_r1[inv] + np.log(alpha) - pa * lT - pd_ * lt
            g_alpha = r / alpha - rx * (pa / (alpha + T) + pd_ / (alpha + t_x))
            g_a = d_a[inv] + pd_ / a
            g_b = d_b[inv] - pd_ / (b + x)
        grad = np.array([w @ g_r * r, w @ g_alpha * alpha, w @ g_a * a, w @ g_b * b])
        return float(w @ ll), grad

    return f


def gamma_gamma_objective(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> Objective:
    """Gamma-Gamma density of the mean repeat spend (Fader & Hardie 2013), x > 0, m > 0."""
    ux, inv = _by_count(x)
    log_m, log_x, total = np.log(m), np.log(x), m * x
    w_sum = float(w.sum())
    wx = w * x
    # Sums that do not depend on the parameters.
    s_xlogm = float(wx @ log_m)
    s_logm = float(w @ log_m)
    s_xlogx = float(wx @ log_x)
    w_by_x = np.bincount(inv, weights=w, minlength=len(ux))

    def f(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, g = np.exp(log_theta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            px = p * ux
            d_pq = digamma(px + q)
            log_gm = np.log(g + total)
            inv_gm = 1.0 / (g + total)
            wx_log, w_log = float(wx @ log_gm), float(w @ log_gm)
            wx_inv, w_inv = float(wx @ inv_gm), float(w @ inv_gm)
            # sum of w (p x + q) log(g + m x), and its derivative in g
            ll = (
                float(w_by_x @ (gammaln(px + q) - gammaln(px)))
                - w_sum * gammaln(q)
                + w_sum * q * np.log(g)
                + p * (s_xlogm + s_xlogx)
                - s_logm
                - p * wx_log
                - q * w_log
            )
            g_p = float(w_by_x @ (ux * (d_pq - digamma(px)))) + s_xlogm + s_xlogx - wx_log
            g_q = float(w_by_x @ d_pq) - w_sum * digamma(q) + w_sum * np.log(g) - w_log
            g_g = w_sum * q / g - p * wx_inv - q * w_inv
        return ll, np.array([g_p * p, g_q * q, g_g * g])

    return f


def pnbd_objective(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> Objective:
    """Pareto/NBD (Fader & Hardie 2005 note, eq. 22) on weighted unique rows.

    The Gauss hypergeometric terms depend on ``(x, t_x)`` and on ``(x, T)`` only, pairs
    far fewer than the rows (at 100k simulated customers: 4,134 and 2,259 against 60,416
    rows), so they are evaluated once per pair. The gradient is by central differences
    (the derivatives of 2F1 in its parameters have no closed form).
    """
    tx_pairs = Compressed.of(x, t_x)
    T_pairs = Compressed.of(x, T)
    ux, inv = _by_count(x)
    xt, tt = tx_pairs.column(0), tx_pairs.column(1)
    xT, TT = T_pairs.column(0), T_pairs.column(1)
    uT, iT = _by_count(T)
    W = float(w.sum())
    w_by_x = np.bincount(inv, weights=w, minlength=len(ux))

    def value(log_theta: np.ndarray) -> float:
        r, alpha, s, beta = np.exp(log_theta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if alpha >= beta:
                big, diff = alpha, alpha - beta
                b2_t, b2_T = s + 1, s + 1
            else:
                big, diff = beta, beta - alpha
                b2_t, b2_T = r + xt, r + xT
            rsx_t, rsx_T = r + s + xt, r + s + xT
            log_t = np.log(hyp2f1(rsx_t, b2_t, rsx_t + 1, diff / (big + tt))) - rsx_t * np.log(
                big + tt
            )
            log_T = np.log(hyp2f1(rsx_T, b2_T, rsx_T + 1, diff / (big + TT))) - rsx_T * np.log(
                big + TT
            )
            lt, lT = log_t[tx_pairs.inverse], log_T[T_pairs.inverse]
            # A0 = F(t_x) - F(T) >= 0, in logs.
            log_a0 = lt + np.log1p(-np.exp(np.minimum(lT - lt, 0.0)))
            rx = r + x
            alive = -rx * np.log(alpha + uT)[iT] - s * np.log(beta + uT)[iT]
            dead = np.log(s) - np.log(r + s + x) + log_a0
            ll = (
                float(w_by_x @ (gammaln(r + ux) - gammaln(r)))
                + W * (r * np.log(alpha) + s * np.log(beta))
                + float(w @ np.logaddexp(alive, dead))
            )
        return ll

    def f(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        return value(log_theta), central_gradient(value, log_theta)

    return f


def central_gradient(
    value: Callable[[np.ndarray], float], theta: np.ndarray, step: float = 1e-6
) -> np.ndarray:
    """Central-difference gradient of ``value`` at ``theta`` (second-order accurate)."""
    grad = np.empty(len(theta))
    with np.errstate(invalid="ignore"):  # inf - inf far out: the optimiser backs off
        for i in range(len(theta)):
            e = np.zeros(len(theta))
            e[i] = step
            grad[i] = (value(theta + e) - value(theta - e)) / (2 * step)
    return grad


#: frequency model name -> objective factory
GRADIENT_OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "bgnbd": bgnbd_objective,
    "mbgnbd": mbgnbd_objective,
    "pnbd": pnbd_objective,
}


@dataclass(frozen=True)
class MLE:
    """Result of :func:`maximise`: log-parameters, log-likelihood, Hessian, diagnostics."""

    log_theta: np.ndarray
    loglik: float
    gradient: np.ndarray
    hessian: np.ndarray  # of the total log-likelihood w.r.t. log-parameters
    converged: bool
    message: str


def gradient_hessian(objective: Objective, log_theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Hessian by central differences of the analytic gradient (symmetrised)."""
    k = len(log_theta)
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        H[:, i] = (objective(log_theta + e)[1] - objective(log_theta - e)[1]) / (2 * step)
    return (H + H.T) / 2


def maximise(
    objective: Objective,
    x0: np.ndarray,
    total_weight: float,
    stop: Callable[[np.ndarray], bool] | None = None,
    hessian: Callable[[np.ndarray], np.ndarray] | None = None,
) -> MLE:
    """:func:`_maximise` with one BLAS thread.

    The objectives' vector products gain nothing from more threads, and NumPy and SciPy each
    bring their own OpenBLAS, whose idle threads spin and slow every L-BFGS-B step (a few
    BLAS calls on four numbers) many times over on a machine with few cores.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _maximise(objective, x0, total_weight, stop, hessian)


def _stopper(stop: Callable[[np.ndarray], bool]) -> Callable[[Any], None]:
    """A SciPy callback that ends the search when ``stop`` holds at an iterate."""

    def callback(intermediate_result: Any) -> None:
        if stop(np.asarray(intermediate_result.x)):
            raise StopIteration

    return callback


def _maximise(
    objective: Objective,
    x0: np.ndarray,
    total_weight: float,
    stop: Callable[[np.ndarray], bool] | None = None,
    hessian: Callable[[np.ndarray], np.ndarray] | None = None,
) -> MLE:
    """Maximum likelihood in log-parameters: L-BFGS-B, then Newton steps to polish.

    The optimiser works on the mean log-likelihood per customer (well scaled whatever the
    number of customers); the Newton steps use the Hessian that the standard errors need
    anyway and take the estimate to the precision of the gradient. ``converged`` is True
    when the final gradient of the mean log-likelihood is below 1e-6 and the Hessian is
    negative definite (a proper interior maximum). ``stop(log_theta)``, when given, ends the
    search at an iterate running to the edge of the parameter space (not converged).
    ``hessian(log_theta)``, when given, replaces the differences of the gradient.
    """

    def neg_mean(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective(log_theta)
        if not (np.isfinite(value) and np.all(np.isfinite(grad))):
            return 1e300, np.zeros_like(log_theta)
        return -value / total_weight, -grad / total_weight

    res = minimize(
        neg_mean,
        np.asarray(x0, dtype="float64"),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-30.0, 30.0)] * len(x0),
        callback=None if stop is None else _stopper(stop),
        options={"maxiter": 2_000, "ftol": 1e-12, "gtol": 1e-7},
    )
    theta = np.asarray(res.x, dtype="float64")
    value, grad = objective(theta)
    message = str(res.message)
    if stop is not None and stop(theta):
        H = np.full((len(theta), len(theta)), np.nan)
        return MLE(theta, float(value), grad, H, False, "ran to the edge of the parameter space")
    # the objective's own Hessian where it has one (the covariate models'), else by
    # differences of the gradient
    H = gradient_hessian(objective, theta) if hessian is None else hessian(theta)
    # Newton steps from the L-BFGS estimate (which can stop early along a flat ridge),
    # halved until the log-likelihood does not fall. The Hessian is
    # not recomputed after a step: the steps are tiny by then.
    for _ in range(8):
        if not np.isfinite(value) or np.max(np.abs(grad)) / total_weight < 1e-11:
            break
        try:
            np.linalg.cholesky(-H)
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        for _ in range(12):
            cand = theta - step
            cand_value, cand_grad = objective(cand)
            # Improvements below rounding still count: near the maximum the gradient,
            # not the value, shows the progress.
            if np.isfinite(cand_value) and cand_value >= value - 1e-13 * abs(value):
                break
            step = step / 2
        else:
            break
        theta, value, grad = cand, cand_value, cand_grad
    try:
        np.linalg.cholesky(-H)
        definite = True
    except np.linalg.LinAlgError:
        definite = False
    small = bool(np.all(np.isfinite(grad)) and np.max(np.abs(grad)) / total_weight < 1e-6)
    converged = bool(np.isfinite(value) and small and definite)
    if not converged:
        message += "; " + ("gradient not zero" if not small else "Hessian not negative definite")
    return MLE(theta, float(value), grad, H, converged, message)
