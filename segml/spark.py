"""Scaling out on Spark (optional extra ``segml[spark]``).

The customer table is computed with Spark SQL (:func:`summarize`), the CLV models are fitted
on the driver on the compressed statistics (``customer_table.groupBy("frequency", "recency",
"T").count()`` is small even for hundreds of millions of customers), and an exported segml
model scores on the executors through ``mlflow.pyfunc.spark_udf`` (:func:`score`).

The workers must run the same Python environment as the driver: set ``PYSPARK_PYTHON`` to
its interpreter before the Spark session starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segml._columns import spark_ddl
from segml.errors import DataError
from segml.experiment.scoring import OUTPUT_COLUMNS

__all__ = ["OUTPUT_SCHEMA", "compressed_statistics", "drift", "score", "summarize"]

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
    calibration_end: Any,
    holdout_end: Any = None,
    unit: str = "W",
    customer: str = "customer_id",
    time: str = "date",
    amount: str | None = "amount",
    quantity: str | None = None,
    unit_price: str | None = None,
    time_format: str | None = None,
    returns: str = "net",
    return_of: str | None = None,
    zero_amounts: str = "keep",
    duplicates: str = "keep",
    merge_same_day: bool = True,
    return_report: bool = False,
) -> Any:
    """The customer table of :func:`segml.summarize`, computed with Spark SQL.

    The policies of :func:`segml.read_transactions` and :func:`segml.summarize`, applied the
    same way: ids cleaned (surrounding blanks removed, blanks missing, integral float ids
    without their ``.0``), rows with a missing id, an unparsable time or amount dropped,
    exact duplicates flagged (or dropped), returns netted against the same customer's
    purchases (the same day, then earlier days, latest first; or the order named in
    ``return_of``), zero amounts kept (or dropped), same-day transactions merged,
    ``calibration_end`` and ``holdout_end`` inclusive, customers first seen after
    ``calibration_end`` excluded. Same customers, same columns, same report counts as the
    pandas path (tested on a local session); times are read in the session time zone,
    which should be UTC for naive timestamps to mean what pandas reads.

    Parameters
    ----------
    transactions : pyspark.sql.DataFrame
        The transaction log (invoice lines or orders).
    calibration_end, holdout_end : date-like
        Window ends.
    unit : {"D", "W", "M"}
        Time unit.
    customer, time, amount, quantity, unit_price, time_format : str, optional
        Column mapping and time format, as in :func:`segml.read_transactions`;
        ``amount=None`` for counts only.
    returns, return_of, zero_amounts, duplicates : str
        The policies of :func:`segml.read_transactions`.
    merge_same_day : bool
        Merge each customer's same-day transactions into one.
    return_report : bool
        Also compute the :class:`~segml.DataQualityReport` (a few Spark jobs).

    Returns
    -------
    table : pyspark.sql.DataFrame
        ``customer_id`` (string), ``frequency``, ``recency``, ``T``, ``n_transactions``,
        ``first_purchase``, ``last_purchase``, ``first_purchase_month`` and, with amounts,
        ``monetary_value``, ``first_amount``, ``total_revenue``; ``first_n_items`` with a
        quantity; with a holdout window, ``holdout_frequency``, ``holdout_revenue`` and
        ``holdout_duration``.
    report : DataQualityReport
        With ``return_report=True`` only.
    """
    from segml.data.spark_table import spark_report, summarize_spark

    table, rows, days = summarize_spark(
        transactions,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        unit=unit,
        customer=customer,
        time=time,
        amount=amount,
        quantity=quantity,
        unit_price=unit_price,
        time_format=time_format,
        returns=returns,
        return_of=return_of,
        zero_amounts=zero_amounts,
        duplicates=duplicates,
        merge_same_day=merge_same_day,
    )
    if not return_report:
        return table.drop("_merged")
    rows = rows.persist()
    try:
        report = spark_report(
            rows,
            days,
            table,
            has_amount=bool(amount or unit_price),
            returns=returns,
            return_of=return_of,
            merge_same_day=merge_same_day,
        )
    finally:
        rows.unpersist()
    return table.drop("_merged"), report


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
        The columns of ``OUTPUT_SCHEMA``, one row per input row; ``batch_percentile`` ranks
        each CLV in the whole table (a window over all rows: one task sorts the CLVs).
    """
    F = _functions()
    from pyspark.sql import Window

    from segml.tracking.spark_udf import model_udf

    udf, columns = model_udf(table.sparkSession, model_uri, OUTPUT_SCHEMA, params)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"the Spark table lacks columns {missing} that model {model_uri!r} needs; it has "
            f"{table.columns}."
        )
    scored = table.withColumn("_segml", udf(F.struct(*[F.col(c) for c in columns])))
    out = scored.select(*[F.col(f"_segml.{c}").alias(c) for c in OUTPUT_COLUMNS])
    # The batch is the whole table, not one Arrow batch of the UDF: rank every CLV again
    # (percent_rank, as segml.experiment.scoring.batch_percentile; one task sorts them all).
    ranked = Window.partitionBy(F.col("clv").isNull()).orderBy("clv")
    rank = F.when(F.col("clv").isNotNull(), F.percent_rank().over(ranked) * 100.0)
    return out.withColumn("batch_percentile", rank.cast("double")).select(*OUTPUT_COLUMNS)


def _bin_counts(F: Any, col: str, spec: dict[str, Any]) -> list[Any]:
    """Aggregates counting ``col`` in each of a baseline's frozen bins or levels, then missing
    (the bins of :func:`segml.segment.drift.current_shares`)."""
    c = F.col(col)
    if spec["kind"] == "number":
        missing = c.isNull() | F.isnan(c.cast("double"))
        # bin i holds edge[i-1] < v <= edge[i]: the number of edges strictly below v
        index = sum((F.when(c > float(e), 1).otherwise(0) for e in spec["edges"]), F.lit(0))
        cells = [F.when(~missing & (index == i), 1) for i in range(len(spec["edges"]) + 1)]
    else:
        missing = c.isNull()
        text = c.cast("string")
        cells = [F.when(~missing & (text == level), 1) for level in spec["levels"]]
        cells.append(F.when(~missing & ~text.isin(list(spec["levels"])), 1))
    cells.append(F.when(missing, 1))
    return [F.count(cell).alias(f"{col}#{i}") for i, cell in enumerate(cells)]


def drift(
    scores: Any,
    table: Any,
    model_uri: str,
    *,
    transactions: Any = None,
    as_of: Any = None,
    summarize_options: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """The drift summary of a Spark scoring against the model's training population,
    counted in Spark on the bins frozen at export.

    Parameters
    ----------
    scores : pyspark.sql.DataFrame
        The output of :func:`score` for ``table``.
    table : pyspark.sql.DataFrame
        The table that was scored (its feature columns are the ones the model watches).
    model_uri : str
        The model that scored it (a local directory or a ``models:/`` URI).
    transactions : pyspark.sql.DataFrame, optional
        The transactions ``table`` was summarised from. With them and ``as_of`` (the
        ``calibration_end`` ``table`` was summarised at), the model-expected shares are
        computed too: the customers of the calibration cohort are summarised in Spark at the
        model's calibration end, the ids of :func:`segml.experiment.expected_drift.cohort_ids`
        (all, or a seeded random 20,000) collected, and those customers aged by simulation
        on the driver, as ``segml score`` does (the same customers in the same order, so the
        same bands).
    as_of : date-like, optional
        Required with ``transactions``.
    summarize_options : mapping, optional
        Keyword arguments of :func:`summarize` for the cohort (column names, policies), as
        used for ``table``; ``unit`` is the model's.
    tracking_uri : str, optional
        Where ``models:/`` URIs live.

    Returns
    -------
    dict
        What ``segml score`` writes to ``drift.json`` for the same batch: ``psi`` per
        quantity with its band, ``segments`` (shares against training), counts, ``names``
        (the words of segment names the batch contradicts) and ``calendar`` (calendar-bound
        features beyond their training range), all aggregated in Spark, and ``expected``
        (the model-expected shares and moves with their bands; None without
        ``transactions`` or when ``as_of`` is not after the calibration end).
    """
    import pandas as pd

    from segml.experiment.drift_report import drift_summary
    from segml.segment.drift import Shares
    from segml.tracking.export import load_model

    F = _functions()
    model = load_model(model_uri, tracking_uri)
    baseline = model.meta.get("baseline")
    if not baseline:
        raise DataError(f"model {model_uri!r} stores no training baseline; re-export it.")
    specs = {c: s for c, s in baseline["columns"].items() if c in scores.columns + table.columns}
    features = [c for c in specs if c not in scores.columns]
    joined = scores.join(table.select("customer_id", *features), "customer_id", "left")
    counts = [_bin_counts(F, col, spec) for col, spec in specs.items()]
    row = joined.agg(F.count(F.lit(1)).alias("_n"), *[a for group in counts for a in group])
    totals = row.collect()[0].asDict()
    per_segment = joined.groupBy(F.coalesce(F.col("segment"), F.lit(-1)).alias("s")).count()
    n = int(totals["_n"])
    segs = {int(r["s"]): int(r["count"]) / max(n, 1) for r in per_segment.collect()}
    columns = {
        col: [totals[f"{col}#{i}"] / max(n, 1) for i in range(len(group))]
        for (col, _), group in zip(specs.items(), counts, strict=True)
    }
    shares = Shares(n, pd.Series(segs, dtype="float64"), columns)
    summary = drift_summary(baseline, shares, "the training population")
    watched = ["segment", "clv", "p_alive", "expected_purchases", *features]
    names = _name_report(F, joined.select(*watched), model.meta, model.segmenter)
    expected = None
    if transactions is not None:
        if as_of is None:
            raise DataError("drift(..., transactions=...) needs as_of, the table's as-of date.")
        expected = _expected(model, scores, table, transactions, as_of, summarize_options or {})
    return summary | names | {"expected": expected}


def _expected(
    model: Any,
    scores: Any,
    table: Any,
    transactions: Any,
    as_of: Any,
    options: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The model-expected shares of :func:`drift`: the cohort summarised in Spark, its
    chosen customers collected and aged on the driver."""
    import pandas as pd

    from segml._units import UNIT_DAYS, unit_key
    from segml.clv.covariate_effects import covariate_names
    from segml.experiment.expected_drift import aged_cohort_report, cohort_ids

    cal, unit = model.meta.get("calibration_end"), model.meta.get("unit") or "W"
    end = pd.Timestamp(as_of)
    if cal is None or end <= pd.Timestamp(cal):
        return None
    options = {k: v for k, v in options.items() if k not in ("calibration_end", "unit")}
    cohort = summarize(transactions, calibration_end=cal, unit=unit, **options)
    ids = cohort.select("customer_id").toPandas()["customer_id"]
    if ids.empty:
        return None
    chosen = cohort_ids(ids)
    if len(chosen) < len(ids):
        spark = cohort.sparkSession
        keep = spark.createDataFrame(pd.DataFrame({"customer_id": chosen.astype(str)}))
        cohort = cohort.join(_functions().broadcast(keep), "customer_id")
    # attributes (segment rules, covariates) are the ones the scored table carries
    wanted = set(model.segmenter.columns_) | set(covariate_names(model.clv))
    attrs = [c for c in table.columns if c in wanted and c not in cohort.columns]
    if attrs:
        cohort = cohort.join(table.select("customer_id", *attrs), "customer_id", "left")
    local = cohort.toPandas()
    local["customer_id"] = local["customer_id"].astype(str)
    observed = scores.join(cohort.select("customer_id"), "customer_id").select(
        "customer_id", "segment"
    )
    observed = observed.toPandas()
    observed = observed.assign(customer_id=observed["customer_id"].astype(str))
    elapsed = (end - pd.Timestamp(cal)) / pd.Timedelta(days=UNIT_DAYS[unit_key(unit)])
    segments = observed.set_index("customer_id")["segment"]
    return aged_cohort_report(model, local, segments, float(elapsed), len(ids))


def _name_report(F: Any, frame: Any, meta: dict[str, Any], segmenter: Any) -> dict[str, Any]:
    """:func:`segml.experiment.drift_report.name_report`, aggregated in Spark: per segment
    the means of the named features, and each calendar-bound feature's share beyond its
    training maximum."""
    import pandas as pd

    from segml.segment.names import (
        CALENDAR_FEATURES,
        calendar_flags_from_shares,
        checks_from_means,
        segmentation_features,
    )

    stored = meta.get("names_baseline") or {}
    cols = set(frame.columns)
    means = _segment_means(F, frame, stored)
    names = (meta.get("baseline") or {}).get("names", {})
    ranges = meta.get("training_ranges", {})
    used = [
        c
        for c in segmentation_features(segmenter)
        if c in CALENDAR_FEATURES and c in ranges and c in cols
    ]
    beyond_max = {}
    if used:
        over = [
            F.avg(F.when(_number(F, c) > float(ranges[c][1]), 1.0).otherwise(0.0)).alias(c)
            for c in used
        ]
        beyond_max = {c: float(v) for c, v in frame.agg(*over).collect()[0].asDict().items()}
    return {
        "names": checks_from_means(stored, pd.DataFrame(means), names) if stored else [],
        "calendar": calendar_flags_from_shares(ranges, beyond_max),
    }


def _derived(F: Any, name: str, value: Any, tenure: Any) -> Any:
    """A derived feature of :mod:`segml.segment.features` as a Spark column (missing when
    either input is)."""
    if name == "since_last":
        return tenure - value
    ratio = F.when(tenure > 0, value / tenure).otherwise(0.0)
    return F.when(value.isNotNull() & tenure.isNotNull(), ratio)


def _number(F: Any, name: str) -> Any:
    c = F.col(name).cast("double")
    return F.when(~F.isnan(c), c)  # NaN is missing, as pandas' mean skips it


def _segment_means(F: Any, frame: Any, stored: dict[str, Any]) -> Any:
    """:func:`segml.segment.names.segment_means`, aggregated in Spark."""
    from segml.segment.features import DERIVED_FEATURES
    from segml.segment.profile import NAME_WORDS

    cols = set(frame.columns)
    feats = {}
    for c in NAME_WORDS:
        if c in cols:
            feats[c] = _number(F, c)
        elif c in DERIVED_FEATURES and set(DERIVED_FEATURES[c]) <= cols:
            feats[c] = _derived(F, c, *(_number(F, n) for n in DERIVED_FEATURES[c]))
    if "since_last" in feats and stored.get("since_last_max") is not None:
        since = feats["since_last"]
        beyond = F.when(since > float(stored["since_last_max"]), 1.0).otherwise(0.0)
        feats["beyond"] = F.when(since.isNotNull(), beyond).otherwise(0.0)
    segment = F.coalesce(F.col("segment"), F.lit(-1)).alias("_segment")
    rows = frame.groupBy(segment).agg(*[F.avg(e).alias(c) for c, e in feats.items()])
    means = rows.toPandas().set_index("_segment")
    means.index = means.index.astype("int64")
    return means
