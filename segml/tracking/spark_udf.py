"""An exported segml model as a Spark UDF (the MLflow half of :func:`segml.spark.score`)."""

from __future__ import annotations

from typing import Any

import mlflow.models
import mlflow.pyfunc

from segml.errors import DataError

__all__ = ["model_udf"]


def model_udf(
    spark: Any, model_uri: str, result_type: str, params: dict[str, float] | None = None
) -> tuple[Any, list[str]]:
    """The model at ``model_uri`` as a Spark UDF, and the input columns its signature names.

    Raises
    ------
    DataError
        If the model has no signature (it was not exported by segml).
    """
    udf = mlflow.pyfunc.spark_udf(
        spark, model_uri, result_type=result_type, env_manager="local", params=params
    )
    info = mlflow.models.get_model_info(model_uri)
    if info.signature is None:
        raise DataError(f"model {model_uri!r} has no signature; export it with segml.")
    return udf, list(info.signature.inputs.input_names())
