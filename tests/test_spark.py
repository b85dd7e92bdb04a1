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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def test_spark_drift_summary_equals_segml_score(cdnow_spark, tmp_path: Path, monkeypatch) -> None:
    """CDNOW 26 weeks after calibration: the drift summary Spark counts on the frozen bins
    is the one ``segml score`` writes for the same batch, quantity by quantity."""
    import segml.experiment.expected_drift as expected_drift
    from segml.tracking.batch import score_file

    result = segml.run_experiment(REPO / "experiments" / "cdnow.toml")
    model_dir = save_model(result, tmp_path / "model")
    tx = segml.load_cdnow()
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "tx.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = score_file(
            load_model(str(model_dir)), tmp_path / "tx.csv", tmp_path / "s.csv", as_of="1998-03-31"
        )["drift"]
        table = segml_spark.summarize(cdnow_spark, calibration_end="1998-03-31")
        scores = segml_spark.score(table, str(model_dir))
        remote = segml_spark.drift(
            scores, table, str(model_dir), transactions=cdnow_spark, as_of="1998-03-31"
        )
    assert remote["n_current"] == local["n_current"] == 2357
    # the model-expected shares: the same cohort aged the same way, the same alarm
    ours, theirs = remote["expected"], local["expected"]
    assert theirs["alarm"] and ours["alarm"] and ours["cohort_size"] == 2357
    assert ours["segments"].keys() == theirs["segments"].keys()
    for label, row in theirs["segments"].items():
        assert ours["segments"][label]["outside"] == row["outside"]
        for key in ("expected", "low", "high", "observed"):
            assert ours["segments"][label][key] == pytest.approx(row[key], abs=1e-3), key
    assert [t["outside"] for t in ours["transitions"]] == [
        t["outside"] for t in theirs["transitions"]
    ]
    assert ours["psi_raw"] == pytest.approx(theirs["psi_raw"], abs=1e-9)
    assert list(remote["psi"]) == list(local["psi"]) and len(remote["psi"]) == 6
    for quantity, v in local["psi"].items():
        assert remote["psi"][quantity]["psi"] == pytest.approx(v["psi"], abs=1e-9), quantity
        assert remote["psi"][quantity]["band"] == v["band"]
    assert remote["psi"]["segment"]["band"] == "shifting"
    assert remote["segments"] == local["segments"]
    # the k-means segments nine months on: their names ("recent", "long-standing") and the
    # calendar-bound features they use are contradicted; Spark finds the same words, means
    # and shares as segml score
    kmeans = str(save_model(result, tmp_path / "kmeans", champion="kmeans"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = score_file(
            load_model(kmeans), tmp_path / "tx.csv", tmp_path / "l.csv", as_of="1998-06-30"
        )["drift"]
        table = segml_spark.summarize(cdnow_spark, calibration_end="1998-06-30")
        remote = segml_spark.drift(segml_spark.score(table, kmeans), table, kmeans)
    assert local["names"] and local["calendar"]
    for key in ("names", "calendar"):
        assert len(remote[key]) == len(local[key])
        for ours, theirs in zip(remote[key], local[key], strict=True):
            assert {k: v for k, v in ours.items() if not isinstance(v, float)} == {
                k: v for k, v in theirs.items() if not isinstance(v, float)
            }
            for k, v in theirs.items():
                if isinstance(v, float):
                    assert ours[k] == pytest.approx(v, rel=1e-9), (key, k)
    # a cohort above the sample size: both age the same random 500 of its customers
    monkeypatch.setattr(expected_drift, "EXPECTED_SAMPLE", 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(str(model_dir))
        local = score_file(model, tmp_path / "tx.csv", tmp_path / "m.csv", as_of="1998-03-31")
        table = segml_spark.summarize(cdnow_spark, calibration_end="1998-03-31")
        scores = segml_spark.score(table, str(model_dir))
        remote = segml_spark.drift(
            scores, table, str(model_dir), transactions=cdnow_spark, as_of="1998-03-31"
        )
    ours, theirs = remote["expected"], local["drift"]["expected"]
    assert ours["n_customers"] == theirs["n_customers"] == 500
    assert ours["cohort_size"] == theirs["cohort_size"] == 2357
    for label, row in theirs["segments"].items():
        assert ours["segments"][label]["observed"] == row["observed"]
        assert ours["segments"][label]["expected"] == pytest.approx(row["expected"], abs=1e-3)


def test_spark_segment_means_of_derived_features_equal_pandas(spark, cdnow_tx, cdnow) -> None:
    """The per-segment means name checks read (time-relative features included), with
    missing values, aggregated in Spark as in pandas."""
    from pyspark.sql import functions as F

    from segml.segment.names import name_baseline, segment_means

    later = segml.summarize(cdnow_tx, calibration_end="1998-06-30", unit="W").reset_index()
    frame = later[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
    frame["segment"] = np.arange(len(frame)) % 4
    frame.loc[::7, "recency"] = np.nan
    frame.loc[::11, "frequency"] = np.nan
    frame["total_revenue"] = frame["monetary_value"] * (frame["frequency"] + 1)
    stored = name_baseline(cdnow)
    local = segment_means(frame, stored)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        remote = segml_spark._segment_means(F, spark.createDataFrame(frame), stored)
    assert {"purchase_rate", "revenue_rate", "since_last", "recency_ratio"} <= set(local)
    assert sorted(remote.columns) == sorted(local.columns)
    pd.testing.assert_frame_equal(
        remote.sort_index()[local.columns], local, check_names=False, rtol=1e-12
    )


def test_spark_scoring_keeps_customers_a_left_join_left_without_attributes(
    spark, b2b_tree_model
) -> None:
    """The README's left join: customers absent from the attribute table get nulls in an
    integer and a text column; each keeps its row with a reason, the job does not fail."""
    model, tx, customers = b2b_tree_model
    table = segml.summarize(tx, calibration_end="2024-12-29")
    attrs = customers.assign(annual_revenue=customers["annual_revenue"].round().astype("int64"))
    known = attrs.iloc[5:]
    sdf = spark_frame(spark, table.reset_index()).join(
        spark_frame(spark, known), "customer_id", "left"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scored = segml_spark.score(sdf, str(model)).toPandas().set_index("customer_id")
    assert len(scored) == len(table)
    absent = sorted(set(table.index) - set(known["customer_id"]))
    assert absent and (scored.loc[absent, "segment"] == -1).all()
    assert scored.loc[absent, "reason"].str.startswith("missing attribute").all()
    local = load_model(str(model)).predict(None, table.join(attrs.set_index("customer_id")))
    present = local.set_index("customer_id").drop(index=absent)
    np.testing.assert_array_equal(scored.loc[present.index, "segment"], present["segment"])


@pytest.fixture(scope="module")
def covariate_scores(spark, b2b_covariate_model) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """A batch of customers and prospects (rows with attributes and no history) scored by
    a covariate model's Spark UDF and in process."""
    _, model = b2b_covariate_model
    tx, customers = segml.make_b2b(300, random_state=99)
    table = segml.summarize(tx, calibration_end="2023-12-31", customers=customers)
    prospects = customers.head(5).assign(customer_id=[f"P{i}" for i in range(5)])
    batch = pd.concat([table.reset_index(), prospects], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scored = segml_spark.score(spark_frame(spark, batch), str(model))
        scored = scored.toPandas().set_index("customer_id")
    local = load_model(str(model)).predict(None, batch).set_index("customer_id")
    return scored, local, list(prospects["customer_id"])


def test_spark_scores_prospects_as_prospects(covariate_scores) -> None:
    scored, local, prospects = covariate_scores
    assert (scored.loc[prospects, "reason"] == "prospect").all()
    assert (local.loc[prospects, "reason"] == "prospect").all()


def test_spark_scores_a_covariate_model_like_pandas(covariate_scores) -> None:
    scored, local, _ = covariate_scores
    np.testing.assert_allclose(scored.loc[local.index, "clv"], local["clv"], rtol=1e-9)
    np.testing.assert_array_equal(scored.loc[local.index, "segment"], local["segment"])


def test_spark_errors_are_clear(cdnow_spark) -> None:
    with pytest.raises(segml.DataError, match="time column 'when'"):
        segml_spark.summarize(cdnow_spark, calibration_end="1997-09-30", time="when")


RETAIL_READ = {
    "customer": "Customer ID",
    "time": "InvoiceDate",
    "quantity": "Quantity",
    "unit_price": "Price",
}
RETAIL_WINDOWS = {"calibration_end": "2010-11-30", "holdout_end": "2011-11-29"}


def spark_frame(spark, frame: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(frame)


def assert_same_tables(pandas_table: pd.DataFrame, spark_table) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        got = spark_table.toPandas().set_index("customer_id")
    assert sorted(got.index) == sorted(pandas_table.index)
    assert list(got.columns) == list(pandas_table.columns)
    got = got.loc[pandas_table.index]
    for col in pandas_table.columns:
        want = pandas_table[col]
        if pd.api.types.is_integer_dtype(want):
            np.testing.assert_array_equal(got[col].to_numpy(), want.to_numpy(), err_msg=col)
        elif pd.api.types.is_datetime64_any_dtype(want):
            np.testing.assert_array_equal(
                got[col].to_numpy("datetime64[ns]"), want.to_numpy(), err_msg=col
            )
        else:
            np.testing.assert_allclose(
                got[col].to_numpy(float), want.to_numpy(float), rtol=1e-9, atol=1e-9, err_msg=col
            )


def assert_same_reports(pandas_report, spark_report) -> None:
    assert spark_report.rows_read == pandas_report.rows_read
    assert spark_report.dropped == pandas_report.dropped
    assert spark_report.flagged == pandas_report.flagged
    assert spark_report.customers == pandas_report.customers
    assert set(spark_report.amounts) == set(pandas_report.amounts)
    for key, value in pandas_report.amounts.items():
        assert spark_report.amounts[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
    if pandas_report.amount_read is None:
        assert spark_report.amount_read is None
    else:
        assert spark_report.amount_read == pytest.approx(pandas_report.amount_read, rel=1e-9)


@pytest.mark.parametrize("returns", ["net", "drop"])
def test_spark_and_pandas_give_the_same_table_and_report_on_a_retail_log(spark, returns) -> None:
    lines, _ = segml.make_retail(400, random_state=5)
    tx = segml.read_transactions(lines, returns=returns, **RETAIL_READ)
    table = segml.summarize(tx, **RETAIL_WINDOWS)
    got, report = segml_spark.summarize(
        spark_frame(spark, lines),
        returns=returns,
        return_report=True,
        **RETAIL_READ,
        **RETAIL_WINDOWS,
    )
    assert_same_tables(table, got)
    assert_same_reports(segml.quality_report(table), report)
    assert report.notes == segml.quality_report(table).notes


def test_spark_nets_a_return_against_the_order_it_names(spark) -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "date": ["2024-01-01", "2024-01-05", "2024-01-20", "2024-01-02"],
            "order": ["o1", "o2", "o1", "o9"],
            "amount": [100.0, 50.0, -40.0, 10.0],
        }
    )
    options = {"return_of": "order", "calibration_end": "2024-03-01"}
    table = segml.summarize(
        segml.read_transactions(log, amount="amount", return_of="order"),
        calibration_end="2024-03-01",
    )
    got, report = segml_spark.summarize(spark_frame(spark, log), return_report=True, **options)
    assert_same_tables(table.drop(columns=[]), got)
    assert report.notes == segml.quality_report(table).notes


IDS = st.sampled_from([None, "", "  ", "a", " a", "b\t", "7", "c"])
DATES = st.one_of(
    st.sampled_from([None, "not a date", "2024-02-30", "2999-01-01", "1500-06-01"]),
    st.dates(
        min_value=pd.Timestamp("2023-10-01").date(), max_value=pd.Timestamp("2024-12-31").date()
    ).map(str),
    st.datetimes(
        min_value=pd.Timestamp("2023-10-01").to_pydatetime(),
        max_value=pd.Timestamp("2024-12-31").to_pydatetime(),
    ).map(lambda d: d.replace(microsecond=0).isoformat()),
)
AMOUNTS = st.one_of(
    st.sampled_from([None, float("nan"), float("inf"), -float("inf"), 2e13, 0.0]),
    st.integers(-3000, 9000).map(lambda c: c / 100),
)


@st.composite
def messy_logs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 30))
    return pd.DataFrame(
        {
            "customer_id": pd.Series(draw(st.lists(IDS, min_size=n, max_size=n)), dtype=object),
            "date": pd.Series(draw(st.lists(DATES, min_size=n, max_size=n)), dtype=object),
            "amount": pd.Series(draw(st.lists(AMOUNTS, min_size=n, max_size=n)), dtype=float),
        }
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    log=messy_logs(),
    returns=st.sampled_from(["net", "drop"]),
    zeros=st.sampled_from(["keep", "drop"]),
    dups=st.sampled_from(["keep", "drop"]),
    hold=st.sampled_from([None, "2024-09-30"]),
)
def test_spark_and_pandas_agree_on_random_messy_logs(
    spark, log, returns, zeros, dups, hold
) -> None:
    policies = {"returns": returns, "zero_amounts": zeros, "duplicates": dups}
    windows = {"calibration_end": "2024-03-31", "holdout_end": hold}
    try:
        table = segml.summarize(
            segml.read_transactions(log, amount="amount", **policies), **windows
        )
    except segml.DataError:
        return  # no valid row or no customer by calibration_end: nothing to compare
    got, report = segml_spark.summarize(
        spark_frame(spark, log), return_report=True, **policies, **windows
    )
    assert_same_tables(table, got)
    assert_same_reports(segml.quality_report(table), report)
    # Revenue is conserved on Spark as well: kept + dropped = the input's valid amounts.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        kept = got.toPandas()
    revenue = kept["total_revenue"].sum() + (kept["holdout_revenue"].sum() if hold else 0.0)
    assert revenue + report.amount_dropped == pytest.approx(report.amount_read, abs=1e-6)


@pytest.mark.parametrize(
    ("dates", "fmt"),
    [
        ([20240105.0, None, 20240301.0, 20240302.0], "%Y%m%d"),
        ([1704412800, 1704499200, 1709251200, 1709337600], "epoch_s"),
        ([1704412800000, 1704499200000, 1709251200000, 1709337600000], "epoch_ms"),
    ],
    ids=["yyyymmdd-floats", "epoch-s", "epoch-ms"],
)
def test_spark_reads_numeric_dates_like_pandas(spark, dates, fmt) -> None:
    lines = pd.DataFrame(
        {"customer_id": ["a", "a", "b", "b"], "date": dates, "amount": [1.0, 2.0, 3.0, 4.0]}
    )
    windows = {"calibration_end": "2024-02-15", "holdout_end": "2024-04-30"}
    tx = segml.read_transactions(lines, amount="amount", time_format=fmt)
    table = segml.summarize(tx, **windows)
    got = segml_spark.summarize(
        spark_frame(spark, lines), amount="amount", time_format=fmt, **windows
    )
    assert_same_tables(table, got)


def test_spark_refuses_one_column_mapped_twice(spark) -> None:
    lines = pd.DataFrame({"customer_id": ["a"], "date": ["2024-01-05"], "amount": [1.0]})
    with pytest.raises(segml.DataError, match="mapped twice, as amount and as quantity"):
        segml_spark.summarize(
            spark_frame(spark, lines),
            amount="amount",
            quantity="amount",
            calibration_end="2024-02-01",
        )
