"""Customer histories aged forward by the fitted model: what a customer table should look like
some time later, customer by customer, if the model is right.

One draw, per customer, conditional on the history (frequency x, recency t_x, age T, mean
repeat spend m), with the fitted parameters:

1. alive at T with probability P(alive);
2. if alive, the purchase rate from its posterior given the history, Gamma(r + x, alpha + T),
   and the Poisson count k of events in the window of length ``elapsed``;
3. the purchases actually made: BG/NBD and MBG/NBD cut the k events at a geometric number
   of purchases before dropout (p from Beta(a, b + x), MBG/NBD Beta(a, b + x + 1));
   Pareto/NBD keeps the events before an exponential lifetime (mu from Gamma(s, beta + T)),
   a binomial thinning of k; the NBD keeps all k;
4. the time of the last purchase made: the n-th of k uniform event times, a Beta(n, k - n + 1)
   fraction of the window (Pareto/NBD: the last of n uniform times before the lifetime);
5. the new purchases' spend from the Gamma-Gamma posterior of the customer's mean spend.

The aged history is x + n, the last purchase time (or t_x without a new purchase), T +
``elapsed``, and the mean repeat spend with the new purchases included.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from segml.clv.cnbd import CNBDPredictor, draw_future
from segml.clv.value import CLVModel

__all__ = ["age_histories"]


def age_histories(
    model: CLVModel,
    table: pd.DataFrame,
    elapsed: float,
    rng: np.random.Generator,
    params: tuple[dict[str, float], dict[str, float]] | None = None,
) -> pd.DataFrame:
    """One simulated draw of ``table`` aged by ``elapsed`` time units.

    Parameters
    ----------
    model : CLVModel
        Fitted; its frequency and spend models drive the simulation.
    table : pandas.DataFrame
        ``frequency``, ``recency``, ``T``, ``monetary_value`` (other columns are kept).
    elapsed : float
        Time units (the model's) to age by.
    rng : numpy.random.Generator
    params : (dict, dict), optional
        Frequency and spend parameters to simulate with instead of the estimates (one
        draw of :attr:`CLVModel.draws_`, so that bands include parameter uncertainty).

    Returns
    -------
    pandas.DataFrame
        ``table`` with the four history columns aged.

    Examples
    --------
    >>> import numpy as np
    >>> import segml
    >>> from segml.clv.forward import age_histories
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30", unit="W")
    >>> clv = segml.CLVModel(frequency="bgnbd").fit(table)
    >>> aged = age_histories(clv, table, 26.0, np.random.default_rng(0))
    >>> bool((aged["T"] == table["T"] + 26).all())
    True
    >>> bool((aged["frequency"] >= table["frequency"]).all())
    True
    """
    freq = model.frequency_model_
    fp, sp = params if params is not None else (freq.params_, model.spend_model_.params_)
    if params is not None:
        freq = copy.copy(freq)
        freq.params_ = fp
    x = table["frequency"].to_numpy("float64")
    t_x = table["recency"].to_numpy("float64")
    T = table["T"].to_numpy("float64")
    m = np.where(x > 0, table["monetary_value"].to_numpy("float64"), 0.0)
    kind = freq._model
    if kind in ("bgcnbd", "mbgcnbd"):
        phase = CNBDPredictor(fp, x, t_x, T, freq.k_, freq._d).phase
        idx, made, k, tick = draw_future(phase, fp, x, T, elapsed, freq.k_, freq._d, rng)
        span = np.ones(len(idx))
        return _aged(table, model, sp, x, t_x, T, m, elapsed, idx, made, k, tick, span, rng)
    live = np.flatnonzero(rng.random(len(x)) < freq.p_alive(table).to_numpy())
    lam = rng.gamma(fp["r"] + x[live], 1.0 / (fp["alpha"] + T[live]))
    k = rng.poisson(lam * elapsed).astype("float64")
    some = k > 0
    idx, k = live[some], k[some]
    if kind in ("bgnbd", "mbgnbd"):
        shift = 0.0 if kind == "bgnbd" else 1.0
        p = rng.beta(fp["a"], fp["b"] + x[idx] + shift)
        made = np.minimum(k, rng.geometric(np.clip(p, 1e-12, 1.0)))
        span = np.ones(len(idx))
    elif kind == "pnbd":
        mu = rng.gamma(fp["s"], 1.0 / (fp["beta"] + T[idx]))
        span = np.minimum(rng.exponential(1.0 / np.maximum(mu, 1e-300)) / elapsed, 1.0)
        made = rng.binomial(k.astype("int64"), span).astype("float64")
        k = made  # the survivors are uniform before the lifetime: the last is their maximum
    else:  # the NBD: nobody leaves
        made, span = k, np.ones(len(idx))
    return _aged(table, model, sp, x, t_x, T, m, elapsed, idx, made, k, made, span, rng)


def _aged(
    table: pd.DataFrame,
    model: CLVModel,
    sp: dict[str, float],
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    m: np.ndarray,
    elapsed: float,
    idx: np.ndarray,
    made: np.ndarray,
    k: np.ndarray,
    tick: np.ndarray,
    span: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The aged table: ``made`` purchases of customers ``idx``, the last on event ``tick``
    of their ``k`` uniform event times (within ``span`` of the window), spend drawn."""
    n = np.zeros(len(x))
    last = np.zeros(len(x))
    buy = made > 0
    n[idx] = made
    frac = rng.beta(np.maximum(tick[buy], 1.0), (k - tick + 1.0)[buy])
    last[idx[buy]] = span[buy] * frac * elapsed
    new_spend = np.zeros(len(x))
    who = idx[buy]
    if len(who):
        nu = rng.gamma(sp["q"] + sp["p"] * x[who], 1.0 / (sp["gamma"] + x[who] * m[who]))
        new_spend[who] = rng.gamma(sp["p"] * n[who], 1.0 / nu)
    x_new = x + n
    out = table.copy()
    integer = pd.api.types.is_integer_dtype(table["frequency"].dtype)
    out["frequency"] = x_new.astype(np.int64) if integer else x_new
    out["recency"] = np.where(n > 0, T + last, t_x)
    out["T"] = T + elapsed
    total = x * m + new_spend
    out["monetary_value"] = np.divide(total, x_new, out=np.zeros(len(x)), where=x_new > 0)
    return out
