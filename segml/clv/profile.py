"""Profile-likelihood intervals of a frequency model's parameters.

A parameter's interval is where its profile log-likelihood (the maximum over the other
parameters with it held fixed) lies within ``chi2_1(level) / 2`` of the maximum. Unlike a
Wald interval it follows the likelihood's own shape, so it stays honest where the
estimate's sampling distribution is skewed (coverage of both: ``experiments/
interval_coverage.py``, figures in the README).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize
from scipy.stats import chi2

__all__ = ["profile_bounds", "profile_frame"]

_MAX_STEPS = 12  # bracket expansions, each two standard errors on the log scale


def profile_bounds(
    total: Callable[[np.ndarray], float],
    log_hat: np.ndarray,
    log_ses: Sequence[float],
    level: float,
) -> list[tuple[float, float]]:
    """Profile-likelihood bounds of every parameter, on the natural scale.

    Parameters
    ----------
    total : callable
        Log-likelihood of the log-parameters.
    log_hat : numpy.ndarray
        The maximum likelihood estimate of the log-parameters.
    log_ses : sequence of float
        Standard errors on the log scale (to size the search brackets).
    level : float
        Confidence level.

    Returns
    -------
    list of (lower, upper)
        ``0`` or ``inf`` where the profile stays above the cut-off for over
        ``_MAX_STEPS`` two-standard-error steps: the data bound that side no further.
    """
    top = total(log_hat)
    cut = top - chi2.ppf(level, 1) / 2.0
    out = []
    for j in range(len(log_hat)):
        others = np.array([i for i in range(len(log_hat)) if i != j], dtype=int)
        warm = [log_hat[others].copy()]

        def excess(
            value: float, j: int = j, others: np.ndarray = others, warm: list[Any] = warm
        ) -> float:
            def negative(rest: np.ndarray) -> float:
                theta = log_hat.copy()
                theta[j], theta[others] = value, rest
                v = total(theta)
                return -v if np.isfinite(v) else 1e300

            res = minimize(negative, warm[0], method="BFGS", options={"gtol": 1e-6})
            warm[0] = res.x  # the next point along the profile starts here
            return -float(res.fun) - cut

        side_bounds = []
        for sign in (-1.0, 1.0):
            warm[0] = log_hat[others].copy()
            step = 2.0 * max(float(log_ses[j]), 1e-3) * sign
            edge, steps = log_hat[j] + step, 0
            while excess(edge) > 0 and steps < _MAX_STEPS:
                edge, steps = edge + step, steps + 1
            warm[0] = log_hat[others].copy()
            if excess(edge) > 0:
                side_bounds.append(0.0 if sign < 0 else np.inf)
                continue
            side_bounds.append(float(np.exp(brentq(excess, log_hat[j], edge, xtol=1e-7))))
        out.append((side_bounds[0], side_bounds[1]))
    return out


def profile_frame(
    loglik: Callable[..., np.ndarray],
    params: Mapping[str, float],
    standard_errors: Mapping[str, float],
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    level: float,
) -> pd.DataFrame:
    """:func:`profile_bounds` of a frequency model fitted on the compressed ``rows``
    ``(x, t_x, T, weights)``, as ``conf_int`` returns them."""
    x, t_x, T, w = rows
    names = list(params)

    def total(log_theta: np.ndarray) -> float:
        p = dict(zip(names, np.exp(log_theta), strict=True))
        with np.errstate(all="ignore"):  # far along a profile terms can overflow: -inf, NaN
            return float(np.sum(w * loglik(p, x, t_x, T)))

    log_hat = np.log([params[n] for n in names])
    log_ses = [standard_errors[n] / params[n] for n in names]
    bounds = profile_bounds(total, log_hat, log_ses, level)
    return pd.DataFrame(
        {
            "estimate": [params[n] for n in names],
            "lower": [b[0] for b in bounds],
            "upper": [b[1] for b in bounds],
        },
        index=names,
    )
