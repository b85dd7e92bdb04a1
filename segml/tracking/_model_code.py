"""MLflow models-from-code entry point of an exported segml model (see segml.tracking.export)."""

import mlflow

from segml.tracking.export import SegmlModel

mlflow.models.set_model(SegmlModel())
