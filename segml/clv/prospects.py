"""What a customer not yet acquired is worth, from their attributes alone.

A prospect has no history: with covariates, the fitted models give the purchase and
dropout parameters of a customer with those attributes, so the value of acquiring them is

    (1 + sum_k w_k E[X(t_k)]) * E[spend per transaction],

where ``E[X(t)]`` is the expected number of repeat purchases by ``t`` of a customer just
acquired (the models' unconditional expectation, at the prospect's parameters), ``w_k`` and
``t_k`` the discounting nodes of :mod:`segml.clv.discount` (one node at the horizon when
there is no discounting) and the expected spend the population mean of the spend model at
the prospect's attributes, ``p gamma_i / (q - 1)``. The 1 is the acquisition purchase
itself, at time zero. Intervals come from the model's parameter draws (coefficients
included), so they say how sure the estimate is of that mean, not what one prospect does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import segml.clv._lifetimes as engine
from segml.clv.covariate_fit import row_params
from segml.clv.discount import discount_nodes
from segml.clv.spend_covariates import spend_scale
from segml.clv.uncertainty import with_state
from segml.errors import DataError

if TYPE_CHECKING:
    from segml.clv.value import CLVModel

__all__ = ["prospect_draws", "prospect_values"]


def _repeat_purchases(freq: Any, attributes: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """``E[X(t_k)]`` per prospect and node, shape ``(n, len(t))``: one evaluation per
    distinct attribute pattern."""
    if not hasattr(freq, "_layout"):
        one = engine.expected_purchases_new(freq._model, freq.params_, t)
        return np.broadcast_to(one, (len(attributes), len(t)))
    Z = freq.design_.transform(attributes, "predict_new")
    patterns, which = np.unique(Z, axis=0, return_inverse=True)
    params = row_params(freq, patterns)
    out = np.empty((len(patterns), len(t)))
    for g in range(len(patterns)):
        at = {k: float(np.asarray(v)[g]) if np.ndim(v) else float(v) for k, v in params.items()}
        out[g] = engine.expected_purchases_new(freq._model, at, t)
    return out[which.reshape(-1)]


def _values(
    model: CLVModel, freq: Any, spend: Any, attributes: pd.DataFrame, t: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repeat purchases at the horizon, expected spend and value per prospect."""
    curve = _repeat_purchases(freq, attributes, t)
    p, q = spend.params_["p"], spend.params_["q"]
    mean_spend = p * np.asarray(spend_scale(spend, attributes, "predict_new")) / (q - 1)
    mean_spend = np.broadcast_to(mean_spend, (len(attributes),))
    return curve[:, 0], mean_spend, model.margin * mean_spend * (1.0 + curve[:, 1:] @ w)


def _nodes(model: CLVModel, horizon: float, discount_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The horizon, then the discounting nodes, and the nodes' weights."""
    if not np.isfinite(horizon) or horizon <= 0:
        raise DataError(f"horizon must be finite and > 0, got {horizon!r}.")
    if discount_rate:
        # a finite horizon's first node is the horizon itself (weight e^(-delta H))
        nodes, weights = discount_nodes(horizon, model._delta(discount_rate))
    else:
        nodes, weights = np.array([horizon]), np.array([1.0])
    return np.concatenate([[horizon], nodes]), weights


def _check(attributes: Any) -> None:
    if not isinstance(attributes, pd.DataFrame) or len(attributes) == 0:
        raise DataError("predict_new expects a DataFrame of prospects' attributes, one per row.")


def prospect_draws(
    model: CLVModel, attributes: pd.DataFrame, horizon: float, discount_rate: float
) -> np.ndarray:
    """Repeat purchases, expected spend and value of each prospect under each parameter
    draw of ``model.draws_``: shape ``(3, n_draws, n_prospects)``."""
    _check(attributes)
    if not hasattr(model, "draws_"):
        raise DataError(
            "intervals of prospects' value need parameter draws: call "
            "clv.bootstrap(training_table) after fit."
        )
    t, weights = _nodes(model, horizon, discount_rate)
    draws = model.draws_
    sims = np.empty((3, len(draws.frequency), len(attributes)))
    for d, (fp, sp) in enumerate(zip(draws.frequency, draws.spend, strict=True)):
        freq = with_state(model.frequency_model_, fp)
        sims[:, d] = _values(
            model, freq, with_state(model.spend_model_, sp), attributes, t, weights
        )
    return sims


def prospect_values(
    model: CLVModel,
    attributes: pd.DataFrame,
    horizon: float,
    discount_rate: float,
    interval: float | None,
) -> pd.DataFrame:
    """The columns of :meth:`segml.CLVModel.predict_new` (see there)."""
    _check(attributes)
    t, weights = _nodes(model, horizon, discount_rate)
    purchases, spend, value = _values(
        model, model.frequency_model_, model.spend_model_, attributes, t, weights
    )
    out = pd.DataFrame(
        {"expected_purchases": purchases, "expected_spend": spend, "clv": value},
        index=attributes.index,
    )
    if interval is None:
        return out
    if not 0 < float(interval) < 1:
        raise DataError(f"interval must be a level in (0, 1), got {interval!r}.")
    sims = prospect_draws(model, attributes, horizon, discount_rate)
    tail = 50.0 * (1.0 - float(interval))
    for i, name in enumerate(("expected_purchases", "expected_spend", "clv")):
        low, high = np.percentile(sims[i], [tail, 100.0 - tail], axis=0)
        out[f"{name}_lower"], out[f"{name}_upper"] = low, high
    out.attrs["interval"] = {
        "kind": "parameter",
        "level": float(interval),
        "draws": model.draws_.method,
    }
    return out
