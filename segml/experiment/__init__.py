"""The experiment layer: experiment files, the run, its output files and report, scoring.

``config`` reads and validates experiment files; ``result`` is :class:`ExperimentResult`;
``run`` is :func:`run_experiment` (pure Python, no MLflow); ``outputs`` owns where segml
writes; ``report`` renders the HTML report; ``scoring`` scores customers in process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segml._lazy import lazy_exports

__all__ = ["ExperimentResult", "run_experiment"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {"ExperimentResult": "segml.experiment.result", "run_experiment": "segml.experiment.run"},
)

if TYPE_CHECKING:
    from segml.experiment.result import ExperimentResult
    from segml.experiment.run import run_experiment
