"""segml: value-based customer segmentation.

Transaction logs become customer tables (:func:`read_transactions`, :func:`summarize`);
probabilistic CLV models (:class:`BetaGeo`, :class:`ParetoNBD`, :class:`ModifiedBetaGeo`,
:class:`NBD`, :class:`BetaGeoCNBD`, :class:`ModifiedBetaGeoCNBD`, :class:`GammaGamma`,
:class:`CLVModel`) give every customer a value.

Public names are imported on first use (``import segml`` itself loads nothing heavy):
reading a log and building the customer table never pays for scikit-learn, SciPy or MLflow.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

#: Each public name and the module that defines it.
_EXPORTS: dict[str, str] = {
    "BetaGeo": "segml.clv",
    "BetaGeoCNBD": "segml.clv",
    "BoundaryError": "segml.errors",
    "CLVModel": "segml.clv",
    "ClusterSegmenter": "segml.segment.cluster",
    "ConfigError": "segml.errors",
    "ConvergenceError": "segml.errors",
    "DataError": "segml.errors",
    "DataQualityReport": "segml.data.quality",
    "ExperimentConfig": "segml.experiment.config",
    "ExperimentResult": "segml.experiment.result",
    "FitError": "segml.errors",
    "GammaGamma": "segml.clv",
    "HoldoutEvaluation": "segml.clv",
    "Hypothesis": "segml.segment.hypotheses",
    "ModelError": "segml.errors",
    "OutputError": "segml.errors",
    "ModifiedBetaGeo": "segml.clv",
    "ModifiedBetaGeoCNBD": "segml.clv",
    "NBD": "segml.clv",
    "NotFittedError": "segml.errors",
    "ParetoNBD": "segml.clv",
    "RFMSegmenter": "segml.segment.baselines",
    "RuleSegmenter": "segml.segment.rule_segmenter",
    "Segmenter": "segml.segment.base",
    "SegmlError": "segml.errors",
    "TrackingError": "segml.errors",
    "ValueTierSegmenter": "segml.segment.baselines",
    "ValueTreeSegmenter": "segml.segment.tree",
    "compare": "segml.segment.evaluate",
    "decompose_hypotheses": "segml.segment.decompose",
    "drift": "segml.segment.drift",
    "evaluate_holdout": "segml.clv",
    "exit_code": "segml.errors",
    "likelihood_ratio_test": "segml.clv.covariate_fit",
    "load_apparel": "segml.data.apparel",
    "load_cdnow": "segml.data.datasets",
    "load_config": "segml.experiment.config",
    "load_segmenter": "segml.segment.registry",
    "make_b2b": "segml.data.datasets",
    "make_retail": "segml.data.retail",
    "migration": "segml.segment.drift",
    "profile": "segml.segment.profile",
    "quality_report": "segml.data.quality",
    "read_transactions": "segml.data.read",
    "run_experiment": "segml.experiment.run",
    "separation_metrics": "segml.segment.evaluate",
    "simulate_customers": "segml.data.datasets",
    "simulate_transactions": "segml.data.datasets",
    "summarize": "segml.data.table",
    "validate_hypotheses": "segml.segment.hypotheses",
}

__all__ = [
    "NBD",
    "BetaGeo",
    "BetaGeoCNBD",
    "BoundaryError",
    "CLVModel",
    "ClusterSegmenter",
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "DataQualityReport",
    "ExperimentConfig",
    "ExperimentResult",
    "FitError",
    "GammaGamma",
    "HoldoutEvaluation",
    "Hypothesis",
    "ModelError",
    "ModifiedBetaGeo",
    "ModifiedBetaGeoCNBD",
    "NotFittedError",
    "OutputError",
    "ParetoNBD",
    "RFMSegmenter",
    "RuleSegmenter",
    "Segmenter",
    "SegmlError",
    "TrackingError",
    "ValueTierSegmenter",
    "ValueTreeSegmenter",
    "__version__",
    "compare",
    "decompose_hypotheses",
    "drift",
    "evaluate_holdout",
    "exit_code",
    "likelihood_ratio_test",
    "load_apparel",
    "load_cdnow",
    "load_config",
    "load_segmenter",
    "make_b2b",
    "make_retail",
    "migration",
    "profile",
    "quality_report",
    "read_transactions",
    "run_experiment",
    "separation_metrics",
    "simulate_customers",
    "simulate_transactions",
    "summarize",
    "validate_hypotheses",
]


def __getattr__(name: str) -> Any:
    """A public name (or a submodule, as ``segml.segment``), imported on first use."""
    if name == "__version__":
        from segml._version import segml_version

        return segml_version()
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":  # the submodule exists; a dependency is missing
                raise
            raise AttributeError(f"module 'segml' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """segml's module type: a submodule never replaces the public name it shares.

    Importing ``segml.profile`` (the module) sets ``segml.profile`` to it; the public name
    ``segml.profile`` is the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name, "") == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    from segml.clv import (
        BetaGeo,
        BetaGeoCNBD,
        CLVModel,
        GammaGamma,
        HoldoutEvaluation,
        ModifiedBetaGeo,
        ModifiedBetaGeoCNBD,
        ParetoNBD,
        evaluate_holdout,
    )
    from segml.clv.covariate_fit import likelihood_ratio_test
    from segml.data.apparel import load_apparel
    from segml.data.datasets import load_cdnow, make_b2b, simulate_customers, simulate_transactions
    from segml.data.quality import DataQualityReport, quality_report
    from segml.data.read import read_transactions
    from segml.data.retail import make_retail
    from segml.data.table import summarize
    from segml.errors import (
        ConfigError,
        ConvergenceError,
        DataError,
        FitError,
        ModelError,
        NotFittedError,
        OutputError,
        SegmlError,
        TrackingError,
        exit_code,
    )
    from segml.experiment.config import ExperimentConfig, load_config
    from segml.experiment.result import ExperimentResult
    from segml.experiment.run import run_experiment
    from segml.segment.base import Segmenter
    from segml.segment.baselines import RFMSegmenter, ValueTierSegmenter
    from segml.segment.cluster import ClusterSegmenter
    from segml.segment.decompose import decompose_hypotheses
    from segml.segment.drift import drift, migration
    from segml.segment.evaluate import compare, separation_metrics
    from segml.segment.hypotheses import Hypothesis, validate_hypotheses
    from segml.segment.profile import profile
    from segml.segment.registry import load_segmenter
    from segml.segment.rule_segmenter import RuleSegmenter
    from segml.segment.tree import ValueTreeSegmenter
