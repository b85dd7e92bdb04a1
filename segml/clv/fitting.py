"""The one fitting routine of the CLV models: segml's maximum likelihood, then lifetimes.

Every model is fitted the same way (:func:`fit_with_fallbacks`):

1. segml's maximum likelihood with the analytic gradient (:func:`segml.clv.objectives.maximise`);
   an accepted estimate is the answer, with its Hessian;
2. otherwise ``lifetimes`` from each of the model's starts, until one gives an acceptable
   estimate;
3. then segml's derivative-free polish from lifetimes' estimate (or, when lifetimes found
   none, from each of the model's last-resort starts); the polished estimate replaces
   lifetimes' only when its log-likelihood is higher.

Every attempt is recorded; when none gives an acceptable estimate the model's own message is
raised as :class:`segml.ConvergenceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from segml.clv.objectives import MLE, central_gradient
from segml.errors import ConvergenceError

__all__ = ["Estimate", "fit_with_fallbacks", "polish"]

Params = dict[str, float]


@dataclass(frozen=True)
class Estimate:
    """A fitted model's parameters and how they were found.

    Attributes
    ----------
    params : dict of str to float
    log_likelihood : float or None
        At ``params``, when the optimiser knows it (else the caller computes it).
    hessian : numpy.ndarray or None
        Of the total log-likelihood in log-parameters, when the optimiser knows it.
    engine : str
        ``"segml"`` or ``"lifetimes"``.
    attempts : tuple of str
        Every attempt, in order, with its outcome.
    """

    params: Params
    log_likelihood: float | None
    hessian: np.ndarray | None
    engine: str
    attempts: tuple[str, ...]

    @property
    def info(self) -> dict[str, Any]:
        """``engine`` and ``attempts``, as the models' ``fit_info_``."""
        return {"engine": self.engine, "attempts": list(self.attempts)}


def fit_with_fallbacks(
    *,
    names: Sequence[str],
    own: Callable[[], MLE] | None,
    accept: Callable[[Params, MLE], bool],
    lifetimes: Callable[[Any], Params],
    lifetimes_starts: Iterable[Any],
    total_loglik: Callable[[Params], float],
    valid: Callable[[Params, float], bool],
    polish: Callable[[Params, list[str]], tuple[float, Params] | None],
    last_resort: Iterable[Params],
    failure: Callable[[list[str]], str],
    on_rejected: Callable[[Params], None] | None = None,
) -> Estimate:
    """Fit a model by the steps of the module documentation.

    Parameters
    ----------
    names : sequence of str
        The parameters, in the order of the optimisers' vectors.
    own : callable or None
        segml's gradient maximum likelihood (None for a model without an analytic gradient).
    accept : callable
        Whether its result is the answer.
    lifetimes : callable
        lifetimes' fit from a start (raises on failure).
    lifetimes_starts : iterable
        Starts for ``lifetimes``.
    total_loglik : callable
        The weighted log-likelihood of parameters.
    valid : callable
        Whether parameters with that log-likelihood are an acceptable estimate.
    polish : callable
        segml's derivative-free optimiser from a start: ``(log-likelihood, params)`` or None;
        it records its attempts in the list it receives.
    last_resort : iterable of dict
        Starts for ``polish`` when lifetimes found nothing.
    failure : callable
        The error message, given the attempts.
    on_rejected : callable, optional
        Called with the rejected gradient estimate (a boundary check may raise there).

    Returns
    -------
    Estimate
    """
    attempts: list[str] = []
    if own is not None:
        mle = own()
        outcome = "converged" if mle.converged else mle.message
        attempts.append(f"segml L-BFGS-B + Newton: {outcome}")
        first = dict(zip(names, map(float, np.exp(mle.log_theta)), strict=True))
        if accept(first, mle):
            return Estimate(first, mle.loglik, mle.hessian, "segml", tuple(attempts))
        if on_rejected is not None:
            on_rejected(first)
    found = _lifetimes_estimate(lifetimes, lifetimes_starts, total_loglik, valid, attempts)
    if found is not None:
        polished = polish(found[1], attempts)
        if polished is not None and polished[0] > found[0] + 1e-6:
            attempts.append("segml's optimiser improved on lifetimes' estimate")
            return Estimate(polished[1], None, None, "segml", tuple(attempts))
        return Estimate(found[1], None, None, "lifetimes", tuple(attempts))
    for start in last_resort:
        polished = polish(start, attempts)
        if polished is not None:
            return Estimate(polished[1], None, None, "segml", tuple(attempts))
    raise ConvergenceError(failure(attempts))


def _lifetimes_estimate(
    lifetimes: Callable[[Any], Params],
    starts: Iterable[Any],
    total_loglik: Callable[[Params], float],
    valid: Callable[[Params, float], bool],
    attempts: list[str],
) -> tuple[float, Params] | None:
    """lifetimes' first acceptable estimate over ``starts``, with its log-likelihood."""
    for start in starts:
        try:
            params = lifetimes(start)
        except Exception as exc:  # lifetimes raises several types on failure
            attempts.append(f"lifetimes from {start}: {type(exc).__name__}")
            continue
        value = total_loglik(params)
        attempts.append(f"lifetimes from {start}: log-likelihood {value:.4f}")
        if valid(params, value):
            return value, params
    return None


def polish(
    loglik: Callable[..., np.ndarray],
    names: Sequence[str],
    data: tuple[np.ndarray, ...],
    w: np.ndarray,
    start: Params,
    attempts: list[str],
) -> tuple[float, Params] | None:
    """segml's derivative-free fallback: L-BFGS-B on numerical gradients, then Nelder-Mead.

    Parameters
    ----------
    loglik : callable
        Per-row log-likelihood ``loglik(params, *data)``.
    names : sequence of str
        The parameters, in the optimiser's order (optimised in logs).
    data : tuple of numpy.ndarray
        The compressed rows' columns.
    w : numpy.ndarray
        The rows' weights.
    start : dict of str to float
    attempts : list of str
        Each optimiser's outcome is appended.

    Returns
    -------
    (log-likelihood, params) or None
        The best finite estimate found.
    """
    total_w = float(w.sum())

    def objective(log_theta: np.ndarray) -> float:
        p = dict(zip(names, np.exp(log_theta), strict=True))
        with np.errstate(all="ignore"):
            value = -float(np.sum(w * loglik(p, *data))) / total_w
        return value if np.isfinite(value) else 1e300

    x0 = np.log([start[n] for n in names])
    best = None
    for method in ("L-BFGS-B", "Nelder-Mead"):
        opts: dict[str, float] = {"maxiter": 20_000}
        if method == "L-BFGS-B":
            opts.update(ftol=1e-15, gtol=1e-9)
        else:
            opts.update(xatol=1e-10, fatol=1e-12)
        jac = (lambda theta: central_gradient(objective, theta)) if method == "L-BFGS-B" else None
        res = minimize(objective, x0, method=method, jac=jac, options=opts)
        if np.all(np.isfinite(res.x)) and res.fun < 1e299:
            value = -res.fun * total_w
            cand = dict(zip(names, map(float, np.exp(res.x)), strict=True))
            if best is None or value > best[0]:
                best = (value, cand)
            x0 = res.x
        attempts.append(f"segml {method}: {'converged' if res.success else res.message}")
        if res.success and best is not None:
            break
    return best
