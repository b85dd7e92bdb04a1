"""Exceptions raised by segml.

Every error says what is wrong, where (column, row count, example ids), what was received
and how to fix it. All derive from :class:`SegmlError`, so ``except segml.SegmlError``
catches everything segml raises on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConvergenceError",
    "DataError",
    "ModelError",
    "NotFittedError",
    "SegmlError",
    "examples",
]

from sklearn.exceptions import NotFittedError


class SegmlError(Exception):
    """Base class of the errors segml raises on purpose."""


class DataError(SegmlError, ValueError):
    """The input data cannot be used as given (missing columns, wrong types, no rows...)."""


class ConvergenceError(SegmlError, RuntimeError):
    """A model could not be estimated, even after retries from other starting points."""


class ModelError(SegmlError, RuntimeError):
    """A fitted model produced values it must not pass on (NaN, infinite, negative)."""


def examples(values: Iterable[object], limit: int = 5) -> str:
    """Format a few example values for an error message, e.g. ``'a', 'b', 'c' (and 7 more)``."""
    items = list(values)
    shown = ", ".join(repr(v) for v in items[:limit])
    if len(items) > limit:
        shown += f" (and {len(items) - limit} more)"
    return shown
