"""Probabilistic CLV models: purchase frequency, spend, and their combination."""

from segml.clv.frequency import (
    FREQUENCY_MODELS,
    BetaGeo,
    FrequencyModel,
    ModifiedBetaGeo,
)
from segml.clv.holdout import HoldoutEvaluation, evaluate_holdout
from segml.clv.nbd import NBD
from segml.clv.pnbd import ParetoNBD
from segml.clv.regular import BetaGeoCNBD, ModifiedBetaGeoCNBD
from segml.clv.spend import GammaGamma
from segml.clv.value import CLVModel, discount_rate_per_unit

__all__ = [
    "FREQUENCY_MODELS",
    "NBD",
    "BetaGeo",
    "BetaGeoCNBD",
    "CLVModel",
    "FrequencyModel",
    "GammaGamma",
    "HoldoutEvaluation",
    "ModifiedBetaGeo",
    "ModifiedBetaGeoCNBD",
    "ParetoNBD",
    "discount_rate_per_unit",
    "evaluate_holdout",
]
