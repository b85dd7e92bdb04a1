"""Timestamps of a transaction log: ISO 8601 or an explicit format, numbers, epochs.

Timestamps are never guessed: a ``strftime`` format (numbers such as ``19970101`` or
``19970101.0`` are read as their digits) or ``"epoch_s"`` / ``"epoch_ms"`` says how to read
them. Time-zone aware values are converted to the requested zone and made naive; dates
outside pandas' nanosecond range (1677-2262) become missing, counted as unparsable.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import pandas as pd

from segml.data.quality import DataQualityReport
from segml.errors import DataError

__all__ = ["EPOCH_UNITS", "check_time_settings", "parse_times", "time_setting_problem"]


def time_setting_problem(key: str, value: object) -> str | None:
    """What is wrong with a ``time_format`` or ``timezone`` value, or None if it is usable.

    Examples
    --------
    >>> time_setting_problem("time_format", "%Y-%m-%d") is None
    True
    >>> time_setting_problem("time_format", "%Q")
    "'Q' is a bad directive in format '%Q'"
    """
    if key == "timezone":
        try:
            pd.Timestamp("2000-01-01").tz_localize(str(value))
        except (KeyError, ValueError, TypeError, AttributeError):
            return f"{value!r} is not a time zone (use an IANA name such as 'Europe/Berlin')"
        return None
    if value is None or value in EPOCH_UNITS or value == "ISO8601":
        return None
    if not isinstance(value, str) or "%" not in value:
        return (
            f"{value!r} has no strftime directive: write one such as '%Y-%m-%d', "
            "or 'epoch_s' / 'epoch_ms'"
        )
    try:
        time.strptime("", value)  # an invalid directive fails before any matching
    except ValueError as exc:
        if "directive" in str(exc) or "stray %" in str(exc):
            return str(exc)
    return None


def check_time_settings(time_format: str | None, timezone: str) -> None:
    """Raise :class:`segml.DataError` for a ``time_format`` or ``timezone`` nothing can use."""
    for key, value in (("time_format", time_format), ("timezone", timezone)):
        problem = time_setting_problem(key, value)
        if problem is not None:
            raise DataError(f"{key}: {problem}.")


def parse_times(
    raw: pd.Series, time_format: str | None, tz: str, report: DataQualityReport
) -> pd.Series:
    """``raw`` as naive ``datetime64[ns]`` (NaT where unreadable), treatments noted."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        report.note(f"time-zone aware timestamps converted to {tz} and made naive")
        return _in_range(raw.dt.tz_convert(tz).dt.tz_localize(None))
    if raw.dtype == "datetime64[ns]":
        return raw  # nanoseconds are in range by construction
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        return _in_range(raw)
    if time_format in EPOCH_UNITS:
        return _epoch(raw, EPOCH_UNITS[time_format], tz, report)
    values = raw if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype) else None
    if values is None:  # numbers such as 19970101, or 19970101.0 in a column with blanks
        values = _number_strings(raw)
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


#: ``time_format`` values for numeric epochs, with pandas' unit
EPOCH_UNITS: dict[str, Literal["s", "ms"]] = {"epoch_s": "s", "epoch_ms": "ms"}


def _number_strings(raw: pd.Series) -> pd.Series:
    """Numbers as the digits a date format reads: whole floats lose their ``.0``."""
    numbers = raw.to_numpy("float64", na_value=np.nan)
    known = ~np.isnan(numbers)
    if np.all(numbers[known] == np.round(numbers[known])):
        return pd.Series(numbers).astype("Int64").astype("str")  # a blank becomes "<NA>"
    return raw.astype("str")


def _epoch(
    raw: pd.Series, unit: Literal["s", "ms"], tz: str, report: DataQualityReport
) -> pd.Series:
    """Seconds or milliseconds since 1970-01-01 UTC, as naive times in ``tz``."""
    numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
    limit = {"s": 9.2e9, "ms": 9.2e12}[unit]  # past 2262 pandas' nanoseconds overflow
    numbers = numbers.where(numbers.abs() < limit)
    parsed = pd.to_datetime(numbers, unit=unit, errors="coerce", utc=True)
    report.note(f"epoch timestamps ({unit}) read as UTC instants, converted to {tz} and made naive")
    return _in_range(parsed.dt.tz_convert(tz).dt.tz_localize(None))


def _in_range(parsed: pd.Series) -> pd.Series:
    """Nanosecond timestamps; dates outside 1677-2262 become missing (counted as unparsable)."""
    ok = parsed.isna() | ((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max))
    return parsed.where(ok).astype("datetime64[ns]")
