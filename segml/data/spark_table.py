"""The customer table and its data-quality report computed with Spark SQL.

The same policies as the pandas path (:func:`segml.read_transactions` then
:func:`segml.summarize`), in the same order, so both give the same customers, the same
columns and the same report counts: ids cleaned (blanks missing, ``2.0`` named ``"2"``),
unparsable times and amounts dropped, exact duplicates flagged or dropped, returns netted
against earlier purchase days (:mod:`segml.data.returns`, as window functions), zero amounts,
same-day merging, the window and the calibration cohort. Each input row gets the reason it
was dropped (or none), and the report is one aggregation of those reasons.
"""

from __future__ import annotations

from typing import Any

from segml._units import UNIT_DAYS
from segml._units import unit_key as _unit
from segml.data.quality import REASONS, DataQualityReport
from segml.data.read import MAX_AMOUNT, one_role_per_column
from segml.data.returns import RESIDUE, netting_note
from segml.errors import DataError

__all__ = ["summarize_spark"]

_DAY_US = 86_400 * 10**6
#: Timestamps pandas can hold (nanoseconds in int64); others are unparsable in both paths.
_FIRST, _LAST = "1677-09-22", "2262-04-11"
_STRFTIME = {
    "%Y": "yyyy",
    "%y": "yy",
    "%m": "MM",
    "%d": "dd",
    "%H": "HH",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
    "%b": "MMM",
    "%B": "MMMM",
    "%j": "DDD",
    "%%": "%",
}


def _functions() -> Any:
    try:
        from pyspark.sql import Window
        from pyspark.sql import functions as F
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("segml.spark needs pyspark: pip install 'segml[spark]'") from exc
    return F, Window


def java_pattern(time_format: str) -> str:
    """The Java ``DateTimeFormatter`` pattern of a ``strftime`` format."""
    out, i = [], 0
    while i < len(time_format):
        two = time_format[i : i + 2]
        if two in _STRFTIME:
            out.append(_STRFTIME[two])
            i += 2
            continue
        if two.startswith("%"):
            raise DataError(f"time_format directive {two!r} is not supported on Spark.")
        ch = time_format[i]
        out.append(f"'{ch}'" if ch.isalpha() else ch)
        i += 1
    return "".join(out)


def _ids(frame: Any, column: str, F: Any) -> Any:
    """Customer ids as the pandas path names them: strings without surrounding blanks,
    blanks missing, integral floats without their ``.0``."""
    kind = dict(frame.dtypes)[column]
    col = F.col(f"`{column}`")
    if kind in ("double", "float"):
        integral = frame.where(col.isNotNull() & ~F.isnan(col) & (col != F.floor(col))).limit(1)
        if not integral.count():
            return F.when(F.isnan(col), None).otherwise(col.cast("long").cast("string"))
    text = F.regexp_replace(col.cast("string"), r"^(?U)\s+|(?U)\s+$", "")
    return F.when(text == "", None).otherwise(text)


def _times(frame: Any, column: str, time_format: str | None, F: Any) -> Any:
    kind = dict(frame.dtypes)[column]
    col = F.col(f"`{column}`")
    numeric = kind in ("double", "float", "int", "bigint", "smallint", "tinyint")
    if kind in ("timestamp", "timestamp_ntz", "date"):
        ts = col.cast("timestamp")
    elif time_format in ("epoch_s", "epoch_ms"):
        seconds = F.expr(f"try_cast(`{column}` as double)")
        ts = (seconds / 1000 if time_format == "epoch_ms" else seconds).cast("timestamp")
    elif time_format is not None and numeric:  # 19970101.0 read as its digits
        ts = F.try_to_timestamp(col.cast("bigint").cast("string"), F.lit(java_pattern(time_format)))
    elif time_format is not None:
        ts = F.try_to_timestamp(col.cast("string"), F.lit(java_pattern(time_format)))
    else:
        ts = F.try_to_timestamp(col.cast("string"))
    in_range = (ts >= F.lit(_FIRST).cast("timestamp")) & (ts < F.lit(_LAST).cast("timestamp"))
    return F.when(in_range, ts)


def _amounts(frame: Any, column: str, F: Any) -> Any:
    kind = dict(frame.dtypes)[column]
    col = F.col(f"`{column}`")
    if kind in ("double", "float", "int", "bigint", "smallint", "tinyint") or kind.startswith(
        "decimal"
    ):
        return col.cast("double")
    return F.expr(f"try_cast(`{column}` as double)")


def _canonical(frame: Any, roles: dict[str, str], time_format: str | None, F: Any) -> Any:
    """customer_id, ts, amount, n_items, the order column and a row number."""
    cols = [
        _ids(frame, roles["customer"], F).alias("customer_id"),
        _times(frame, roles["time"], time_format, F).alias("ts"),
    ]
    if "quantity" in roles:
        cols.append(_amounts(frame, roles["quantity"], F).alias("n_items"))
    if "unit_price" in roles:
        price = _amounts(frame, roles["unit_price"], F)
        cols.append((_amounts(frame, roles["quantity"], F) * price).alias("amount"))
    elif "amount" in roles:
        cols.append(_amounts(frame, roles["amount"], F).alias("amount"))
    else:
        cols.append(F.lit(0.0).alias("amount"))
    if "return_of" in roles:
        cols.append(F.col(f"`{roles['return_of']}`").cast("string").alias("_order"))
    return frame.select(*cols).withColumn("_row", F.monotonically_increasing_id())


def _validity(rows: Any, has_amount: bool, F: Any) -> Any:
    """Each row's reason for being dropped on reading (null: valid), as in the pandas path."""
    a = F.col("amount")
    reason = F.when(F.col("customer_id").isNull(), "missing_customer_id").when(
        F.col("ts").isNull(), "unparsable_time"
    )
    if has_amount:
        reason = (
            reason.when(a.isNull() | F.isnan(a), "invalid_amount")
            .when(F.abs(a) == float("inf"), "non_finite_amount")
            .when(F.abs(a) > MAX_AMOUNT, "extreme_amount")
        )
    valid = a.isNotNull() & ~F.isnan(a) & (F.abs(a) <= MAX_AMOUNT)
    return rows.withColumn("reason", reason).withColumn("valid_amount", F.when(valid, a))


def _duplicates(rows: Any, duplicates: str, F: Any, W: Any) -> Any:
    """Later copies of a valid row (``_dup``): dropped with ``duplicates="drop"``."""
    keys = [c for c in rows.columns if c not in ("_row", "reason", "valid_amount")]
    copy = F.row_number().over(W.partitionBy(*keys, "reason").orderBy("_row")) > 1
    rows = rows.withColumn("_read_ok", F.col("reason").isNull())
    rows = rows.withColumn("_dup", F.col("_read_ok") & copy)
    if duplicates == "drop":
        rows = rows.withColumn(
            "reason", F.when(F.col("_dup"), "exact_duplicate").otherwise(F.col("reason"))
        )
    return rows


def _order_days(rows: Any, F: Any) -> Any:
    """Each return's netting day: the latest day of the order it names, when the customer
    bought on it by the return's day; otherwise its own day."""
    bought = (
        rows.where((F.col("amount") > 0) & F.col("_order").isNotNull())
        .groupBy("customer_id", "_order")
        .agg(F.max("day").alias("_order_day"))
    )
    joined = rows.join(bought, ["customer_id", "_order"], "left")
    usable = (
        (F.col("amount") < 0)
        & F.col("_order_day").isNotNull()
        & (F.col("_order_day") <= F.col("day"))
    )
    return (
        joined.withColumn("_by_order", usable)
        .withColumn("day", F.when(usable, F.col("_order_day")).otherwise(F.col("day")))
        .drop("_order_day")
    )


def _net(rows: Any, has_order: bool, F: Any, W: Any) -> tuple[Any, Any]:
    """Valid rows with returns netted (:mod:`segml.data.returns`), and the per-day table."""
    live = F.col("reason").isNull()
    rows = rows.withColumn("day", F.to_date("ts"))
    # The days of a customer up to their last return: later ones keep their purchases.
    last = F.max(F.when(live & (F.col("amount") < 0), F.col("day"))).over(
        W.partitionBy("customer_id")
    )
    rows = rows.withColumn("_touched", F.coalesce(F.col("day") <= last, F.lit(False)))
    if has_order:
        rows = _order_days(rows, F)
    net = rows.where(live & F.col("_touched"))
    days = net.groupBy("customer_id", "day").agg(
        F.sum(F.when(F.col("amount") > 0, F.col("amount")).otherwise(0.0)).alias("bought"),
        F.sum(F.when(F.col("amount") < 0, -F.col("amount")).otherwise(0.0)).alias("returned"),
        F.sum("amount").alias("flow"),
    )
    order = W.partitionBy("customer_id").orderBy("day")
    upto = order.rowsBetween(W.unboundedPreceding, W.currentRow)
    days = days.withColumn("running", F.sum("flow").over(upto))
    days = days.withColumn("low", F.min(F.least(F.col("running"), F.lit(0.0))).over(upto))
    days = days.withColumn("height", F.col("running") - F.col("low"))
    days = days.withColumn("before", F.lag("height", 1, 0.0).over(order))
    days = days.withColumn("low_before", F.lag("low", 1, 0.0).over(order))
    after = order.rowsBetween(W.currentRow, W.unboundedFollowing)
    days = days.withColumn("floor", F.min("height").over(after))
    kept = F.greatest(F.col("floor") - F.col("before"), F.lit(0.0))
    days = days.withColumn(
        "kept", F.when(kept <= F.lit(RESIDUE) * F.col("bought"), 0.0).otherwise(kept)
    )
    days = days.withColumn("unmatched", F.col("low_before") - F.col("low"))
    whole = (F.col("unmatched") >= F.col("returned") * (1 - RESIDUE)) & (F.col("returned") > 0)
    days = days.withColumn("whole", whole).withColumn(
        "scale",
        F.when(F.col("bought") > 0, F.col("kept") / F.col("bought")).otherwise(0.0),
    )
    rows = rows.join(
        days.select("customer_id", "day", "scale", "whole", "kept"),
        ["customer_id", "day"],
        "left",
    )
    a = F.col("amount")
    netting = live & F.col("_touched")
    reason = (
        F.when(netting & (a < 0) & F.col("whole"), "unmatched_return")
        .when(netting & (a < 0), "return_netted")
        .when(netting & (a > 0) & (F.col("kept") == 0.0), "returned_in_full")
        .otherwise(F.col("reason"))
    )
    rows = rows.withColumn("original", a).withColumn("reason", reason)
    rows = rows.withColumn(
        "amount", F.when(netting & (a > 0), a * F.col("scale")).otherwise(a)
    ).drop("scale", "whole", "kept", "day")
    return rows, days


def _window_fates(rows: Any, cal: Any, end: Any, merge_same_day: bool, F: Any, W: Any) -> Any:
    """Kept rows after the window (``after_window``) or of customers first seen after
    calibration (``first_seen_after_calibration``); ``t``, the event time of each row."""
    t = F.to_date("ts").cast("timestamp") if merge_same_day else F.col("ts")
    rows = rows.withColumn("t", t)
    live = F.col("reason").isNull()
    inside = F.col("t") <= end
    rows = rows.withColumn(
        "reason", F.when(live & ~inside, "after_window").otherwise(F.col("reason"))
    )
    live = F.col("reason").isNull()
    first = F.min(F.when(live, F.col("t"))).over(W.partitionBy("customer_id"))
    rows = rows.withColumn("_first", first)
    late = live & (F.col("_first") > cal)
    return rows.withColumn(
        "reason", F.when(late, "first_seen_after_calibration").otherwise(F.col("reason"))
    )


def _table(
    rows: Any,
    cal: Any,
    window_end: Any,
    unit_days: float,
    *,
    has_amount: bool,
    holdout: bool,
    has_items: bool,
    holdout_end: Any,
    F: Any,
    W: Any,
) -> Any:
    """One row per customer of the calibration cohort, from the rows kept."""
    kept = rows.where(F.col("reason").isNull())
    aggs = [F.sum("amount").alias("amount"), F.count("*").alias("rows")]
    if has_items:
        aggs.append(F.sum("n_items").alias("n_items"))
    events = kept.groupBy("customer_id", "t").agg(*aggs)
    in_cal = F.col("t") <= cal  # a day is in calibration when it is on or before its end
    unit_us = unit_days * _DAY_US
    micros = F.unix_micros
    before = F.lag("t").over(W.partitionBy("customer_id").orderBy("t"))
    gap = (micros("t") - micros(before)) / F.lit(unit_us)
    # Spark's log of 0 is null; pandas' (two purchases at one instant) is -inf.
    log_gap = F.when(gap > 0, F.log(gap)).otherwise(F.lit(float("-inf")))
    events = events.withColumn("_log_gap", F.when(in_cal & before.isNotNull(), log_gap))
    per = events.groupBy("customer_id").agg(
        F.sum(F.when(in_cal, 1).otherwise(0)).alias("n_transactions"),
        F.min("t").alias("first_t"),
        F.max(F.when(in_cal, F.col("t"))).alias("last_t"),
        F.sum(F.when(in_cal, F.col("amount")).otherwise(0.0)).alias("total_revenue"),
        F.min_by("amount", "t").alias("first_amount"),
        *([F.min_by("n_items", "t").alias("first_n_items")] if has_items else []),
        F.sum(F.when(~in_cal, 1).otherwise(0)).alias("holdout_frequency"),
        F.sum(F.when(~in_cal, F.col("amount")).otherwise(0.0)).alias("holdout_revenue"),
        (F.sum("rows") - F.count("*")).alias("_merged"),
        F.coalesce(F.sum("_log_gap"), F.lit(0.0)).alias("litt"),
    )
    n = F.col("n_transactions")
    cols = [
        "customer_id",
        (n - 1).cast("long").alias("frequency"),
        ((micros("last_t") - micros("first_t")) / F.lit(unit_us)).alias("recency"),
        ((micros(cal) - micros("first_t")) / F.lit(unit_us)).alias("T"),
        n.cast("long").alias("n_transactions"),
        F.col("first_t").alias("first_purchase"),
        F.col("last_t").alias("last_purchase"),
        F.month("first_t").alias("first_purchase_month"),
        "litt",
    ]
    if has_amount:
        cols += [
            F.when(n > 1, (F.col("total_revenue") - F.col("first_amount")) / (n - 1))
            .otherwise(0.0)
            .alias("monetary_value"),
            "first_amount",
            "total_revenue",
        ]
    if has_items:
        cols.append("first_n_items")
    if holdout:
        cols.append(F.col("holdout_frequency").cast("long").alias("holdout_frequency"))
        if has_amount:
            cols.append("holdout_revenue")
        duration = (micros(holdout_end) - micros(cal)) / F.lit(unit_us)
        cols.append(duration.alias("holdout_duration"))
    cols.append("_merged")
    return per.select(*cols)


def _amount_policies(
    rows: Any, returns: str, zero_amounts: str, has_order: bool, F: Any, W: Any
) -> tuple[Any, Any]:
    """Returns netted or dropped, then zero amounts (``_zero`` when kept); the day table."""
    a = F.col("amount")
    rows = rows.withColumn("original", a)
    days = None
    if returns == "drop":
        negative = F.col("reason").isNull() & (a < 0)
        rows = rows.withColumn(
            "reason", F.when(negative, "negative_amount").otherwise(F.col("reason"))
        )
    else:
        rows, days = _net(rows, has_order, F, W)
    zero = F.col("reason").isNull() & (F.col("amount") == 0)
    if zero_amounts == "drop":
        rows = rows.withColumn("reason", F.when(zero, "zero_amount").otherwise(F.col("reason")))
        return rows.withColumn("_zero", F.lit(False)), days
    return rows.withColumn("_zero", zero), days


def summarize_spark(
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
) -> tuple[Any, Any, Any]:
    """The customer table (a Spark DataFrame with a ``_merged`` column), the input rows
    with their reasons and the returns' day table; see :func:`segml.spark.summarize`."""
    F, W = _functions()
    import pandas as pd

    from segml.data.read import _check_choices
    from segml.data.times import check_time_settings

    _check_choices(returns=returns, zero_amounts=zero_amounts, duplicates=duplicates)
    check_time_settings(time_format, "UTC")
    if unit_price is not None and (quantity is None or amount not in (None, "amount")):
        raise DataError(
            "unit_price makes each line's amount quantity x unit_price: map quantity too, "
            f"and not amount (got amount={amount!r}, quantity={quantity!r})."
        )
    roles = {"customer": customer, "time": time}
    if unit_price is not None:
        roles["unit_price"] = unit_price
    elif amount:
        roles["amount"] = amount
    roles |= {"quantity": quantity} if quantity else {}
    roles |= {"return_of": return_of} if return_of else {}
    one_role_per_column(roles)
    missing = {r: c for r, c in roles.items() if c not in transactions.columns}
    if missing:
        named = ", ".join(f"{r} column {c!r}" for r, c in missing.items())
        raise DataError(f"the Spark transactions have no {named}; columns: {transactions.columns}.")
    has_amount = "amount" in roles or "unit_price" in roles
    cal_ts = pd.Timestamp(calibration_end)
    end_ts = pd.Timestamp(holdout_end) if holdout_end is not None else cal_ts
    if holdout_end is not None and end_ts <= cal_ts:
        raise DataError(
            f"holdout_end ({end_ts.date()}) must be after calibration_end ({cal_ts.date()})."
        )
    cal = F.lit(cal_ts.isoformat(sep=" ")).cast("timestamp")
    end = F.lit(end_ts.isoformat(sep=" ")).cast("timestamp")
    rows = _canonical(transactions, roles, time_format, F)
    rows = _validity(rows, has_amount, F)
    rows = rows.withColumn("_future", F.col("ts") > F.current_timestamp())
    rows = _duplicates(rows, duplicates, F, W)
    days = None
    if has_amount:
        rows, days = _amount_policies(rows, returns, zero_amounts, "return_of" in roles, F, W)
    else:
        rows = rows.withColumn("original", F.col("amount")).withColumn("_zero", F.lit(False))
    if "_by_order" not in rows.columns:
        rows = rows.withColumn("_by_order", F.lit(False))
    # With merged days a row is in a window when its day is: compare days with days.
    window_end = F.to_date(end).cast("timestamp") if merge_same_day else end
    rows = _window_fates(rows, cal, window_end, merge_same_day, F, W)
    table = _table(
        rows,
        cal,
        window_end,
        UNIT_DAYS[_unit(unit)],
        has_amount=has_amount,
        holdout=holdout_end is not None,
        has_items="quantity" in roles,
        holdout_end=end,
        F=F,
        W=W,
    )
    return table, rows, days


def spark_report(
    rows: Any,
    days: Any,
    table: Any,
    *,
    has_amount: bool,
    returns: str,
    return_of: str | None,
    merge_same_day: bool,
) -> DataQualityReport:
    """The :class:`DataQualityReport` of the per-row reasons (a few Spark aggregations),
    with the pandas path's reasons, flags, amounts and notes."""
    F, W = _functions()
    by = (
        rows.groupBy("reason")
        .agg(
            F.count("*").alias("n"),
            F.sum("valid_amount").alias("valid"),
            F.sum("amount").alias("amount"),
            F.sum("original").alias("original"),
            F.sum(F.when(F.col("_read_ok") & F.col("_future"), 1).otherwise(0)).alias("future"),
            F.sum(F.when(F.col("_dup"), 1).otherwise(0)).alias("dup"),
            F.sum(F.when(F.col("_dup"), F.col("original"))).alias("dup_amount"),
            F.sum(F.when(F.col("_zero"), 1).otherwise(0)).alias("zero"),
            F.sum(F.when(F.col("_by_order"), 1).otherwise(0)).alias("by_order"),
        )
        .collect()
    )
    found = {r["reason"]: r for r in by}
    report = DataQualityReport(rows_read=int(sum(r["n"] for r in by)))
    if has_amount:
        report.amount_read = float(sum(r["valid"] or 0.0 for r in by))
    examples = _examples(rows, F, W)
    for reason in REASONS:
        r = found.get(reason)
        if r is None:
            continue
        report.drop(reason, int(r["n"]), examples.get(reason, ()), _amount(reason, r, has_amount))
    netting = _netting(days, F) if has_amount and returns == "net" else None
    if netting is not None and netting["unmatched"]:
        # The remainders of returns netted in part belong to unmatched_return as well.
        counted = report.amounts.get("unmatched_return", 0.0)
        report.drop("unmatched_return", 0, (), -netting["unmatched"] - counted)
    future = sum(int(r["future"]) for r in by)
    report.flag("future_dated_rows_kept", future, examples.get("_future", ()))
    dup = sum(int(r["dup"]) for r in by)
    dup_amount = sum(float(r["dup_amount"] or 0.0) for r in by) if has_amount else None
    report.flag("exact_duplicate_rows_kept", dup, examples.get("_dup", ()), dup_amount)
    zero = sum(int(r["zero"]) for r in by)
    report.flag(
        "zero_amount_rows_kept", zero, examples.get("_zero", ()), 0.0 if has_amount else None
    )
    if netting is not None:
        netted = found.get("return_netted")
        gone = found.get("returned_in_full")
        if netted is not None or gone is not None or "unmatched_return" in found:
            report.note(
                netting_note(
                    int(netted["n"]) if netted else 0,
                    -netting["netted"],
                    int(gone["n"]) if gone else 0,
                    float(gone["original"]) if gone else 0.0,
                    sum(int(r["by_order"]) for r in by),
                    return_of,
                )
            )
    _table_counts(rows, table, report, merge_same_day, F)
    return report


def _amount(reason: str, r: Any, has_amount: bool) -> float | None:
    if not has_amount or reason in ("invalid_amount", "non_finite_amount", "extreme_amount"):
        return None
    if reason in ("missing_customer_id", "unparsable_time"):
        return float(r["valid"] or 0.0)
    if reason in ("return_netted", "returned_in_full", "zero_amount"):
        return 0.0
    if reason == "unmatched_return":
        return None  # from the day table: the remainders of partly netted returns too
    return float(r["amount"] or 0.0)


def _netting(days: Any, F: Any) -> dict[str, float]:
    got = days.agg(
        F.sum("unmatched").alias("unmatched"),
        F.sum(F.col("returned") - F.col("unmatched")).alias("netted"),
    ).collect()[0]
    return {"unmatched": float(got["unmatched"] or 0.0), "netted": float(got["netted"] or 0.0)}


def _table_counts(
    rows: Any, table: Any, report: DataQualityReport, merge_same_day: bool, F: Any
) -> None:
    """Same-day merges, and the customers in the table and excluded, by reason."""
    got = table.agg(F.count("*").alias("n"), F.sum("_merged").alias("merged")).collect()[0]
    n_table = int(got["n"])
    if merge_same_day:
        report.flag("same_day_rows_merged", int(got["merged"] or 0))
        if got["merged"]:
            report.note("each customer's same-day transactions merged into one (amounts summed)")
    reached = F.col("reason").isNull() | F.col("reason").isin(
        "after_window", "first_seen_after_calibration"
    )
    late_row = F.col("reason") == "first_seen_after_calibration"
    per = (
        rows.where(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            F.max(F.when(late_row, 1).otherwise(0)).alias("late"),
            F.max(F.when(reached, 1).otherwise(0)).alias("reached"),
        )
    )
    counts = per.agg(
        F.count("*").alias("n"), F.sum("late").alias("late"), F.sum("reached").alias("reached")
    ).collect()[0]
    late = int(counts["late"] or 0)
    reached_n = int(counts["reached"] or 0)
    report.flag("customers_first_seen_after_calibration", late)
    report.customers["in_table"] = n_table
    report.customers["excluded_first_seen_after_calibration"] = late
    report.customers["excluded_purchases_only_after_window"] = reached_n - n_table - late
    report.customers["excluded_no_row_left_after_reading"] = int(counts["n"]) - reached_n
    if n_table == 0:
        raise DataError("no customer made a first purchase by calibration_end; move it later.")


def _examples(rows: Any, F: Any, W: Any) -> dict[str, list[str]]:
    """Up to five distinct customer ids per reason and flag, the earliest rows first."""
    tags = [F.col("reason")]
    tags += [F.when(F.col(c), F.lit(c)) for c in ("_future", "_dup", "_zero")]
    tagged = rows.select(F.explode(F.array(*tags)).alias("what"), "customer_id", "_row").where(
        F.col("what").isNotNull() & F.col("customer_id").isNotNull()
    )
    firsts = tagged.groupBy("what", "customer_id").agg(F.min("_row").alias("_row"))
    ranked = firsts.withColumn("k", F.row_number().over(W.partitionBy("what").orderBy("_row")))
    out: dict[str, list[str]] = {}
    for r in ranked.where(F.col("k") <= 5).orderBy("what", "k").collect():
        out.setdefault(r["what"], []).append(r["customer_id"])
    return out
