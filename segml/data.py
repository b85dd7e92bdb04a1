"""Transaction logs in, one row per customer out.

:func:`read_transactions` reads and validates a transaction log (CSV, Parquet or a
DataFrame) into canonical columns; :func:`summarize` turns it into the customer table that
the CLV models and the segmenters use. Both attach a :class:`~segml.quality.DataQualityReport`
(see :func:`segml.quality_report`): nothing is dropped without a count and a reason.

Policies (all counted in the report)
------------------------------------
* rows with a missing or blank customer id, an unparsable timestamp or a non-numeric
  amount are dropped;
* returns (negative amounts), ``returns="net"`` (default): netted against the same
  customer's purchases on the same calendar day (the day's positive rows are scaled so
  that they sum to the net amount); a day whose net is zero or less is dropped
  (``returned_in_full``), and a return with no purchase that day is dropped
  (``unmatched_return``). ``returns="drop"`` drops every negative row;
* zero amounts, ``zero_amounts="keep"`` (default, as in the CDNOW papers): kept as
  purchases and flagged; ``"drop"`` drops them;
* exact duplicate rows, ``duplicates="keep"`` (default): kept and flagged, because two
  identical orders on one day are common in date-level extracts (CDNOW has 21);
  ``"drop"`` drops them;
* transactions after the end of the window, and customers first seen after
  ``calibration_end``, are excluded by :func:`summarize` and counted.
"""

from __future__ import annotations

import difflib
import itertools
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from segml import _encode

try:  # pandas' stable counting sort (Cython), used by its groupby
    from pandas._libs.algos import groupsort_indexer as _groupsort_indexer
except ImportError:  # pragma: no cover - pandas moved it; the general sort still works
    _groupsort_indexer = None
from segml._memory import release_arrow_memory
from segml._parquet import read_parquet
from segml._setops import distinct, in_index
from segml.errors import DataError, examples
from segml.quality import DataQualityReport, attach, quality_report

__all__ = ["UNIT_DAYS", "read_transactions", "summarize"]

#: Length of each time unit in days. A month is the mean Gregorian month, 365.2425 / 12 days.
UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.2425 / 12.0}
_UNIT_ALIASES = {"d": "D", "day": "D", "days": "D", "w": "W", "week": "W", "weeks": "W"}
_UNIT_ALIASES |= {"m": "M", "month": "M", "months": "M"}
_DAY_NS = 86_400 * 10**9
#: Amounts beyond this magnitude are dropped as implausible (``extreme_amount``): sums of such
#: values lose all precision and overflow the spend model.
MAX_AMOUNT = 1e12
_TABLE_ATTR = "segml_table"

Source = str | os.PathLike[str] | pd.DataFrame


def _unit(unit: str) -> str:
    key = _UNIT_ALIASES.get(str(unit).lower())
    if key is None:
        raise DataError(
            f"unit={unit!r} is not a time unit segml knows; use 'D' (days), 'W' (weeks) or "
            "'M' (months of 365.2425/12 days)."
        )
    return key


def _missing_columns(df: pd.DataFrame, wanted: dict[str, str], what: str) -> None:
    missing = {role: col for role, col in wanted.items() if col not in df.columns}
    if not missing:
        return
    parts = []
    for role, col in missing.items():
        close = difflib.get_close_matches(str(col), [str(c) for c in df.columns], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"{role} column {col!r}{hint}")
    raise DataError(
        f"{what} has no {', '.join(parts)}. Available columns: "
        f"{examples(df.columns, limit=20)}. Map your columns with "
        "segml.read_transactions(source, customer=..., time=..., amount=...)."
    )


def _read_source(
    source: Source, str_cols: list[str], columns: list[str] | None = None, **csv: Any
) -> Any:
    """A DataFrame as is, or the file read; ``str_cols[0]`` is the customer id column.

    Parquet files are read batch by batch, only ``columns`` (all when None), the ids
    encoded into a Categorical as they come (see :mod:`segml._parquet`).
    """
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise DataError(f"transaction file not found: {str(path)!r}")
    if path.stat().st_size == 0:
        raise DataError(f"the file {str(path)!r} is empty (0 bytes): no header, no rows.")
    suffix = "".join(path.suffixes).lower()
    try:
        if suffix.endswith((".parquet", ".pq")):
            return read_parquet(path, str_cols[0], columns)
        return pd.read_csv(path, dtype=dict.fromkeys(str_cols, str), **csv)
    except UnicodeDecodeError as exc:
        encoding = csv.get("encoding", "utf-8")
        raise DataError(
            f"{str(path)!r} is not valid {encoding} text (byte {exc.start}: "
            f"{exc.object[exc.start : exc.start + 1]!r}); pass the file's encoding, e.g. "
            "encoding='latin-1' or 'cp1252'."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"the file {str(path)!r} has no columns to read.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{str(path)!r} is not a readable CSV: {exc}") from None


def _ids(frame: pd.DataFrame, mask: np.ndarray, k: int = 5) -> list[str]:
    """The first ``k`` customer ids where ``mask`` holds (examples for the quality report).

    Element by element: taking rows of a chunked Arrow column (``.iloc``) would first
    concatenate all its chunks, a copy of ten million ids for five examples.
    """
    values = frame["customer_id"]
    found: list[str] = []
    for start in range(0, len(mask), _SLICE_ROWS):
        hits = np.flatnonzero(mask[start : start + _SLICE_ROWS])[: k - len(found)]
        found.extend(str(values.iat[start + int(i)]) for i in hits)
        if len(found) == k:
            break
    return found


def _ids_with_codes(values: pd.Series) -> tuple[pd.Series, tuple[np.ndarray, Any] | None]:
    """:func:`_as_id_strings`, plus ``pandas.factorize`` of the result when it comes free.

    For a column of strings the distinct ids are checked instead of every row: when no id
    has surrounding blanks or is empty, the column is already clean (no copy) and its
    factorization serves the duplicate check and the customer table.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_ids(values)
    if isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan:  # pandas' "str"
        codes, uniques, blank = _factorize_strings(values)
        if blank is None and not (codes < 0).any():
            stripped = uniques.str.strip()
            blank = not bool((stripped == uniques).all()) or bool((uniques == "").any())
        if blank is False:
            return values, (codes, uniques)
    return _as_id_strings(values), None


def _categorical_ids(values: pd.Series) -> tuple[pd.Series, tuple[np.ndarray, Any] | None]:
    """:func:`_ids_with_codes` of a Categorical column: its codes, in order of appearance.

    Integer categories become their decimal strings (each distinct id converted once); a
    column with missing ids or ids with surrounding blanks takes the general route.
    """
    # Through the array, not the .cat accessor: that one checks the categories for
    # uniqueness with an index of Python strings (60 MB at a million ids, then cached).
    array = cast(pd.Categorical, values.array)
    categories = array.categories
    if pd.api.types.is_integer_dtype(categories.dtype):
        categories = categories.astype("str")
        array = pd.Categorical.from_codes(array.codes, categories=categories, validate=False)
        values = pd.Series(array, index=values.index)
    codes = np.asarray(array.codes)
    if (
        pd.api.types.is_string_dtype(categories)
        and len(codes)
        and not (codes < 0).any()
        and bool((categories.str.strip() == categories).all())
        and not bool((categories == "").any())
    ):
        if not _in_appearance_order(codes, len(categories)):
            seen = pd.unique(codes)  # categories in order of first appearance
            rank = np.zeros(len(categories), dtype=codes.dtype)
            rank[seen] = np.arange(len(seen))
            codes = rank[codes]
            categories = categories[seen]
        return values, (codes, categories)
    return _as_id_strings(values.astype("str").where(values.notna(), None)), None


def _in_appearance_order(codes: np.ndarray, n_categories: int) -> bool:
    """Whether non-negative ``codes`` use every category and number them in order of first
    appearance (0 first, then 1, ...): their running maximum starts at 0, never rises by
    more than one and ends at the last category. No hashing, a slice at a time."""
    top = -1
    for start in range(0, len(codes), _SLICE_ROWS):
        running = np.maximum.accumulate(codes[start : start + _SLICE_ROWS])
        np.maximum(running, top, out=running)
        if running[0] > top + 1 or bool((np.diff(running) > 1).any()):
            return False
        top = int(running[-1])
    return top == n_categories - 1


#: Columns at least this long (of ids longer than eight bytes) are dictionary-encoded in two
#: threads (pyarrow releases the GIL).
_PARALLEL_FACTORIZE_ROWS = 2_000_000


def _factorize_strings(values: pd.Series) -> tuple[np.ndarray, Any, bool | None]:
    """``pandas.factorize(values, sort=False)`` of a string column, faster when it is long,
    and whether an id is empty or has surrounding blanks when that comes free (else None).

    Ids of at most eight bytes are factorized as 64-bit words (:mod:`segml._encode`), whose
    end bytes tell about the blanks. A long pyarrow-backed column of longer ids is
    dictionary-encoded in two halves at once and the two dictionaries unified (the first
    half's ids first, then the second's new ones: the same first-appearance order, hence
    the same codes, as ``pandas.factorize``).
    """
    arr = getattr(values.array, "_pa_array", None)
    if arr is None or arr.null_count:
        return *pd.factorize(values, sort=False), None
    import pyarrow as pa
    import pyarrow.compute as pc

    found = _encode.factorize_short_strings(arr)
    if found is not None:
        codes, unique_words = found
        strings = _encode.words_to_strings(unique_words, arr.type)
        uniques = pd.Index(type(values.array)(pa.chunked_array([strings]), dtype=values.dtype))
        return codes, uniques, _encode.blank_edged(unique_words)
    if len(values) < _PARALLEL_FACTORIZE_ROWS:
        return *pd.factorize(values, sort=False), None
    half = len(arr) // 2
    with ThreadPoolExecutor(2) as pool:
        encoded = list(
            pool.map(
                lambda part: pc.dictionary_encode(part.combine_chunks()),
                (arr.slice(0, half), arr.slice(half)),
            )
        )
    unified = pa.chunked_array(encoded).unify_dictionaries()
    codes = np.concatenate([np.asarray(chunk.indices, dtype=np.intp) for chunk in unified.chunks])
    uniques = pd.Index(
        type(values.array)(pa.chunked_array([unified.chunk(0).dictionary]), dtype=values.dtype)
    )
    return codes, uniques, None


def _floats(values: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing; no copy when it is float64."""
    if values.dtype == np.float64:
        return values.to_numpy()  # asking for na_value would copy ten million floats
    return values.to_numpy("float64", na_value=np.nan)


def _as_id_strings(values: pd.Series) -> pd.Series:
    """Customer ids as strings; integral floats (ids read next to NaNs) lose their '.0'."""
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if len(finite) and np.all(np.mod(finite.to_numpy(), 1) == 0):
            out = values.astype("Int64").astype("str")
            return out.where(values.notna(), None)
    if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        out = values.astype("str").str.strip()
        out = out.where(values.notna() & (out != ""), None)
        return out
    return values.astype("str").where(values.notna(), None)


def _parse_times(
    raw: pd.Series, time_format: str | None, tz: str, report: DataQualityReport
) -> pd.Series:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        report.note(f"time-zone aware timestamps converted to {tz} and made naive")
        return _in_range(raw.dt.tz_convert(tz).dt.tz_localize(None))
    if raw.dtype == "datetime64[ns]":
        return raw  # nanoseconds are in range by construction
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        return _in_range(raw)
    values = raw if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype) else None
    if values is None:  # numbers such as 19970101
        values = raw.astype("Int64").astype("str") if raw.notna().all() else raw.astype("str")
    fmt = time_format or "ISO8601"
    try:
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
        report.note(
            f"timestamps with mixed UTC offsets (or naive and aware mixed; naive ones taken as "
            f"UTC) converted to {tz} and made naive"
        )
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        report.note(f"time-zone aware timestamps converted to {tz} and made naive")
        parsed = parsed.dt.tz_convert(tz).dt.tz_localize(None)
    return _in_range(parsed)


def _in_range(parsed: pd.Series) -> pd.Series:
    """Nanosecond timestamps; dates outside 1677-2262 become missing (counted as unparsable)."""
    ok = parsed.isna() | ((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max))
    return parsed.where(ok).astype("datetime64[ns]")


def read_transactions(
    source: Source,
    *,
    customer: str = "customer_id",
    time: str = "date",
    amount: str | None = None,
    quantity: str | None = None,
    keep: Sequence[str] = (),
    time_format: str | None = None,
    timezone: str = "UTC",
    returns: Literal["net", "drop"] = "net",
    zero_amounts: Literal["keep", "drop"] = "keep",
    duplicates: Literal["keep", "drop"] = "keep",
    thousands: str | None = None,
    **csv_options: Any,
) -> pd.DataFrame:
    """Read and validate a transaction log.

    Parameters
    ----------
    source : str, path or pandas.DataFrame
        A CSV file, a Parquet file (``.parquet``/``.pq``) or a DataFrame.
    customer, time : str
        Names of the customer-id and timestamp columns in ``source``.
    amount : str, optional
        Name of the monetary-value column. Without it, no spend columns are produced.
    quantity : str, optional
        Name of a quantity column (items per transaction); it becomes ``n_items``.
    keep : sequence of str
        Further columns to keep unchanged (order ids, channels, ...).
    time_format : str, optional
        ``strftime`` format of the timestamps, e.g. ``"%Y%m%d"``. Default: ISO 8601.
        Timestamps are never guessed from the data.
    timezone : str
        Time-zone aware timestamps are converted to this zone, then made naive.
    returns : {"net", "drop"}
        Policy for negative amounts; see the module documentation.
    zero_amounts : {"keep", "drop"}
        Policy for zero amounts.
    duplicates : {"keep", "drop"}
        Policy for exact duplicate rows.
    thousands : str, optional
        Thousands separator in amounts written as text (``","`` for ``"1,234.50"``).
    **csv_options
        Passed to :func:`pandas.read_csv` (``sep``, ``encoding``, ...).

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id`` (str), ``date`` (datetime64), ``amount`` (float, when
        mapped), ``n_items`` (when mapped) and the ``keep`` columns, with the data-quality
        report attached (:func:`segml.quality_report`).

    Raises
    ------
    segml.DataError
        If the source is missing, lacks a mapped column, or no row survives validation.

    Examples
    --------
    >>> import pandas as pd, segml
    >>> raw = pd.DataFrame({"id": ["007", "007", None], "when": ["2024-01-02"] * 3,
    ...                     "value": [10.0, 5.0, 3.0]})
    >>> tx = segml.read_transactions(raw, customer="id", time="when", amount="value")
    >>> tx["customer_id"].tolist()
    ['007', '007']
    >>> segml.quality_report(tx).dropped
    {'missing_customer_id': 1}
    """
    frame = _read_transactions(
        source,
        customer=customer,
        time=time,
        amount=amount,
        quantity=quantity,
        keep=keep,
        time_format=time_format,
        timezone=timezone,
        returns=returns,
        zero_amounts=zero_amounts,
        duplicates=duplicates,
        thousands=thousands,
        **csv_options,
    )[0]
    if isinstance(frame["customer_id"].dtype, pd.CategoricalDtype):  # from a Parquet file
        frame["customer_id"] = frame["customer_id"].astype("str")
    return frame


def _read_transactions(
    source: Source,
    *,
    customer: str = "customer_id",
    time: str = "date",
    amount: str | None = None,
    quantity: str | None = None,
    keep: Sequence[str] = (),
    time_format: str | None = None,
    timezone: str = "UTC",
    returns: Literal["net", "drop"] = "net",
    zero_amounts: Literal["keep", "drop"] = "keep",
    duplicates: Literal["keep", "drop"] = "keep",
    thousands: str | None = None,
    **csv_options: Any,
) -> tuple[pd.DataFrame, _Codes | None]:
    """:func:`read_transactions`, plus the factorized customer ids of the result when they
    are still valid (summarize reuses them instead of hashing ten million ids again)."""
    for name, value, allowed in (
        ("returns", returns, ("net", "drop")),
        ("zero_amounts", zero_amounts, ("keep", "drop")),
        ("duplicates", duplicates, ("keep", "drop")),
    ):
        if value not in allowed:
            raise DataError(f"{name}={value!r} is not one of {allowed}.")
    roles = {"customer": customer, "time": time}
    if amount is not None:
        roles["amount"] = amount
    if quantity is not None:
        roles["quantity"] = quantity
    for i, col in enumerate(keep):
        roles[f"keep[{i}]"] = col
    if thousands is not None:
        csv_options["thousands"] = thousands
    frame = _read_source(source, [customer, time], list(roles.values()), **csv_options)
    _missing_columns(frame, roles, "the transaction data")

    report = DataQualityReport(rows_read=len(frame))
    # Columns are collected first and become one frame at the end (inserting columns one
    # by one into a frame costs a copy each at ten million rows).
    out: Any = {}
    out["customer_id"], id_codes = _ids_with_codes(frame[customer].reset_index(drop=True))
    out["date"] = _parse_times(frame[time].reset_index(drop=True), time_format, timezone, report)
    if amount is not None:
        raw_amount = frame[amount].reset_index(drop=True)
        if thousands is not None and not pd.api.types.is_numeric_dtype(raw_amount.dtype):
            raw_amount = raw_amount.astype("str").str.replace(thousands, "", regex=False)
        if pd.api.types.is_numeric_dtype(raw_amount.dtype) and not pd.api.types.is_bool_dtype(
            raw_amount.dtype
        ):
            out["amount"] = _floats(raw_amount)
            separated = 0  # numbers: nothing was text
        else:
            numeric = pd.to_numeric(raw_amount, errors="coerce").astype("float64")
            out["amount"] = numeric
            unparsed = raw_amount[numeric.isna() & raw_amount.notna()].astype("str")
            separated = unparsed.str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?").sum()
        if separated:
            report.note(
                f"{int(separated):,} amounts look like numbers with thousands separators "
                "(e.g. '1,234.50'); pass thousands=',' to read them"
            )
    if quantity is not None:
        out["n_items"] = pd.to_numeric(frame[quantity].reset_index(drop=True), errors="coerce")
    for col in keep:
        out[col] = frame[col].reset_index(drop=True)
    out = pd.DataFrame(out, index=pd.RangeIndex(len(frame)), copy=False)

    if len(out) == 0:
        raise DataError("the transaction data has no rows.")

    # Ids with codes have none missing (no pass over a million strings to find that out).
    ok = np.ones(len(out), dtype=bool) if id_codes else out["customer_id"].notna().to_numpy().copy()
    report.drop("missing_customer_id", int((~ok).sum()))
    bad_time = out["date"].isna().to_numpy() & ok
    if bad_time.any() and bad_time.sum() == ok.sum():
        sample = frame[time].reset_index(drop=True)[bad_time].head(5).tolist()
        raise DataError(
            f"no timestamp in column {time!r} could be parsed with format "
            f"{time_format or 'ISO8601'!r}; received e.g. {examples(sample)}. Pass "
            "time_format='%Y%m%d' (or the format your data uses)."
        )
    report.drop("unparsable_time", int(bad_time.sum()), _ids(out, bad_time))
    ok &= ~bad_time
    if amount is not None:
        values = out["amount"].to_numpy()
        # Two reductions (no 80 MB temporaries) settle the usual case: NaN propagates into
        # min/max, infinities and extremes exceed the bound.
        if len(values) and not (values.min() >= -MAX_AMOUNT and values.max() <= MAX_AMOUNT):
            with np.errstate(invalid="ignore"):
                suspect = ~(np.abs(values) <= MAX_AMOUNT)
            bad_amount = np.isnan(values) & ok
            report.drop("invalid_amount", int(bad_amount.sum()), _ids(out, bad_amount))
            ok &= ~bad_amount
            inf_amount = np.isinf(values) & ok
            report.drop("non_finite_amount", int(inf_amount.sum()), _ids(out, inf_amount))
            ok &= ~inf_amount
            huge = suspect & ok
            report.drop("extreme_amount", int(huge.sum()), _ids(out, huge))
            ok &= ~huge
    if not ok.any():
        raise DataError(
            f"no valid row in the transaction data: {report.rows_read:,} rows read, all "
            f"dropped ({report.dropped}). Check the column mapping and formats."
        )
    if not ok.all():
        out = out.loc[ok].reset_index(drop=True)
        id_codes = None  # first appearances may have moved
    del ok, bad_time  # masks of every row: not kept through the duplicate check
    future = (out["date"] > pd.Timestamp.now()).to_numpy()
    report.flag("future_dated_rows_kept", int(future.sum()), _ids(out, future))
    del future

    release_arrow_memory()  # what checking the ids took, before the duplicate check
    dup, found = _exact_duplicates(out, id_codes)
    codes: _Codes | None = found
    if duplicates == "drop":
        report.drop("exact_duplicate", int(dup.sum()), _ids(out, dup))
        out = out.loc[~dup].reset_index(drop=True)
        codes = None
    else:
        report.flag("exact_duplicate_rows_kept", int(dup.sum()), _ids(out, dup))

    if amount is not None:
        n_before = len(out)
        out = _apply_amount_policies(out, report, returns=returns, zero_amounts=zero_amounts)
        if len(out) == 0:
            raise DataError(
                "every transaction was dropped by the amount policies "
                f"({report.dropped}); check the sign of the amount column."
            )
        if len(out) != n_before:
            codes = None  # rows went: first appearances (the codes' order) may have moved
    return attach(out, report), codes


#: The rows of a frame sorted by (customer, day): the permutation (row numbers), or
#: ``slice(0, n)`` when the first ``n`` rows already are in that order (a log exported
#: grouped by customer, each customer's rows in time order): no permutation is made, saving
#: the sort and four to eight bytes per row.
_Order = np.ndarray | slice

#: ``pandas.factorize`` of a frame's customer ids (codes per row, ids in order of appearance)
#: and the stable order of the rows by (customer, day), when known
_Codes = tuple[np.ndarray, Any, _Order | None]


def _rows(order: _Order, start: int, stop: int) -> np.ndarray | slice:
    """The row numbers at positions start..stop of ``order`` (a slice when in order)."""
    if isinstance(order, slice):
        return slice(start, min(stop, order.stop))
    return order[start:stop]


def _order_length(order: _Order) -> int:
    return order.stop if isinstance(order, slice) else len(order)


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


#: (first day, days spanned, bound of the keys) of the (customer, day) keys of a log
_KeyLayout = tuple[int, int, int]


def _key_layout(codes: np.ndarray, times: np.ndarray) -> _KeyLayout | None:
    """The layout of :func:`_customer_day_key`; None when the keys would overflow int64
    (or there are no rows)."""
    if len(codes) == 0:
        return None
    lo = int(times.min()) // _DAY_NS  # flooring keeps the order: these are the day extremes
    span = int(times.max()) // _DAY_NS - lo + 1
    top = (int(codes.max()) + 1) * span
    return (lo, span, top) if top < 2**62 else None


def _keys_of(
    codes: np.ndarray, times: np.ndarray, layout: _KeyLayout, start: int, stop: int
) -> np.ndarray:
    """The (customer, day) keys of rows start..stop, as int64."""
    lo, span, _ = layout
    values = times[start:stop] // _DAY_NS
    values -= lo
    values += codes[start:stop].astype(np.int64) * span
    return values


def _customer_day_key(codes: np.ndarray, times: np.ndarray, layout: _KeyLayout) -> np.ndarray:
    """One integer per (customer code, day of ``times``), ordered like the pair.

    ``times`` are nanoseconds; ``layout`` is :func:`_key_layout`'s. 32-bit when it fits (a
    million customers over five years does), else 64-bit; made a slice at a time, without
    day numbers for every row.
    """
    key = np.empty(len(times), dtype=np.int32 if layout[2] < 2**31 else np.int64)
    for start in range(0, len(times), _SLICE_ROWS):
        key[start : start + _SLICE_ROWS] = _keys_of(
            codes, times, layout, start, start + _SLICE_ROWS
        )
    return key


def _in_key_order(
    codes: np.ndarray, times: np.ndarray, layout: _KeyLayout, same: np.ndarray | None = None
) -> bool:
    """Whether the rows are in (customer, day) order (a log exported grouped by customer,
    each customer's rows in time order), their keys made a slice at a time, never for
    every row at once. ``same`` (one per pair of neighbouring rows), when given, is filled
    with whether each row has the key of the row before it.
    """
    return _never_decreasing(
        len(times), lambda start, stop: _keys_of(codes, times, layout, start, stop), same
    )


def _never_decreasing(
    n: int, values_at: Callable[[int, int], np.ndarray], same: np.ndarray | None = None
) -> bool:
    """Whether the values of rows 0..n never decrease, made and checked a slice at a time
    by ``values_at(start, stop)``. ``same`` (one per pair of neighbouring rows), when
    given, is filled with whether each value equals the one before it (wholly only when
    True is returned)."""
    previous = None
    for start in range(0, n, _SLICE_ROWS):
        part = values_at(start, start + _SLICE_ROWS)
        if previous is not None:
            if part[0] < previous:
                return False
            if same is not None:
                same[start - 1] = part[0] == previous
        if bool((part[1:] < part[:-1]).any()):
            return False
        if same is not None:
            np.equal(part[1:], part[:-1], out=same[start : start + len(part) - 1])
        previous = part[-1]
    return True


def _stable_argsort(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` of non-negative integers, faster when unsorted.

    numpy's stable sort is a timsort for 64-bit integers: near-linear on a log already
    grouped by customer, n log n on one in time order. There keys below 2**31 are sorted
    packed with their row numbers (:func:`_sort_with_rows`), larger ones by a
    least-significant-digit radix sort on 16-bit digits (numpy sorts 16-bit integers by
    counting).
    """
    n = len(key)
    if n < 100_000 or np.count_nonzero(key[1:] < key[:-1]) < n // 100:
        return np.argsort(key, kind="stable")
    top = int(key.max())
    if top < 2**31 and n < 2**31:
        return _sort_with_rows(key)
    order: np.ndarray | None = None
    shift = 0
    while shift == 0 or (top >> shift) > 0:
        digit = (key >> shift).astype(np.uint16)  # the low 16 bits
        if order is None:
            order = np.argsort(digit, kind="stable")
            if n < 2**31:  # half the memory for the permutation carried between passes
                order = order.astype(np.int32)
        else:
            order = order[np.argsort(digit[order], kind="stable")]
        shift += 16
    assert order is not None
    return order


def _sort_with_rows(key: np.ndarray) -> np.ndarray:
    """The stable order of non-negative keys below 2**31, as int32: each key and its row
    number packed into one int64 and sorted. The packed values are distinct, so any sort
    gives the stable order, and numpy sorts int64 with vector instructions (about four
    times faster than the radix passes, in less memory: no int64 permutation)."""
    n = len(key)
    packed = np.empty(n, dtype=np.int64)
    for start in range(0, n, _SLICE_ROWS):
        part = packed[start : start + _SLICE_ROWS]
        part[:] = key[start : start + _SLICE_ROWS]
        part <<= 32
        part |= np.arange(start, start + len(part), dtype=np.int64)
    packed.sort()
    low = 0 if sys.byteorder == "little" else 1  # the row number is the low 32-bit word
    return packed.view(np.int32)[low::2].copy()


def _in_time_order(times: np.ndarray) -> bool:
    """Whether the rows are in time order by day (the days of nanosecond ``times`` never
    decrease), checked a slice at a time.

    Then a stable sort by customer alone gives the (customer, day) order:
    :func:`_counting_order`, several times faster than sorting the combined key.
    """
    return _groupsort_indexer is not None and _never_decreasing(
        len(times), lambda start, stop: times[start:stop] // _DAY_NS
    )


#: Rows per block of customer codes sorted at a time by :func:`_counting_order`.
_COUNTING_BLOCK_ROWS = 1_250_000


def _counting_order(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """The stable order of the rows by customer code: counting sorts, O(rows + codes).

    pandas' counting sort takes 64-bit codes and returns a 64-bit order: for a whole long
    log that is 16 bytes a row on top of the result. The codes are instead sorted a block
    of customers at a time (their rows found by one pass over the codes), each block's
    order written into the 32-bit result: 10M rows in time order, 164 -> 81 MB at peak,
    no slower (each block's counts stay in cache).
    """
    assert _groupsort_indexer is not None
    n = len(codes)
    out = np.empty(n, dtype=np.int32 if n < 2**31 else np.intp)
    blocks = max(1, min(-(-n // _COUNTING_BLOCK_ROWS), n_codes))
    bounds = np.linspace(0, n_codes, blocks + 1).astype(np.int64)
    filled = 0
    for low, high in itertools.pairwise(bounds.tolist()):
        if blocks == 1:
            rows, labels = None, codes.astype(np.intp, copy=False)
        else:
            inside = codes >= low
            inside &= codes < high
            rows = np.flatnonzero(inside).astype(out.dtype)
            del inside
            labels = codes[rows].astype(np.intp)
            labels -= low
        order = _groupsort_indexer(labels, int(high - low))[0]
        del labels
        target = out[filled : filled + len(order)]
        if rows is None:
            target[:] = order
        else:
            np.take(rows, order, out=target)
        filled += len(order)
    return out


def _exact_duplicates(
    out: pd.DataFrame, known: tuple[np.ndarray, Any] | None = None
) -> tuple[np.ndarray, _Codes]:
    """The marks of ``out.duplicated()`` (later copies of a row), computed faster, and the
    customer codes of ``out`` (``pandas.factorize`` of the ids) for reuse.

    Copies of a row share the customer and the day, so only rows in a (customer, day)
    group of two or more rows (few, in a transaction log) are compared column by column.
    """
    n = len(out)
    codes, uniques = known or pd.factorize(out["customer_id"], sort=False)

    times = out["date"].to_numpy("datetime64[ns]").view("i8")
    layout = _key_layout(codes, times)
    if layout is None:
        return out.duplicated().to_numpy(), (codes, uniques, None)
    counted = _counting_order(codes, len(uniques)) if _in_time_order(times) else None
    same = np.empty(max(n - 1, 0), dtype=bool)  # neighbours (in key order) with equal keys
    order: _Order
    if counted is None and _in_key_order(codes, times, layout, same):
        order = slice(0, n)  # grouped by customer, in time order: nothing to sort, no key
    else:
        key = _customer_day_key(codes, times, layout)
        # A stable argsort of one integer key: much faster than a two-key lexsort.
        permutation = _stable_argsort(key) if counted is None else counted
        for start in range(0, n - 1, _SLICE_ROWS):
            sorted_key = key[permutation[start : start + _SLICE_ROWS + 1]]
            same[start : start + len(sorted_key) - 1] = sorted_key[1:] == sorted_key[:-1]
        del key
        order = permutation
    in_group = np.zeros(n, dtype=bool)
    in_group[1:] |= same
    in_group[:-1] |= same
    del same
    candidates = np.flatnonzero(in_group) if isinstance(order, slice) else np.sort(order[in_group])
    del in_group
    dup = np.zeros(n, dtype=bool)
    if len(candidates):
        # The customer codes stand in for the ids: taking rows of a chunked Arrow id
        # column would first concatenate all its chunks.
        others = [c for c in out.columns if c != "customer_id"]
        if all(_plain(out[c].dtype) for c in others):
            columns = [codes[candidates]] + [out[c].to_numpy()[candidates] for c in others]
            dup[candidates] = _duplicated(columns)
        else:
            rows = out[others].iloc[candidates]
            rows.insert(0, "customer_id", codes[candidates])
            dup[candidates] = rows.duplicated().to_numpy()
    return dup, (codes, uniques, order)


def _plain(dtype: Any) -> bool:
    """Whether a column of ``dtype`` holds NumPy numbers, booleans or times."""
    return isinstance(dtype, np.dtype) and dtype.kind in "biufmM"


def _duplicated(columns: list[np.ndarray]) -> np.ndarray:
    """``DataFrame.duplicated()`` of the rows whose values are ``columns`` (of
    :func:`_plain` dtypes): the rows sorted together by a stable sort, each copy follows the
    first of its kind. Missing values equal each other, and 0.0 equals -0.0, as in pandas."""
    n = len(columns[0])
    dup = np.zeros(n, dtype=bool)
    if n < 2:
        return dup
    keys = [c.view(np.int64) if c.dtype.kind in "mM" else c for c in columns]
    order = np.lexsort(keys[::-1])  # by the first column, then the next, ...
    same = np.ones(n - 1, dtype=bool)
    for values in keys:
        ordered = values[order]
        equal = ordered[1:] == ordered[:-1]
        if ordered.dtype.kind == "f":
            missing = np.isnan(ordered)
            equal |= missing[1:] & missing[:-1]
        same &= equal
    dup[order[1:][same]] = True
    return dup


def _apply_amount_policies(
    out: pd.DataFrame, report: DataQualityReport, *, returns: str, zero_amounts: str
) -> pd.DataFrame:
    amounts = out["amount"].to_numpy()
    negative = amounts < 0
    if negative.any():
        if returns == "drop":
            report.drop("negative_amount", int(negative.sum()), _ids(out, negative))
            out = out.loc[~negative].reset_index(drop=True)
        else:
            out = _net_returns(out, report)
    zero = out["amount"].to_numpy() == 0
    if zero_amounts == "drop":
        report.drop("zero_amount", int(zero.sum()), _ids(out, zero))
        out = out.loc[~zero].reset_index(drop=True)
    else:
        report.flag("zero_amount_rows_kept", int(zero.sum()), _ids(out, zero))
    return out


def _net_returns(out: pd.DataFrame, report: DataQualityReport) -> pd.DataFrame:
    """Net negative rows against the same customer's purchases on the same calendar day."""
    day = out["date"].dt.floor("D")
    key = [out["customer_id"], day]
    amounts = out["amount"]
    positive = amounts.clip(lower=0)
    pos_sum = positive.groupby(key, sort=False).transform("sum").to_numpy()
    net = amounts.groupby(key, sort=False).transform("sum").to_numpy()
    negative = amounts.to_numpy() < 0
    unmatched = negative & (pos_sum == 0)
    in_full = (net <= 0) & (pos_sum > 0)
    report.drop("unmatched_return", int(unmatched.sum()), _ids(out, unmatched))
    report.drop("returned_in_full", int(in_full.sum()), _ids(out, in_full))
    netted = negative & ~unmatched & ~in_full
    report.flag("returns_netted_same_day", int(netted.sum()), _ids(out, netted))
    report.note("returns netted against the same customer's purchases on the same day")
    keep = ~negative & ~in_full
    scale = np.divide(net, pos_sum, out=np.ones_like(net), where=pos_sum > 0)
    out = out.assign(amount=np.where(keep, amounts.to_numpy() * scale, amounts.to_numpy()))
    return out.loc[keep].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# the customer table


def _timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{name}={value!r} is not a date or timestamp ({exc}).") from None
    if ts is pd.NaT:
        raise DataError(f"{name} is missing (NaT); give a date such as '1997-09-30'.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


#: Rows checked, and sorted rows turned into events and customers, at a time (see
#: :func:`summarize`): about 1.3 MB of working arrays a slice, no slower at 10M rows than
#: twice as many.
_SLICE_ROWS = 1 << 15


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
    if holdout:
        out["holdout_frequency"] = np.diff(np.r_[starts, len(ev_code)])[cohort] - n_tx
        out["holdout_revenue"] = np.add.reduceat(np.where(cal, 0.0, ev_amt), starts)[cohort]
    for col, values in extras.items():
        out[f"first_{col}"] = np.add.reduceat(values, ev_start)[first]
    return out, len(c) - len(ev_start)


def _in_units(later: np.ndarray | int, earlier: np.ndarray, unit_ns: float) -> np.ndarray:
    """``(later - earlier) / unit_ns`` of nanosecond times as float64: the same numbers,
    the integer differences made a slice at a time (none for every customer at once)."""
    out = np.empty(len(earlier))
    for start in range(0, len(earlier), _SLICE_ROWS):
        part = slice(start, start + _SLICE_ROWS)
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
    for begin, stop in _customer_slices(order, codes, _SLICE_ROWS):
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


def _kept(order: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The entries ``i`` of ``order`` with ``keep[i]``, in order: moved to the front of
    ``order`` itself (overwritten) a slice at a time, and returned as a view of it."""
    filled = 0
    for start in range(0, len(order), _SLICE_ROWS):
        part = order[start : start + _SLICE_ROWS]
        kept = part[keep[part]]
        order[filled : filled + len(kept)] = kept
        filled += len(kept)
    return order[:filled]


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
        Output of :func:`read_transactions`, or any frame with ``customer_id``, ``date``
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
        ``first_purchase_month`` (1-12) and, with amounts,
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
    cal_end = _timestamp(calibration_end, "calibration_end")
    hold_end = None if holdout_end is None else _timestamp(holdout_end, "holdout_end")
    if hold_end is not None and hold_end <= cal_end:
        raise DataError(
            f"holdout_end ({hold_end.date()}) must be after calibration_end ({cal_end.date()})."
        )
    if isinstance(transactions, str | os.PathLike):
        transactions = _read_source(transactions, ["customer_id", "date"])
    if not isinstance(transactions, pd.DataFrame):
        raise DataError(
            f"summarize expects a pandas DataFrame of transactions or the path of a "
            f"transaction file, got {type(transactions).__name__}."
        )
    known_codes: _Codes | None = None
    try:
        report = quality_report(transactions)
        tx = transactions
        # Returns netted into their day's purchases count as kept but are not rows any more.
        removed = report.rows_kept - report.flagged.get("returns_netted_same_day", 0) - len(tx)
        if removed > 0:
            report.flag("rows_removed_by_caller_after_read", removed)
            report.note(
                f"{removed:,} rows were removed from the read_transactions output before "
                "summarize (by the caller, not by segml)"
            )
    except DataError:
        has_amount = "amount" in transactions.columns
        extras = [
            c
            for c in transactions.columns
            if c not in ("customer_id", "date", "amount")
            and pd.api.types.is_numeric_dtype(transactions[c])
        ]
        tx, known_codes = _read_transactions(
            transactions, amount="amount" if has_amount else None, keep=extras
        )
        report = quality_report(tx)
    _missing_columns(tx, {"customer": "customer_id", "time": "date"}, "the transactions")

    unit_ns = UNIT_DAYS[unit_key] * _DAY_NS
    codes, uniques, known_order = known_codes or (
        *pd.factorize(tx["customer_id"], sort=False),
        None,
    )
    times = tx["date"].to_numpy("datetime64[ns]").view("i8")  # a view, never modified
    has_amount = "amount" in tx.columns
    amount = tx["amount"].to_numpy("float64") if has_amount else np.zeros(len(tx))
    extra_cols = [
        c
        for c in tx.columns
        if c not in ("customer_id", "date", "amount") and pd.api.types.is_numeric_dtype(tx[c])
    ]

    cal_ns = cal_end.value
    end_ns = (hold_end if hold_end is not None else cal_end).value
    # A row is inside the window when its time is before ``cut``. With merge_same_day that is
    # when its day is: floor(t) <= end <=> t < floor(end) + 1 day (no floored copy of ten
    # million timestamps needed).
    cut = (end_ns // _DAY_NS + 1) * _DAY_NS if merge_same_day else end_ns + 1
    inside = times < cut
    n_inside = int(inside.sum())
    report.drop("after_window", len(times) - n_inside, _ids(tx, ~inside))

    # Sort by (customer, time), rows after the window last (and then cut off). With times
    # floored to days one stable argsort of a combined key does it (same order as the
    # lexsort, several times faster).
    order: _Order | None = None
    key: np.ndarray | None = None
    if merge_same_day and known_order is not None:
        # read_transactions already sorted these rows by (customer, day) for its
        # duplicate check: keep that order, rows in the window only (rows in order keep
        # them by their times, below).
        order = known_order
        if n_inside < len(times) and not isinstance(order, slice):
            order = _kept(order, inside)
    elif merge_same_day:
        if _in_time_order(times):
            # The rows in the window come first (a row is in by its day).
            order = _counting_order(codes[:n_inside], len(uniques))
        elif (layout := _key_layout(codes, times)) is not None and _in_key_order(
            codes, times, layout
        ):
            # Already in (customer, day) order: the rows in the window, as they are.
            order = slice(0, len(times))
        else:
            key = None if layout is None else _customer_day_key(codes, times, layout)
    if order is None and key is not None:
        if n_inside < len(times):
            key[~inside] = int(key.max()) + 1  # after every real key
        order = _stable_argsort(key)[:n_inside]
    elif order is None:
        order = np.flatnonzero(inside)[np.lexsort((times[inside], codes[inside]))]
    del inside, known_codes, known_order, key  # the window is told by the times from here
    # The sorted rows become events and customers a slice at a time (each customer within
    # one slice): the per-row working arrays stay small next to a ten-million-row log.
    columns = {c: _floats(tx[c]) for c in extra_cols}
    found, merged = _customers(
        order,
        codes,
        len(uniques),
        times,
        amount,
        columns,
        cal_ns,
        merge_same_day,
        holdout=hold_end is not None,
        # Rows in order keep the window's rows by their times (no row numbers, no mask);
        # an order of row numbers lists the rows in the window only.
        before=cut if isinstance(order, slice) and n_inside < len(times) else None,
    )
    del order, columns
    if merge_same_day:
        report.flag("same_day_rows_merged", merged)
        if merged:
            report.note("each customer's same-day transactions merged into one (amounts summed)")
    if not found or len(found["code"]) == 0:
        first = pd.Timestamp(tx["date"].min())
        raise DataError(
            f"no customer made a first purchase by calibration_end={cal_end.date()}; the "
            f"first transaction in the data is on {first.date()}. Move calibration_end later."
        )
    n_all = len(uniques)
    cust = found["code"]
    in_cohort = np.zeros(n_all, dtype=bool)
    in_cohort[cust] = True
    n_late = 0
    for begin in range(0, len(codes), _SLICE_ROWS):  # counted first: no mask when none
        part = slice(begin, begin + _SLICE_ROWS)
        n_late += int(np.count_nonzero(~in_cohort[codes[part]] & (times[part] < cut)))
    late_rows = ~in_cohort[codes] & (times < cut) if n_late else np.zeros(0, dtype=bool)
    late_customers = len(distinct(codes[late_rows])) if n_late else 0
    report.drop("first_seen_after_calibration", n_late, _ids(tx, late_rows))
    report.flag("customers_first_seen_after_calibration", late_customers)
    del late_rows, in_cohort, codes  # per row: not needed for the table

    n_tx, first_t, last_t = found["n_tx"], found["first_t"], found["last_t"]
    freq = n_tx - 1

    # All columns at once, none copied: inserting one into a frame copies it.
    first_dates = first_t.view("datetime64[ns]")
    columns = {
        "frequency": freq,
        "recency": _in_units(last_t, first_t, unit_ns),
        "T": _in_units(cal_ns, first_t, unit_ns),
        "n_transactions": n_tx,
        "first_purchase": first_dates,
        "last_purchase": last_t.view("datetime64[ns]"),
        "first_purchase_month": pd.DatetimeIndex(first_dates).month.to_numpy(),
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
    if hold_end is not None:
        columns["holdout_frequency"] = found["holdout_frequency"]
        if has_amount:
            columns["holdout_revenue"] = found["holdout_revenue"]
        columns["holdout_duration"] = np.full(len(cust), (hold_end.value - cal_ns) / unit_ns)
    table = pd.DataFrame(columns, index=_id_index(uniques, cust), copy=False)
    if customers is not None:
        table = _join_attributes(table, customers, customer_key, report)
    table.attrs[_TABLE_ATTR] = {
        "unit": unit_key,
        "calibration_end": cal_end.isoformat(),
        "holdout_end": None if hold_end is None else hold_end.isoformat(),
        "merge_same_day": merge_same_day,
    }
    return attach(table, report)


def _join_attributes(
    table: pd.DataFrame,
    customers: pd.DataFrame | str | os.PathLike[str],
    key: str,
    report: DataQualityReport,
) -> pd.DataFrame:
    if not isinstance(customers, pd.DataFrame):
        path = Path(customers)
        if not path.exists():
            raise DataError(f"customer attribute file not found: {str(path)!r}")
        if path.suffix.lower() in (".parquet", ".pq"):
            customers = pd.read_parquet(path)
        else:
            customers = pd.read_csv(path, dtype={key: str})
    if key not in customers.columns:
        _missing_columns(customers, {"customer id": key}, "the customer attributes")
    ids = _as_id_strings(customers[key].reset_index(drop=True))
    if ids.isna().any():
        raise DataError(
            f"{int(ids.isna().sum())} customer attribute rows have no {key!r}; every "
            "attribute row needs a customer id."
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise DataError(
            f"customer attributes must have one row per customer, but {int(dup.sum())} rows "
            f"share an id in {key!r}, e.g. {examples(ids[dup].unique())}. Deduplicate first."
        )
    attrs = customers.drop(columns=[key]).reset_index(drop=True)
    attrs.index = pd.Index(ids.to_numpy(dtype=object), name="customer_id").astype("str")
    clash = [c for c in attrs.columns if c in table.columns]
    if clash:
        raise DataError(
            f"customer attribute columns {examples(clash)} clash with columns segml computes; "
            "rename them before joining."
        )
    in_table = in_index(attrs.index, table.index)
    report.flag(
        "attribute_rows_without_customer_in_table",
        int((~in_table).sum()),
        attrs.index[~in_table],
    )
    has_attrs = in_index(table.index, attrs.index)
    report.flag("customers_without_attributes", int((~has_attrs).sum()), table.index[~has_attrs])
    return table.join(attrs, how="left")


def table_metadata(table: pd.DataFrame) -> dict[str, Any]:
    """Unit and windows of a customer table made by :func:`summarize` (empty if unknown)."""
    return dict(table.attrs.get(_TABLE_ATTR, {}))
