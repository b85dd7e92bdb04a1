"""Per-row log-likelihoods of BG/NBD and MBG/NBD with per-customer parameters, and their
gradients in the log-parameters, in closed form.

The covariate fit (:mod:`segml.clv.covariates`) needs, for every compressed row, the
log-likelihood and its derivatives in ``log r, log alpha, log a, log b`` at that row's
parameters. Central differences cost nine evaluations of the special functions per row;
here the Beta-function terms and their digammas depend on the purchase count and the
covariate pattern only, so they are evaluated once per ``(x, pattern)`` cell, and a row
costs a few logarithms. The formulas are those of :func:`segml.clv.objectives.bgnbd_objective`
and ``mbgnbd_objective`` with the parameters per row; tests compare them with central
differences of :mod:`segml.clv.likelihood`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln

__all__ = ["ROW_GRADIENTS"]


def _cells(a: np.ndarray, b: np.ndarray, xc: np.ndarray, model: str) -> dict[str, np.ndarray]:
    """The Beta-function terms of each cell and their derivatives in ``a`` and ``b``."""
    dab = digamma(a + b)
    if model == "bgnbd":
        xr = np.maximum(xc, 1.0)
        lb = betaln(a, b)
        lb2 = betaln(a, b + xc) - lb
        lb3 = np.where(xc > 0, betaln(a + 1, b + xr - 1) - lb, -1e4)
        dabx = digamma(a + b + xc)
        return {
            "lb2": lb2,
            "gap": lb3 - lb2,
            "d_a2": dab - dabx,
            "d_b2": digamma(b + xc) - dabx - digamma(b) + dab,
            "d_a3": digamma(a + 1) - dabx - digamma(a) + dab,
            "d_b3": digamma(b + xr - 1) - dabx - digamma(b) + dab,
        }
    dabx = digamma(a + b + xc + 1)
    return {
        "lb2": betaln(a, b + xc + 1) - betaln(a, b),
        "d_a2": dab - dabx,
        "d_b2": digamma(b + xc + 1) - dabx - digamma(b) + dab,
    }


def bgnbd_rows(
    p: dict[str, np.ndarray], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, cell: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD: each row's log-likelihood and ``(n, 4)`` gradient in the log-parameters.

    ``p`` holds each parameter per row; ``cell`` indexes each row's ``(x, pattern)`` cell
    (rows of one cell share ``a``, ``b`` and ``x``).
    """
    return _rows("bgnbd", p, x, t_x, T, cell)


def mbgnbd_rows(
    p: dict[str, np.ndarray], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, cell: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MBG/NBD: as :func:`bgnbd_rows`."""
    return _rows("mbgnbd", p, x, t_x, T, cell)


def _first(cell: np.ndarray, n_cells: int) -> np.ndarray:
    first = np.empty(n_cells, dtype=np.intp)
    first[cell[::-1]] = np.arange(len(cell))[::-1]
    return first


def _rows(
    model: str,
    p: dict[str, np.ndarray],
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    cell: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    r, alpha, a, b = (np.broadcast_to(p[k], x.shape) for k in ("r", "alpha", "a", "b"))
    first = _first(cell, int(cell.max()) + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        xc, rc = x[first], r[first]
        c = _cells(a[first], b[first], xc, model)
        rx = r + x
        lT, lt, log_alpha = np.log(alpha + T), np.log(alpha + t_x), np.log(alpha)
        inv_T, inv_t = 1.0 / (alpha + T), 1.0 / (alpha + t_x)
        by_cell = gammaln(rc + xc) - gammaln(rc) + c["lb2"]
        common = by_cell[cell] + r * log_alpha
        d_r0 = (digamma(rc + xc) - digamma(rc))[cell] + log_alpha
        grad = np.empty((len(x), 4))
        if model == "bgnbd":
            d = c["gap"][cell] - rx * (lt - lT)
            d_cap = np.minimum(d, 30.0)
            e = np.exp(d_cap)
            p3 = e / (1.0 + e)
            ll = common - rx * lT + np.log1p(e) + (d - d_cap)
            grad[:, 0] = (d_r0 - lT - p3 * (lt - lT)) * r
            grad[:, 1] = (r / alpha - rx * inv_T - p3 * rx * (inv_t - inv_T)) * alpha
            live = x > 0
            da2, db2 = c["d_a2"][cell], c["d_b2"][cell]
            grad[:, 2] = (da2 + np.where(live, p3 * (c["d_a3"][cell] - da2), 0.0)) * a
            grad[:, 3] = (db2 + np.where(live, p3 * (c["d_b3"][cell] - db2), 0.0)) * b
        else:
            alive = -rx * lT
            dead = np.log(a) - np.log(b + x) - rx * lt
            top = np.maximum(alive, dead)
            ea, ed = np.exp(alive - top), np.exp(dead - top)
            s = ea + ed
            pa, pd_ = ea / s, ed / s
            ll = common + top + np.log(s)
            grad[:, 0] = (d_r0 - pa * lT - pd_ * lt) * r
            grad[:, 1] = (r / alpha - rx * (pa * inv_T + pd_ * inv_t)) * alpha
            grad[:, 2] = (c["d_a2"][cell] + pd_ / a) * a
            grad[:, 3] = (c["d_b2"][cell] - pd_ / (b + x)) * b
    return ll, grad


#: model -> per-row log-likelihood and gradient in the log-parameters
ROW_GRADIENTS = {"bgnbd": bgnbd_rows, "mbgnbd": mbgnbd_rows}
