"""Per-row Pareto/NBD log-likelihood with per-customer parameters, its gradient and Hessian.

The covariate fit (:mod:`segml.clv.covariates`) scales ``alpha`` and ``beta`` per customer.
The likelihood's costly part is the Gauss hypergeometric function of
:func:`segml.clv.likelihood.pnbd_loglik`, ``F(t) = H(z_t) / (B + t)^c`` with
``H(z) = 2F1(c, b; c + 1; z)``, ``c = r + s + x`` and ``z_t = |alpha - beta| / (B + t)``. How
it works:

1. ``H`` is evaluated once per ``(x, t, pattern)`` group of rows, not per row (rows of a group
   share every argument).
2. Its derivative in ``z`` is closed form for this ``c``: ``H'(z) = c / z ((1 - z)^-b - H)``
   (the derivative of ``a z^-a`` times the incomplete Beta integral), so the derivatives in
   ``log alpha`` and ``log beta`` follow from ``H`` itself by the chain rule.
3. ``r`` and ``s`` also enter ``H``'s first two arguments, whose derivatives have no closed
   form: they are central differences of step ``h`` in ``log r`` and ``log s``.
4. The Hessian is the differences of the closed-form gradient in all four directions, and of
   the log-likelihood in ``r`` and ``s`` for the ``(r, r)``, ``(s, s)`` and ``(r, s)`` terms:
   eleven evaluations of ``H`` per row group, against thirty-three for differences alone.

Tests compare the rows with :func:`~segml.clv.likelihood.pnbd_loglik` and its differences.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, hyp2f1

__all__ = ["pnbd_terms"]

_H = 1e-4  # step of the differences in log r and log s
_SMALL_Z = 1e-4  # below this, H'(z) from its series (the closed form cancels)


def _first(group: np.ndarray) -> np.ndarray:
    first = np.empty(int(group.max()) + 1, dtype=np.intp)
    first[group[::-1]] = np.arange(len(group))[::-1]
    return first


def _log_f(
    c: np.ndarray,
    b: np.ndarray,
    big: np.ndarray,
    small: np.ndarray,
    t: np.ndarray,
    group: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log F(t)`` and its derivatives in the larger and the smaller of alpha and beta."""
    z = (big - small) / (big + t)
    first = _first(group)
    cg, bg, zg = c[first], b[first], z[first]
    Hg = hyp2f1(cg, bg, cg + 1, zg)
    series = cg * bg / (cg + 1) * (1 + (bg + 1) * zg * (cg + 1) / (cg + 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        closed = cg / zg * (np.exp(-bg * np.log1p(-zg)) - Hg)
    dlogH = (np.where(zg < _SMALL_Z, series, closed) / Hg)[group]
    log_f = np.log(Hg)[group] - c * np.log(big + t)
    d_big = dlogH * (small + t) / (big + t) ** 2 - c / (big + t)
    d_small = -dlogH / (big + t)
    return log_f, d_big, d_small


def _rows(
    r: float,
    s: float,
    alpha: np.ndarray,
    beta: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    groups: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's log-likelihood and its derivatives in ``(log alpha, log beta)``."""
    rx, c = r + x, r + s + x
    high = alpha >= beta
    big, small = np.where(high, alpha, beta), np.where(high, beta, alpha)
    b = np.where(high, s + 1, rx)
    lt, dt_big, dt_small = _log_f(c, b, big, small, t_x, groups[0])
    lT, dT_big, dT_small = _log_f(c, b, big, small, T, groups[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.exp(np.minimum(lT - lt, 0.0))  # F(T) / F(t_x)
        log_a0 = lt + np.log1p(-q)
        d_big = np.where(q < 1, (dt_big - q * dT_big) / (1 - q), 0.0)
        d_small = np.where(q < 1, (dt_small - q * dT_small) / (1 - q), 0.0)
        alive = -rx * np.log(alpha + T) - s * np.log(beta + T)
        dead = np.log(s) - np.log(c) + log_a0
        top = np.maximum(alive, dead)
        ea, ed = np.exp(alive - top), np.exp(dead - top)
        pa, pd_ = ea / (ea + ed), ed / (ea + ed)
    ll = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + top + np.log(ea + ed)
    d_alpha = np.where(high, d_big, d_small)
    d_beta = np.where(high, d_small, d_big)
    grad = np.empty((len(x), 2))
    grad[:, 0] = r + alpha * (-pa * rx / (alpha + T) + pd_ * d_alpha)
    grad[:, 1] = s + beta * (-pa * s / (beta + T) + pd_ * d_beta)
    return ll, grad


def pnbd_terms(
    r: float,
    alpha: np.ndarray,
    s: float,
    beta: np.ndarray,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    groups: tuple[np.ndarray, np.ndarray],
    hessian: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Each row's log-likelihood, ``(n, 4)`` gradient and, when asked, ``(n, 4, 4)`` Hessian
    in ``(log r, log alpha, log s, log beta)``.

    ``groups`` index each row's ``(x, t_x, pattern)`` and ``(x, T, pattern)`` group.
    """
    x, t_x, T = data
    up, down = np.exp(_H), np.exp(-_H)

    def at(dr: float = 1.0, da: float = 1.0, ds: float = 1.0, db: float = 1.0):
        return _rows(r * dr, s * ds, alpha * da, beta * db, x, t_x, T, groups)

    ll, g = at()
    (lr1, gr1), (lr0, gr0) = at(dr=up), at(dr=down)
    (ls1, gs1), (ls0, gs0) = at(ds=up), at(ds=down)
    grad = np.empty((len(x), 4))
    grad[:, 0] = (lr1 - lr0) / (2 * _H)
    grad[:, 2] = (ls1 - ls0) / (2 * _H)
    grad[:, 1], grad[:, 3] = g[:, 0], g[:, 1]
    if not hessian:
        return ll, grad, None
    H = np.empty((len(x), 4, 4))
    H[:, 0, 0] = (lr1 - 2 * ll + lr0) / _H**2
    H[:, 2, 2] = (ls1 - 2 * ll + ls0) / _H**2
    l11, l00 = at(dr=up, ds=up)[0], at(dr=down, ds=down)[0]
    H[:, 0, 2] = H[:, 2, 0] = (l11 + l00 - lr1 - lr0 - ls1 - ls0 + 2 * ll) / (2 * _H**2)
    ga1, ga0 = at(da=up)[1], at(da=down)[1]
    gb1, gb0 = at(db=up)[1], at(db=down)[1]
    # columns of the closed-form gradient (log alpha, log beta) in each direction
    for j, (plus, minus) in enumerate(((gr1, gr0), (ga1, ga0), (gs1, gs0), (gb1, gb0))):
        d = (plus - minus) / (2 * _H)
        H[:, 1, j], H[:, 3, j] = d[:, 0], d[:, 1]
    for i in (1, 3):  # the (r, .) and (s, .) entries mirror the closed-form rows
        H[:, 0, i], H[:, 2, i] = H[:, i, 0], H[:, i, 2]
    H[:, 1, 3] = H[:, 3, 1] = (H[:, 1, 3] + H[:, 3, 1]) / 2
    return ll, grad, H
