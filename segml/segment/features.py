"""Segment features computed from the customer table, and their time-relative counterparts.

Tenure ``T``, cumulative counts and ``recency`` (first to last purchase) grow with the
calendar for every customer, so a segmentation fitted on them drifts at every later
scoring even when nobody changes behaviour. Their time-relative counterparts stay put for a
customer who keeps buying as before:

1. ``purchase_rate``: repeat purchases per unit of tenure (``frequency / T``, 0 for T = 0),
   for ``frequency`` and ``n_transactions``;
2. ``revenue_rate``: revenue per unit of tenure (``total_revenue / T``), for
   ``total_revenue``;
3. ``since_last``: time since the last purchase (``T - recency``), for ``recency`` and for
   ``T`` itself (tenure has no time-relative form; how long a customer has been quiet is
   the part of it that says something about them now);
4. ``recency_ratio`` (``recency / T``, 0 for T = 0) is time-relative already.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from segml.errors import DataError, examples

__all__ = ["DERIVED_FEATURES", "TIME_RELATIVE", "build_features", "time_relative_features"]

#: Derived feature -> the customer-table columns it is computed from.
DERIVED_FEATURES: dict[str, tuple[str, ...]] = {
    "recency_ratio": ("recency", "T"),
    "purchase_rate": ("frequency", "T"),
    "revenue_rate": ("total_revenue", "T"),
    "since_last": ("recency", "T"),
}
#: Calendar-bound feature -> its time-relative counterpart.
TIME_RELATIVE: dict[str, str] = {
    "frequency": "purchase_rate",
    "n_transactions": "purchase_rate",
    "total_revenue": "revenue_rate",
    "recency": "since_last",
    "T": "since_last",
}


def _per_tenure(values: np.ndarray, tenure: np.ndarray) -> np.ndarray:
    return np.divide(values, tenure, out=np.zeros(len(values)), where=tenure > 0)


def _derive(table: pd.DataFrame, col: str) -> np.ndarray:
    for need in DERIVED_FEATURES[col]:
        if need not in table.columns:
            raise DataError(f"feature {col!r} needs column {need!r}.")
    a = pd.to_numeric(table[DERIVED_FEATURES[col][0]], errors="coerce").to_numpy("float64")
    tenure = pd.to_numeric(table["T"], errors="coerce").to_numpy("float64")
    if col == "since_last":
        return tenure - a
    out = _per_tenure(a, tenure)
    out[np.isnan(a) | np.isnan(tenure)] = np.nan  # missing stays missing (imputed, counted)
    return out


def build_features(table: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The feature columns of ``table``, computing the derived ones (``DERIVED_FEATURES``)
    when asked for and not already columns.

    Raises
    ------
    segml.DataError
        If a feature is not a column (nor derivable).

    Examples
    --------
    >>> import pandas as pd
    >>> from segml.segment.features import build_features
    >>> t = pd.DataFrame({"frequency": [2, 0], "recency": [8.0, 0.0], "T": [10.0, 0.0]})
    >>> build_features(t, ["purchase_rate", "since_last"]).to_dict("list")
    {'purchase_rate': [0.2, 0.0], 'since_last': [2.0, 0.0]}
    """
    out = {}
    for col in features:
        if col in DERIVED_FEATURES and col not in table.columns:
            out[col] = _derive(table, col)
        elif col in table.columns:
            series = table[col]
            if pd.api.types.is_bool_dtype(series.dtype):
                series = series.astype("float64")
            out[col] = series.to_numpy()
        else:
            raise DataError(
                f"feature {col!r} is not a column of the table; available: "
                f"{examples(table.columns, limit=20)}."
            )
    return pd.DataFrame(out, index=table.index)


def time_relative_features(features: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``features`` with each calendar-bound one replaced by its time-relative counterpart
    (duplicates kept once, in order), and what was replaced.

    Examples
    --------
    >>> from segml.segment.features import time_relative_features
    >>> time_relative_features(["frequency", "recency_ratio", "T", "monetary_value"])
    (['purchase_rate', 'recency_ratio', 'since_last', 'monetary_value'], {'frequency': 'purchase_rate', 'T': 'since_last'})
    """  # noqa: E501
    out: list[str] = []
    replaced = {}
    for col in features:
        new = TIME_RELATIVE.get(col, col)
        if new != col:
            replaced[col] = new
        if new not in out:
            out.append(new)
    return out, replaced
