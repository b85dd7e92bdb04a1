"""The sections of an experiment file, as frozen configuration objects, and the closed
schema of their keys and types (parsed and checked by :mod:`segml.experiment.config`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CLVConfig",
    "DataConfig",
    "EvaluationConfig",
    "ExperimentConfig",
    "HypothesisConfig",
    "SegmenterConfig",
    "TrackingConfig",
]

#: section -> key -> (accepted types, required)
_SECTIONS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "experiment": {"name": ((str,), True), "description": ((str,), False)},
    "data": {
        "dataset": ((str,), False),
        "transactions": ((str,), False),
        "customers": ((str,), False),
        "customer": ((str,), False),
        "time": ((str,), False),
        "amount": ((str,), False),
        "quantity": ((str,), False),
        "keep": ((list,), False),
        "time_format": ((str,), False),
        "customer_key": ((str,), False),
        "calibration_end": ((str,), True),
        "holdout_end": ((str,), False),
        "unit": ((str,), False),
        "n_customers": ((int,), False),
        "random_state": ((int,), False),
        "returns": ((str,), False),
        "return_of": ((str,), False),
        "zero_amounts": ((str,), False),
        "duplicates": ((str,), False),
        "unit_price": ((str,), False),
    },
    "clv": {
        "frequency": ((str,), False),
        "spend": ((str,), False),
        "horizon": ((float, int), False),
        "discount_rate": ((float, int), False),
        "margin": ((float, int), False),
        "intervals": ((int,), False),
        "purchase_covariates": ((list,), False),
        "dropout_covariates": ((list,), False),
        "spend_covariates": ((list,), False),
    },
    "hypotheses": {"name": ((str,), True), "rule": ((str,), True), "expect": ((str,), False)},
    "segmenters": {"name": ((str,), True), "method": ((str,), True)},
    "evaluation": {
        "value": ((str,), False),
        "min_share": ((float, int), False),
        "max_k": ((int,), False),
        "n_bootstrap": ((int,), False),
        "min_stability": ((float, int), False),
        "min_lift": ((float, int), False),
        "n_intervals": ((int,), False),
        "alpha": ((float, int), False),
        "random_state": ((int,), False),
        "decompose_hypotheses": ((bool,), False),
    },
    "tracking": {"experiment": ((str,), False), "registered_model": ((str,), False)},
}
_ARRAYS = {"hypotheses", "segmenters"}


@dataclass(frozen=True)
class DataConfig:
    """Where the transactions come from and how the customer table is built."""

    calibration_end: str
    dataset: str | None = None
    transactions: Path | None = None
    customers: Path | None = None
    customer: str = "customer_id"
    time: str = "date"
    amount: str | None = "amount"
    quantity: str | None = None
    keep: tuple[str, ...] = ()
    time_format: str | None = None
    customer_key: str = "customer_id"
    holdout_end: str | None = None
    unit: str = "W"
    n_customers: int = 8000
    random_state: int = 0
    returns: str = "net"
    return_of: str | None = None
    zero_amounts: str = "keep"
    duplicates: str = "keep"
    unit_price: str | None = None


@dataclass(frozen=True)
class CLVConfig:
    """The CLV model: frequency and spend models, horizon, discounting, margin, covariates."""

    frequency: str = "bgnbd"
    spend: str = "gamma_gamma"
    horizon: float | None = None
    discount_rate: float = 0.0
    margin: float = 1.0
    intervals: int = 200
    # attribute columns (customers file) that scale the purchase, dropout and spend models
    purchase_covariates: tuple[str, ...] = ()
    dropout_covariates: tuple[str, ...] = ()
    spend_covariates: tuple[str, ...] = ()

    @property
    def covariates(self) -> tuple[str, ...]:
        """Every attribute column the CLV model uses, once each."""
        both = self.purchase_covariates + self.dropout_covariates + self.spend_covariates
        return tuple(dict.fromkeys(both))


@dataclass(frozen=True)
class HypothesisConfig:
    """One hypothesis: name, rule, expected direction."""

    name: str
    rule: str
    expect: str = "higher"


@dataclass(frozen=True)
class SegmenterConfig:
    """One segmenter: its name, registry method and parameters."""

    name: str
    method: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params}


@dataclass(frozen=True)
class EvaluationConfig:
    """How segmentations are compared."""

    value: str = "clv"
    min_share: float = 0.05
    max_k: int = 10
    n_bootstrap: int = 0
    min_stability: float = 0.0
    min_lift: float = 1.1
    n_intervals: int = 200
    alpha: float = 0.05
    random_state: int = 0
    decompose_hypotheses: bool = False  # which process each hypothesis acts on


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow experiment and registered model names."""

    experiment: str = ""
    registered_model: str = ""


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment file (frozen: build a variant with ``dataclasses.replace``).

    Attributes
    ----------
    name : str
        The experiment's name, an identifier (it names the output and model folders).
    data : DataConfig
        Where the transactions come from and how the customer table is built.
    clv : CLVConfig
        The CLV model.
    hypotheses : tuple of HypothesisConfig
        The business hypotheses to test.
    segmenters : tuple of SegmenterConfig
        The segmentations to build and compare.
    evaluation : EvaluationConfig
        How segmentations are compared and the champion chosen.
    tracking : TrackingConfig
        MLflow experiment and registered-model names.
    description : str
        Free text.
    source : pathlib.Path or None
        The file it was read from.
    text : str
        The file's text, as logged to MLflow.

    Examples
    --------
    >>> import dataclasses, segml
    >>> config = segml.load_config("experiments/b2b.toml")
    >>> quick = dataclasses.replace(
    ...     config, evaluation=dataclasses.replace(config.evaluation, n_bootstrap=0))
    >>> quick.evaluation.n_bootstrap, config.evaluation.n_bootstrap
    (0, 20)
    """

    name: str
    data: DataConfig
    clv: CLVConfig = field(default_factory=CLVConfig)
    hypotheses: tuple[HypothesisConfig, ...] = ()
    segmenters: tuple[SegmenterConfig, ...] = ()
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    description: str = ""
    source: Path | None = None
    text: str = ""

    def as_params(self) -> dict[str, str]:
        """Flat ``section.key -> value`` strings, for logging as parameters."""
        out: dict[str, str] = {"experiment.name": self.name}
        for section in ("data", "clv", "evaluation", "tracking"):
            for key, value in vars(getattr(self, section)).items():
                if value is not None and value != ():
                    out[f"{section}.{key}"] = str(value)
        out["hypotheses"] = ", ".join(h.name for h in self.hypotheses)
        out["segmenters"] = ", ".join(s.name for s in self.segmenters)
        return out
