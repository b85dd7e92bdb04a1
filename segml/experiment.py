"""Run an experiment: data -> customer table -> CLV -> hypotheses -> segmentations -> comparison.

:func:`run_experiment` is pure Python with no MLflow: it returns an :class:`ExperimentResult`
that a notebook can inspect, :meth:`ExperimentResult.write` saves, and
:mod:`segml.tracking` logs.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.baselines import RFMSegmenter, ValueTierSegmenter
from segml.cluster import ClusterSegmenter
from segml.clv import CLVModel, HoldoutEvaluation, evaluate_holdout
from segml.clv.holdout import cumulative_tracking
from segml.config import ExperimentConfig, SegmenterConfig, load_config
from segml.data import _read_transactions, summarize
from segml.datasets import load_cdnow, make_b2b
from segml.errors import DataError
from segml.evaluate import compare
from segml.hypotheses import Hypothesis, validate_hypotheses
from segml.profile import profile
from segml.quality import DataQualityReport, quality_report
from segml.rule_segmenter import RuleSegmenter
from segml.scoring import percentile_reference, value_percentile
from segml.segment import Segmenter
from segml.tree import ValueTreeSegmenter

__all__ = ["ExperimentResult", "run_experiment"]

Progress = Callable[[str], None]


@dataclass
class ExperimentResult:
    """Everything an experiment produced, as plain Python objects.

    Attributes
    ----------
    config : ExperimentConfig
    data_hash : str
        SHA-256 of the transaction data as read (customer, date, amount...).
    quality : DataQualityReport
    table : pandas.DataFrame
        Customer table with CLV scores and one ``segment_<name>`` column per segmentation.
    clv_model : CLVModel
    holdout : HoldoutEvaluation or None
    validation : pandas.DataFrame
        Hypothesis verdicts (empty without hypotheses).
    segmenters : dict of str to Segmenter
    comparison : pandas.DataFrame
        From :func:`segml.compare`.
    profiles : pandas.DataFrame
        One row per segment of every segmentation.
    champion : str or None
    skipped : dict of str to str
        Segmentations that could not be built, with the reason.
    timings : dict of str to float
        Seconds per step.
    timeline : pandas.DataFrame or None
        Cumulative repeat transactions, actual vs expected (:func:`cumulative_tracking`).

    Examples
    --------
    >>> import tempfile, segml
    >>> result = segml.run_experiment("experiments/cdnow.toml")
    >>> sorted(result.write(tempfile.mkdtemp()))[:3]
    ['clv', 'comparison', 'customers']
    """

    config: ExperimentConfig
    data_hash: str
    quality: DataQualityReport
    table: pd.DataFrame
    clv_model: CLVModel
    holdout: HoldoutEvaluation | None
    validation: pd.DataFrame
    segmenters: dict[str, Segmenter]
    comparison: pd.DataFrame
    profiles: pd.DataFrame
    champion: str | None
    skipped: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    timeline: pd.DataFrame | None = None

    def clv_summary(self) -> dict[str, Any]:
        """The CLV fit as written to ``clv.json``."""
        freq = self.clv_model.frequency_model_
        spend = self.clv_model.spend_model_
        out: dict[str, Any] = {
            "frequency_model": freq._model,
            "params": dict(freq.params_),
            "log_likelihood": freq.log_likelihood_,
            "standard_errors": dict(freq.standard_errors_),
            "spend_model": "gamma_gamma",
            "spend_params": dict(spend.params_),
            "spend_log_likelihood": spend.log_likelihood_,
            "n_customers": int(freq.n_customers_),
            "holdout": None,
        }
        if self.holdout is not None:
            h = self.holdout
            out["holdout"] = {
                "actual_purchases": h.actual_total,
                "expected_purchases": h.expected_total,
                "correlation": h.correlation,
                "mae": h.mae,
                "by_frequency": h.bins.reset_index().to_dict(orient="records"),
            }
        return out

    def write(self, output_dir: str | Path) -> dict[str, Path]:
        """Write ``comparison.csv``, ``hypotheses.csv``, ``profiles.csv``,
        ``customers.parquet``, ``clv.json``, ``quality.json`` and ``report.html`` to
        ``output_dir``."""
        from segml.outputs import atomic_file, prepare_output_dir, record_written
        from segml.report import write_report

        out = prepare_output_dir(output_dir)
        names = {
            "comparison": "comparison.csv",
            "hypotheses": "hypotheses.csv",
            "profiles": "profiles.csv",
            "customers": "customers.parquet",
            "clv": "clv.json",
            "quality": "quality.json",
            "report": "report.html",
        }
        paths = {key: out / name for key, name in names.items()}
        table = self.table.copy()
        table.attrs = {}
        writers: dict[str, Callable[[Path], object]] = {
            "comparison": self.comparison.to_csv,
            "hypotheses": self.validation.to_csv,
            "profiles": lambda p: self.profiles.to_csv(p, index=False),
            "customers": table.to_parquet,
            "clv": lambda p: p.write_text(
                json.dumps(self.clv_summary(), indent=2, default=_json_default)
            ),
            "quality": lambda p: p.write_text(json.dumps(self.quality.to_dict(), indent=2)),
            "report": lambda p: write_report(self, p),
        }
        for key, writer in writers.items():
            with atomic_file(paths[key]) as tmp:
                writer(tmp)
        record_written(out, paths)
        return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return str(value)


def _load_data(config: ExperimentConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    d = config.data
    if d.dataset in ("cdnow", "cdnow_master"):
        return load_cdnow("sample" if d.dataset == "cdnow" else "master"), None
    if d.dataset == "b2b":
        return make_b2b(d.n_customers, random_state=d.random_state)
    assert d.transactions is not None
    # The log as read_transactions makes it, but with the ids of a Parquet file left as
    # the Categorical it reads them into: turning ten million codes into strings (1.5 s)
    # serves nothing here (the data hash is the same either way).
    tx, _ = _read_transactions(
        d.transactions,
        customer=d.customer,
        time=d.time,
        amount=d.amount,
        quantity=d.quantity,
        keep=d.keep,
        time_format=d.time_format,
        returns=d.returns,  # type: ignore[arg-type]
        duplicates=d.duplicates,  # type: ignore[arg-type]
    )
    return tx, None


def _hash(tx: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(tx, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def build_segmenter(spec: SegmenterConfig) -> Segmenter:
    """A segmenter from its configuration (the fixed method registry)."""
    kw = spec.kwargs
    if spec.method in ("kmeans", "gmm", "hdbscan"):
        return ClusterSegmenter(method=spec.method, **kw)
    if spec.method == "value_tree":
        return ValueTreeSegmenter(**kw)
    if spec.method == "rfm":
        return RFMSegmenter()
    if spec.method == "value_tiers":
        if "tiers" in kw:
            kw["tiers"] = tuple(kw["tiers"])
        return ValueTierSegmenter(**kw)
    if spec.method == "rules":
        return RuleSegmenter(
            rules=[tuple(p) for p in kw.get("rules", [])], default=kw.get("default", "other")
        )
    raise DataError(
        f"segmenter method {spec.method!r} cannot be built directly."
    )  # pragma: no cover


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
    done("data")

    step("clv")
    say(f"fitting the CLV model ({config.clv.frequency} + {config.clv.spend})")
    clv = CLVModel(
        frequency=config.clv.frequency, spend=config.clv.spend, margin=config.clv.margin
    ).fit(table)
    scores = clv.predict(table, horizon=config.clv.horizon, discount_rate=config.clv.discount_rate)
    holdout = evaluate_holdout(clv, table) if d.holdout_end else None
    timeline = cumulative_tracking(clv, tx, table, d.holdout_end or d.calibration_end, d.unit)
    attrs = table.attrs
    table = table.join(scores)
    clv_values = table["clv"].to_numpy()
    table["value_percentile"] = value_percentile(clv_values, percentile_reference(clv_values))
    table.attrs = attrs
    done("clv")

    step("hypotheses")
    validation = pd.DataFrame()
    if config.hypotheses:
        say(f"validating {len(config.hypotheses)} hypotheses")
        hyps = [Hypothesis(h.name, h.rule, h.expect) for h in config.hypotheses]  # type: ignore[arg-type]
        validation = validate_hypotheses(
            hyps, table, value=ev.value, alpha=ev.alpha, random_state=ev.random_state
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
        random_state=ev.random_state,
    )
    profiles = []
    for name, seg in segmenters.items():
        labels = seg.labels_
        table[f"segment_{name}"] = labels
        p = profile(labels, table, ev.value, names=seg.segment_names_)
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
        segmenters=segmenters,
        comparison=comparison,
        profiles=profile_frame,
        champion=comparison.attrs.get("champion"),
        skipped=skipped,
        timings=timings,
        timeline=timeline,
    )
