"""Run an experiment: data -> customer table -> CLV -> hypotheses -> segmentations -> comparison.

:func:`run_experiment` is pure Python with no MLflow: it returns an :class:`ExperimentResult`
that a notebook can inspect, :meth:`ExperimentResult.write` saves, and
:mod:`segml.tracking` logs.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.clv import FREQUENCY_MODELS, CLVModel, GammaGamma, evaluate_holdout
from segml.clv.holdout import cumulative_tracking
from segml.clv.uncertainty import NORMAL_ABOVE, value_draws
from segml.data.datasets import load_cdnow, make_b2b
from segml.data.quality import quality_report
from segml.data.read import _read_transactions, speaking_toml
from segml.data.retail import make_retail
from segml.data.table import summarize
from segml.errors import DataError, FitError
from segml.experiment.config import ExperimentConfig, SegmenterConfig, load_config
from segml.experiment.result import ExperimentResult
from segml.experiment.schema import CLVConfig
from segml.experiment.scoring import percentile_reference, value_percentile
from segml.segment import registry
from segml.segment.base import Segmenter
from segml.segment.decompose import decompose_hypotheses
from segml.segment.evaluate import compare
from segml.segment.hypotheses import Hypothesis, validate_hypotheses
from segml.segment.profile import profile
from segml.segment.rule_segmenter import RuleSegmenter

__all__ = ["build_segmenter", "run_experiment"]

Progress = Callable[[str], None]


def _load_data(config: ExperimentConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    d = config.data
    if d.dataset in ("cdnow", "cdnow_master"):
        return load_cdnow("sample" if d.dataset == "cdnow" else "master"), None
    if d.dataset == "b2b":
        return make_b2b(d.n_customers, random_state=d.random_state)
    customers = None
    source: pd.DataFrame | Path
    if d.dataset == "retail":  # raw invoice lines, read like a user's own log
        source, customers = make_retail(d.n_customers, random_state=d.random_state)
    else:
        assert d.transactions is not None
        source = d.transactions
    # The log as read_transactions makes it, but with the ids of a Parquet file left as
    # the Categorical it reads them into: turning every code into a string serves nothing
    # here (the data hash is the same either way).
    with speaking_toml():
        tx, _ = _read_transactions(
            source,
            customer=d.customer,
            time=d.time,
            amount=None if d.unit_price else d.amount,
            quantity=d.quantity,
            unit_price=d.unit_price,
            keep=d.keep,
            time_format=d.time_format,
            returns=d.returns,  # type: ignore[arg-type]
            return_of=d.return_of,
            zero_amounts=d.zero_amounts,  # type: ignore[arg-type]
            duplicates=d.duplicates,  # type: ignore[arg-type]
        )
    return tx, customers


def _hash(tx: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(tx, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


#: Above this many values (draws times customers) segment totals get no interval (memory).
_MAX_DRAW_VALUES = 50_000_000


def clv_model(c: CLVConfig) -> CLVModel:
    """The experiment's CLV model, unfitted: the covariates go into the estimators."""
    frequency: Any = c.frequency
    if c.purchase_covariates or c.dropout_covariates:
        frequency = FREQUENCY_MODELS[c.frequency](
            purchase_covariates=list(c.purchase_covariates) or None,
            dropout_covariates=list(c.dropout_covariates) or None,
        )
    spend: Any = c.spend
    if c.spend_covariates:
        spend = GammaGamma(covariates=list(c.spend_covariates))
    return CLVModel(frequency=frequency, spend=spend, margin=c.margin)


def _value_draws(
    config: ExperimentConfig, clv: CLVModel, table: pd.DataFrame, say: Progress
) -> np.ndarray | None:
    """Each customer's CLV under bootstrap draws of the parameters, for segment totals."""
    n_draws = config.clv.intervals
    if not n_draws or config.evaluation.value != "clv":
        return None  # the draws are of CLV: segments valued otherwise get no interval
    if n_draws * len(table) > _MAX_DRAW_VALUES:
        warnings.warn(
            f"{n_draws} draws of {len(table):,} customers' value would take "
            f"{n_draws * len(table) * 8 / 1e9:.1f} GB: segment totals get no interval "
            "(set [clv] intervals lower).",
            UserWarning,
            stacklevel=3,
        )
        return None
    covariates = any(hasattr(m, "design_") for m in (clv.frequency_model_, clv.spend_model_))
    how = "normal draws" if covariates or len(table) > NORMAL_ABOVE else "bootstrap refits"
    say(f"value intervals ({n_draws} {how} of the CLV model's parameters)")
    clv.bootstrap(table, n_draws, random_state=config.evaluation.random_state)
    horizon = clv.default_horizon() if config.clv.horizon is None else config.clv.horizon
    return value_draws(clv, table, clv.draws_, horizon, config.clv.discount_rate)


def _check_value_column(table: pd.DataFrame, config: ExperimentConfig) -> None:
    """A value column from the data must be numeric: said before any model is fitted."""
    value = config.evaluation.value
    if value in table.columns and (
        not pd.api.types.is_numeric_dtype(table[value].dtype)
        or pd.api.types.is_bool_dtype(table[value].dtype)
    ):
        raise DataError(
            f"[evaluation] value = {value!r} names a column of {table[value].dtype} values; "
            "the value segments are compared on must be numeric (e.g. 'clv', "
            "'holdout_revenue' or a numeric attribute)."
        )


def build_segmenter(spec: SegmenterConfig) -> Segmenter:
    """A segmenter from its configuration (see :data:`segml.segment.registry.METHODS`)."""
    return registry.build(spec.method, spec.kwargs)


def run_experiment(
    config: ExperimentConfig | str | Path, progress: Progress | None = None
) -> ExperimentResult:
    """Run an experiment end to end, without MLflow.

    Parameters
    ----------
    config : ExperimentConfig or path
        A validated configuration, or the path of an experiment TOML file.
    progress : callable, optional
        Called with a short message at the start of each step.

    Returns
    -------
    ExperimentResult

    Examples
    --------
    >>> import segml
    >>> result = segml.run_experiment("experiments/cdnow.toml")
    >>> round(result.clv_model.frequency_model_.log_likelihood_, 1)
    -9582.4
    >>> result.champion in result.comparison.index
    True
    """
    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = 0.0
        clock = now

    def done(name: str) -> None:
        timings[name] = time.perf_counter() - clock

    d, ev = config.data, config.evaluation
    step("data")
    say("reading transactions")
    tx, customers = _load_data(config)
    data_hash = _hash(tx)
    say("building the customer table")
    table = summarize(
        tx,
        calibration_end=d.calibration_end,
        holdout_end=d.holdout_end,
        unit=d.unit,
        customers=customers if customers is not None else d.customers,
        customer_key=d.customer_key,
    )
    quality = quality_report(table)
    _check_value_column(table, config)
    done("data")

    step("clv")
    say(f"fitting the CLV model ({config.clv.frequency} + {config.clv.spend})")
    clv = clv_model(config.clv).fit(table)
    scores = clv.predict(table, horizon=config.clv.horizon, discount_rate=config.clv.discount_rate)
    holdout = evaluate_holdout(clv, table) if d.holdout_end else None
    timeline = cumulative_tracking(clv, tx, table, d.holdout_end or d.calibration_end, d.unit)
    attrs = table.attrs
    table = table.join(scores)
    clv_values = table["clv"].to_numpy()
    table["value_percentile"] = value_percentile(clv_values, percentile_reference(clv_values))
    table.attrs = attrs
    draws = _value_draws(config, clv, table, say)
    done("clv")

    step("hypotheses")
    validation, decomposition = pd.DataFrame(), pd.DataFrame()
    if config.hypotheses:
        say(f"validating {len(config.hypotheses)} hypotheses")
        hyps = [Hypothesis(h.name, h.rule, h.expect) for h in config.hypotheses]  # type: ignore[arg-type]
        # Realised holdout value decides where there is a holdout; predicted value beside it.
        validation = validate_hypotheses(
            hyps,
            table,
            value=ev.value,
            holdout_value="holdout_revenue" if "holdout_revenue" in table.columns else None,
            alpha=ev.alpha,
            min_lift=ev.min_lift,
            random_state=ev.random_state,
        )
        if ev.decompose_hypotheses:
            say("decomposing the hypotheses into purchase, dropout and spend")
            decomposition = _decomposition(
                hyps,
                table,
                frequency=clv.frequency_model_._model
                if clv.frequency_model_._model in ("bgnbd", "mbgnbd", "pnbd")
                else "bgnbd",
                alpha=ev.alpha,
                horizon=config.clv.horizon,
                discount_rate=config.clv.discount_rate,
                random_state=ev.random_state,
            )
    done("hypotheses")

    step("segmentations")
    segmenters: dict[str, Segmenter] = {}
    skipped: dict[str, str] = {}
    for spec in config.segmenters:
        say(f"segmenting: {spec.name} ({spec.method})")
        if spec.method == "hypotheses":
            kw = spec.kwargs
            try:
                segmenters[spec.name] = RuleSegmenter.from_hypotheses(
                    validation,
                    table,
                    value=ev.value,
                    min_share=kw.get("min_share", ev.min_share),
                    max_hypotheses=kw.get("max_hypotheses", 4),
                )
            except DataError as exc:
                skipped[spec.name] = str(exc)
                warnings.warn(f"segmentation {spec.name!r} skipped: {exc}", stacklevel=2)
            continue
        segmenters[spec.name] = build_segmenter(spec).fit(table)
    done("segmentations")

    step("comparison")
    say("comparing segmentations by value separation")
    comparison = compare(
        segmenters,
        table,
        value=ev.value,
        holdout="holdout_revenue",
        min_share=ev.min_share,
        max_k=ev.max_k,
        n_bootstrap=ev.n_bootstrap,
        min_stability=ev.min_stability,
        n_intervals=ev.n_intervals,
        random_state=ev.random_state,
        progress=lambda msg: say(f"comparing: {msg}"),
    )
    say("profiling segments (lift intervals)")
    holdout_col = "holdout_revenue" if "holdout_revenue" in table.columns else None
    profiles = []
    for name, seg in segmenters.items():
        labels = seg.labels_
        table[f"segment_{name}"] = labels
        p = profile(
            labels,
            table,
            ev.value,
            names=seg.segment_names_,
            holdout=holdout_col,
            n_resamples=ev.n_intervals,
            random_state=ev.random_state,
            value_draws=draws,
        )
        profiles.append(p.reset_index().assign(segmentation=name))
    profile_frame = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame()
    if len(profile_frame):
        first = ["segmentation", "segment", "name"]
        profile_frame = profile_frame[first + [c for c in profile_frame.columns if c not in first]]
    done("comparison")
    return ExperimentResult(
        config=config,
        data_hash=data_hash,
        quality=quality,
        table=table,
        clv_model=clv,
        holdout=holdout,
        validation=validation,
        decomposition=decomposition,
        segmenters=segmenters,
        comparison=comparison,
        profiles=profile_frame,
        champion=comparison.attrs.get("champion"),
        skipped=skipped,
        timings=timings,
        timeline=timeline,
    )


def _decomposition(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:func:`decompose_hypotheses`, or an empty frame saying why it could not be fitted."""
    try:
        return decompose_hypotheses(*args, **kwargs)
    except (FitError, DataError) as exc:
        out = pd.DataFrame()
        out.attrs["error"] = str(exc)
        return out
