"""The Spark path, on a real local Spark session (Java 17, local[2], loopback only)."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

import segml
from segml import spark as segml_spark
from segml.tracking.export import load_model, save_model


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers run this environment
    session = (
        SparkSession.builder.master("local[2]")
        .appName("segml-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if previous is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = previous


@pytest.fixture(scope="module")
def cdnow_spark(spark) -> object:
    tx = segml.load_cdnow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark's note about pandas 3
        return spark.createDataFrame(tx[["customer_id", "date", "amount"]])


def test_spark_summary_equals_pandas_on_cdnow(cdnow_spark, cdnow) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        got = segml_spark.summarize(
            cdnow_spark, calibration_end="1997-09-30", holdout_end="1998-06-30"
        ).toPandas()
    got = got.set_index("customer_id").loc[cdnow.index]
    assert len(got) == len(cdnow) == 2357
    for col in ("frequency", "n_transactions", "holdout_frequency", "first_purchase_month"):
        np.testing.assert_array_equal(got[col].to_numpy(), cdnow[col].to_numpy(), err_msg=col)
    for col in (
        "recency",
        "T",
        "monetary_value",
        "first_amount",
        "total_revenue",
        "holdout_revenue",
        "holdout_duration",
    ):
        np.testing.assert_allclose(
            got[col].to_numpy(float), cdnow[col].to_numpy(float), rtol=1e-12, err_msg=col
        )
    pd.testing.assert_series_equal(
        got["first_purchase"].astype("datetime64[ns]"), cdnow["first_purchase"], check_names=False
    )
    stats = segml_spark.compressed_statistics(
        segml_spark.summarize(cdnow_spark, calibration_end="1997-09-30")
    ).toPandas()
    assert int(stats["count"].sum()) == 2357 and len(stats) == 1016
    from_spark = segml.BetaGeo().fit(stats, sample_weight=stats["count"])
    assert from_spark.log_likelihood_ == pytest.approx(-9582.43, abs=0.05)


def test_spark_scoring_equals_in_process_scoring(cdnow_spark, tmp_path: Path) -> None:
    result = segml.run_experiment(REPO / "experiments" / "cdnow.toml")
    model_dir = save_model(result, tmp_path / "model")
    table = segml_spark.summarize(cdnow_spark, calibration_end="1997-09-30")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scored = segml_spark.score(table, str(model_dir)).toPandas().set_index("customer_id")
    local = (
        load_model(str(model_dir))
        .predict(None, result.table[["frequency", "recency", "T", "monetary_value"]].reset_index())
        .set_index("customer_id")
    )
    scored = scored.loc[local.index]
    assert len(scored) == 2357
    for col in ("expected_purchases", "p_alive", "expected_spend", "clv", "value_percentile"):
        # atol: a customer with CLV ~1e-30 may sit at percentile 0 on one side and 1e-23
        # on the other (Spark and pandas compute T to the last bit differently).
        np.testing.assert_allclose(scored[col], local[col], rtol=1e-9, atol=1e-12, err_msg=col)
    np.testing.assert_array_equal(scored["segment"], local["segment"])
    assert (scored["segment_name"] == local["segment_name"]).all()


def test_spark_errors_are_clear(cdnow_spark) -> None:
    with pytest.raises(segml.DataError, match="no column 'when'"):
        segml_spark.summarize(cdnow_spark, calibration_end="1997-09-30", time="when")
