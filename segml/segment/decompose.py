"""Hypotheses decomposed: through which process each one moves customer value.

:func:`validate_hypotheses` tests each hypothesis on a value the CLV model computed without
knowing the attributes. Here every hypothesis's indicator enters the CLV models together,
as a covariate of the purchase process, of the dropout process and of spend
(:mod:`segml.clv.covariates`, :mod:`segml.clv.spend_covariates`), so each effect is held
against the others. Per hypothesis and process the result is a multiplier with its 95 %
Wald interval and a likelihood-ratio test (the model refitted without that indicator in
that process), Holm-adjusted over every hypothesis and process, and the effect on the value
of a new customer (the ratio of :meth:`segml.CLVModel.predict_new` with the indicator on
against off, the others off), with an interval from the models' parameter draws.

The multipliers: purchase rate ``exp(gamma_p)`` (the mean of the Gamma purchase rates);
dropout, for Pareto/NBD the mean dropout rate ``exp(gamma_d)``, for BG/NBD and MBG/NBD the
mean dropout probability per purchase, ``E[p | on] / E[p | off]`` with ``E[p] = a / (a + b)``
(delta-method interval); spend ``exp(delta)`` on the expected spend per order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from segml.clv import FREQUENCY_MODELS, CLVModel, GammaGamma
from segml.clv.covariate_effects import covariate_effects
from segml.clv.prospects import prospect_draws
from segml.errors import DataError, FitError
from segml.segment.hypotheses import Hypothesis, holm

__all__ = ["decompose_hypotheses"]

_PROCESSES = ("purchase", "dropout", "spend")


def _lr(full: Any, restricted: Any) -> float:
    """p-value of the likelihood-ratio test of ``restricted`` within ``full``."""
    df = len(full.coefficients_) - len(getattr(restricted, "coefficients_", {}) or {})
    stat = max(2.0 * (full.log_likelihood_ - restricted.log_likelihood_), 0.0)
    return float(chi2.sf(stat, df))


def _without(model: Any, name: str, **changes: Any) -> Any:
    """``model`` without ``name`` where ``changes`` say, to refit from its estimate."""
    params = model.get_params()
    params.update({k: [c for c in params[k] if c != name] or None for k in changes})
    if "warm_start" in params:
        params["warm_start"] = True
    out = type(model)(**params)
    out.params_ = dict(model.params_)
    out.coefficients_ = dict(model.coefficients_)
    return out


def _twins(tested: list[str], masks: dict[str, np.ndarray]) -> dict[str, tuple[str, bool]]:
    """Hypotheses that select another's customers (True) or all the others (False): they add
    no column beside it (not identified), and are reported through it."""
    twins: dict[str, tuple[str, bool]] = {}
    for i, name in enumerate(tested):
        for other in (o for o in tested[:i] if o not in twins):
            if (masks[name] == masks[other]).all() or (masks[name] != masks[other]).all():
                twins[name] = (other, bool((masks[name] == masks[other]).all()))
                break
    return twins


def _p_without(full: Any, data: pd.DataFrame, name: str, key: str) -> float:
    """The likelihood-ratio p-value of ``name`` in the block ``key`` of ``full``."""
    try:
        return _lr(full, _without(full, name, **{key: True}).fit(data))
    except FitError:
        return float("nan")


def _effects(
    clv: CLVModel, data: pd.DataFrame, name: str, effects: pd.DataFrame
) -> dict[str, float]:
    """Multipliers, intervals and likelihood-ratio p-values of ``name`` in each process."""
    freq, spend = clv.frequency_model_, clv.spend_model_
    mine = effects[effects["column"] == name].set_index("process")
    out: dict[str, float] = {}
    for process in _PROCESSES:
        values = mine.loc[process, ["multiplier", "lower", "upper"]].to_numpy(float)
        keys = (f"{process}_multiplier", f"{process}_low", f"{process}_high")
        out |= dict(zip(keys, map(float, values), strict=True))
    return {
        **out,
        "purchase_p": _p_without(freq, data, name, "purchase_covariates"),
        "dropout_p": _p_without(freq, data, name, "dropout_covariates"),
        "spend_p": _p_without(spend, data, name, "covariates"),
    }


def _clv_ratio(
    clv: CLVModel, names: list[str], name: str, horizon: float | None, rate: float
) -> tuple[float, float, float]:
    """Value of a new customer with ``name`` on against off (the others off)."""
    pair = pd.DataFrame({n: [n == name, False] for n in names}, index=["on", "off"])
    h = clv.default_horizon() if horizon is None else float(horizon)
    new = clv.predict_new(pair, h, rate)
    on, off = new["clv"].to_numpy()
    ratio = float(on / off)
    value = prospect_draws(clv, pair, h, rate)[2]
    low, high = np.percentile(value[:, 0] / value[:, 1], [2.5, 97.5])
    return ratio, float(low), float(high)


def decompose_hypotheses(
    hypotheses: Sequence[Hypothesis],
    table: pd.DataFrame,
    *,
    frequency: str = "bgnbd",
    alpha: float = 0.05,
    horizon: float | None = None,
    discount_rate: float = 0.0,
    n_draws: int = 200,
    min_size: int = 30,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Put every hypothesis into the CLV models together and say which process it acts on.

    Parameters
    ----------
    hypotheses : sequence of Hypothesis
        The hypotheses (names unique); a group or complement smaller than ``min_size`` is
        left out (``verdict`` ``too_small``).
    table : pandas.DataFrame
        Customer table (``frequency``, ``recency``, ``T``, ``monetary_value``) with the
        columns the rules use.
    frequency : {"bgnbd", "mbgnbd", "pnbd"}, default "bgnbd"
        The purchase model.
    alpha : float, default 0.05
        Family-wise error rate of the Holm adjustment over every hypothesis and process.
    horizon, discount_rate : float, optional
        Of the new-customer value behind ``clv_ratio`` (default one year, undiscounted).
    n_draws : int, default 200
        Parameter draws (asymptotic normal) of the ``clv_ratio`` interval.
    min_size : int, default 30
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        One row per hypothesis: for ``purchase``, ``dropout`` and ``spend``,
        ``<process>_multiplier``, ``_low``, ``_high``, ``_p`` (likelihood ratio) and
        ``_p_holm``; ``dropout_measure`` (what the dropout multiplier multiplies);
        ``clv_ratio``, ``clv_low``, ``clv_high``; ``acts_on`` (the processes with a
        Holm-adjusted p at most ``alpha``); ``verdict`` (``acts``, ``no_effect``,
        ``too_small``, or ``same_as`` / ``complement`` for a hypothesis that selects another's
        customers or all the others, which is not fitted beside it) and ``summary``, the
        finding in words.

    Examples
    --------
    >>> import segml
    >>> tx, customers = segml.make_b2b(2000, random_state=0)
    >>> table = segml.summarize(tx, calibration_end="2024-12-29", customers=customers)
    >>> hyps = [segml.Hypothesis("big", "annual_revenue >= 10_000_000")]
    >>> out = segml.decompose_hypotheses(hyps, table, n_draws=50)
    >>> out.loc["big", "acts_on"]
    'purchase, spend'
    """
    if frequency not in ("bgnbd", "mbgnbd", "pnbd"):
        raise DataError(f"frequency={frequency!r}: choose 'bgnbd', 'mbgnbd' or 'pnbd'.")
    names = [h.name for h in hypotheses]
    if not names or len(set(names)) < len(names):
        raise DataError("decompose_hypotheses needs hypotheses with unique names.")
    masks = {h.name: np.asarray(h.rule.evaluate(table), dtype=bool) for h in hypotheses}
    tested = [n for n in names if min(masks[n].sum(), (~masks[n]).sum()) >= min_size]
    twins = _twins(tested, masks)
    tested = [n for n in tested if n not in twins]
    if not tested:
        raise DataError(f"no hypothesis has at least {min_size} customers in and out.")
    clash = sorted(set(tested) & set(table.columns))
    if clash:
        raise DataError(f"hypothesis names {clash} are also table columns; rename them.")
    data = table.assign(**{n: masks[n] for n in tested})
    freq = FREQUENCY_MODELS[frequency](purchase_covariates=tested, dropout_covariates=tested)
    clv = CLVModel(frequency=freq, spend=GammaGamma(covariates=tested)).fit(data)
    clv.bootstrap(data, n_draws=n_draws, method="normal", random_state=random_state)
    effects = covariate_effects(clv.frequency_model_, clv.spend_model_)
    rows = {
        name: {
            **_effects(clv, data, name, effects),
            **dict(
                zip(
                    ("clv_ratio", "clv_low", "clv_high"),
                    _clv_ratio(clv, tested, name, horizon, discount_rate),
                    strict=True,
                )
            ),
        }
        for name in tested
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    p_all = frame[[f"{p}_p" for p in _PROCESSES]].to_numpy().ravel()
    frame[[f"{p}_p_holm" for p in _PROCESSES]] = holm(p_all).reshape(len(frame), 3)
    frame["dropout_measure"] = "dropout rate" if frequency == "pnbd" else "dropout probability"
    holm_p = frame[[f"{p}_p_holm" for p in _PROCESSES]].to_numpy()
    frame["acts_on"] = [
        ", ".join(p for p, q in zip(_PROCESSES, row, strict=True) if q <= alpha) for row in holm_p
    ]
    frame["verdict"] = np.where(frame["acts_on"] != "", "acts", "no_effect")
    frame["summary"] = [_words(n, frame.loc[n]) for n in frame.index]
    for name, (other, same) in twins.items():
        how = "the same customers as" if same else "the complement of"
        frame.loc[name, ["verdict", "summary"]] = [
            "same_as" if same else "complement",
            f"{name}: {how} {other}, whose multipliers it shares"
            + ("" if same else " inverted (1 / each)"),
        ]
    for name in names:
        if name not in frame.index:
            frame.loc[name, ["verdict", "summary"]] = [
                "too_small",
                f"fewer than {min_size} customers in or out",
            ]
    frame = frame.loc[names]
    frame.attrs["segml_decomposition"] = {
        "frequency": frequency,
        "alpha": alpha,
        "log_likelihood": clv.frequency_model_.log_likelihood_,
        "spend_log_likelihood": clv.spend_model_.log_likelihood_,
    }
    return frame


def _words(name: str, row: pd.Series) -> str:
    """The finding in one sentence."""
    if not row["acts_on"]:
        return (
            f"{name}: no process moves once the other hypotheses are in (a new customer's "
            f"value x{row['clv_ratio']:.2f} [{row['clv_low']:.2f}, {row['clv_high']:.2f}])"
        )
    what = {
        "purchase": "purchase rate",
        "dropout": row["dropout_measure"],
        "spend": "spend per order",
    }
    parts = [
        f"{what[p]} x{row[f'{p}_multiplier']:.2f} [{row[f'{p}_low']:.2f}, {row[f'{p}_high']:.2f}]"
        for p in _PROCESSES
        if p in row["acts_on"]
    ]
    return (
        f"{name} acts on {' and '.join(parts)}; a new customer's value x{row['clv_ratio']:.2f} "
        f"[{row['clv_low']:.2f}, {row['clv_high']:.2f}]"
    )
