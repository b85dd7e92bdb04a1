"""MLflow models-from-code entry point of an exported segml model (see segml.export)."""

import mlflow

from segml.export import SegmlModel

mlflow.models.set_model(SegmlModel())
