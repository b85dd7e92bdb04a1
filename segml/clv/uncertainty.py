"""Parameter uncertainty of a CLV model: a bootstrap over customers on the compressed rows.

Resampling customers with replacement is the same as multinomial weights on the unique
``(frequency, recency, T, monetary_value)`` rows; each draw refits the frequency and the
spend model on those weights (segml's own maximum likelihood), so the draws keep the
correlation between the parameters of both. Every customer is then predicted with every
draw: unlike a bootstrap that predicts only the customers drawn, every customer gets an
interval and identical histories get identical intervals. Portfolio and segment totals come
from the same draws (sums of draws, not sums of bounds).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from segml.clv._base import Compressed, as_float, frequency_arrays
from segml.clv.spend import GammaGamma
from segml.errors import DataError, FitError

if TYPE_CHECKING:
    from segml.clv.value import CLVModel

__all__ = [
    "ParameterDraws",
    "bootstrap",
    "parameter_intervals",
    "predictive_draws",
    "predictive_intervals",
    "value_draws",
]

_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")
_BLOCK = 50_000  # customers per block when reducing draws to quantiles


@dataclass
class ParameterDraws:
    """Bootstrap draws of a CLV model's parameters.

    Attributes
    ----------
    frequency, spend : list of dict
        The frequency and spend parameters of each successful draw, paired.
    failed : int
        Draws whose refit did not converge (left out; reported).
    method : str
        ``"refit"`` (bootstrap over customers) or ``"normal"`` (asymptotic normal).
    """

    frequency: list[dict[str, float]] = field(default_factory=list)
    spend: list[dict[str, float]] = field(default_factory=list)
    failed: int = 0
    method: str = "refit"

    def frame(self) -> pd.DataFrame:
        """One row per draw, one column per parameter."""
        return pd.DataFrame([{**f, **s} for f, s in zip(self.frequency, self.spend, strict=True)])


#: Above this many customers ``method="auto"`` draws from the asymptotic normal: the MLE's
#: normal limit is accurate there, and refits would take minutes.
NORMAL_ABOVE = 100_000


def bootstrap(
    model: CLVModel,
    table: pd.DataFrame,
    n_draws: int = 200,
    random_state: int | np.random.Generator | None = 0,
    method: str = "auto",
) -> ParameterDraws:
    """Draws of ``model``'s frequency and spend parameters.

    Parameters
    ----------
    model : CLVModel
        Fitted; its frequency model class and the Gamma-Gamma spend model are refitted.
    table : pandas.DataFrame
        The customer table the model was fitted on.
    n_draws : int, default 200
    random_state : int or numpy.random.Generator, optional
    method : {"auto", "refit", "normal"}, default "auto"
        ``"refit"``: the bootstrap over customers; ``"normal"``: draws of the log-parameters
        from the MLE's asymptotic normal (inverse observed information of each model);
        ``"auto"``: refits up to ``NORMAL_ABOVE`` customers, normal draws above.

    Returns
    -------
    ParameterDraws
    """
    if n_draws < 2:
        raise DataError(f"n_draws must be at least 2, got {n_draws!r}.")
    if method not in ("auto", "refit", "normal"):
        raise DataError(f"method={method!r}: choose 'auto', 'refit' or 'normal'.")
    if method == "normal" or (method == "auto" and len(table) > NORMAL_ABOVE):
        return _normal_draws(model, n_draws, random_state)
    x, t_x, T = frequency_arrays(table, "bootstrap")
    m = as_float(table["monetary_value"])
    data = Compressed.of(x, t_x, T, m)
    rows = pd.DataFrame(data.values, columns=["frequency", "recency", "T", "monetary_value"])
    n = round(float(data.weights.sum()))
    probs = data.weights / data.weights.sum()
    rng = np.random.default_rng(random_state)
    freq_cls = type(model.frequency_model_)
    out = ParameterDraws()
    for _ in range(n_draws):
        counts = rng.multinomial(n, probs).astype("float64")
        keep = counts > 0
        sub, w = rows[keep], counts[keep]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # each refit's own advice, once per draw
                freq = freq_cls(compress=True).fit(sub, sample_weight=w)
                spend = GammaGamma(compress=True).fit(sub, sample_weight=w)
        except (FitError, DataError):
            out.failed += 1
            continue
        out.frequency.append(dict(freq.params_))
        out.spend.append(dict(spend.params_))
    if len(out.frequency) < 2:
        raise FitError(
            f"only {len(out.frequency)} of {n_draws} bootstrap refits converged: the data "
            "cannot give the model's parameters an interval."
        )
    return out


def _normal_draws(
    model: CLVModel, n_draws: int, random_state: int | np.random.Generator | None
) -> ParameterDraws:
    """Log-parameters drawn from N(estimate, inverse observed information), per model (the
    frequency and spend likelihoods are separate, so their estimates are independent)."""
    rng = np.random.default_rng(random_state)
    sides = []
    for fitted in (model.frequency_model_, model.spend_model_):
        hessian = getattr(fitted, "_log_hessian", None)
        if hessian is None:
            raise DataError(
                "normal draws need the fit's information matrix, which a model loaded from "
                "JSON does not carry: use method='refit'."
            )
        names = list(fitted.params_)
        centre = np.log([fitted.params_[n] for n in names])
        try:
            cov = np.linalg.inv(-np.asarray(hessian))
            logs = rng.multivariate_normal(centre, cov, size=n_draws, method="cholesky")
        except np.linalg.LinAlgError:
            raise FitError(
                "the information matrix is not positive definite: no normal draws."
            ) from None
        sides.append([dict(zip(names, map(float, np.exp(row)), strict=True)) for row in logs])
    return ParameterDraws(frequency=sides[0], spend=sides[1], method="normal")


def parameter_intervals(
    model: CLVModel,
    table: pd.DataFrame,
    draws: ParameterDraws,
    horizon: float,
    discount_rate: float,
    level: float,
) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """Per-customer intervals of the four predictions, and portfolio totals, from ``draws``.

    Returns
    -------
    bounds : pandas.DataFrame
        ``<column>_lower`` and ``<column>_upper`` for ``expected_purchases``, ``p_alive``,
        ``expected_spend`` and ``clv``, indexed like ``table``.
    totals : dict
        ``expected_purchases`` and ``clv`` summed over the customers, ``[lower, upper]``.
    """
    data, spend_rows, purchases, alive, discounted, spend = _expectation_draws(
        model, table, draws, horizon, discount_rate
    )
    k = len(draws.frequency)
    tail = 50.0 * (1.0 - level)
    bounds = {}
    for name, values in (("expected_purchases", purchases), ("p_alive", alive)):
        low, high = np.percentile(values, [tail, 100.0 - tail], axis=0)
        bounds[f"{name}_lower"], bounds[f"{name}_upper"] = low[data.inverse], high[data.inverse]
    low, high = np.percentile(spend, [tail, 100.0 - tail], axis=0)
    bounds["expected_spend_lower"] = low[spend_rows.inverse]
    bounds["expected_spend_upper"] = high[spend_rows.inverse]
    n = len(table)
    clv_low, clv_high, clv_total = np.empty(n), np.empty(n), np.zeros(k)
    for start in range(0, n, _BLOCK):
        block = slice(start, start + _BLOCK)
        values = (
            model.margin * spend[:, spend_rows.inverse[block]] * discounted[:, data.inverse[block]]
        )
        clv_low[block], clv_high[block] = np.percentile(values, [tail, 100.0 - tail], axis=0)
        clv_total += values.sum(axis=1)
    bounds["clv_lower"], bounds["clv_upper"] = clv_low, clv_high
    totals = {
        "expected_purchases": np.percentile(purchases @ data.weights, [tail, 100 - tail]).tolist(),
        "clv": np.percentile(clv_total, [tail, 100.0 - tail]).tolist(),
    }
    order = [f"{c}_{side}" for c in _COLUMNS for side in ("lower", "upper")]
    return pd.DataFrame(bounds, index=table.index)[order], totals


def predictive_intervals(
    model: CLVModel,
    table: pd.DataFrame,
    draws: ParameterDraws,
    horizon: float,
    discount_rate: float,
    level: float,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """Intervals of each customer's purchases and value in the horizon: parameters drawn,
    then the customer's own process drawn from its closed-form conditional posterior.

    For each parameter draw and each distinct history: alive with P(alive); the purchase
    rate ``lambda ~ Gamma(r + x, alpha + T)``; for BG/NBD the dropout probability
    ``p ~ Beta(a, b + x)`` (MBG/NBD ``Beta(a, b + x + 1)``) and purchases
    ``min(Poisson(lambda h), Geometric(p))``; for Pareto/NBD the dropout rate
    ``mu ~ Gamma(s, beta + T)`` and purchases ``Poisson(lambda min(Exp(mu), h))``; for the
    NBD ``Poisson(lambda h)``. Spend: the customer's mean ``nu ~ Gamma(q + p x, gamma + x m)``
    (Gamma-Gamma) and the total of ``k`` purchases ``Gamma(p k, nu)``, discounted by the
    draw's mean discount factor over the horizon.

    Returns
    -------
    bounds, totals
        As :func:`parameter_intervals`: ``expected_purchases`` and ``clv`` bounds are
        predictive (discrete counts make the purchase interval conservative), ``p_alive``
        and ``expected_spend`` bounds are the parameter intervals (their predictive
        counterparts are an indicator and a single purchase).
    """
    bounds = _bounds_of_alive_and_spend(model, table, draws, level)
    rows, counts, values = predictive_draws(
        model, table, draws, horizon, discount_rate, random_state
    )
    tail = 50.0 * (1.0 - level)
    for name, sims in (("expected_purchases", counts), ("clv", values)):
        low, high = np.percentile(sims, [tail, 100.0 - tail], axis=0, method="inverted_cdf")
        bounds[f"{name}_lower"], bounds[f"{name}_upper"] = low[rows.inverse], high[rows.inverse]
    totals = {
        name: np.percentile(sims @ rows.weights, [tail, 100.0 - tail]).tolist()
        for name, sims in (("expected_purchases", counts), ("clv", values))
    }
    order = [f"{c}_{side}" for c in _COLUMNS for side in ("lower", "upper")]
    return pd.DataFrame(bounds, index=table.index)[order], totals


def _bounds_of_alive_and_spend(
    model: CLVModel, table: pd.DataFrame, draws: ParameterDraws, level: float
) -> dict[str, np.ndarray]:
    """Parameter intervals of P(alive) and expected spend (no horizon, no discounting)."""
    data, spend_rows, _, alive, _, spend = _expectation_draws(model, table, draws, 0.0, 0.0)
    tail = 50.0 * (1.0 - level)
    out = {}
    for name, sims, inverse in (
        ("p_alive", alive, data.inverse),
        ("expected_spend", spend, spend_rows.inverse),
    ):
        low, high = np.percentile(sims, [tail, 100.0 - tail], axis=0)
        out[f"{name}_lower"], out[f"{name}_upper"] = low[inverse], high[inverse]
    return out


def predictive_draws(
    model: CLVModel,
    table: pd.DataFrame,
    draws: ParameterDraws,
    horizon: float,
    discount_rate: float,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[Compressed, np.ndarray, np.ndarray]:
    """The simulations behind :func:`predictive_intervals`: the distinct histories
    (``Compressed`` rows of frequency, recency, T and monetary value, with the map back to
    ``table``), and per parameter draw and history one draw of the purchases and of the
    value in the horizon, each of shape ``(n_draws, n_histories)``."""
    freq_model = model.frequency_model_
    x, t_x, T = frequency_arrays(table, "predict")
    m = np.where(x > 0, as_float(table["monetary_value"]), 0.0)
    rows = Compressed.of(x, t_x, T, m)
    rx, rT, rm = rows.column(0), rows.column(2), rows.column(3)
    # the model's expectations depend on (x, t_x, T) only: computed on those rows, mapped
    history = freq_model._compressed(table)
    _, first = np.unique(rows.inverse, return_index=True)
    to_history = history.inverse[first]
    rng = np.random.default_rng(random_state)
    delta = model._delta(discount_rate) if discount_rate else 0.0
    k = len(draws.frequency)
    counts = np.empty((k, len(rx)))
    values = np.empty_like(counts)
    for d, (fp, sp) in enumerate(zip(draws.frequency, draws.spend, strict=True)):
        freq = copy.copy(freq_model)
        freq.params_ = fp
        predictor = freq.predictor(history)
        purchases = predictor.expected(horizon)
        if delta:
            discounted = model._discounted_unique(predictor, horizon, delta)
            factor = np.divide(
                discounted, purchases, out=np.ones_like(purchases), where=purchases > 0
            )[to_history]
        else:
            factor = np.ones(len(rx))
        alive = predictor.p_alive[to_history]
        n = _purchases(freq_model._model, fp, alive, rx, rT, horizon, rng)
        nu = rng.gamma(sp["q"] + sp["p"] * rx, 1.0 / (sp["gamma"] + rx * rm))
        spend = np.where(n > 0, rng.gamma(np.maximum(sp["p"] * n, 1e-300), 1.0 / nu), 0.0)
        counts[d], values[d] = n, model.margin * spend * factor
    return rows, counts, values


def _purchases(
    model: str,
    params: dict[str, float],
    p_alive: np.ndarray,
    x: np.ndarray,
    T: np.ndarray,
    horizon: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One draw of each history's purchases in ``(T, T + horizon]`` given the parameters."""
    alive = rng.random(len(x)) < p_alive
    lam = rng.gamma(params["r"] + x, 1.0 / (params["alpha"] + T))
    if model in ("bgnbd", "mbgnbd"):
        shift = 0.0 if model == "bgnbd" else 1.0
        p = rng.beta(params["a"], params["b"] + x + shift)
        n = np.minimum(rng.poisson(lam * horizon), rng.geometric(np.clip(p, 1e-12, 1.0)))
    elif model == "pnbd":
        mu = rng.gamma(params["s"], 1.0 / (params["beta"] + T))
        life = rng.exponential(1.0 / np.maximum(mu, 1e-300))
        n = rng.poisson(lam * np.minimum(life, horizon))
    else:  # the NBD: nobody leaves
        n = rng.poisson(lam * horizon)
    return np.where(alive, n, 0).astype("float64")


def _expectation_draws(
    model: CLVModel,
    table: pd.DataFrame,
    draws: ParameterDraws,
    horizon: float,
    discount_rate: float,
) -> tuple[Compressed, Compressed, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per draw: expected purchases, P(alive) and discounted purchases on the distinct
    ``(x, t_x, T)`` rows, expected spend on the distinct ``(x, m)`` rows."""
    freq_model = model.frequency_model_
    data = freq_model._compressed(table)
    x, m = as_float(table["frequency"]), as_float(table["monetary_value"])
    spend_rows = Compressed.of(x, np.where(x > 0, m, 0.0))
    spend_frame = pd.DataFrame(spend_rows.values, columns=["frequency", "monetary_value"])
    delta = model._delta(discount_rate) if discount_rate else 0.0
    k = len(draws.frequency)
    purchases = np.empty((k, len(data.weights)))
    alive = np.empty_like(purchases)
    discounted = np.empty_like(purchases)
    spend = np.empty((k, len(spend_rows.weights)))
    for d, (fp, sp) in enumerate(zip(draws.frequency, draws.spend, strict=True)):
        freq = copy.copy(freq_model)
        freq.params_ = fp
        predictor = freq.predictor(data)
        purchases[d] = predictor.expected(horizon)
        alive[d] = predictor.p_alive
        discounted[d] = (
            model._discounted_unique(predictor, horizon, delta) if delta else purchases[d]
        )
        gg = copy.copy(model.spend_model_)
        gg.params_ = sp
        spend[d] = gg.expected_spend(spend_frame).to_numpy()
    return data, spend_rows, purchases, alive, discounted, spend


def value_draws(
    model: CLVModel,
    table: pd.DataFrame,
    draws: ParameterDraws,
    horizon: float,
    discount_rate: float,
) -> np.ndarray:
    """Each customer's expected CLV under each parameter draw, shape ``(n_draws, n)``: sums
    over any group of customers give that group's total value draw by draw."""
    data, spend_rows, _, _, discounted, spend = _expectation_draws(
        model, table, draws, horizon, discount_rate
    )
    return model.margin * spend[:, spend_rows.inverse] * discounted[:, data.inverse]
