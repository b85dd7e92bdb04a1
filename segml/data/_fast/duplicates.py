"""Speed kernel: exact duplicate rows of a log, compared only where copies can be.

:func:`duplicate_marks` equals ``DataFrame.duplicated()``: copies of a row share the
customer and the day, so only rows in a (customer, day) group of two or more rows (few, in
a transaction log) are compared column by column, in the order
:func:`~segml.data._fast.order.customer_day_order` gives, which is returned for reuse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.data._fast import enabled
from segml.data._fast.order import _Order, customer_day_order, same_day_neighbours

__all__ = ["duplicate_marks"]


def duplicate_marks(out: pd.DataFrame, codes: np.ndarray) -> tuple[np.ndarray, _Order | None]:
    """``out.duplicated().to_numpy()`` (later copies of a row), and the (customer, day)
    order of the rows that it computed (None with ``SEGML_FAST=0``, which returns
    ``out.duplicated()`` itself).

    Parameters
    ----------
    out : pandas.DataFrame
        A log with ``customer_id`` and ``date`` (naive ``datetime64[ns]``) columns.
    codes : numpy.ndarray
        ``pandas.factorize`` codes of ``out["customer_id"]``.

    Returns
    -------
    marks : numpy.ndarray
    order : numpy.ndarray, slice or None
    """
    if not enabled() or len(out) == 0:
        return out.duplicated().to_numpy(), None
    times = out["date"].to_numpy("datetime64[ns]").view("i8")
    order = customer_day_order(codes, times)
    same = same_day_neighbours(order, codes, times)
    in_group = np.zeros(len(out), dtype=bool)
    in_group[1:] |= same
    in_group[:-1] |= same
    del same
    candidates = np.flatnonzero(in_group) if isinstance(order, slice) else np.sort(order[in_group])
    del in_group
    dup = np.zeros(len(out), dtype=bool)
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
    return dup, order


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
