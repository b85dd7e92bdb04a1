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
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segml.clv._base import Compressed, as_float, frequency_arrays
from segml.clv.cnbd import draw_future
from segml.clv.covariates import coefficient_names, theta_of
from segml.clv.spend import GammaGamma
from segml.clv.spend_covariates import spend_scale
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


def _workers(tasks: int, size: int) -> int:
    """Threads for ``tasks`` independent draws over ``size`` rows each: one per core (at
    most 8) where the array work outweighs the interpreter's, else one."""
    if size < _THREADS_ABOVE:
        return 1
    return max(1, min(tasks, os.cpu_count() or 1, 8))


_THREADS_ABOVE = 50_000  # rows per draw; below, threads contend for the GIL and slow down


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
    covariates = any(hasattr(m, "_layout") for m in (model.frequency_model_, model.spend_model_))
    if covariates and method == "refit":
        raise DataError(
            "the refit bootstrap is not available for models with covariates (its resamples "
            "are of compressed histories, which carry no attributes): use method='normal'."
        )
    if method == "normal" or covariates or (method == "auto" and len(table) > NORMAL_ABOVE):
        return _normal_draws(model, n_draws, random_state)
    x, t_x, T = frequency_arrays(table, "bootstrap")
    m = as_float(table["monetary_value"])
    data = Compressed.of(x, t_x, T, m)
    rows = pd.DataFrame(data.values, columns=["frequency", "recency", "T", "monetary_value"])
    n = round(float(data.weights.sum()))
    probs = data.weights / data.weights.sum()
    streams = np.random.default_rng(random_state).spawn(n_draws)

    def refit(stream: np.random.Generator) -> tuple[dict[str, float], dict[str, float]] | None:
        counts = stream.multinomial(n, probs).astype("float64")
        keep = counts > 0
        sub, w = rows[keep], counts[keep]
        try:
            # from the estimate itself: a resample near it converges at once, one that
            # does not is a failed draw (counted), not a minute of fallbacks
            freq = copy.copy(model.frequency_model_).set_params(warm_start=True)
            freq.fit(sub, sample_weight=w)
            spend = GammaGamma(compress=True).fit(sub, sample_weight=w)
        except (FitError, DataError):
            return None
        return {**freq.params_, **getattr(freq, "coefficients_", {})}, dict(spend.params_)

    out = ParameterDraws()
    # Each refit's own advice would repeat once per draw; the filter is process-wide, so it
    # is set once around the threads (the refits' array work runs outside the GIL).
    with warnings.catch_warnings(), ThreadPoolExecutor(_workers(n_draws, len(rows))) as pool:
        warnings.simplefilter("ignore")
        for result in pool.map(refit, streams):
            if result is None:
                out.failed += 1
            else:
                out.frequency.append(result[0])
                out.spend.append(result[1])
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
        if hasattr(fitted, "_layout"):  # log base parameters, then the coefficients as they are
            names, centre = coefficient_names(fitted._layout), fitted._theta
        try:
            cov = np.linalg.inv(-np.asarray(hessian))
            logs = rng.multivariate_normal(centre, cov, size=n_draws, method="cholesky")
        except np.linalg.LinAlgError:
            raise FitError(
                "the information matrix is not positive definite: no normal draws."
            ) from None
        k = len(fitted.params_)
        logs[:, :k] = np.exp(logs[:, :k])
        sides.append([dict(zip(names, map(float, row), strict=True)) for row in logs])
    return ParameterDraws(frequency=sides[0], spend=sides[1], method="normal")


def _designs(model: CLVModel, table: pd.DataFrame) -> list[np.ndarray]:
    """The design columns of the models' covariates (none without covariates)."""
    return [
        col
        for fitted in (model.frequency_model_, model.spend_model_)
        if hasattr(fitted, "design_")
        for col in fitted.design_.transform(table, "predict").T
    ]


def _spend_rows(
    model: CLVModel, table: pd.DataFrame, x: np.ndarray, m: np.ndarray
) -> tuple[Compressed, pd.DataFrame]:
    """The distinct ``(x, m, spend covariates)`` rows, and one customer of each (a frame the
    spend model predicts on)."""
    gg = model.spend_model_
    extra = gg.design_.transform(table, "predict").T if hasattr(gg, "design_") else []
    rows = Compressed.of(x, np.where(x > 0, m, 0.0), *extra)
    _, first = np.unique(rows.inverse, return_index=True)
    frame = table.iloc[first]
    return rows, frame


def with_state(freq_model: Any, state: dict[str, float]) -> Any:
    """A copy of a fitted frequency model at drawn parameters (and coefficients)."""
    freq = copy.copy(freq_model)
    freq.params_ = {n: state[n] for n in freq_model.params_}
    if hasattr(freq_model, "_layout"):
        freq._theta = theta_of(freq_model._layout, freq.params_, state)
    return freq


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
    n = len(table)
    clv_low, clv_high, clv_total = np.empty(n), np.empty(n), np.zeros(k)
    for start in range(0, n, _BLOCK):
        block = slice(start, start + _BLOCK)
        values = (
            model.margin * spend[:, spend_rows.inverse[block]] * discounted[:, data.inverse[block]]
        )
        clv_total += values.sum(axis=1)
        clv_low[block], clv_high[block] = _sorted_bounds(values, tail, discrete=False)
    totals = {
        "expected_purchases": np.percentile(purchases @ data.weights, [tail, 100 - tail]).tolist(),
        "clv": np.percentile(clv_total, [tail, 100.0 - tail]).tolist(),
    }
    bounds = {"clv_lower": clv_low, "clv_upper": clv_high}
    for name, sims, inverse in (
        ("expected_purchases", purchases, data.inverse),
        ("p_alive", alive, data.inverse),
        ("expected_spend", spend, spend_rows.inverse),
    ):
        low, high = _sorted_bounds(sims, tail, discrete=False)
        bounds[f"{name}_lower"], bounds[f"{name}_upper"] = low[inverse], high[inverse]
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

    For each parameter draw and each customer: alive with P(alive); the purchase rate
    ``lambda ~ Gamma(r + x, alpha + T)``; for BG/NBD the dropout probability
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
        counterparts are an indicator and a single purchase). The totals sum independent
        draws of every customer, identical histories included.
    """
    sim = predictive_draws(model, table, draws, horizon, discount_rate, random_state)
    tail = 50.0 * (1.0 - level)
    bounds = {}
    for name, sims, inverse in (
        ("expected_purchases", sim.counts, sim.rows.inverse),
        ("clv", sim.values, sim.rows.inverse),
        ("p_alive", sim.alive, sim.histories.inverse),
        ("expected_spend", sim.spend, sim.spend_rows.inverse),
    ):
        discrete = name in ("expected_purchases", "clv")
        low, high = _sorted_bounds(sims, tail, discrete)
        bounds[f"{name}_lower"], bounds[f"{name}_upper"] = low[inverse], high[inverse]
    totals = {
        name: np.percentile(sims, [tail, 100.0 - tail]).tolist()
        for name, sims in sim.totals.items()
    }
    order = [f"{c}_{side}" for c in _COLUMNS for side in ("lower", "upper")]
    return pd.DataFrame(bounds, index=table.index)[order], totals


def _sorted_bounds(sims: np.ndarray, tail: float, discrete: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ``tail`` and ``100 - tail`` percentiles over the draws (axis 0), sorting ``sims``
    in place (a sort along the draws is faster than numpy's partition there). ``discrete``:
    order statistics (numpy's ``inverted_cdf``), else linear interpolation."""
    sims.sort(axis=0)
    k = len(sims)
    out = []
    for q in (tail / 100.0, 1.0 - tail / 100.0):
        if discrete:
            out.append(sims[max(int(np.ceil(q * k)) - 1, 0)].astype("float64"))
            continue
        pos = q * (k - 1)
        below, frac = int(np.floor(pos)), pos - np.floor(pos)
        above = min(below + 1, k - 1)
        out.append(sims[below] + frac * (sims[above].astype("float64") - sims[below]))
    return out[0], out[1]


@dataclass
class PredictiveDraws:
    """The simulations behind :func:`predictive_intervals`, one row per parameter draw.

    Attributes
    ----------
    rows : Compressed
        The distinct ``(frequency, recency, T, monetary value)`` histories, with the map
        back to the table.
    counts, values : numpy.ndarray
        One draw of each history's purchases and value in the horizon, ``(n_draws, rows)``.
    histories, spend_rows : Compressed
        The distinct ``(x, t_x, T)`` and ``(x, m)`` rows of ``alive`` and ``spend``.
    alive, spend : numpy.ndarray
        P(alive) and the expected spend per purchase under each parameter draw.
    totals : dict
        The portfolio's purchases and value under each draw: sums over every customer of
        independent draws (customers with identical histories are separate customers).
    """

    rows: Compressed
    counts: np.ndarray
    values: np.ndarray
    histories: Compressed
    alive: np.ndarray
    spend_rows: Compressed
    spend: np.ndarray
    totals: dict[str, np.ndarray]


def predictive_draws(
    model: CLVModel,
    table: pd.DataFrame,
    draws: ParameterDraws,
    horizon: float,
    discount_rate: float,
    random_state: int | np.random.Generator | None = 0,
) -> PredictiveDraws:
    """Simulate every customer's purchases and value under every parameter draw.

    Returns
    -------
    PredictiveDraws
    """
    freq_model = model.frequency_model_
    x, t_x, T = frequency_arrays(table, "predict")
    m = np.where(x > 0, as_float(table["monetary_value"]), 0.0)
    spend_rows, spend_frame = _spend_rows(model, table, x, m)
    # histories are kept apart wherever the models' covariates differ
    rows = Compressed.of(x, t_x, T, m, *_designs(model, table))
    # Each customer is simulated (a copy per customer of its history row); the first copy
    # of each row gives that row's interval, all copies the portfolio totals.
    copies = np.repeat(np.arange(len(rows.weights)), rows.weights.astype("int64"))
    first = np.searchsorted(copies, np.arange(len(rows.weights)))
    cx, cT, cm = rows.column(0)[copies], rows.column(2)[copies], rows.column(3)[copies]
    # the model's expectations depend on (x, t_x, T) only: computed on those rows, mapped
    history = freq_model._compressed(table)
    _, first_of_row = np.unique(rows.inverse, return_index=True)
    to_history = history.inverse[first_of_row][copies]
    to_spend = spend_rows.inverse[first_of_row][copies]
    delta = model._delta(discount_rate) if discount_rate else 0.0
    k = len(draws.frequency)
    # one generator per parameter draw: the same result however the draws are scheduled
    streams = np.random.default_rng(random_state).spawn(k)
    counts = np.empty((k, len(rows.weights)), dtype="float32")
    values = np.empty_like(counts)
    alive = np.empty((k, len(history.weights)))
    spend = np.empty((k, len(spend_rows.weights)))
    totals = {"expected_purchases": np.empty(k), "clv": np.empty(k)}

    def one(d: int) -> None:
        predictor = with_state(freq_model, draws.frequency[d]).predictor(history)
        # per-customer parameters (covariates) follow each simulated copy
        fp = {n: v[to_history] if np.ndim(v) else v for n, v in predictor.params.items()}
        alive[d] = predictor.p_alive
        gg = with_state(model.spend_model_, draws.spend[d])
        spend[d] = gg.expected_spend(spend_frame).to_numpy()
        scale = np.asarray(spend_scale(gg, spend_frame, "predict"))
        sp: dict[str, Any] = {**gg.params_, "gamma": scale[to_spend] if scale.ndim else scale}
        factor = np.ones(len(history.weights))
        if delta:
            purchases = predictor.expected(horizon)
            discounted = model._discounted_unique(predictor, horizon, delta)
            np.divide(discounted, purchases, out=factor, where=purchases > 0)
        # the CNBD-k models: where each customer's clock stands (P(alive, phase j))
        phase = getattr(predictor, "phase", None)
        if phase is not None:
            fp |= {"k": predictor.k, "d": predictor.d}
        n, value = _simulate(
            freq_model._model,
            fp,
            sp,
            (predictor.p_alive if phase is None else phase)[to_history],
            cx,
            cT,
            cm,
            horizon,
            streams[d],
        )
        value *= model.margin * factor[to_history]
        counts[d], values[d] = n[first], value[first]
        totals["expected_purchases"][d], totals["clv"][d] = n.sum(), value.sum()

    # numpy's samplers and scipy's special functions release the GIL: threads use every core
    with ThreadPoolExecutor(_workers(k, len(copies))) as pool:
        list(pool.map(one, range(k)))
    return PredictiveDraws(rows, counts, values, history, alive, spend_rows, spend, totals)


def _sel(value: Any, rows: np.ndarray) -> Any:
    """A parameter at some customers: per-customer arrays are indexed, scalars pass."""
    return value[rows] if np.ndim(value) else value


def _simulate(
    model: str,
    fp: dict[str, Any],
    sp: dict[str, Any],
    p_alive: np.ndarray,
    x: np.ndarray,
    T: np.ndarray,
    m: np.ndarray,
    horizon: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One draw of each customer's purchases in ``(T, T + horizon]`` and their spend, given
    the parameters. Only what a count needs is drawn: whether the customer is alive; if so,
    the Poisson count of the whole horizon; only where that is positive, whether and when
    the customer leaves (BG/NBD: the count is cut at the geometric number of purchases
    before dropout; Pareto/NBD: each of the count's uniform purchase times survives if it
    precedes the exponential lifetime); only for buyers, their spend."""
    n = np.zeros(len(x))
    if model in ("bgcnbd", "mbgcnbd"):  # p_alive holds P(alive, phase j)
        rows, made, _, _ = draw_future(p_alive, fp, x, T, horizon, fp["k"], fp["d"], rng)
        n[rows] = made
        return n, _spend(sp, x, m, n, rng)
    live = np.flatnonzero(rng.random(len(x)) < p_alive)
    lam = rng.gamma(fp["r"] + x[live], 1.0 / (_sel(fp["alpha"], live) + T[live]))
    whole = rng.poisson(lam * horizon)
    some = whole > 0
    cut, k = live[some], whole[some]
    if model in ("bgnbd", "mbgnbd"):
        shift = 0.0 if model == "bgnbd" else 1.0
        p = rng.beta(_sel(fp["a"], cut), _sel(fp["b"], cut) + x[cut] + shift)
        n[cut] = np.minimum(k, rng.geometric(np.clip(p, 1e-12, 1.0)))
    elif model == "pnbd":
        mu = rng.gamma(fp["s"], 1.0 / (_sel(fp["beta"], cut) + T[cut]))
        life = rng.exponential(1.0 / np.maximum(mu, 1e-300))
        n[cut] = rng.binomial(k, np.minimum(life / horizon, 1.0))
    else:  # the NBD: nobody leaves
        n[cut] = k
    return n, _spend(sp, x, m, n, rng)


def _spend(
    sp: dict[str, Any], x: np.ndarray, m: np.ndarray, n: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The spend of ``n`` new purchases from the Gamma-Gamma posterior of the mean spend."""
    value = np.zeros(len(x))
    buy = np.flatnonzero(n > 0)
    bx, bm = x[buy], m[buy]
    nu = rng.gamma(sp["q"] + sp["p"] * bx, 1.0 / (_sel(sp["gamma"], buy) + bx * bm))
    value[buy] = rng.gamma(sp["p"] * n[buy], 1.0 / nu)
    return value


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
    spend_rows, spend_frame = _spend_rows(model, table, x, m)
    delta = model._delta(discount_rate) if discount_rate else 0.0
    k = len(draws.frequency)
    purchases = np.empty((k, len(data.weights)))
    alive = np.empty_like(purchases)
    discounted = np.empty_like(purchases)
    spend = np.empty((k, len(spend_rows.weights)))
    for d, (fp, sp) in enumerate(zip(draws.frequency, draws.spend, strict=True)):
        freq = with_state(freq_model, fp)
        predictor = freq.predictor(data)
        purchases[d] = predictor.expected(horizon)
        alive[d] = predictor.p_alive
        discounted[d] = (
            model._discounted_unique(predictor, horizon, delta) if delta else purchases[d]
        )
        spend[d] = with_state(model.spend_model_, sp).expected_spend(spend_frame).to_numpy()
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
