"""The customer table: one row per customer from a transaction log (:func:`summarize`).

A log (read and validated by :func:`segml.read_transactions`, or validated here) becomes
daily events in the calibration and holdout windows, then one row per customer whose first
purchase is in the calibration window; customers first seen later are counted, not kept.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from segml._setops import distinct
from segml._units import DAY_NS as _DAY_NS
from segml._units import UNIT_DAYS
from segml._units import unit_key as _unit
from segml.data._fast import order as _order
from segml.data._fast.order import (
    _Codes,
    _kept,
    _Order,
    _order_length,
    _rows,
    customer_day_order,
)
from segml.data.attributes import join_attributes
from segml.data.ids import factorize_ids
from segml.data.quality import DataQualityReport, attach, quality_report
from segml.data.quality import example_ids as _ids
from segml.data.read import (
    Source,
    _floats,
    _missing_columns,
    _read_source,
    _read_transactions,
)
from segml.errors import DataError

__all__ = ["summarize", "table_metadata"]


_TABLE_ATTR = "segml_table"


def _id_index(uniques: Any, positions: np.ndarray) -> pd.Index:
    """The ids at ``positions`` of ``uniques`` (from ``pandas.factorize``) as a str Index;
    ``uniques`` themselves (no copy) when the positions are all of them, in order."""
    if isinstance(uniques, pd.Index | pd.api.extensions.ExtensionArray) and (
        pd.api.types.is_string_dtype(uniques.dtype) and uniques.dtype != object
    ):
        every = len(positions) == len(uniques) and bool(
            (positions == np.arange(len(positions))).all()
        )
        return pd.Index(uniques if every else uniques.take(positions), name="customer_id").astype(
            "str"
        )
    return pd.Index(np.asarray(uniques, dtype=object)[positions], name="customer_id").astype("str")


def timestamp(value: Any, name: str) -> pd.Timestamp:
    """``value`` as a naive timestamp, or a ``DataError`` naming ``name``."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{name}={value!r} is not a date or timestamp ({exc}).") from None
    if ts is pd.NaT:
        raise DataError(f"{name} is missing (NaT); give a date such as '1997-09-30'.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _customer_slices(order: _Order, codes: np.ndarray, size: int) -> Any:
    """(start, stop) of consecutive pieces of ``order`` (rows sorted by customer code) of
    about ``size`` rows, each customer's rows within one piece."""
    n, start = _order_length(order), 0
    while start < n:
        stop = min(start + size, n)
        while stop < n:  # move the cut to the next change of customer
            ahead = codes[_rows(order, stop, stop + 4096)]
            change = np.flatnonzero(ahead != codes[_rows(order, stop - 1, stop)][0])
            if len(change):
                stop += int(change[0])
                break
            stop += len(ahead)
        yield start, stop
        start = stop


def _slice_customers(
    c: np.ndarray,
    t: np.ndarray,
    a: np.ndarray,
    extras: dict[str, np.ndarray],
    cal_ns: int,
    holdout: bool = True,
) -> tuple[dict[str, np.ndarray], int]:
    """Per-customer sums of rows sorted by (customer code ``c``, time ``t``).

    A customer's rows at one time (one day with merge_same_day) are one event (amounts
    and ``extras`` summed). Customers whose first event is after ``cal_ns`` are left out;
    for the others: calibration events, first and last calibration time, calibration
    revenue, first event's amount and extras and, with ``holdout``, holdout events and
    revenue. Also returns the number of rows merged into events.
    """
    new_event = np.ones(len(c), dtype=bool)
    new_event[1:] = (c[1:] != c[:-1]) | (t[1:] != t[:-1])
    ev_start = np.flatnonzero(new_event)
    ev_code, ev_t = c[ev_start], t[ev_start]
    ev_amt = np.add.reduceat(a, ev_start)
    cal = ev_t <= cal_ns  # a prefix of each customer's events
    starts = np.flatnonzero(np.r_[True, ev_code[1:] != ev_code[:-1]])
    n_cal = np.add.reduceat(cal, starts, dtype=np.int64)
    cohort = n_cal > 0
    first, n_tx = starts[cohort], n_cal[cohort]
    out = {
        "code": ev_code[first],
        "n_tx": n_tx,
        "first_t": ev_t[first],
        "last_t": ev_t[first + n_tx - 1],
        "revenue": np.add.reduceat(np.where(cal, ev_amt, 0.0), starts)[cohort],
        "first_amount": ev_amt[first],
    }
    # litt (of the CNBD-k models): the logs of the times between calibration events, summed
    inner = np.flatnonzero(cal & np.r_[False, ev_code[1:] == ev_code[:-1]])
    log_gaps = np.zeros(len(ev_t))
    with np.errstate(divide="ignore"):  # two events at one instant (no merge): -inf
        log_gaps[inner] = np.log((ev_t[inner] - ev_t[inner - 1]).astype(np.float64))
    out["log_gaps"] = np.add.reduceat(log_gaps, starts)[cohort]
    if holdout:
        out["holdout_frequency"] = np.diff(np.r_[starts, len(ev_code)])[cohort] - n_tx
        out["holdout_revenue"] = np.add.reduceat(np.where(cal, 0.0, ev_amt), starts)[cohort]
    for col, values in extras.items():
        out[f"first_{col}"] = np.add.reduceat(values, ev_start)[first]
        # a first day with different values of the column: summed, which an id would not be
        spread = np.fmax.reduceat(values, ev_start) > np.fmin.reduceat(values, ev_start)
        out[f"mixed_{col}"] = spread[first]
    # Merges of the customers in the table only: the others' rows are dropped, not kept.
    rows_per = np.diff(np.r_[ev_start[starts], len(c)])
    events_per = np.diff(np.r_[starts, len(ev_code)])
    return out, int((rows_per - events_per)[cohort].sum())


def _in_units(later: np.ndarray | int, earlier: np.ndarray, unit_ns: float) -> np.ndarray:
    """``(later - earlier) / unit_ns`` of nanosecond times as float64: the same numbers,
    the integer differences made a slice at a time (none for every customer at once)."""
    out = np.empty(len(earlier))
    for start in range(0, len(earlier), _order.SLICE_ROWS):
        part = slice(start, start + _order.SLICE_ROWS)
        np.divide(
            (later[part] if isinstance(later, np.ndarray) else later) - earlier[part],
            unit_ns,
            out=out[part],
        )
    return out


def _customers(
    order: _Order,
    codes: np.ndarray,
    n_codes: int,
    times: np.ndarray,
    amount: np.ndarray,
    columns: dict[str, np.ndarray],
    cal_ns: int,
    merge_same_day: bool,
    holdout: bool = True,
    before: int | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """:func:`_slice_customers` of the rows in ``order`` (sorted by customer and time), a
    slice at a time, and the number of rows merged into events.

    ``before`` (for rows in order only) leaves out the rows at or after that time: a log in
    order keeps its rows in the window without a list of their numbers or a mask.
    Each slice's customers are written into arrays made once for all ``n_codes`` customers
    (no list of pieces to concatenate: that would hold every customer twice).
    """
    found: dict[str, np.ndarray] = {}
    filled = merged = 0
    for begin, stop in _customer_slices(order, codes, _order.SLICE_ROWS):
        rows = _rows(order, begin, stop)
        if before is not None and not (kept := times[rows] < before).all():
            if not kept.any():
                continue
            rows = np.flatnonzero(kept)
            rows += begin
        t = times[rows]  # a view of the input when the rows are in order
        if merge_same_day:  # floored to the day, never in the input
            t = np.floor_divide(t, _DAY_NS, out=None if isinstance(rows, slice) else t)
            t *= _DAY_NS
        extras = {c: values[rows] for c, values in columns.items()}
        piece, piece_merged = _slice_customers(
            codes[rows], t, amount[rows], extras, cal_ns, holdout
        )
        if not found:
            found = {k: np.empty(n_codes, dtype=v.dtype) for k, v in piece.items()}
        count = len(piece["code"])
        for k, v in piece.items():
            found[k][filled : filled + count] = v
        filled += count
        merged += piece_merged
    return {k: v[:filled] for k, v in found.items()}, merged


def summarize(
    transactions: Source,
    *,
    calibration_end: Any,
    holdout_end: Any = None,
    unit: str = "W",
    customers: pd.DataFrame | str | os.PathLike[str] | None = None,
    customer_key: str = "customer_id",
    merge_same_day: bool = True,
) -> pd.DataFrame:
    """Turn a transaction log into one row per customer.

    Time is measured in ``unit`` from each customer's first purchase. The calibration
    window ends at ``calibration_end`` (inclusive); the optional holdout window runs from
    just after it to ``holdout_end`` (inclusive). With ``merge_same_day`` (the default, as
    in the CLV papers) timestamps are first floored to the day and a customer's
    transactions on one day become one transaction whose amount is their sum, so a date
    ``calibration_end`` includes that whole day.

    Parameters
    ----------
    transactions : pandas.DataFrame, str or path
        Output of :func:`segml.read_transactions`, or any frame with ``customer_id``, ``date``
        and optionally ``amount`` columns (it is then validated the same way), or the
        path of a CSV or Parquet file with those columns. From a Parquet file the log is
        read batch by batch and the ids become integer codes as they come, never held as
        one string per row: the lowest-memory route for long logs (same table, same
        report).
    calibration_end : date-like
        Last instant of the calibration window.
    holdout_end : date-like, optional
        Last instant of the holdout window; adds ``holdout_frequency``,
        ``holdout_revenue`` and ``holdout_duration``.
    unit : {"D", "W", "M"}
        Time unit of ``recency``, ``T`` and ``holdout_duration``: days, weeks, or months
        of exactly 365.2425 / 12 days (not lifetimes' 30-day or 4.345-week months).
    customers : pandas.DataFrame or path, optional
        Customer attributes, one row per customer, joined on ``customer_key``. Attribute
        rows with no customer in the table and customers with no attribute row are
        counted in the report; customers without attributes keep missing values.
    customer_key : str
        Id column of ``customers``.
    merge_same_day : bool
        Merge each customer's same-day transactions into one.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (str), in order of first appearance, with columns
        ``frequency`` (repeat transactions, x), ``recency`` (t_x), ``T``,
        ``n_transactions``, ``first_purchase``, ``last_purchase``,
        ``first_purchase_month`` (1-12), ``litt`` (sum of the logs of the times between
        calibration purchases, in ``unit``: the regularity the CNBD-k models need) and, with
        amounts,
        ``monetary_value`` (mean of the repeat transactions, 0 without any),
        ``first_amount``, ``total_revenue``; ``first_<col>`` for each further numeric
        column (e.g. ``first_n_items``); the holdout columns; the attributes.

    Raises
    ------
    segml.DataError
        If no customer made a first purchase by ``calibration_end``, or the windows are
        inconsistent.

    Examples
    --------
    >>> import segml
    >>> tx = segml.load_cdnow()
    >>> table = segml.summarize(tx, calibration_end="1997-09-30", holdout_end="1998-06-30")
    >>> int(table["frequency"].sum()), int(table["holdout_frequency"].sum())
    (2457, 1882)
    """
    unit_key = _unit(unit)
    cal_end, hold_end = _windows(calibration_end, holdout_end)
    tx, report, known_codes = _validated_log(transactions)
    _check_window_against_data(tx, cal_end, hold_end)
    unit_ns = UNIT_DAYS[unit_key] * _DAY_NS
    codes, uniques, known_order = known_codes or (
        *factorize_ids(tx["customer_id"]),
        None,
    )
    times = tx["date"].to_numpy("datetime64[ns]").view("i8")  # a view, never modified
    has_amount = "amount" in tx.columns
    amount = tx["amount"].to_numpy("float64") if has_amount else np.zeros(len(tx))
    extra_cols = _extra_columns(tx)
    cal_ns = cal_end.value
    end_ns = (hold_end if hold_end is not None else cal_end).value
    # A row is inside the window when its time is before ``cut``. With merge_same_day that is
    # when its day is: floor(t) <= end <=> t < floor(end) + 1 day (no floored copy of ten
    # million timestamps needed).
    cut = (end_ns // _DAY_NS + 1) * _DAY_NS if merge_same_day else end_ns + 1
    inside = times < cut
    n_inside = int(inside.sum())
    report.drop(
        "after_window",
        len(times) - n_inside,
        _ids(tx, ~inside),
        float(amount[~inside].sum()) if has_amount and n_inside < len(times) else None,
    )
    order = _window_order(codes, times, inside, n_inside, merge_same_day, known_order)
    del inside, known_codes, known_order  # the window is told by the times from here
    # The sorted rows become events and customers a slice at a time (each customer within
    # one slice): the per-row working arrays stay small next to a ten-million-row log.
    found, merged = _customers(
        order,
        codes,
        len(uniques),
        times,
        amount,
        {c: _floats(tx[c]) for c in extra_cols},
        cal_ns,
        merge_same_day,
        holdout=hold_end is not None,
        # Rows in order keep the window's rows by their times (no row numbers, no mask);
        # an order of row numbers lists the rows in the window only.
        before=cut if isinstance(order, slice) and n_inside < len(times) else None,
    )
    del order
    if merge_same_day:
        report.flag("same_day_rows_merged", merged)
        if merged:
            report.note("each customer's same-day transactions merged into one (amounts summed)")
    _note_mixed_first_values(found, extra_cols, report)
    if not found or len(found["code"]) == 0:
        first = pd.Timestamp(tx["date"].min())
        raise DataError(
            f"no customer made a first purchase by calibration_end={cal_end.date()}; the "
            f"first transaction in the data is on {first.date()}. Move calibration_end later."
        )
    _count_late_customers(
        tx, codes, times, amount if has_amount else None, found["code"], len(uniques), cut, report
    )
    del codes  # per row: not needed for the table
    columns = _table_columns(found, cal_ns, unit_ns, has_amount, extra_cols)
    if hold_end is not None:
        columns |= _holdout_columns(found, (hold_end.value - cal_ns) / unit_ns, has_amount)
    table = pd.DataFrame(columns, index=_id_index(uniques, found["code"]), copy=False)
    if customers is not None:
        table = join_attributes(table, customers, customer_key, report)
    table.attrs[_TABLE_ATTR] = {
        "unit": unit_key,
        "calibration_end": cal_end.isoformat(),
        "holdout_end": None if hold_end is None else hold_end.isoformat(),
        "merge_same_day": merge_same_day,
    }
    return attach(table, report)


def _note_mixed_first_values(
    found: dict[str, np.ndarray], extra_cols: list[str], report: DataQualityReport
) -> None:
    """Note the customers whose first day summed different values of a kept column."""
    for col in extra_cols:
        mixed = found.pop(f"mixed_{col}") if found else np.zeros(0)
        if col != "n_items" and (n_mixed := int(mixed.sum())):  # n_items: segml's own count
            report.note(
                f"first_{col} sums the {col!r} values of the first purchase day; {n_mixed:,} "
                f"customer{'s' * (n_mixed != 1)} had different values that day (a quantity "
                "adds up; an identifier or a code does not: leave it out of keep)"
            )


def _holdout_columns(
    found: dict[str, np.ndarray], duration: float, has_amount: bool
) -> dict[str, np.ndarray]:
    """The holdout columns of the table: purchases, revenue (with amounts), duration."""
    columns = {"holdout_frequency": found["holdout_frequency"]}
    if has_amount:
        columns["holdout_revenue"] = found["holdout_revenue"]
    columns["holdout_duration"] = np.full(len(found["code"]), duration)
    return columns


def _windows(calibration_end: Any, holdout_end: Any) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    cal_end = timestamp(calibration_end, "calibration_end")
    hold_end = None if holdout_end is None else timestamp(holdout_end, "holdout_end")
    if hold_end is not None and hold_end <= cal_end:
        raise DataError(
            f"holdout_end ({hold_end.date()}) must be after calibration_end ({cal_end.date()})."
        )
    return cal_end, hold_end


def _check_window_against_data(
    tx: pd.DataFrame, cal_end: pd.Timestamp, hold_end: pd.Timestamp | None
) -> None:
    """A calibration end before the first transaction is an error; one (or a holdout end)
    more than a year after the last, a warning that says how far off it is."""
    if not len(tx):
        return
    dates = tx["date"]
    first, last = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
    if cal_end < first.normalize():
        raise DataError(
            f"calibration_end={cal_end.date()} is {(first - cal_end).days:,} days before the "
            f"first transaction ({first.date()}): no customer could be in the table. Move "
            f"it later (the log runs to {last.date()})."
        )
    for name, end in (("calibration_end", cal_end), ("holdout_end", hold_end)):
        if end is not None and end - last > pd.Timedelta(days=365):
            warnings.warn(
                f"{name}={end.date()} is {(end - last).days:,} days after the last transaction "
                f"({last.date()}): every customer looks inactive for that long (T and the "
                "holdout stretch into time without data). Is the date a typo?",
                UserWarning,
                stacklevel=3,
            )


def _extra_columns(tx: pd.DataFrame) -> list[str]:
    """Further numeric columns of a log: their first-purchase values become ``first_<col>``."""
    return [
        c
        for c in tx.columns
        if c not in ("customer_id", "date", "amount") and pd.api.types.is_numeric_dtype(tx[c])
    ]


def _validated_log(
    transactions: Any,
) -> tuple[pd.DataFrame, DataQualityReport, _Codes | None]:
    """The log as read_transactions leaves it, its report and, when known, its id codes."""
    if isinstance(transactions, str | os.PathLike):
        transactions = _read_source(transactions, ["customer_id", "date"])
    if not isinstance(transactions, pd.DataFrame):
        raise DataError(
            f"summarize expects a pandas DataFrame of transactions or the path of a "
            f"transaction file, got {type(transactions).__name__}."
        )
    try:
        report = quality_report(transactions)
    except DataError:  # not read by read_transactions: validate it the same way
        has_amount = "amount" in transactions.columns
        tx, known_codes = _read_transactions(
            transactions,
            amount="amount" if has_amount else None,
            keep=_extra_columns(transactions),
        )
        return tx, quality_report(tx), known_codes
    removed = report.rows_kept - len(transactions)
    if removed > 0:
        report.flag("rows_removed_by_caller_after_read", removed)
        report.note(
            f"{removed:,} rows were removed from the read_transactions output before "
            "summarize (by the caller, not by segml)"
        )
    _missing_columns(transactions, {"customer": "customer_id", "time": "date"}, "the transactions")
    return transactions, report, None


def _window_order(
    codes: np.ndarray,
    times: np.ndarray,
    inside: np.ndarray,
    n_inside: int,
    merge_same_day: bool,
    known_order: _Order | None,
) -> _Order:
    """The rows inside the window in (customer, day) order, or (customer, time) order
    without ``merge_same_day``; a slice when the rows already are in order (the rows after
    the window are then left out by their times, in :func:`_customers`)."""
    if not merge_same_day:
        return np.flatnonzero(inside)[np.lexsort((times[inside], codes[inside]))]
    # read_transactions may have ordered these rows already, for its duplicate check.
    order = customer_day_order(codes, times) if known_order is None else known_order
    if isinstance(order, slice) or n_inside == len(times):
        return order
    return _kept(order, inside)


def _count_late_customers(
    tx: pd.DataFrame,
    codes: np.ndarray,
    times: np.ndarray,
    amount: np.ndarray | None,
    cohort: np.ndarray,
    n_codes: int,
    cut: int,
    report: DataQualityReport,
) -> None:
    """Count the rows and customers in the window whose first purchase is after calibration."""
    in_cohort = np.zeros(n_codes, dtype=bool)
    in_cohort[cohort] = True
    n_late = 0
    for begin in range(0, len(codes), _order.SLICE_ROWS):  # counted first: no mask when none
        part = slice(begin, begin + _order.SLICE_ROWS)
        n_late += int(np.count_nonzero(~in_cohort[codes[part]] & (times[part] < cut)))
    late_rows = ~in_cohort[codes] & (times < cut) if n_late else np.zeros(0, dtype=bool)
    late_customers = len(distinct(codes[late_rows])) if n_late else 0
    late_amount = float(amount[late_rows].sum()) if amount is not None and n_late else None
    report.drop("first_seen_after_calibration", n_late, _ids(tx, late_rows), late_amount)
    report.flag("customers_first_seen_after_calibration", late_customers)
    only_later = n_codes - len(cohort) - late_customers  # every purchase after the window
    read = report.customers.pop("with_an_id_read", n_codes)
    report.customers["in_table"] = len(cohort)
    report.customers["excluded_first_seen_after_calibration"] = late_customers
    report.customers["excluded_purchases_only_after_window"] = only_later
    # Every row dropped on reading: unparsable, returned in full, unmatched returns only, ...
    report.customers["excluded_no_row_left_after_reading"] = read - n_codes


def _table_columns(
    found: dict[str, np.ndarray],
    cal_ns: int,
    unit_ns: float,
    has_amount: bool,
    extra_cols: list[str],
) -> dict[str, np.ndarray]:
    """The calibration columns of the customer table, none copied."""
    n_tx, first_t, last_t = found["n_tx"], found["first_t"], found["last_t"]
    freq = n_tx - 1
    first_dates = first_t.view("datetime64[ns]")
    columns = {
        "frequency": freq,
        "recency": _in_units(last_t, first_t, unit_ns),
        "T": _in_units(cal_ns, first_t, unit_ns),
        "n_transactions": n_tx,
        "first_purchase": first_dates,
        "last_purchase": last_t.view("datetime64[ns]"),
        "first_purchase_month": pd.DatetimeIndex(first_dates).month.to_numpy(),
        "litt": found["log_gaps"] - freq * np.log(unit_ns),
    }
    if has_amount:
        revenue, first_amt = found["revenue"], found["first_amount"]
        monetary = revenue - first_amt  # of the repeat transactions; 0 without any
        np.divide(monetary, freq, out=monetary, where=freq > 0)
        columns["monetary_value"] = monetary
        columns["first_amount"] = first_amt
        columns["total_revenue"] = revenue
    for col in extra_cols:
        columns[f"first_{col}"] = found[f"first_{col}"]
    return columns


def table_metadata(table: pd.DataFrame) -> dict[str, Any]:
    """Unit and windows of a customer table made by :func:`summarize` (empty if unknown)."""
    return dict(table.attrs.get(_TABLE_ATTR, {}))
