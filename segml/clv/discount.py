"""Discounting expected purchases over any horizon, the infinite one included.

With a continuous discount rate ``delta`` per time unit and ``E(t)`` the expected purchases
in ``(T, T + t]``, the discounted expected purchases over ``(0, H]`` are, by parts,

    e^(-delta H) E(H) + delta * integral_0^H e^(-delta t) E(t) dt,

and for ``H = inf`` (the discounted expected residual transactions, DERT, of Fader, Hardie &
Lee 2005) the first term vanishes. The integral is split into panels over which the
discount halves (``ln 2 / delta`` long), each integrated by Gauss-Legendre: a horizon
thousands of times longer than ``1 / delta`` is then as accurate as a short one, where one
fixed rule over ``(0, H]`` would put its nodes past the decay and return about zero. After
``_MAX_PANELS`` halvings the rest of the weight (``2^-60`` of it) is left out.
"""

from __future__ import annotations

import numpy as np

__all__ = ["discount_nodes"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_MAX_PANELS = 60


def discount_nodes(horizon: float, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Horizons and weights with ``sum_k w_k E(t_k)`` = the discounted purchases over
    ``(0, horizon]`` for any smooth ``E``; ``horizon`` may be ``inf`` (then ``delta > 0``).

    Parameters
    ----------
    horizon : float
        Length of the window, ``> 0``, or ``numpy.inf``.
    delta : float
        Continuous discount rate per time unit, ``> 0``.

    Returns
    -------
    horizons, weights : numpy.ndarray
    """
    half = np.log(2.0) / delta
    n_panels = _MAX_PANELS if np.isinf(horizon) else min(int(np.ceil(horizon / half)), _MAX_PANELS)
    end = horizon if np.isfinite(horizon) and horizon <= n_panels * half else n_panels * half
    edges = np.minimum(np.arange(n_panels + 1) * half, end)
    lo, width = edges[:-1, None], np.diff(edges)[:, None]
    t = (lo + 0.5 * width * (_NODES + 1.0)).ravel()
    w = (0.5 * width * _WEIGHTS).ravel() * delta * np.exp(-delta * t)
    if np.isfinite(horizon):
        return np.concatenate([[horizon], t]), np.concatenate([[np.exp(-delta * horizon)], w])
    return t, w
