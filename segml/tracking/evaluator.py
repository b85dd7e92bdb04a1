"""The ``segml`` evaluator of ``mlflow.models.evaluate``: how well an exported segml model's
segments separate the value customers went on to realise.

Registered through MLflow's ``mlflow.model_evaluator`` entry point, so any MLflow user can
write ``mlflow.models.evaluate(model_uri, data, targets="holdout_revenue",
model_type="segml", evaluators=["segml"])`` (MLflow asks for ``extra_metrics`` when
``model_type`` is None, so name the type). ``data`` holds the model's input columns, one row
per customer, and the target: the value each customer realised after the model's as-of
date. Segments are ranked by their mean predicted CLV (what a marketer acts on) and scored
against the target, with the metrics of :func:`segml.segment.evaluate.separation_metrics`, a
bootstrap interval of the normalised Gini, and the gain table and curve. Rows the model
cannot score (their ``reason``) are counted, not measured.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # evaluation runs headless, in notebooks and in jobs alike

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.models.evaluation import EvaluationResult, ModelEvaluator
from mlflow.models.evaluation.artifacts import CsvEvaluationArtifact, ImageEvaluationArtifact
from mlflow.tracking import MlflowClient

from segml.errors import DataError
from segml.segment.evaluate import separation_metrics
from segml.segment.intervals import normalised_gini_draws
from segml.tracking.log import metric_list

__all__ = ["SegmlEvaluator", "gain_table"]

_METRICS = ("k", "min_share", "omega2_log", "top_lift", "top_value_share", "lorenz_gini")


def gain_table(scores: pd.DataFrame, actual: np.ndarray) -> pd.DataFrame:
    """Segments by descending mean predicted CLV, with their customers and realised value.

    Parameters
    ----------
    scores : DataFrame
        The model's output for the scored rows (``segment``, ``segment_name``, ``clv``).
    actual : array of float
        The value each of those customers realised.

    Returns
    -------
    DataFrame
        One row per segment: ``segment``, ``segment_name``, ``customers``,
        ``mean_predicted_clv``, ``mean_realised``, ``lift`` (realised mean over the overall
        mean), ``customer_share``, ``value_share`` and their cumulative sums
        ``cum_customer_share`` and ``cum_value_share`` (the gain curve's corners).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from segml.tracking.evaluator import gain_table
    >>> s = pd.DataFrame({"segment": [0, 0, 1], "segment_name": ["low", "low", "high"],
    ...                   "clv": [1.0, 1.0, 9.0]})
    >>> gain_table(s, np.array([0.0, 2.0, 8.0]))[["segment_name", "cum_value_share"]]
      segment_name  cum_value_share
    0         high              0.8
    1          low              1.0
    """
    frame = scores[["segment", "segment_name", "clv"]].assign(actual=np.asarray(actual, float))
    grouped = frame.groupby("segment", sort=False).agg(
        segment_name=("segment_name", "first"),
        customers=("clv", "size"),
        mean_predicted_clv=("clv", "mean"),
        mean_realised=("actual", "mean"),
        realised=("actual", "sum"),
    )
    table = grouped.sort_values("mean_predicted_clv", ascending=False, kind="stable")
    total, overall = table["realised"].sum(), frame["actual"].mean()
    table["lift"] = table["mean_realised"] / overall if overall else np.nan
    table["customer_share"] = table["customers"] / len(frame)
    table["value_share"] = table["realised"] / total if total else np.nan
    table["cum_customer_share"] = table["customer_share"].cumsum()
    table["cum_value_share"] = table["value_share"].cumsum()
    return table.drop(columns="realised").reset_index()


def _gain_figure(table: pd.DataFrame, actual: np.ndarray) -> Figure:
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    ax.plot(np.r_[0, table["cum_customer_share"]], np.r_[0, table["cum_value_share"]], "o-",
            label="segments, by predicted value")  # fmt: skip
    oracle = np.cumsum(np.sort(actual)[::-1]) / max(actual.sum(), 1e-300)
    ax.plot(np.arange(1, len(actual) + 1) / len(actual), oracle, "k:", label="oracle")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="random")
    ax.set_xlabel("share of customers, taken by segment's predicted value")
    ax.set_ylabel("share of realised value")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


class SegmlEvaluator(ModelEvaluator):
    """Value separation of an exported segml model, for ``mlflow.models.evaluate``.

    ``evaluator_config`` keys: ``n_resamples`` (bootstrap draws of the normalised Gini,
    default 200), ``level`` (its interval, default 0.95), ``random_state`` (default 0) and
    ``params`` (passed to the model: ``horizon``, ``discount_rate``).

    Examples
    --------
    >>> from segml.tracking.evaluator import SegmlEvaluator
    >>> SegmlEvaluator.can_evaluate(model_type=None, evaluator_config={})
    True
    """

    @classmethod
    def can_evaluate(cls, *, model_type: str | None, evaluator_config: Any, **kwargs: Any) -> bool:
        return model_type in (None, "segml")

    def evaluate(
        self,
        *,
        model_type: str | None,
        dataset: Any,
        run_id: str,
        evaluator_config: dict[str, Any] | None,
        model: Any = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        config = dict(evaluator_config or {})
        if model is None:
            raise DataError("the segml evaluator scores with the model: pass a model URI.")
        if dataset.labels_data is None:
            raise DataError(
                "the segml evaluator needs targets: the value each customer realised after the "
                "model's as-of date (for example targets='holdout_revenue')."
            )
        scores = model.predict(dataset.features_data, params=config.get("params"))
        actual_all = np.asarray(dataset.labels_data, dtype="float64")
        ok = (scores["reason"].fillna("") == "").to_numpy() & np.isfinite(actual_all)
        if not ok.any():
            raise DataError("the model scored none of the rows: nothing to evaluate.")
        scored, actual = scores[ok].reset_index(drop=True), actual_all[ok]
        labels = scored["segment"].to_numpy().astype("int64")
        predicted = scored["clv"].to_numpy(dtype="float64")
        sep = separation_metrics(labels, actual, ranking_value=predicted)
        draws = normalised_gini_draws(
            {"model": labels},
            actual,
            predicted,
            n_resamples=int(config.get("n_resamples", 200)),
            random_state=config.get("random_state", 0),
        )["model"]
        tail = (1.0 - float(config.get("level", 0.95))) / 2.0
        low, high = np.nanquantile(draws, [tail, 1.0 - tail])
        metrics = {
            "normalised_gini": sep["normalised_gini"],
            "normalised_gini_low": float(low),
            "normalised_gini_high": float(high),
            **{k: float(sep[k]) for k in _METRICS},
            "scored_customers": float(ok.sum()),
            "not_scored_customers": float((~ok).sum()),
        }
        table = gain_table(scored, actual)
        client = MlflowClient()
        client.log_batch(run_id, metrics=metric_list(metrics))
        with tempfile.TemporaryDirectory() as tmp:
            csv, png = Path(tmp) / "segml_gain_table.csv", Path(tmp) / "segml_gain_curve.png"
            table.to_csv(csv, index=False)
            _gain_figure(table, actual).savefig(png, dpi=110)
            for file in (csv, png):
                client.log_artifact(run_id, str(file))
            from PIL import Image

            image = Image.open(png)
            image.load()
        base = client.get_run(run_id).info.artifact_uri
        artifacts = {
            "segml_gain_table": CsvEvaluationArtifact(f"{base}/{csv.name}", table),
            "segml_gain_curve": ImageEvaluationArtifact(f"{base}/{png.name}", image),
        }
        return EvaluationResult(metrics=metrics, artifacts=artifacts, run_id=run_id)
