"""Time units of the customer table: days, weeks and months of 365.2425 / 12 days."""

from __future__ import annotations

from segml.errors import DataError

__all__ = ["DAY_NS", "UNIT_DAYS", "unit_key"]

#: Length of each time unit in days. A month is the mean Gregorian month, 365.2425 / 12 days.
UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.2425 / 12.0}


_UNIT_ALIASES = {"d": "D", "day": "D", "days": "D", "w": "W", "week": "W", "weeks": "W"}


_UNIT_ALIASES |= {"m": "M", "month": "M", "months": "M"}


DAY_NS = 86_400 * 10**9


def unit_key(unit: str) -> str:
    key = _UNIT_ALIASES.get(str(unit).lower())
    if key is None:
        raise DataError(
            f"unit={unit!r} is not a time unit segml knows; use 'D' (days), 'W' (weeks) or "
            "'M' (months of 365.2425/12 days)."
        )
    return key
