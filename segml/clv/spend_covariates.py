"""Gamma-Gamma spend with covariates: the scale of the mean-spend distribution per customer.

Fader & Hardie's model has each transaction's value ``z ~ Gamma(p, nu)`` and
``nu ~ Gamma(q, gamma)`` across customers. With attributes ``z_i`` the scale becomes
``gamma_i = gamma exp(delta' z_i)``, so that ``exp(delta)`` multiplies a customer's expected
spend per transaction, ``p gamma_i / (q - 1)``, and leaves its shape (``p``, ``q``, the
coefficient of variation) alone. The likelihood of customer ``i``'s mean spend ``m`` over
``x`` repeat transactions is the model's own with ``gamma_i`` in place of ``gamma``:

    log f(m | x) = log Gamma(p x + q) - log Gamma(p x) - log Gamma(q) + q log gamma_i
                   + (p x - 1) log m + p x log x - (p x + q) log(gamma_i + m x).

With every coefficient at zero it is the model without covariates (tested). Fitted on the
compressed ``(x, m, pattern)`` rows, as the frequency models are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.clv._base import Compressed
from segml.clv.covariates import (
    CovariateData,
    at_edge,
    coefficient_names,
    loglik_at,
    maximise_covariates,
    patterns_of,
    row_log_params,
    spend_layout,
    theta_of,
)
from segml.clv.design import CovariateDesign
from segml.clv.fitting import Estimate
from segml.errors import BoundaryError, ConvergenceError, DataError

__all__ = ["fit_spend_covariates", "spend_scale"]


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def has_spend_covariates(est: Any) -> bool:
    """Whether the spend model was given covariates."""
    return bool(_names(est.covariates))


def fit_spend_covariates(
    est: Any,
    table: pd.DataFrame,
    fitted: np.ndarray,
    x: np.ndarray,
    m: np.ndarray,
    w: np.ndarray | None,
    start: dict[str, float],
) -> Estimate:
    """Fit ``est`` (a GammaGamma with covariates) on the rows ``fitted`` of ``table``:
    sets its covariate attributes and standard errors, returns the estimate."""
    who = "GammaGamma.fit"
    names = _names(est.covariates)
    design = CovariateDesign.fit(
        table, names, standardize=est.standardize, reference=est.reference_levels, who=who
    )
    Z = design.transform(table, who)[fitted]
    constant = [c for c, v in zip(design.columns, np.ptp(Z, axis=0), strict=True) if v == 0]
    if constant:
        raise DataError(
            f"{who}: covariate columns {constant} take one value for every repeat buyer, so "
            "their spend coefficients are not identified; drop them."
        )
    layout = spend_layout(design.columns_of, design.columns, names)
    patterns, pattern_of = patterns_of(Z)
    rows = Compressed.of(x, m, pattern_of.reshape(-1).astype("float64"), weights=w)
    data = CovariateData(
        (rows.column(0), rows.column(1)), rows.column(2).astype(np.intp), rows.weights, patterns
    )
    theta, _, H, converged, edge = maximise_covariates(
        layout, data, theta_of(layout, start, {}), {}
    )
    n = float(data.w.sum())
    if edge or at_edge(layout, theta):
        raise BoundaryError(
            f"Gamma-Gamma with covariates: the estimate runs to the edge of the parameter "
            f"space on {n:,.0f} repeat buyers: {', '.join(edge)}."
        )
    cov = np.linalg.inv(-H) if converged else np.full_like(H, np.nan)
    if not converged or not np.all(np.isfinite(np.diag(cov))) or np.exp(theta[1]) <= 1:
        raise ConvergenceError(
            f"Gamma-Gamma with covariates did not reach a proper maximum with a finite mean "
            f"spend (q > 1) on {n:,.0f} repeat buyers; drop covariates or levels with few "
            "repeat buyers."
        )
    base, coefs = layout.split(theta)
    names_all = coefficient_names(layout)
    se = np.sqrt(np.diag(cov))
    est.coefficients_ = coefs
    est.standard_errors_ = {
        **{nm: float(base[nm] * se[i]) for i, nm in enumerate(layout.base)},
        **{nm: float(se[len(layout.base) + i]) for i, nm in enumerate(layout.labels)},
    }
    est.design_ = design
    est.vcov_ = pd.DataFrame(cov, index=names_all, columns=names_all)
    est._layout, est._theta = layout, theta
    attempts = ("segml L-BFGS-B + Newton with covariates: converged",)
    return Estimate(base, loglik_at(layout, data, theta), H, "segml", attempts)


def spend_scale(est: Any, table: pd.DataFrame, who: str) -> np.ndarray | float:
    """Each customer's ``gamma_i`` (the fitted ``gamma`` without covariates)."""
    if not hasattr(est, "_layout"):
        return float(est.params_["gamma"])
    Z = est.design_.transform(table, who)
    logp = row_log_params(est._layout, est._theta, Z)
    return np.exp(logp[:, 2])


def spend_state(est: Any) -> dict[str, Any]:
    """The covariate part of a fitted spend model's JSON state."""
    return {
        "spec": {k: getattr(est, k) for k in ("covariates", "standardize", "reference_levels")},
        "design": est.design_.to_dict(),
        "theta": [float(v) for v in est._theta],
        "vcov": est.vcov_.to_numpy().tolist(),
    }


def restore_spend(est: Any, state: dict[str, Any]) -> None:
    """Set a spend model rebuilt from JSON to its fitted covariate state."""
    est.set_params(**state["spec"])
    est.design_ = CovariateDesign.from_dict(state["design"])
    est._layout = spend_layout(est.design_.columns_of, est.design_.columns, est.covariates)
    est._theta = np.asarray(state["theta"], dtype="float64")
    est.params_, est.coefficients_ = est._layout.split(est._theta)
    names = coefficient_names(est._layout)
    est.vcov_ = pd.DataFrame(np.asarray(state["vcov"]), index=names, columns=names)
    est._log_hessian = -np.linalg.inv(est.vcov_.to_numpy())
