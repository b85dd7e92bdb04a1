"""Time units of the customer table: days, weeks and months of 365.2425 / 12 days."""

from __future__ import annotations

from segml.errors import DataError

__all__ = ["DAY_NS", "UNIT_DAYS", "UNIT_WORDS", "span_words", "unit_key"]

#: Length of each time unit in days. A month is the mean Gregorian month, 365.2425 / 12 days.
UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.2425 / 12.0}


_UNIT_ALIASES = {"d": "D", "day": "D", "days": "D", "w": "W", "week": "W", "weeks": "W"}


_UNIT_ALIASES |= {"m": "M", "month": "M", "months": "M"}


DAY_NS = 86_400 * 10**9

#: Each unit in words (plural).
UNIT_WORDS = {"D": "days", "W": "weeks", "M": "months"}


def span_words(length: float, unit: str | None) -> str:
    """A length of time in words, in months when it is long (``"15 months"``).

    Examples
    --------
    >>> from segml._units import span_words
    >>> span_words(65.3, "W"), span_words(20.0, "D"), span_words(3.0, None)
    ('15 months', '20 days', '3 time units')
    """
    if unit is None:
        return f"{length:.3g} time units"
    days = length * UNIT_DAYS[unit_key(unit)]
    if days >= 90:
        return f"{days / UNIT_DAYS['M']:.0f} months"
    return f"{length:.3g} {UNIT_WORDS[unit_key(unit)]}"


def unit_key(unit: str) -> str:
    key = _UNIT_ALIASES.get(str(unit).lower())
    if key is None:
        raise DataError(
            f"unit={unit!r} is not a time unit segml knows; use 'D' (days), 'W' (weeks) or "
            "'M' (months of 365.2425/12 days)."
        )
    return key
