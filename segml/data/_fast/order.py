"""Speed kernels: the (customer, day) order of a log's rows, without sorting when it is given.

:func:`customer_day_order` equals ``np.lexsort((days, codes))`` and
:func:`same_day_neighbours` says which rows of an order share the (customer, day) of the row
before; the rest serves them. How it works:

1. A log exported grouped by customer, each customer's rows in time order, is checked a
   slice at a time and used in place (the order is ``slice(0, n)``: no permutation).
2. A log in time order needs only a stable sort by customer code.
3. Any other log is sorted once by one integer key per row, customer code x days spanned +
   day, packed with its row number (numpy sorts int64 with vector instructions).

With ``SEGML_FAST=0`` the lexsort runs instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from segml._units import DAY_NS as _DAY_NS
from segml.data._fast import enabled

#: Rows checked, and sorted rows turned into events and customers, at a time (see
#: :func:`summarize`): small enough for the working arrays to stay in cache.
SLICE_ROWS = 1 << 15


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
    for start in range(0, len(times), SLICE_ROWS):
        key[start : start + SLICE_ROWS] = _keys_of(codes, times, layout, start, start + SLICE_ROWS)
    return key


def _in_key_order(codes: np.ndarray, times: np.ndarray, layout: _KeyLayout) -> bool:
    """Whether the rows are in (customer, day) order (a log exported grouped by customer,
    each customer's rows in time order), their keys made a slice at a time, never for
    every row at once."""
    return _never_decreasing(
        len(times), lambda start, stop: _keys_of(codes, times, layout, start, stop)
    )


def _never_decreasing(n: int, values_at: Callable[[int, int], np.ndarray]) -> bool:
    """Whether the values of rows 0..n never decrease, made and checked a slice at a time
    by ``values_at(start, stop)``."""
    previous = None
    for start in range(0, n, SLICE_ROWS):
        part = values_at(start, start + SLICE_ROWS)
        if (previous is not None and part[0] < previous) or bool((part[1:] < part[:-1]).any()):
            return False
        previous = part[-1]
    return True


def _stable_argsort(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` of non-negative integers, faster when unsorted.

    numpy's stable sort is a timsort for 64-bit integers: near-linear on a log already
    grouped by customer, n log n on one in time order. There keys below 2**31 are sorted
    packed with their row numbers (:func:`_sort_with_rows`).
    """
    n = len(key)
    if n < 100_000 or np.count_nonzero(key[1:] < key[:-1]) < n // 100:
        return np.argsort(key, kind="stable")
    if int(key.max()) < 2**31 and n < 2**31:
        return _sort_with_rows(key)
    return np.argsort(key, kind="stable")


def _sort_with_rows(key: np.ndarray) -> np.ndarray:
    """The stable order of non-negative keys below 2**31, as int32: each key and its row
    number packed into one int64 and sorted. The packed values are distinct, so any sort
    gives the stable order, and numpy sorts int64 with vector instructions."""
    n = len(key)
    packed = np.empty(n, dtype=np.int64)
    for start in range(0, n, SLICE_ROWS):
        part = packed[start : start + SLICE_ROWS]
        part[:] = key[start : start + SLICE_ROWS]
        part <<= 32
        part |= np.arange(start, start + len(part), dtype=np.int64)
    packed.sort()
    low = 0 if sys.byteorder == "little" else 1  # the row number is the low 32-bit word
    return packed.view(np.int32)[low::2].copy()


def _in_time_order(times: np.ndarray) -> bool:
    """Whether the rows are in time order by day (the days of nanosecond ``times`` never
    decrease), checked a slice at a time.

    Then a stable sort by customer alone gives the (customer, day) order:
    :func:`_code_order`, faster than sorting the combined key.
    """
    return _never_decreasing(len(times), lambda start, stop: times[start:stop] // _DAY_NS)


def _code_order(codes: np.ndarray) -> np.ndarray:
    """The stable order of the rows by customer code: ``np.argsort(codes, kind="stable")``."""
    return _stable_argsort(codes.astype(np.int64, copy=False))


def _kept(order: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The entries ``i`` of ``order`` with ``keep[i]``, in order: moved to the front of
    ``order`` itself (overwritten) a slice at a time, and returned as a view of it."""
    filled = 0
    for start in range(0, len(order), SLICE_ROWS):
        part = order[start : start + SLICE_ROWS]
        kept = part[keep[part]]
        order[filled : filled + len(kept)] = kept
        filled += len(kept)
    return order[:filled]


def customer_day_order(codes: np.ndarray, times: np.ndarray) -> _Order:
    """The rows in (customer code, day) order, ties in row order: ``np.lexsort((days,
    codes))`` with ``days = times // DAY_NS``, or ``slice(0, n)`` when the rows already are
    in that order.

    Parameters
    ----------
    codes : numpy.ndarray
        Non-negative customer codes, one per row.
    times : numpy.ndarray
        Nanoseconds (int64), one per row.

    Returns
    -------
    numpy.ndarray or slice
        Row numbers, or ``slice(0, n)``.
    """
    layout = _key_layout(codes, times) if enabled() else None
    if layout is None:  # switched off, no rows, or keys beyond int64
        return np.lexsort((times // _DAY_NS, codes))
    if _in_key_order(codes, times, layout):
        return slice(0, len(times))
    if _in_time_order(times):
        return _code_order(codes)
    return _stable_argsort(_customer_day_key(codes, times, layout))


def same_day_neighbours(order: _Order, codes: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Whether each row of ``order`` after the first has the customer and the day of the
    row before it (``n - 1`` booleans), made a slice at a time.

    Parameters
    ----------
    order : numpy.ndarray or slice
        As :func:`customer_day_order` returns it.
    codes, times : numpy.ndarray
        As for :func:`customer_day_order`.

    Returns
    -------
    numpy.ndarray
    """
    n = _order_length(order)
    same = np.zeros(max(n - 1, 0), dtype=bool)
    layout = _key_layout(codes, times)
    # Rows in a permuted order are gathered from one key per row (one random read each,
    # not two); rows in place are keyed a slice at a time.
    key = (
        None
        if layout is None or isinstance(order, slice)
        else _customer_day_key(codes, times, layout)
    )
    for start in range(0, n - 1, SLICE_ROWS):
        rows = _rows(order, start, start + SLICE_ROWS + 1)
        if key is not None:
            keys = key[rows]
            np.equal(keys[1:], keys[:-1], out=same[start : start + len(keys) - 1])
            continue
        days, customer = times[rows] // _DAY_NS, codes[rows]
        part = same[start : start + len(days) - 1]
        np.equal(days[1:], days[:-1], out=part)
        part &= customer[1:] == customer[:-1]
    return same
