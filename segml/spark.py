"""Scaling out on Spark (optional extra ``segml[spark]``).

The customer table is computed with Spark SQL (:func:`summarize`), the CLV models are fitted
on the driver on the compressed statistics (``customer_table.groupBy("frequency", "recency",
"T").count()`` is small even for hundreds of millions of customers), and an exported segml
model scores on the executors through ``mlflow.pyfunc.spark_udf`` (:func:`score`).

The workers must run the same Python environment as the driver: set ``PYSPARK_PYTHON`` to
its interpreter before the Spark session starts.
"""

from __future__ import annotations

from typing import Any

from segml._columns import spark_ddl
from segml._units import UNIT_DAYS
from segml._units import unit_key as _unit
from segml.errors import DataError
from segml.experiment.scoring import OUTPUT_COLUMNS

__all__ = ["OUTPUT_SCHEMA", "compressed_statistics", "score", "summarize"]

#: Spark DDL of the scores returned by :func:`score`.
OUTPUT_SCHEMA = spark_ddl(OUTPUT_COLUMNS)


def _functions() -> Any:
    try:
        from pyspark.sql import functions as F
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("segml.spark needs pyspark: pip install 'segml[spark]'") from exc
    return F


def summarize(
    transactions: Any,
    *,
    calibration_end: str,
    holdout_end: str | None = None,
    unit: str = "W",
    customer: str = "customer_id",
    time: str = "date",
    amount: str | None = "amount",
) -> Any:
    """The customer table of :func:`segml.summarize`, computed with Spark SQL.

    Same conventions as the pandas path: same-day transactions merged, ``calibration_end``
    and ``holdout_end`` inclusive, time in ``unit`` from each customer's first purchase (a
    month is 365.2425 / 12 days), customers first seen after ``calibration_end`` excluded.
    Rows with a missing customer, time or amount are dropped.

    Parameters
    ----------
    transactions : pyspark.sql.DataFrame
        The transaction log.
    calibration_end, holdout_end : date strings
        Window ends.
    unit : {"D", "W", "M"}
        Time unit.
    customer, time, amount : str
        Column names; ``amount=None`` for counts only.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` (string), ``frequency``, ``recency``, ``T``, ``n_transactions``,
        ``first_purchase``, ``last_purchase``, ``first_purchase_month`` and, with amounts,
        ``monetary_value``, ``first_amount``, ``total_revenue``; with a holdout window,
        ``holdout_frequency``, ``holdout_revenue`` and ``holdout_duration``.
    """
    F = _functions()
    for col in [customer, time] + ([amount] if amount else []):
        if col not in transactions.columns:
            raise DataError(
                f"the Spark transactions have no column {col!r}; columns: {transactions.columns}."
            )
    days = UNIT_DAYS[_unit(unit)]
    cal = F.to_date(F.lit(calibration_end))
    end = F.to_date(F.lit(holdout_end or calibration_end))
    value = F.col(amount).cast("double") if amount else F.lit(0.0)
    tx = (
        transactions.select(
            F.trim(F.col(customer).cast("string")).alias("customer_id"),
            F.to_date(F.col(time)).alias("day"),
            value.alias("amount"),
        )
        .where(F.col("customer_id").isNotNull() & (F.col("customer_id") != ""))
        .where(F.col("day").isNotNull() & F.col("amount").isNotNull())
        .where(F.col("day") <= end)
        .groupBy("customer_id", "day")
        .agg(F.sum("amount").alias("amount"))
    )
    calib = tx.where(F.col("day") <= cal)
    table = calib.groupBy("customer_id").agg(
        F.count("*").alias("n_transactions"),
        F.min("day").alias("first_day"),
        F.max("day").alias("last_day"),
        F.sum("amount").alias("total_revenue"),
        F.min_by("amount", "day").alias("first_amount"),
    )
    table = table.select(
        "customer_id",
        (F.col("n_transactions") - 1).cast("long").alias("frequency"),
        (F.datediff("last_day", "first_day") / F.lit(days)).alias("recency"),
        (F.datediff(cal, "first_day") / F.lit(days)).alias("T"),
        F.col("n_transactions").cast("long").alias("n_transactions"),
        F.col("first_day").cast("timestamp").alias("first_purchase"),
        F.col("last_day").cast("timestamp").alias("last_purchase"),
        F.month("first_day").alias("first_purchase_month"),
        *(
            [
                F.when(
                    F.col("n_transactions") > 1,
                    (F.col("total_revenue") - F.col("first_amount"))
                    / (F.col("n_transactions") - 1),
                )
                .otherwise(F.lit(0.0))
                .alias("monetary_value"),
                F.col("first_amount"),
                F.col("total_revenue"),
            ]
            if amount
            else []
        ),
    )
    if holdout_end is not None:
        hold = (
            tx.where(F.col("day") > cal)
            .groupBy("customer_id")
            .agg(F.count("*").alias("holdout_frequency"), F.sum("amount").alias("holdout_revenue"))
        )
        table = (
            table.join(hold, "customer_id", "left")
            .fillna({"holdout_frequency": 0, "holdout_revenue": 0.0})
            .withColumn("holdout_frequency", F.col("holdout_frequency").cast("long"))
            .withColumn("holdout_duration", F.datediff(end, cal) / F.lit(days))
        )
        if not amount:
            table = table.drop("holdout_revenue")
    return table


def compressed_statistics(table: Any) -> Any:
    """Unique ``(frequency, recency, T)`` rows with their counts, small enough to collect.

    Fit on the driver with ``segml.BetaGeo().fit(stats_pandas)`` after expanding the counts,
    or, more economically, pass the counts as weights (the estimators compress internally
    to exactly these rows).
    """
    return table.groupBy("frequency", "recency", "T").count()


def score(table: Any, model_uri: str, *, params: dict[str, float] | None = None) -> Any:
    """Score a Spark customer table with an exported segml model on the executors.

    Parameters
    ----------
    table : pyspark.sql.DataFrame
        ``customer_id``, the summary columns and the attributes the model needs (the
        output of :func:`summarize`, joined with attributes).
    model_uri : str
        A local model directory or a ``models:/`` / ``runs:/`` URI MLflow can resolve.
    params : dict, optional
        ``horizon`` / ``discount_rate`` overrides.

    Returns
    -------
    pyspark.sql.DataFrame
        The columns of ``OUTPUT_SCHEMA``, one row per input row.
    """
    F = _functions()
    from segml.tracking.spark_udf import model_udf

    udf, columns = model_udf(table.sparkSession, model_uri, OUTPUT_SCHEMA, params)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"the Spark table lacks columns {missing} that model {model_uri!r} needs; it has "
            f"{table.columns}."
        )
    scored = table.withColumn("_segml", udf(F.struct(*[F.col(c) for c in columns])))
    return scored.select(*[F.col(f"_segml.{c}").alias(c) for c in OUTPUT_COLUMNS])
