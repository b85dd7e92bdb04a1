"""Customer ids: cleaned as segml names them, and factorized into integer codes.

Ids are strings without surrounding blanks (blanks are missing), integral floats lose their
``.0`` (ids read next to gaps); short string ids are factorized as 64-bit words
(:mod:`segml.data._fast.encode`), and the codes :func:`segml.read_transactions` made are
remembered for :func:`segml.summarize`.
"""

from __future__ import annotations

import weakref
from typing import Any, cast

import numpy as np
import pandas as pd

from segml.data._fast import enabled
from segml.data._fast import encode as _encode
from segml.data._fast import order as _order

__all__ = ["codes_of_rows", "factorize_ids", "id_strings"]


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
        codes, uniques = _factorize_strings(values)
        if not (codes < 0).any():
            stripped = uniques.str.strip()
            if bool((stripped == uniques).all()) and not bool((uniques == "").any()):
                return values, (codes, uniques)
    return _as_id_strings(values), None


def _categorical_ids(values: pd.Series) -> tuple[pd.Series, tuple[np.ndarray, Any] | None]:
    """:func:`_ids_with_codes` of a Categorical column: its codes, in order of appearance.

    Integer categories become their decimal strings (each distinct id converted once); a
    column with missing ids or ids with surrounding blanks takes the general route.
    """
    # Through the array, not the .cat accessor: that one checks the categories for
    # uniqueness with an index of Python strings (one object per id, then cached).
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
            codes, categories = _by_first_appearance(codes, categories)
        return values, (codes, categories)
    return _as_id_strings(values.astype("str").where(values.notna(), None)), None


def _in_appearance_order(codes: np.ndarray, n_categories: int) -> bool:
    """Whether non-negative ``codes`` use every category and number them in order of first
    appearance (0 first, then 1, ...): their running maximum starts at 0, never rises by
    more than one and ends at the last category. No hashing, a slice at a time."""
    top = -1
    for start in range(0, len(codes), _order.SLICE_ROWS):
        running = np.maximum.accumulate(codes[start : start + _order.SLICE_ROWS])
        np.maximum(running, top, out=running)
        if running[0] > top + 1 or bool((np.diff(running) > 1).any()):
            return False
        top = int(running[-1])
    return top == n_categories - 1


#: Factorizations of customer-id columns, keyed by the immutable Arrow array holding the ids:
#: summarize reuses the one read_transactions made instead of hashing every id again.
#: (Arrow arrays are not hashable: entries are keyed by identity, checked through a weak
#: reference, and dropped when the array goes.)
_ID_CODES: dict[int, tuple[weakref.ref[Any], np.ndarray, Any]] = {}


def _arrow_ids(values: pd.Series) -> Any:
    to_arrow = getattr(values.array, "__arrow_array__", None)
    return to_arrow() if to_arrow is not None else None


def _remember_codes(values: pd.Series, codes: np.ndarray, uniques: Any) -> None:
    key = _arrow_ids(values)
    if key is not None:
        codes = codes.view()
        codes.setflags(write=False)
        ident = id(key)
        ref = weakref.ref(key, lambda _ref: _ID_CODES.pop(ident, None))
        _ID_CODES[ident] = (ref, codes, uniques)


def factorize_ids(values: pd.Series) -> tuple[np.ndarray, Any]:
    """``pandas.factorize(values, sort=False)`` of customer ids, fast for short string ids,
    and remembered for ids read by :func:`read_transactions`.

    Parameters
    ----------
    values : pandas.Series

    Returns
    -------
    codes : numpy.ndarray
    uniques : pandas.Index or numpy.ndarray
    """
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is np.nan):
        return pd.factorize(values, sort=False)
    key = _arrow_ids(values) if enabled() else None
    known = _ID_CODES.get(id(key)) if key is not None else None
    if known is not None and known[0]() is key:
        return known[1], known[2]
    return _factorize_strings(values)


def _factorize_strings(values: pd.Series) -> tuple[np.ndarray, Any]:
    """``pandas.factorize(values, sort=False)`` of a string column.

    Ids of at most eight bytes are factorized as 64-bit words (:mod:`segml.data._fast.encode`);
    with ``SEGML_FAST=0``, or for longer or missing ids, it is ``pandas.factorize``.
    """
    arr = _arrow_ids(values) if enabled() else None
    if arr is None or arr.null_count:
        return pd.factorize(values, sort=False)
    found = _encode.factorize_short_strings(arr)
    if found is None:
        return pd.factorize(values, sort=False)
    codes, unique_words = found
    strings = _encode.words_to_strings(unique_words, arr.type)
    uniques = pd.Index(pd.array(strings, dtype=values.dtype))
    return codes, uniques


def codes_of_rows(codes: np.ndarray, uniques: Any, keep: np.ndarray) -> tuple[np.ndarray, Any]:
    """The factorization of the rows in ``keep`` from that of every row: equal to
    ``pandas.factorize(values[keep], sort=False)`` given ``(codes, uniques)`` of ``values``.

    Parameters
    ----------
    codes : numpy.ndarray
        Codes of every row, numbered in order of first appearance.
    uniques : pandas.Index or numpy.ndarray
    keep : numpy.ndarray
        Boolean mask of the rows that stay.

    Returns
    -------
    codes : numpy.ndarray
    uniques : pandas.Index or numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> keep = np.array([False, True, True, True])
    >>> codes_of_rows(np.array([0, 1, 0, 2]), np.array(["a", "b", "c"]), keep)
    (array([0, 1, 2]), array(['b', 'a', 'c'], dtype='<U1'))
    """
    # Removed rows may have held a customer's first appearance, or all their rows.
    return _by_first_appearance(codes[keep], uniques)


def _by_first_appearance(codes: np.ndarray, uniques: Any) -> tuple[np.ndarray, Any]:
    """``codes`` renumbered in order of first appearance, and the ``uniques`` they use."""
    seen = pd.unique(codes)
    if len(seen) == len(uniques) and bool((seen == np.arange(len(seen))).all()):
        return codes, uniques
    rank = np.zeros(len(uniques), dtype=codes.dtype)
    rank[seen] = np.arange(len(seen), dtype=codes.dtype)
    return rank[codes], uniques[seen]


def _integral_float_as_int(value: Any) -> Any:
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


def id_strings(values: pd.Series) -> pd.Series:
    """Customer ids as segml names them: strings, stripped, ``2.0`` as ``"2"``, blanks missing.

    Parameters
    ----------
    values : pandas.Series

    Returns
    -------
    pandas.Series
    """
    return _as_id_strings(values)


def _as_id_strings(values: pd.Series) -> pd.Series:
    """Customer ids as strings; integral floats (ids read next to NaNs) lose their '.0'."""
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if len(finite) and np.all(np.mod(finite.to_numpy(), 1) == 0):
            out = values.astype("Int64").astype("str")
            return out.where(values.notna(), None)
    if values.dtype == object:
        # a column mixing 1 and 1.0 (ids from a spreadsheet) names one customer, "1"
        values = values.map(_integral_float_as_int, na_action="ignore")
    if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        out = values.astype("str").str.strip()
        out = out.where(values.notna() & (out != ""), None)
        return out
    return values.astype("str").where(values.notna(), None)
