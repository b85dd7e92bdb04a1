"""The predictive distribution of a customer's future purchase count, P(Y(t) = n | history).

Every frequency model factors the same way: a customer is alive at ``T`` with probability
P(alive), and a dead customer buys nothing, so

    P(Y(t) = n | x, t_x, T) = P(alive) * P(Y(t) = n | alive) + (1 - P(alive)) * [n = 0].

Given alive, the purchase rate has the posterior ``lambda ~ Gamma(r + x, alpha + T)``, so the
Poisson count ``K`` of a customer who stays the whole window is negative binomial. What
differs is how the customer may leave within the window:

- NBD: never, ``Y = K``.
- BG/NBD and MBG/NBD: after each future purchase with probability ``p``, whose posterior
  given alive is ``Beta(a, b + x)`` (MBG/NBD: ``b + x + 1``, the first purchase being a
  chance to leave as well). ``Y = min(K, G)`` with ``G`` geometric, so
  ``P(Y = n) = E[(1 - p)^n] P(K = n) + E[p (1 - p)^(n - 1)] P(K >= n)`` for ``n >= 1``:
  closed form, the conditional version of Fader, Hardie & Lee's (2005) equation (8).
- Pareto/NBD: after an exponential lifetime with rate ``mu ~ Gamma(s, beta + T)``, so the
  customer buys for ``min(tau, t)`` with ``tau`` Lomax distributed. The mixture over
  ``tau`` is integrated by Gauss-Legendre quadrature in ``v = log(1 + tau / (beta + T))``,
  where the integrand is analytic at both ends (on the scale of tau's distribution function
  it has a branch point); tested equal to lifetimes' closed form (Fader & Hardie's note
  028), which sums hypergeometric terms of alternating sign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import betainc, betaln, gammaln

from segml.clv.conditional import p_alive
from segml.errors import DataError

__all__ = ["check_counts", "purchase_pmf"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)


def _log_nbd(n: int, shape: np.ndarray, rate: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log P(K = n) for K ~ Poisson(lambda t), lambda ~ Gamma(shape, rate)."""
    with np.errstate(divide="ignore"):
        return (
            gammaln(shape + n)
            - gammaln(shape)
            - gammaln(n + 1)
            + shape * np.log(rate / (rate + t))
            + n * np.log(t / (rate + t))
        )


def _alive_pmf(
    model: str, params: Mapping[str, float], n: int, x: np.ndarray, T: np.ndarray, t: float
) -> np.ndarray:
    """P(Y(t) = n | alive at T, x purchases by T)."""
    shape, rate = params["r"] + x, params["alpha"] + T
    whole = _log_nbd(n, shape, rate, np.full_like(T, t))  # a customer who stays throughout
    if model == "nbd":
        return np.exp(whole)
    if model in ("bgnbd", "mbgnbd"):
        a, b = params["a"], params["b"] + x + (1.0 if model == "mbgnbd" else 0.0)
        stay = np.exp(betaln(a, b + n) - betaln(a, b) + whole)
        if n == 0:
            return stay
        leave = np.exp(betaln(a + 1, b + n - 1) - betaln(a, b))
        # P(K >= n) for a negative binomial, as a regularised incomplete beta function.
        at_least = betainc(n, shape, t / (rate + t))
        return stay + leave * at_least
    if model == "pnbd":
        s, beta = params["s"], params["beta"] + T
        span = np.log1p(t / beta)  # tau = beta (e^v - 1) maps v in [0, span] onto [0, t]
        survive = np.exp(-s * span)  # P(tau > t)
        v = span[:, None] * (_NODES + 1.0) / 2.0
        tau = beta[:, None] * np.expm1(v)
        density = s * np.exp(-s * v) * span[:, None] / 2.0  # of v, times the node scale
        inside = (np.exp(_log_nbd(n, shape[:, None], rate[:, None], tau)) * density) @ _WEIGHTS
        return survive * np.exp(whole) + inside
    raise ValueError(f"unknown frequency model {model!r}")  # pragma: no cover


def check_counts(n: Any, horizon: Any) -> tuple[list[int], float]:
    """The purchase counts and the horizon of a PMF request, checked.

    Raises
    ------
    segml.DataError
        If a count is not an integer ``>= 0`` or the horizon is not finite and ``>= 0``.
    """
    counts: Sequence[Any] = [n] if np.ndim(n) == 0 else list(n)
    if not counts or any(
        isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0 for k in counts
    ):
        raise DataError(f"n must be an integer >= 0 or a list of them, got {n!r}.")
    try:
        h = float(horizon)
    except (TypeError, ValueError):
        h = float("nan")
    if not (np.isfinite(h) and h >= 0):
        raise DataError(f"horizon must be finite and >= 0, got {horizon!r}.")
    return [int(k) for k in counts], h


def purchase_pmf(
    model: str,
    params: Mapping[str, float],
    n: int,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    t: float,
) -> np.ndarray:
    """P(n purchases in (T, T + t] | x, t_x, T) under ``model`` at ``params``.

    Parameters
    ----------
    model : {"bgnbd", "mbgnbd", "pnbd", "nbd"}
    params : mapping
        The fitted parameters.
    n : int
        Number of purchases, ``>= 0``.
    x, t_x, T : numpy.ndarray
        Customer histories.
    t : float
        Length of the future window, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        One probability per history.
    """
    x, T = np.asarray(x, float), np.asarray(T, float)
    alive = p_alive(model, params, x, np.asarray(t_x, float), T)
    if t == 0:
        return np.full(len(x), 1.0 if n == 0 else 0.0)
    given_alive = np.clip(_alive_pmf(model, params, n, x, T, t), 0.0, 1.0)
    return alive * given_alive + (1.0 - alive) * (1.0 if n == 0 else 0.0)
