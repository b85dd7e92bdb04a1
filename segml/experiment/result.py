"""The result of an experiment: plain Python objects a notebook can inspect.

:class:`ExperimentResult` is what :func:`segml.run_experiment` returns;
:func:`segml.experiment.outputs.write_outputs` saves it and :mod:`segml.tracking` logs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segml.clv import CLVModel, HoldoutEvaluation
from segml.clv.covariate_effects import covariate_effects, covariate_names
from segml.data.quality import DataQualityReport
from segml.experiment.config import ExperimentConfig
from segml.segment.base import Segmenter

__all__ = ["ExperimentResult"]


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
    decomposition : pandas.DataFrame
        From :func:`segml.decompose_hypotheses` with ``[evaluation] decompose_hypotheses``
        (else empty).

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
    decomposition: pd.DataFrame = field(default_factory=pd.DataFrame)

    def clv_summary(self) -> dict[str, Any]:
        """The CLV fit as written to ``clv.json``."""
        freq = self.clv_model.frequency_model_
        spend = self.clv_model.spend_model_
        out: dict[str, Any] = {
            "frequency_model": freq._model,
            "params": dict(freq.params_),
            "log_likelihood": freq.log_likelihood_,
            "standard_errors": {k: freq.standard_errors_[k] for k in freq.params_},
            "spend_model": "gamma_gamma",
            "spend_params": dict(spend.params_),
            "spend_log_likelihood": spend.log_likelihood_,
            "n_customers": int(freq.n_customers_),
            "holdout": None,
        }
        effects = covariate_effects(freq, spend)
        if len(effects):
            out["covariate_effects"] = effects.to_dict(orient="records")
            out["covariates"] = covariate_names(self.clv_model)
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
        """Write the output files to ``output_dir`` (see
        :func:`segml.experiment.outputs.write_outputs`)."""
        from segml.experiment.outputs import write_outputs

        return write_outputs(self, output_dir)
