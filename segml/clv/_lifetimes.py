"""The only module that imports lifetimes.

lifetimes is used for what it does well (its fitters and their prediction methods) and
is kept on a short leash: it is imported lazily; every call runs inside :func:`contained`,
which restores the caller's warning filters and the pandas option lifetimes sets, and
swallows what lifetimes prints; fitted lifetimes objects never leave this module
(they do not pickle): callers get plain parameter dictionaries.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FREQUENCY_FITTERS", "contained", "fit_frequency", "fit_gamma_gamma"]

#: segml model name -> (lifetimes class name, parameter names in lifetimes' order)
FREQUENCY_FITTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bgnbd": ("BetaGeoFitter", ("r", "alpha", "a", "b")),
    "mbgnbd": ("ModifiedBetaGeoFitter", ("r", "alpha", "a", "b")),
    "pnbd": ("ParetoNBDFitter", ("r", "alpha", "s", "beta")),
}

_PANDAS_OPTIONS = ("mode.chained_assignment",)


@contextlib.contextmanager
def contained() -> Iterator[None]:
    """Run lifetimes code without letting its global side effects escape."""
    saved: dict[str, Any] = {}
    for opt in _PANDAS_OPTIONS:
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the option itself is deprecated in pandas 3
            saved[opt] = pd.get_option(opt)
    with (
        warnings.catch_warnings(),
        np.errstate(all="ignore"),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        # Warnings raised by lifetimes' own code (deprecations of the pandas/numpy APIs it
        # uses, overflow in its intermediate terms) are about lifetimes, not the user's data.
        warnings.filterwarnings("ignore", module=r"lifetimes(\.|$)")
        try:
            yield
        finally:
            for opt, value in saved.items():
                with contextlib.suppress(Exception), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pd.set_option(opt, value)


def _module() -> Any:
    with contained():
        import lifetimes

    return lifetimes


def _fitter(model: str, params: Mapping[str, float] | None = None) -> Any:
    cls_name, names = FREQUENCY_FITTERS[model]
    with contained():
        fitter = getattr(_module(), cls_name)()
    if params is not None:
        fitter.params_ = pd.Series([float(params[n]) for n in names], index=list(names))
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    return fitter


def fit_frequency(
    model: str,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray,
    initial: Sequence[float] | None = None,
) -> dict[str, float]:
    """Fit a lifetimes frequency model; ``initial`` is in lifetimes' own parametrisation."""
    _, names = FREQUENCY_FITTERS[model]
    fitter = _fitter(model)
    kwargs: dict[str, Any] = {"weights": weights}
    if model == "pnbd":
        # Always pass a start: lifetimes' default draws from numpy's global random state.
        kwargs.update(initial_params=np.asarray(initial if initial is not None else np.ones(4)))
        kwargs.update(tol=1e-8, maxiter=20_000)
    elif initial is not None:
        kwargs.update(initial_params=np.asarray(initial))
    with contained():
        fitter.fit(x, t_x, T, **kwargs)
    return {n: float(fitter.params_[n]) for n in names}


def fit_gamma_gamma(
    x: np.ndarray, m: np.ndarray, weights: np.ndarray, initial: Sequence[float] | None = None
) -> dict[str, float]:
    """Fit lifetimes' Gamma-Gamma model; returns ``p``, ``q``, ``gamma`` (lifetimes' v)."""
    with contained():
        fitter = _module().GammaGammaFitter()
        kwargs: dict[str, Any] = {"weights": weights}
        if initial is not None:
            kwargs["initial_params"] = np.asarray(initial)
        fitter.fit(x, m, **kwargs)
    return {
        "p": float(fitter.params_["p"]),
        "q": float(fitter.params_["q"]),
        "gamma": float(fitter.params_["v"]),
    }


def conditional_expected_purchases(
    model: str, params: Mapping[str, float], t: float, x: Any, t_x: Any, T: Any
) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T]."""
    fitter = _fitter(model, params)
    with contained():
        out = fitter.conditional_expected_number_of_purchases_up_to_time(
            t, pd.Series(x), pd.Series(t_x), pd.Series(T)
        )
    return np.asarray(out, dtype="float64")


def conditional_p_alive(
    model: str, params: Mapping[str, float], x: Any, t_x: Any, T: Any
) -> np.ndarray:
    """P(alive at T | x, t_x, T)."""
    fitter = _fitter(model, params)
    with contained():
        out = fitter.conditional_probability_alive(pd.Series(x), pd.Series(t_x), pd.Series(T))
    return np.asarray(out, dtype="float64")


def expected_purchases_new(model: str, params: Mapping[str, float], t: Any) -> np.ndarray:
    """E[X(t)] for a customer just acquired (unconditional)."""
    fitter = _fitter(model, params)
    with contained():
        out = fitter.expected_number_of_purchases_up_to_time(t)
    return np.asarray(out, dtype="float64")
