"""Estimates at the edge of the parameter space: data in which no dropout is identified.

When nobody is seen to leave (a short calibration window, steady buyers), the likelihood of
BG/NBD and MBG/NBD keeps rising as the dropout probability runs to 0 (``a -> 0``), and that of
Pareto/NBD as the dropout rate does (``s -> 0`` or ``beta -> inf``): towards the NBD, in which
nobody leaves. The optimiser then stops somewhere on the way, and the estimate it returns puts
every customer alive for a reason that is not in the data. Such an estimate is named as such
(:class:`segml.BoundaryError`) at the first attempt, and the NBD is the model that fits it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from segml.clv.conditional import p_alive

__all__ = ["DROPOUT_PARAMS", "dropped_share", "no_dropout", "running_to_no_dropout"]

#: The parameters of each model's dropout process.
DROPOUT_PARAMS = {"bgnbd": ("a", "b"), "mbgnbd": ("a", "b"), "pnbd": ("s", "beta")}

#: Fewer repeat buyers than this say nothing about dropout (the fit's own error stands).
MIN_REPEATERS = 10
#: A dropout parameter whose standard error is this many times its estimate is not identified;
#: with under ``LOOSE_SHARE`` of customers estimated gone, that too is the no-dropout limit.
LOOSE_SE, LOOSE_SHARE = 10.0, 0.02


def dropped_share(
    model: str,
    params: Mapping[str, float],
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    w: np.ndarray,
) -> float:
    """The share of customers the estimate says have left by the end of calibration."""
    with np.errstate(all="ignore"):
        alive = p_alive(model, params, x, t_x, T)
    alive = np.where(np.isfinite(alive), alive, 1.0)
    return float(np.average(1.0 - alive, weights=w))


def no_dropout(
    model: str,
    params: Mapping[str, float],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    standard_errors: Mapping[str, float] | None = None,
) -> str | None:
    """Why the estimate is the no-dropout limit, in words, or None when it is not.

    Parameters
    ----------
    model : str
        ``"bgnbd"``, ``"mbgnbd"`` or ``"pnbd"`` (other models have no dropout to test).
    params : mapping
        The estimate.
    data : tuple
        The compressed rows ``(x, t_x, T, weights)``.
    standard_errors : mapping, optional
        Of the estimate, when known.

    Returns
    -------
    str or None

    Examples
    --------
    >>> import numpy as np
    >>> from segml.clv.boundary import no_dropout
    >>> counts = np.array([40.0, 20.0])  # 40 customers without a repeat purchase, 20 with three
    >>> rows = (np.array([0.0, 3.0]), np.array([0.0, 20.0]), np.array([30.0, 30.0]), counts)
    >>> no_dropout("bgnbd", {"r": 0.5, "alpha": 9.0, "a": 0.8, "b": 2.4}, rows) is None
    True
    >>> print(no_dropout("bgnbd", {"r": 0.5, "alpha": 9.0, "a": 2e-6, "b": 7000.0}, rows))
    a -> 0 (a = 2e-06, b = 7e+03); 0.00% of customers estimated to have left
    """
    names = DROPOUT_PARAMS.get(model)
    x, T, w = data[0], data[2], data[3]
    if names is None or float(w[x > 0].sum()) < MIN_REPEATERS:
        return None  # too few repeat buyers to tell anything about dropout
    share = dropped_share(model, params, *data)
    ses = standard_errors or {}
    loose = [n for n in names if np.isfinite(ses.get(n, np.nan)) and ses[n] > LOOSE_SE * params[n]]
    edge = _at_edge(model, params[names[0]], params[names[1]], float(T.max()))
    if not (edge or (loose and share < LOOSE_SHARE)):
        return None
    first, second = names
    limit = "a -> 0" if model != "pnbd" else "s -> 0 or beta -> inf"
    text = (
        f"{limit} ({first} = {params[first]:.3g}, {second} = {params[second]:.3g}); "
        f"{share:.2%} of customers estimated to have left"
    )
    if loose:
        text += "; standard errors " + ", ".join(
            f"{ses[n] / params[n]:.0f}x the estimate of {n}" for n in loose
        )
    return text


def running_to_no_dropout(
    model: str, names: tuple[str, ...], T_max: float
) -> Callable[[np.ndarray], bool] | None:
    """A cheap test of an optimiser's iterate (log-parameters in ``names`` order) for the
    no-dropout edge (and Pareto/NBD's edge of identical dropout rates, s past 100), to stop
    the search there rather than follow it for a minute."""
    if model not in DROPOUT_PARAMS:
        return None
    first, second = (names.index(n) for n in DROPOUT_PARAMS[model])

    def stop(log_theta: np.ndarray) -> bool:
        a, b = np.exp(log_theta[first]), np.exp(log_theta[second])
        return _at_edge(model, a, b, T_max) or (model == "pnbd" and a > 100.0)

    return stop


def _at_edge(model: str, first: float, second: float, T_max: float) -> bool:
    """Whether the dropout parameters (a, b) or (s, beta) sit at the no-dropout edge."""
    if model == "pnbd":  # s -> 0, or under 0.5 % of new customers gone within the window
        return bool(first < 1e-3 or first * np.log1p(T_max / second) < 5e-3)
    return bool(first < 1e-3 or first / (first + second) < 1e-4)
