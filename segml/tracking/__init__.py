"""The tracking layer, the only importer of MLflow: logging, the exported model, scoring.

``log`` logs an :class:`segml.ExperimentResult` to MLflow and resolves the tracking URI;
``export`` saves and registers the champion as one pyfunc model and loads it back
(``_model_code`` is the models-from-code entry point); ``batch`` scores files with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segml._lazy import lazy_exports

__all__ = ["check_tracking", "log_result", "resolve_tracking_uri", "segml_home"]

__getattr__, __dir__ = lazy_exports(__name__, {name: "segml.tracking.log" for name in __all__})

if TYPE_CHECKING:
    from segml.tracking.log import check_tracking, log_result, resolve_tracking_uri, segml_home
