"""Exceptions raised by segml.

Every error says what is wrong, where (column, row count, example ids), what was received
and how to fix it. All derive from :class:`SegmlError`, so ``except segml.SegmlError``
catches everything segml raises on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "EXIT_CODES",
    "BoundaryError",
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "FitError",
    "ModelError",
    "OutputError",
    "SegmlError",
    "TrackingError",
    "did_you_mean",
    "examples",
    "exit_code",
]


def __getattr__(name: str) -> Any:
    """``NotFittedError`` is scikit-learn's, imported on first use (scikit-learn is heavy)."""
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError

        return NotFittedError
    raise AttributeError(f"module 'segml.errors' has no attribute {name!r}")


class SegmlError(Exception):
    """Base class of the errors segml raises on purpose.

    Examples
    --------
    >>> import segml
    >>> try:
    ...     segml.summarize(segml.load_cdnow(), calibration_end="1990-01-01")
    ... except segml.SegmlError as exc:
    ...     print(type(exc).__name__)
    DataError
    """


class DataError(SegmlError, ValueError):
    """The input data cannot be used as given (missing columns, wrong types, no rows...).

    Examples
    --------
    >>> import pandas as pd, segml
    >>> try:
    ...     segml.read_transactions(pd.DataFrame({"id": ["a"]}))
    ... except segml.DataError as exc:
    ...     print(str(exc).split(";")[0][:60])
    the transaction data has no customer column 'customer_id', t
    """


class ConfigError(DataError):
    """An experiment file is invalid; the message names the file and the key.

    Examples
    --------
    >>> import segml
    >>> issubclass(segml.ConfigError, segml.DataError)
    True
    """


class FitError(SegmlError, RuntimeError):
    """A model cannot be estimated from the data given.

    Examples
    --------
    >>> import segml
    >>> issubclass(segml.ConvergenceError, segml.FitError)
    True
    """


class ConvergenceError(FitError):
    """A model could not be estimated, even after retries from other starting points.

    Examples
    --------
    >>> import pandas as pd, segml
    >>> nobody_returns = pd.DataFrame({"frequency": [0] * 20, "recency": [0.0] * 20,
    ...                                "T": [float(t) for t in range(1, 21)]})
    >>> try:
    ...     segml.BetaGeo().fit(nobody_returns)
    ... except segml.ConvergenceError as exc:
    ...     print(str(exc)[:34])
    BG/NBD did not converge on 20 uniq
    """


class BoundaryError(ConvergenceError):
    """The estimate runs to the edge of the parameter space: the data do not identify part of
    the model (no dropout, say), and the message names the model that fits that limit.

    Examples
    --------
    >>> import segml
    >>> issubclass(segml.BoundaryError, segml.ConvergenceError)
    True
    """


class ModelError(SegmlError, RuntimeError):
    """A fitted model produced values it must not pass on (NaN, infinite, negative).

    Examples
    --------
    >>> import segml
    >>> issubclass(segml.ModelError, segml.SegmlError)
    True
    """


class TrackingError(SegmlError, RuntimeError):
    """The MLflow tracking server or store cannot be used (unreachable, failed mid-run).

    Examples
    --------
    >>> import segml
    >>> segml.exit_code(segml.TrackingError("server down"))
    7
    """


class OutputError(SegmlError, OSError):
    """segml refuses to write where it was told (a folder that is not segml's own output).

    Examples
    --------
    >>> import segml
    >>> segml.exit_code(segml.OutputError("not a segml output"))
    8
    """


#: Exit code of the ``segml`` command for each kind of error (most specific class first).
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, 3),
    (DataError, 4),
    (FitError, 5),
    (ModelError, 6),
    (TrackingError, 7),
    (OutputError, 8),
    (SegmlError, 1),
)


def exit_code(error: BaseException) -> int:
    """The ``segml`` command's exit code for ``error`` (70 for an unexpected error).

    Parameters
    ----------
    error : BaseException
        What the command caught.

    Returns
    -------
    int
        The most specific entry of :data:`EXIT_CODES` that ``error`` is an instance of.

    Examples
    --------
    >>> import segml
    >>> segml.exit_code(segml.DataError("bad")), segml.exit_code(KeyError("x"))
    (4, 70)
    """
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 70


def examples(values: Iterable[object], limit: int = 5) -> str:
    """Format a few example values for an error message, e.g. ``'a', 'b', 'c' (and 7 more)``."""
    items = list(values)
    shown = ", ".join(repr(v) for v in items[:limit])
    if len(items) > limit:
        shown += f" (and {len(items) - limit} more)"
    return shown


def did_you_mean(name: object, candidates: Iterable[object]) -> str:
    """A `` (did you mean 'x'?)`` hint for ``name`` among ``candidates``, or ``""``.

    Examples
    --------
    >>> from segml.errors import did_you_mean
    >>> did_you_mean("revnue", ["revenue", "region"])
    " (did you mean 'revenue'?)"
    >>> did_you_mean("zzz", ["revenue"])
    ''
    """
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
