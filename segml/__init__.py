"""segml: value-based customer segmentation.

Transaction logs become customer tables (:func:`read_transactions`, :func:`summarize`);
probabilistic CLV models (:class:`BetaGeo`, :class:`ParetoNBD`, :class:`ModifiedBetaGeo`,
:class:`GammaGamma`, :class:`CLVModel`) give every customer a value.
"""

from segml.baselines import RFMSegmenter, ValueTierSegmenter
from segml.cluster import ClusterSegmenter
from segml.clv import (
    BetaGeo,
    CLVModel,
    GammaGamma,
    HoldoutEvaluation,
    ModifiedBetaGeo,
    ParetoNBD,
    evaluate_holdout,
)
from segml.clv._base import segml_version
from segml.config import ExperimentConfig, load_config
from segml.data import read_transactions, summarize
from segml.datasets import load_cdnow, make_b2b, simulate_customers, simulate_transactions
from segml.errors import (
    ConfigError,
    ConvergenceError,
    DataError,
    FitError,
    ModelError,
    NotFittedError,
    SegmlError,
    TrackingError,
    exit_code,
)
from segml.evaluate import compare, separation_metrics
from segml.experiment import ExperimentResult, run_experiment
from segml.hypotheses import Hypothesis, validate_hypotheses
from segml.profile import profile
from segml.quality import DataQualityReport, quality_report
from segml.rule_segmenter import RuleSegmenter
from segml.segment import Segmenter, load_segmenter
from segml.tree import ValueTreeSegmenter

__version__ = segml_version()

__all__ = [
    "BetaGeo",
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
    "NotFittedError",
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
    "evaluate_holdout",
    "exit_code",
    "load_cdnow",
    "load_config",
    "load_segmenter",
    "make_b2b",
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
