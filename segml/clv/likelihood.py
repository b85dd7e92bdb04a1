"""Per-customer log-likelihoods of the CLV models, in the papers' units.

lifetimes' ``_negative_log_likelihood_`` is a mean on rescaled time and differs between
fitters; these functions return each customer's log-likelihood on the data's own time
scale, so their weighted sum is the figure the papers report (BG/NBD on CDNOW: -9582.43).
They are also used for standard errors (numerical Hessian) and as a fallback optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.special import betaln, gammaln, hyp2f1

__all__ = [
    "FREQUENCY_LOGLIK",
    "gamma_gamma_loglik",
    "standard_errors",
    "standard_errors_from_hessian",
]


def bgnbd_loglik(p: Mapping[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
    """BG/NBD (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a3 = betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    a3 = np.where(x > 0, a3, -np.inf)
    return a1 + np.logaddexp(a2, a3)


def mbgnbd_loglik(p: Mapping[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007): dropout also possible at time zero."""
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x + 1) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + T)
    dead = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return a1 + a2 + np.logaddexp(alive, dead)


def pnbd_loglik(p: Mapping[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note, eq. 22)."""
    r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
    rsx = r + s + x
    # The series is taken in the larger of alpha and beta, so its argument stays in [0, 1);
    # with per-customer parameters (covariates) the choice is made customer by customer.
    high = np.asarray(alpha >= beta)
    big = np.maximum(alpha, beta)
    b2 = np.where(high, s + 1, r + x)
    z_t = np.abs(alpha - beta) / (big + t_x)
    z_T = np.abs(alpha - beta) / (big + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_t = np.log(hyp2f1(rsx, b2, rsx + 1, z_t)) - rsx * np.log(big + t_x)
        log_T = np.log(hyp2f1(rsx, b2, rsx + 1, z_T)) - rsx * np.log(big + T)
        # A0 = F(t_x) - F(T) >= 0; computed in logs as log F(t_x) + log(1 - exp(dT - dt)).
        log_a0 = log_t + np.log1p(-np.exp(np.minimum(log_T - log_t, 0.0)))
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) - np.log(rsx) + log_a0
    return a1 + np.logaddexp(alive, dead)


def nbd_loglik(p: Mapping[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
    """NBD: gamma-Poisson purchasing, nobody leaves (Ehrenberg 1959).

    The density of the purchase times, as for the models with dropout (it is their limit as
    BG/NBD's ``a -> 0`` or Pareto/NBD's ``s -> 0``), so log-likelihoods compare on one
    footing; it differs from the count likelihood ``P(X(T) = x)`` by ``x log T - log x!``,
    which does not depend on the parameters.
    """
    r, alpha = p["r"], p["alpha"]
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)


def gamma_gamma_loglik(p: Mapping[str, float], x: np.ndarray, m: np.ndarray):
    """Log density of the mean spend m_x of x repeat transactions (Fader & Hardie 2013)."""
    pp, q, g = p["p"], p["q"], p["gamma"]
    px = pp * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


FREQUENCY_LOGLIK: dict[str, Callable[..., np.ndarray]] = {
    "bgnbd": bgnbd_loglik,
    "mbgnbd": mbgnbd_loglik,
    "pnbd": pnbd_loglik,
    "nbd": nbd_loglik,
}


def hessian_log_params(
    total_loglik: Callable[[np.ndarray], float], log_theta: np.ndarray, step: float = 1e-3
) -> np.ndarray:
    """Central-difference Hessian of ``total_loglik`` with respect to log-parameters.

    Four-point stencils with a relative step in log space (the parameters' natural
    scale); second-order accurate, which is ample for standard errors.
    """
    k = len(log_theta)
    h = np.full(k, step)
    H = np.empty((k, k))
    f0 = total_loglik(log_theta)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (total_loglik(log_theta + ei) - 2 * f0 + total_loglik(log_theta - ei)) / h[i] ** 2
        for j in range(i + 1, k):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (
                total_loglik(log_theta + ei + ej)
                - total_loglik(log_theta + ei - ej)
                - total_loglik(log_theta - ei + ej)
                + total_loglik(log_theta - ei - ej)
            ) / (4 * h[i] * h[j])
    return H


def standard_errors(
    total_loglik: Callable[[np.ndarray], float], theta: Mapping[str, float]
) -> dict[str, float]:
    """Asymptotic standard errors of the MLE ``theta`` (natural scale, delta method).

    The observed information is the negative Hessian of the log-likelihood in
    log-parameters; at the optimum ``se(theta_i) = theta_i * se(log theta_i)``.
    Returns NaN for every parameter when the information matrix is not positive definite.
    """
    names = list(theta)
    log_theta = np.log(np.array([theta[n] for n in names], dtype="float64"))
    return standard_errors_from_hessian(hessian_log_params(total_loglik, log_theta), theta)


def standard_errors_from_hessian(H: np.ndarray, theta: Mapping[str, float]) -> dict[str, float]:
    """Standard errors from the Hessian of the log-likelihood in log-parameters."""
    names = list(theta)
    log_theta = np.log(np.array([theta[n] for n in names], dtype="float64"))
    try:
        info = -np.asarray(H, dtype="float64")
        np.linalg.cholesky(info)
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return dict.fromkeys(names, float("nan"))
    with np.errstate(invalid="ignore"):
        se_log = np.sqrt(np.diag(cov))
    return {n: float(np.exp(lt) * s) for n, lt, s in zip(names, log_theta, se_log, strict=True)}
