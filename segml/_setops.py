"""Set operations on long arrays and indexes, by routes that stay fast at millions of values.

- numpy 2.3 and later find the distinct values of an array (``np.unique`` without
  ``return_index``, ``return_inverse`` or ``return_counts``) with a hash table, which is far
  slower than sorting when most values are distinct. :func:`distinct` sorts (remove when
  numpy's hash route is as fast as sorting).
- ``pandas.Index.isin`` on Arrow-backed strings is slow for a million ids against a million;
  looking them up in the other index's hash table is fast. :func:`in_index` does that
  when the other index is unique (customer tables are).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["distinct", "in_index"]


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``values`` (flattened): ``np.unique(values)``, sorted.

    Missing values (NaN, NaT) count as one value, last, as in ``np.unique``.
    """
    ordered = np.sort(np.asarray(values).ravel())
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    if ordered.dtype.kind in "fcmM":  # missing values sort last and never equal each other
        missing = np.isnan(ordered)
        keep[1:] &= ~(missing[1:] & missing[:-1])
    return ordered[keep]


def in_index(values: pd.Index, index: pd.Index) -> np.ndarray:
    """``values.isin(index)`` as a boolean array."""
    if index.is_unique:
        return np.asarray(index.get_indexer(values) >= 0)
    return np.asarray(values.isin(index))
