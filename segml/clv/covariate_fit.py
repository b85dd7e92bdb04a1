"""Fitting a frequency model with covariates, and the per-customer parameters it predicts with.

The estimators (:class:`segml.BetaGeo`, :class:`segml.ModifiedBetaGeo`,
:class:`segml.ParetoNBD`) call :func:`fit_covariates` when they are given covariates; the
likelihood and its derivatives are in :mod:`segml.clv.covariates`. The search starts from
the fit without covariates (coefficients at zero), which is also the nested model of the
likelihood-ratio tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from segml.clv._base import Compressed, check_weights, frequency_arrays
from segml.clv.covariates import (
    CovariateData,
    Layout,
    build_layout,
    coefficient_names,
    describe_edge,
    loglik_at,
    maximise_covariates,
    patterns_of,
    row_log_params,
    standard_error_basis,
    theta_of,
    varying_params,
)
from segml.clv.design import CovariateDesign
from segml.errors import BoundaryError, ConvergenceError, DataError, SegmlError

__all__ = ["LikelihoodRatioTest", "covariate_rows", "fit_covariates", "likelihood_ratio_test"]


def _spec(est: Any) -> tuple[list[str], list[str], list[str]]:
    def names(value: Any, what: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        out = list(value)
        if not all(isinstance(v, str) for v in out):
            raise DataError(f"{what} must be column names, got {value!r}.")
        return out

    return (
        names(est.purchase_covariates, "purchase_covariates"),
        names(est.dropout_covariates, "dropout_covariates"),
        names(est.constrained_covariates, "constrained_covariates"),
    )


def has_covariates(est: Any) -> bool:
    """Whether the estimator was given any covariate."""
    return any(_spec(est))


def layout_of(est: Any, design: CovariateDesign) -> Layout:
    """The coefficient blocks of ``est``'s specification over ``design``."""
    purchase, dropout, constrained = _spec(est)
    return build_layout(
        est._model,
        est._param_names,
        design.columns_of,
        design.columns,
        purchase=purchase,
        dropout=dropout,
        constrained=constrained,
        form=est.covariate_form,
    )


def _penalty(est: Any, layout: Layout) -> dict[str, float]:
    penalty = dict(est.penalty or {})
    labels = {b.label for b in layout.blocks}
    unknown = sorted(set(penalty) - labels)
    if unknown:
        raise DataError(
            f"penalty for {unknown}: the model's coefficient blocks are {sorted(labels)}."
        )
    if not all(np.isfinite(float(v)) and float(v) >= 0 for v in penalty.values()):
        raise DataError(f"penalty values must be finite and >= 0, got {penalty}.")
    return {k: float(v) for k, v in penalty.items()}


def _start(est: Any, table: pd.DataFrame, w: np.ndarray | None) -> dict[str, float]:
    plain = type(est)(compress=True)
    try:
        return dict(plain.fit(table, sample_weight=w).params_)
    except SegmlError:
        x, t_x, T = frequency_arrays(table, "start")
        weights = np.ones(len(x)) if w is None else w
        return plain._own_start(x, t_x, T, weights)


def fit_covariates(
    est: Any, table: pd.DataFrame, sample_weight: Any, previous: dict[str, float] | None = None
) -> None:
    """Fit ``est`` with its covariates on ``table`` and set its fitted attributes.

    ``previous`` (a warm start's earlier estimate: parameters and coefficients by name)
    replaces the fit without covariates as the start; coefficients it lacks start at zero.
    """
    who = f"{type(est).__name__}.fit"
    if est._model == "nbd":
        raise DataError(f"{who}: covariates are fitted in BetaGeo, ModifiedBetaGeo and ParetoNBD.")
    x, t_x, T = frequency_arrays(table, who)
    w_in = check_weights(sample_weight, len(x), who)
    purchase, dropout, constrained = _spec(est)
    design = CovariateDesign.fit(
        table,
        [*purchase, *dropout, *constrained],
        standardize=est.standardize,
        reference=est.reference_levels,
        who=who,
    )
    Z = design.transform(table, who)
    constant = [c for c, v in zip(design.columns, np.ptp(Z, axis=0), strict=True) if v == 0]
    if constant:
        raise DataError(
            f"{who}: covariate columns {constant} take one value for every customer, so "
            "their coefficients are not identified; drop them."
        )
    layout = layout_of(est, design)
    patterns, pattern_of = patterns_of(Z)
    rows = Compressed.of(x, t_x, T, pattern_of.reshape(-1).astype("float64"), weights=w_in)
    data = CovariateData(
        (rows.column(0), rows.column(1), rows.column(2)),
        rows.column(3).astype(np.intp),
        rows.weights,
        patterns,
    )
    penalty = _penalty(est, layout)
    if previous is not None and all(n in previous for n in layout.base):
        start = theta_of(layout, previous, previous)
    else:
        start = theta_of(layout, _start(est, table, w_in), {})
    theta, objective, H, converged, edge = maximise_covariates(layout, data, start, penalty)
    n = float(data.w.sum())
    label = f"{est._label} with covariates"
    if edge:
        raise BoundaryError(
            f"{label}: the estimate runs to the edge of the parameter space on {n:,.0f} "
            f"customers (covariate columns {', '.join(design.columns)}): "
            f"{describe_edge(est._model, edge)}. It is a boundary estimate, not an "
            "answer: use the other covariate form, fewer covariates, or the model without them."
        )
    try:
        cov = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        cov = np.full_like(H, np.nan)
    if not converged or not np.all(np.isfinite(np.diag(cov))):
        raise ConvergenceError(
            f"{label} did not reach a proper maximum on {n:,.0f} customers ({len(data.w):,} "
            "unique rows): the Hessian is not negative definite or the gradient is not zero, "
            "so the data do not identify every coefficient. Drop covariates or levels with few "
            "customers."
        )
    base, coefs = layout.split(theta)
    names = coefficient_names(layout)
    se_theta = np.sqrt(np.diag(cov))
    k = len(layout.base)
    ses = {nm: float(np.exp(theta[i]) * se_theta[i]) for i, nm in enumerate(names[:k])}
    ses.update({nm: float(se_theta[k + i]) for i, nm in enumerate(names[k:])})
    loglik = loglik_at(layout, data, theta)
    est.params_ = base
    est.coefficients_ = coefs
    est.standard_errors_ = ses
    est.design_ = design
    est.log_likelihood_ = loglik
    est.penalized_objective_ = objective / n if penalty else None
    est.vcov_ = pd.DataFrame(cov, index=names, columns=names)
    est.n_customers_ = round(n)
    est.n_unique_rows_ = len(data.w)
    est.aic_ = 2 * len(names) - 2 * loglik
    est.bic_ = len(names) * np.log(n) - 2 * loglik
    est.fit_info_ = {
        "engine": "segml",
        "attempts": ["segml L-BFGS-B + Newton with covariates: converged"],
        "covariates": [c.describe() for c in design.covariates],
        "penalty": penalty,
        "standard_errors": standard_error_basis(penalty),
        "data": _fingerprint(x, t_x, T, w_in),
    }
    est._theta = theta
    est._layout = layout
    est._log_hessian = H


def _fingerprint(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray | None) -> list:
    weights = np.ones(len(x)) if w is None else w
    return [float(weights.sum()), float(weights @ x), float(weights @ t_x), float(weights @ T)]


def covariate_rows(
    est: Any, table: pd.DataFrame, who: str
) -> tuple[Compressed, dict[str, float | np.ndarray]]:
    """Unique ``(x, t_x, T, covariates)`` rows of ``table`` and their parameters.

    The rows carry the design columns, not the parameters, so a predictor built from them
    follows the estimator's current coefficients (the parameter draws set them).
    """
    x, t_x, T = frequency_arrays(table, who)
    Z = est.design_.transform(table, who)
    data = Compressed.of(x, t_x, T, *Z.T)
    return data, row_params(est, data.values[:, 3:])


def row_params(est: Any, Z: np.ndarray) -> dict[str, float | np.ndarray]:
    """The base parameters, with an array per row for those the covariates scale."""
    layout = est._layout
    logp = row_log_params(layout, est._theta, Z)
    params: dict[str, float | np.ndarray] = dict(est.params_)
    for name in varying_params(layout):
        params[name] = np.exp(logp[:, layout.base.index(name)])
    return params


_SPEC = (
    "purchase_covariates",
    "dropout_covariates",
    "constrained_covariates",
    "covariate_form",
    "penalty",
    "standardize",
    "reference_levels",
)


def covariate_state(est: Any) -> dict[str, Any]:
    """The covariate part of a fitted model's JSON state."""
    return {
        "spec": {k: getattr(est, k) for k in _SPEC},
        "design": est.design_.to_dict(),
        "theta": [float(v) for v in est._theta],
        "penalized_objective": est.penalized_objective_,
        "vcov": est.vcov_.to_numpy().tolist(),
    }


def restore_covariates(est: Any, state: dict[str, Any]) -> None:
    """Set a model rebuilt from JSON to its fitted covariate state."""
    est.set_params(**state["spec"])
    est.design_ = CovariateDesign.from_dict(state["design"])
    est._layout = layout_of(est, est.design_)
    est._theta = np.asarray(state["theta"], dtype="float64")
    est.params_, est.coefficients_ = est._layout.split(est._theta)
    est.penalized_objective_ = state.get("penalized_objective")
    names = coefficient_names(est._layout)
    est.vcov_ = pd.DataFrame(np.asarray(state["vcov"]), index=names, columns=names)
    est._log_hessian = -np.linalg.inv(est.vcov_.to_numpy())


class LikelihoodRatioTest(dict):
    """Result of :func:`likelihood_ratio_test`: ``statistic``, ``df``, ``p_value``."""

    def __repr__(self) -> str:
        return (
            f"LikelihoodRatioTest(chi2={self['statistic']:.4f}, df={self['df']}, "
            f"p={self['p_value']:.3g})"
        )


def _n_estimated(model: Any) -> int:
    return len(model.params_) + len(getattr(model, "coefficients_", {}) or {})


def likelihood_ratio_test(full: Any, restricted: Any) -> LikelihoodRatioTest:
    """Likelihood-ratio test of a restricted fit against the full fit it is nested in.

    Parameters
    ----------
    full, restricted : FrequencyModel
        Fitted on the same customers; ``restricted`` has fewer estimated quantities
        (covariates left out, or constrained equal across processes). Penalised fits are
        refused: the statistic is not chi-squared there.

    Returns
    -------
    LikelihoodRatioTest
        ``statistic`` = 2 (LL_full - LL_restricted), ``df``, ``p_value`` (chi-squared).

    Examples
    --------
    >>> import segml
    >>> tx, customers = segml.load_apparel()
    >>> table = segml.summarize(tx, calibration_end="2006-12-31", customers=customers)
    >>> full = segml.ParetoNBD(purchase_covariates=["Gender"]).fit(table)
    >>> test = segml.likelihood_ratio_test(full, segml.ParetoNBD().fit(table))
    >>> test["df"], test["p_value"] < 0.05
    (1, True)
    """
    for m in (full, restricted):
        if getattr(m, "penalized_objective_", None) is not None:
            raise DataError("a likelihood-ratio test needs unpenalised fits (penalty=None).")
    if type(full) is not type(restricted):
        raise DataError(
            f"the fits are of different models ({type(full).__name__}, "
            f"{type(restricted).__name__}); a likelihood-ratio test compares nested fits."
        )
    fp_full = full.fit_info_.get("data")
    fp_restr = restricted.fit_info_.get("data")
    if full.n_customers_ != restricted.n_customers_ or (
        fp_full is not None and fp_restr is not None and not np.allclose(fp_full, fp_restr)
    ):
        raise DataError("the two fits are on different customers; refit them on one table.")
    df = _n_estimated(full) - _n_estimated(restricted)
    if df <= 0:
        raise DataError(
            f"the full fit must have more estimated quantities than the restricted one "
            f"({_n_estimated(full)} against {_n_estimated(restricted)}); swap the arguments?"
        )
    stat = 2.0 * (full.log_likelihood_ - restricted.log_likelihood_)
    return LikelihoodRatioTest(
        statistic=float(stat), df=int(df), p_value=float(chi2.sf(max(stat, 0.0), df))
    )
