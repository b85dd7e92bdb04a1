"""What each attribute does to each process, as multipliers a stakeholder reads.

A covariate model's coefficients scale parameters (``alpha``, ``beta``, ``a``, ``b``,
``gamma``); a reader wants the quantities those move. Per design column (a level against its
attribute's reference level, a 0/1 indicator, or one unit of a numeric attribute), with the
other columns at zero:

- purchase rate: the mean purchase rate ``r / alpha_i`` against the reference's;
- dropout: Pareto/NBD's mean dropout rate ``s / beta_i``; BG/NBD's and MBG/NBD's mean dropout
  probability per purchase ``a_i / (a_i + b_i)`` (CLVTools' shared form moves ``a`` and ``b``
  together, so this ratio is 1 there, the column changes only how alike customers are, and
  no dropout row is listed);
- spend: the expected spend per order ``p gamma_i / (q - 1)``.

Intervals are delta-method Wald intervals of the log multiplier from the fit's ``vcov_``;
after an L2 penalty they inherit what the penalised Hessian says (see ``fit_info_``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = ["covariate_effects", "covariate_names", "covariate_problems"]

_MEASURES: dict[str, tuple[tuple[str, str], ...]] = {
    "pnbd": (("purchase", "purchase rate"), ("dropout", "dropout rate")),
    "bgnbd": (("purchase", "purchase rate"), ("dropout", "dropout probability")),
    "mbgnbd": (("purchase", "purchase rate"), ("dropout", "dropout probability")),
    "gg": (("spend", "spend per order"),),
}


def _log_multiplier(model: Any, process: str, c: int) -> Callable[[np.ndarray], float]:
    """The log multiplier of ``process`` for design column ``c``, as a function of theta."""
    layout = model._layout
    z = np.zeros((1, len(model.design_.columns)))
    z[0, c] = 1.0
    k = len(layout.base)
    J = layout.jacobian(z)[0][:, k:]  # d log parameter / d coefficient at that column
    at = {name: j for j, name in enumerate(layout.base)}

    def shift(theta: np.ndarray, name: str) -> float:
        return float(J[at[name]] @ theta[k:])

    if process == "purchase":
        return lambda theta: -shift(theta, "alpha")
    if process == "spend":
        return lambda theta: shift(theta, "gamma")
    if layout.model == "pnbd":
        return lambda theta: -shift(theta, "beta")

    def dropout_probability(theta: np.ndarray) -> float:
        a, b = np.exp(theta[at["a"]]), np.exp(theta[at["b"]])
        a1, b1 = a * np.exp(shift(theta, "a")), b * np.exp(shift(theta, "b"))
        return float(np.log(a1 / (a1 + b1)) - np.log(a / (a + b)))

    return dropout_probability


def _rows(model: Any, level: float) -> list[dict[str, Any]]:
    z = float(norm.ppf(0.5 + level / 2))
    theta, cov = model._theta, model.vcov_.to_numpy()
    reference = {col: cv for cv in model.design_.covariates for col in cv.columns}
    rows = []
    for process, measure in _MEASURES[model._layout.model]:
        for c, column in enumerate(model.design_.columns):
            f = _log_multiplier(model, process, c)
            step = np.eye(len(theta)) * 1e-6
            grad = np.array([(f(theta + e) - f(theta - e)) / 2e-6 for e in step])
            if not np.any(np.abs(grad) > 1e-9):
                continue  # the column does not enter this process
            value, se = f(theta), float(np.sqrt(max(grad @ cov @ grad, 0.0)))
            attr = reference[column]
            rows.append(
                {
                    "process": process,
                    "measure": measure,
                    "column": column,
                    "attribute": attr.name,
                    "against": attr.reference if attr.kind != "numeric" else "one unit less",
                    "multiplier": float(np.exp(value)),
                    "lower": float(np.exp(value - z * se)),
                    "upper": float(np.exp(value + z * se)),
                    "p_value": float(2 * norm.sf(abs(value) / se)) if se > 0 else float("nan"),
                }
            )
    return rows


def covariate_effects(
    frequency: Any, spend: Any | None = None, level: float = 0.95
) -> pd.DataFrame:
    """Each attribute's multiplier on the purchase rate, dropout and spend, with intervals.

    Parameters
    ----------
    frequency : FrequencyModel
        A fitted frequency model (covariates or not).
    spend : GammaGamma, optional
        A fitted spend model.
    level : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        One row per design column and process it enters: ``process`` (purchase, dropout,
        spend), ``measure`` (the quantity multiplied), ``column``, ``attribute``,
        ``against`` (the reference level), ``multiplier``, ``lower``, ``upper``,
        ``p_value`` (Wald). Empty when neither model has covariates.

    Examples
    --------
    >>> import segml
    >>> from segml.clv.covariate_effects import covariate_effects
    >>> tx, customers = segml.load_apparel()
    >>> table = segml.summarize(tx, calibration_end="2006-12-31", customers=customers)
    >>> fit = segml.ParetoNBD(purchase_covariates=["Channel"]).fit(table)
    >>> effects = covariate_effects(fit)
    >>> effects[["process", "column"]].values.tolist()
    [['purchase', 'Channel']]
    """
    rows = []
    for model in (frequency, spend):
        if model is not None and hasattr(model, "_layout"):
            rows.extend(_rows(model, level))
    columns = ["process", "measure", "column", "attribute", "against", "multiplier"]
    return pd.DataFrame(rows, columns=[*columns, "lower", "upper", "p_value"])


def covariate_names(clv_model: Any) -> list[str]:
    """The attributes a fitted :class:`segml.CLVModel`'s estimators use (none without
    covariates), frequency model's first."""
    names: list[str] = []
    for fitted in (clv_model.frequency_model_, clv_model.spend_model_):
        if hasattr(fitted, "design_"):
            names += [n for n in fitted.design_.names if n not in names]
    return names


def covariate_problems(clv_model: Any, table: pd.DataFrame) -> np.ndarray:
    """Per row of ``table``, why its attributes cannot be valued by ``clv_model`` ("" where
    they can; see :meth:`segml.clv.design.CovariateDesign.row_problems`)."""
    out = np.full(len(table), "", dtype=object)
    for fitted in (clv_model.frequency_model_, clv_model.spend_model_):
        if hasattr(fitted, "design_"):
            found = fitted.design_.row_problems(table)
            free = out == ""
            out[free] = found[free]
    return out
