"""Transaction logs in, one row per customer out.

:func:`read_transactions` reads and validates a transaction log (CSV, Parquet or a
DataFrame) into canonical columns; :func:`summarize` turns it into the customer table that
the CLV models and the segmenters use. Both attach a :class:`~segml.data.quality.DataQualityReport`
(see :func:`segml.quality_report`): nothing is dropped without a count and a reason.

Policies (all counted in the report)
------------------------------------
* rows with a missing or blank customer id, an unparsable timestamp or a non-numeric
  amount are dropped;
* returns (negative amounts), ``returns="net"`` (default): netted against the same
  customer's purchases, the same calendar day first, then the most recent earlier purchase
  days until absorbed (with ``return_of``, the day of the order the return names first); a
  purchase day netted to zero or less leaves the log (``returned_in_full``), and what a
  return finds nothing before it to net against is dropped (``unmatched_return``, with its
  amount). See :mod:`segml.data.returns`. ``returns="drop"`` drops every negative row;
* zero amounts, ``zero_amounts="keep"`` (default, as in the CDNOW papers): kept as
  purchases and flagged; ``"drop"`` drops them;
* exact duplicate rows, ``duplicates="keep"`` (default): kept and flagged, because two
  identical orders on one day are common in date-level extracts (CDNOW has 21);
  ``"drop"`` drops them;
* transactions after the end of the window, and customers first seen after
  ``calibration_end``, are excluded by :func:`summarize` and counted.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from segml._validation import require_regular_file
from segml.data._fast.order import _Codes
from segml.data.ids import (
    _ids_with_codes,
    _remember_codes,
    codes_of_rows,
    factorize_ids,
    id_strings,
)
from segml.data.parquet import read_parquet
from segml.data.policies import kept_rows, row_policies
from segml.data.quality import DataQualityReport, attach
from segml.data.quality import example_ids as _ids
from segml.data.times import check_time_settings, parse_times
from segml.errors import DataError, did_you_mean, examples

__all__ = ["MAX_AMOUNT", "factorize_ids", "id_strings", "read_transactions"]

#: Amounts beyond this magnitude are dropped as implausible (``extreme_amount``): sums of such
#: values lose all precision and overflow the spend model.
MAX_AMOUNT = 1e12


Source = str | os.PathLike[str] | pd.DataFrame

_NUMBER = re.compile(r"^\s*-?\d+(\.\d*)?\s*$")
_ISO = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")


#: Whether messages name the settings of an experiment file ([data] customer = "...")
#: rather than the arguments of read_transactions.
_TOML = contextvars.ContextVar("segml_toml_messages", default=False)


@contextlib.contextmanager
def speaking_toml() -> Iterator[None]:
    """Within this block, data errors name ``[data]`` settings, not Python arguments."""
    token = _TOML.set(True)
    try:
        yield
    finally:
        _TOML.reset(token)


def _setting(name: str, value: Any = "...") -> str:
    """How the user sets ``name``: ``[data] name = "value"`` or ``name=value``."""
    shown = value if value == "..." else repr(value)
    if _TOML.get():
        return f'[data] {name} = "{value}"' if value != "..." else f"[data] {name} = ..."
    return f"{name}={shown}"


def _missing_columns(df: pd.DataFrame, wanted: dict[str, str], what: str) -> None:
    missing = {role: col for role, col in wanted.items() if col not in df.columns}
    if not missing:
        return
    parts = []
    for role, col in missing.items():
        parts.append(f"{role} column {col!r}{did_you_mean(col, df.columns)}")
    how = (
        'in the experiment file\'s [data] section (customer = "...", time = "...", amount = "...")'
        if _TOML.get()
        else "with segml.read_transactions(source, customer=..., time=..., amount=...)"
    )
    raise DataError(
        f"{what} has no {', '.join(parts)}. Available columns: "
        f"{examples(df.columns, limit=20)}. Map your columns {how}."
    )


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _text_encoding(path: Path) -> str:
    """UTF-8, or the encoding a byte-order mark declares (a mark is a statement, not a guess).

    Raises
    ------
    segml.DataError
        For UTF-16 text without a mark (every other byte zero), naming the encoding to pass.
    """
    with path.open("rb") as fh:
        head = fh.read(4096)
    for mark, encoding in _BOMS:
        if head.startswith(mark):
            return encoding
    if len(head) >= 4 and head.count(0) * 3 >= len(head):
        order = "utf-16-le" if head[1] == 0 else "utf-16-be"
        raise DataError(
            f"{str(path)!r} looks like UTF-16 text without a byte-order mark (every other "
            f"byte is zero); pass encoding={order!r}."
        )
    return "utf-8"


def one_role_per_column(roles: dict[str, str]) -> None:
    """A column is the customer, the time, an amount... but only one of them."""
    seen: dict[str, str] = {}
    for role, col in roles.items():
        if role.startswith("keep["):
            continue
        if col in seen:
            raise DataError(
                f"column {col!r} is mapped twice, as {seen[col]} and as {role}: each role needs "
                "its own column."
            )
        seen[col] = role


def _note_na_words_in_ids(
    source: Source, frame: pd.DataFrame, customer: str, csv: dict[str, Any], report: Any
) -> None:
    """Say which words pandas read as a missing customer id, and how to keep them as ids."""
    if isinstance(source, pd.DataFrame) or "keep_default_na" in csv or "na_values" in csv:
        return
    path = Path(source)
    missing = frame[customer].isna().to_numpy() if customer in frame.columns else None
    if path.suffix.lower() != ".csv" or missing is None or not missing.any():
        return
    options = {k: v for k, v in csv.items() if k in ("sep", "encoding", "skiprows", "header")}
    options.setdefault("encoding", _text_encoding(path))
    raw = pd.read_csv(path, usecols=[customer], dtype=str, keep_default_na=False, **options)
    words = raw[customer].to_numpy(dtype=object)[missing]
    words = words[words != ""]
    if len(words):
        report.note(
            f"{len(words):,} customer ids written as {examples(sorted(set(words)))} were read as "
            "missing (pandas' default missing-value words) and dropped; if they are real ids, "
            "pass keep_default_na=False, na_values=[''] to keep them"
        )


def _read_source(
    source: Source, str_cols: list[str], columns: list[str] | None = None, **csv: Any
) -> Any:
    """A DataFrame as is, or the file read; ``str_cols[0]`` is the customer id column.

    Parquet files are read batch by batch, only ``columns`` (all when None), the ids
    encoded into a Categorical as they come (see :mod:`segml.data.parquet`).
    """
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    require_regular_file(path, "transaction file", DataError)
    if path.stat().st_size == 0:
        raise DataError(f"the file {str(path)!r} is empty (0 bytes): no header, no rows.")
    suffix = "".join(path.suffixes).lower()
    try:
        if suffix.endswith((".parquet", ".pq")):
            return read_parquet(path, str_cols[0], columns)
        if "encoding" not in csv:
            csv["encoding"] = _text_encoding(path)
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


def _floats(values: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing; no copy when it is float64."""
    if values.dtype == np.float64:
        return values.to_numpy()  # asking for na_value would copy ten million floats
    return values.to_numpy("float64", na_value=np.nan)


def _time_hint(sample: list[Any], time_format: str | None) -> str:
    """What to try when no timestamp parsed, from what the values look like."""
    if time_format is not None and all(_ISO.match(str(v)) for v in sample):
        return (
            f"they look like ISO 8601 dates: leave out {_setting('time_format', time_format)}"
            " (ISO 8601 is the default)"
        )
    digits = [len(str(v).split(".")[0].lstrip("-")) for v in sample if _NUMBER.match(str(v))]
    if digits and len(digits) == len(sample):
        if all(9 <= d <= 10 for d in digits):
            return f"they look like epoch seconds: set {_setting('time_format', 'epoch_s')}"
        if all(12 <= d <= 13 for d in digits):
            return f"they look like epoch milliseconds: set {_setting('time_format', 'epoch_ms')}"
    if time_format is not None:
        return f"check that {_setting('time_format', time_format)} matches the data"
    return f"set {_setting('time_format', '%Y%m%d')} (or the format your data uses)"


def read_transactions(
    source: Source,
    *,
    customer: str = "customer_id",
    time: str = "date",
    amount: str | None = None,
    quantity: str | None = None,
    unit_price: str | None = None,
    keep: Sequence[str] = (),
    time_format: str | None = None,
    timezone: str = "UTC",
    returns: Literal["net", "drop"] = "net",
    return_of: str | None = None,
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
    unit_price : str, optional
        Name of a unit-price column, for logs of invoice lines without an amount: the
        amount of a line is ``quantity`` x ``unit_price`` (needs ``quantity``, excludes
        ``amount``).
    keep : sequence of str
        Further columns to keep unchanged (order ids, channels, ...).
    time_format : str, optional
        ``strftime`` format of the timestamps, e.g. ``"%Y%m%d"`` (numbers such as
        ``19970101`` or ``19970101.0`` read as their digits), or ``"epoch_s"`` /
        ``"epoch_ms"`` for seconds / milliseconds since 1970-01-01 UTC (converted to
        ``timezone``). Default: ISO 8601. Timestamps are never guessed from the data.
    timezone : str
        Time-zone aware timestamps are converted to this zone, then made naive.
    returns : {"net", "drop"}
        Policy for negative amounts; see the module documentation.
    return_of : str, optional
        Column naming the order of each line; a return line names the order it returns,
        and nets against that order's day first. The column is kept in the output.
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
        unit_price=unit_price,
        keep=keep,
        time_format=time_format,
        timezone=timezone,
        returns=returns,
        return_of=return_of,
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
    unit_price: str | None = None,
    keep: Sequence[str] = (),
    time_format: str | None = None,
    timezone: str = "UTC",
    returns: Literal["net", "drop"] = "net",
    return_of: str | None = None,
    zero_amounts: Literal["keep", "drop"] = "keep",
    duplicates: Literal["keep", "drop"] = "keep",
    thousands: str | None = None,
    **csv_options: Any,
) -> tuple[pd.DataFrame, _Codes | None]:
    """:func:`read_transactions`, plus the factorized customer ids of the result when they
    are still valid (summarize reuses them instead of hashing ten million ids again)."""
    _check_choices(returns=returns, zero_amounts=zero_amounts, duplicates=duplicates)
    check_time_settings(time_format, timezone)
    if unit_price is not None and (quantity is None or amount is not None):
        raise DataError(
            "unit_price makes each line's amount quantity x unit_price: map quantity too, "
            f"and not amount (got amount={amount!r}, quantity={quantity!r})."
        )
    roles = {"customer": customer, "time": time}
    roles |= {"amount": amount} if amount is not None else {}
    roles |= {"unit_price": unit_price} if unit_price is not None else {}
    roles |= {"quantity": quantity} if quantity is not None else {}
    roles |= {f"keep[{i}]": col for i, col in enumerate(keep)}
    if return_of is not None:
        roles["return_of"] = return_of
        keep = [*keep, return_of] if return_of not in keep else keep
    one_role_per_column(roles)
    text_cols = [customer, time]
    if thousands is not None:  # amounts as text: segml checks the digit groups
        text_cols += [c for c in (amount, unit_price) if c is not None]
    frame = _read_source(source, text_cols, list(roles.values()), **csv_options)
    _missing_columns(frame, roles, "the transaction data")
    report = DataQualityReport(rows_read=len(frame))
    _note_na_words_in_ids(source, frame, customer, csv_options, report)
    out, id_codes = _canonical(frame, roles, keep, time_format, timezone, thousands, report)
    if len(out) == 0:
        raise DataError("the transaction data has no rows.")
    ok = _valid_rows(out, frame[time], time, time_format, id_codes is not None, report)
    n_ids = None if id_codes is None else len(id_codes[1])
    if not ok.all():
        if n_ids is None and report.rows_dropped > report.dropped.get("missing_customer_id", 0):
            n_ids = len(pd.unique(out["customer_id"].dropna()))  # some lose every row
        if id_codes is not None:
            id_codes = codes_of_rows(*id_codes, ok)
        out = kept_rows(out, ok)
    del ok  # a mask of every row: not kept through the duplicate check
    future = (out["date"] > pd.Timestamp.now()).to_numpy()
    report.flag("future_dated_rows_kept", int(future.sum()), _ids(out, future))
    del future

    ids, uniques = id_codes or factorize_ids(out["customer_id"])
    del id_codes
    # Customers with an id in the input: summarize counts those left without any row.
    report.customers["with_an_id_read"] = len(uniques) if n_ids is None else n_ids
    out, (ids, uniques, order) = row_policies(
        out,
        (ids, uniques),
        report,
        duplicates=duplicates,
        returns=returns,
        zero_amounts=zero_amounts,
        return_of=return_of,
    )
    _remember_codes(out["customer_id"], ids, uniques)
    return attach(out, report), (ids, uniques, order)


def _check_choices(**choices: str) -> None:
    allowed = {"returns": ("net", "drop"), "zero_amounts": ("keep", "drop")}
    allowed["duplicates"] = ("keep", "drop")
    for name, value in choices.items():
        if value not in allowed[name]:
            raise DataError(f"{_setting(name, value)} is not one of {allowed[name]}.")


def _canonical(
    frame: pd.DataFrame,
    roles: dict[str, str],
    keep: Sequence[str],
    time_format: str | None,
    timezone: str,
    thousands: str | None,
    report: DataQualityReport,
) -> tuple[pd.DataFrame, tuple[np.ndarray, Any] | None]:
    """The canonical columns (customer_id, date, amount, n_items, kept ones), unvalidated,
    and the ids' factorization when it came free."""
    # Columns are collected first and become one frame at the end (inserting columns one
    # by one into a frame costs a copy each at ten million rows).
    out: Any = {}
    out["customer_id"], id_codes = _ids_with_codes(frame[roles["customer"]].reset_index(drop=True))
    out["date"] = parse_times(
        frame[roles["time"]].reset_index(drop=True), time_format, timezone, report
    )
    if "amount" in roles:
        out["amount"] = _amounts(frame[roles["amount"]].reset_index(drop=True), thousands, report)
    if "quantity" in roles:
        quantity = frame[roles["quantity"]].reset_index(drop=True)
        out["n_items"] = pd.to_numeric(quantity, errors="coerce")
    if "unit_price" in roles:
        price = _amounts(frame[roles["unit_price"]].reset_index(drop=True), thousands, report)
        out["amount"] = np.asarray(out["n_items"], dtype="float64") * np.asarray(price)
    for col in keep:
        out[col] = frame[col].reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), copy=False), id_codes


def _amounts(raw: pd.Series, thousands: str | None, report: DataQualityReport) -> Any:
    """Amounts as float64 (NaN where unreadable), noting text that has thousands separators."""
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise DataError(
            "the amount column holds true/false values, not amounts: map the column with the "
            "order value (amount=...) or quantity and unit_price."
        )
    if thousands is not None and not pd.api.types.is_numeric_dtype(raw.dtype):
        raw = _without_separators(raw, thousands, report)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return _floats(raw)  # numbers: nothing was text
    numeric = pd.to_numeric(raw, errors="coerce").astype("float64")
    unparsed = raw[numeric.isna() & raw.notna()].astype("str")
    separated = unparsed.str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?").sum()
    if separated:
        report.note(
            f"{int(separated):,} amounts look like numbers with thousands separators "
            "(e.g. '1,234.50'); pass thousands=',' to read them"
        )
    return numeric


def _without_separators(raw: pd.Series, thousands: str, report: DataQualityReport) -> pd.Series:
    """Text amounts with the separator taken out where it groups digits in threes; where it
    does not (``"1,5"``: a decimal comma) the amount is left unreadable and noted."""
    text = raw.astype("str").str.strip()
    sep = re.escape(thousands)
    grouped = text.str.fullmatch(rf"[-+]?\d{{1,3}}({sep}\d{{3}})+(\.\d*)?")
    misgrouped = text.str.contains(thousands, regex=False) & ~grouped & raw.notna()
    if misgrouped.any():
        report.note(
            f"{int(misgrouped.sum()):,} amounts such as {examples(text[misgrouped])} use "
            f"{thousands!r} without groups of three digits, so it is not a thousands separator "
            "there (a decimal comma?): left unread; for a CSV with decimal commas pass "
            "decimal=',' (and sep=';') instead of thousands"
        )
    return text.where(~misgrouped, "").str.replace(thousands, "", regex=False).where(raw.notna())


def _valid_rows(
    out: pd.DataFrame,
    raw_times: pd.Series,
    time: str,
    time_format: str | None,
    ids_complete: bool,
    report: DataQualityReport,
) -> np.ndarray:
    """The rows with an id, a parsed time and a usable amount; the others counted."""
    # Ids with codes have none missing (no pass over a million strings to find that out).
    ok = np.ones(len(out), dtype=bool) if ids_complete else out["customer_id"].notna().to_numpy()
    ok = ok.copy()
    amounts = out["amount"].to_numpy() if "amount" in out.columns else None
    if amounts is not None:
        report.amount_read = _valid_sum(amounts)
    report.drop("missing_customer_id", int((~ok).sum()), amount=_valid_sum(amounts, ~ok))
    bad_time = out["date"].isna().to_numpy() & ok
    if bad_time.any() and bad_time.sum() == ok.sum():
        sample = raw_times.reset_index(drop=True)[bad_time].head(5).tolist()
        hint = _time_hint(sample, time_format)
        raise DataError(
            f"no timestamp in column {time!r} could be parsed with format "
            f"{time_format or 'ISO8601'!r}; received e.g. {examples(sample)}; {hint}."
        )
    report.drop(
        "unparsable_time",
        int(bad_time.sum()),
        _ids(out, bad_time),
        _valid_sum(amounts, bad_time) if bad_time.any() else None,
    )
    ok &= ~bad_time
    if "amount" in out.columns:
        ok &= _valid_amounts(out, ok, report)
    if not ok.any():
        raise DataError(
            f"no valid row in the transaction data: {report.rows_read:,} rows read, all "
            f"dropped ({report.dropped}). Check the column mapping and formats."
        )
    return ok


def _valid_sum(amounts: np.ndarray | None, mask: np.ndarray | None = None) -> float | None:
    """Sum of the valid amounts (finite, within MAX_AMOUNT) of the rows in ``mask``."""
    if amounts is None:
        return None
    values = amounts if mask is None else amounts[mask]
    if not len(values):
        return 0.0
    with np.errstate(invalid="ignore"):
        if values.min() >= -MAX_AMOUNT and values.max() <= MAX_AMOUNT:
            return float(values.sum())
        return float(values[np.abs(values) <= MAX_AMOUNT].sum())


def _valid_amounts(out: pd.DataFrame, ok: np.ndarray, report: DataQualityReport) -> np.ndarray:
    """Of the rows ``ok`` so far, those with a finite amount within MAX_AMOUNT."""
    values = out["amount"].to_numpy()
    # Two reductions (no temporaries of every row) settle the usual case: NaN propagates into
    # min/max, infinities and extremes exceed the bound.
    if not len(values) or (values.min() >= -MAX_AMOUNT and values.max() <= MAX_AMOUNT):
        return ok
    ok = ok.copy()
    with np.errstate(invalid="ignore"):
        suspect = ~(np.abs(values) <= MAX_AMOUNT)
    for reason, bad in (
        ("invalid_amount", np.isnan(values)),
        ("non_finite_amount", np.isinf(values)),
        ("extreme_amount", suspect),
    ):
        bad &= ok
        report.drop(reason, int(bad.sum()), _ids(out, bad))
        ok &= ~bad
    return ok
