"""Shared pieces of the CLV estimators: input validation, compression, JSON state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml._version import segml_version as segml_version
from segml.errors import DataError, examples


def require_columns(table: Any, columns: tuple[str, ...], who: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise DataError(
            f"{who} expects a customer table (pandas DataFrame from segml.summarize), got "
            f"{type(table).__name__}."
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"{who} needs columns {list(columns)}; the table lacks {missing}. Available: "
            f"{examples(table.columns, limit=15)}. Build the table with segml.summarize."
        )
    return table


def _bad(table: pd.DataFrame, mask: np.ndarray, what: str, who: str) -> None:
    if mask.any():
        ids = table.index[mask]
        raise DataError(
            f"{who}: {int(mask.sum()):,} customers have {what}, e.g. customer ids "
            f"{examples(ids)}. Fix or remove them (segml.summarize never produces them)."
        )


def as_float(column: pd.Series) -> np.ndarray:
    """A column as float64, with NaN for missing or non-numeric entries."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy("float64", na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy("float64", na_value=np.nan)


def frequency_arrays(table: pd.DataFrame, who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (x, t_x, T) arrays from a customer table."""
    require_columns(table, ("frequency", "recency", "T"), who)
    if len(table) == 0:
        raise DataError(f"{who}: the customer table has no rows.")
    arrays = []
    for col in ("frequency", "recency", "T"):
        values = as_float(table[col])
        _bad(table, ~np.isfinite(values), f"a missing or non-numeric {col!r}", who)
        arrays.append(values)
    x, t_x, T = arrays
    _bad(table, (x < 0) | (x != np.round(x)), "a 'frequency' that is not a whole number >= 0", who)
    _bad(table, t_x < 0, "a negative 'recency'", who)
    _bad(table, T < 0, "a negative 'T'", who)
    _bad(table, t_x > T + 1e-9, "'recency' greater than 'T'", who)
    _bad(table, (x == 0) & (t_x > 0), "'recency' > 0 with no repeat purchase", who)
    return x, t_x, T


@dataclass(frozen=True)
class Compressed:
    """Unique rows of a set of columns, their counts, and the map back to the rows."""

    values: np.ndarray  # (n_unique, k)
    weights: np.ndarray  # (n_unique,)
    inverse: np.ndarray  # (n,)

    @classmethod
    def of(cls, *columns: np.ndarray, weights: np.ndarray | None = None) -> Compressed:
        """Hash-based: factorize each column, combine the codes, group the combination.

        When the combined codes span a small range (the usual case for customer tables:
        whole purchase counts, ages and recencies in whole days) the groups come from a
        counting pass over that range instead of a second hash table.
        """
        n = len(columns[0])
        key = np.zeros(n, dtype=np.int64)
        span = 1
        uniques_by_col = []
        for col in columns:
            codes, uniques = pd.factorize(col, sort=False, use_na_sentinel=False)
            key *= len(uniques)
            key += codes
            span *= max(len(uniques), 1)
            uniques_by_col.append(np.asarray(uniques))
        if span <= max(4 * n, 1_000_000):
            present = np.bincount(key, minlength=span) > 0
            slot = np.cumsum(present) - 1
            inverse = slot[key]
            group_keys = np.flatnonzero(present)
        else:
            inverse, group_keys = pd.factorize(key, sort=False)
        # Decode each group's key into its column values (last column varies fastest).
        values = np.empty((len(group_keys), len(columns)), dtype="float64")
        rest = np.asarray(group_keys, dtype=np.int64)
        for i in range(len(columns) - 1, -1, -1):
            uniques = uniques_by_col[i]
            rest, code = np.divmod(rest, max(len(uniques), 1))
            values[:, i] = uniques[code]
        counts = np.bincount(inverse, weights=weights, minlength=len(group_keys)).astype("float64")
        return cls(values, counts, inverse.astype(np.intp, copy=False))

    @classmethod
    def identity(cls, *columns: np.ndarray, weights: np.ndarray | None = None) -> Compressed:
        stacked = np.column_stack(columns)
        n = len(stacked)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype="float64")
        return cls(stacked, w, np.arange(n))

    def column(self, i: int) -> np.ndarray:
        return self.values[:, i]


def check_weights(sample_weight: Any, n: int, who: str) -> np.ndarray | None:
    """Validated per-customer weights (counts of identical customers), or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype="float64").reshape(-1)
    if w.shape != (n,):
        raise DataError(f"{who}: sample_weight has {w.size} entries for {n:,} customers.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError(f"{who}: sample_weight must be finite and >= 0.")
    if w.sum() <= 0:
        raise DataError(f"{who}: sample_weight sums to zero.")
    return w


def log_wald_interval(
    params: dict[str, float], standard_errors: dict[str, float], level: float
) -> pd.DataFrame:
    """``exp(log t +- z se(t) / t)`` for each positive parameter t (the delta method's
    interval on the log scale, where the likelihood is closer to quadratic)."""
    from scipy.stats import norm

    if not 0 < level < 1:
        raise DataError(f"level must be in (0, 1), got {level!r}.")
    z = float(norm.ppf(0.5 + level / 2))
    rows = {}
    for name, value in params.items():
        se_log = standard_errors.get(name, np.nan) / value
        rows[name] = {
            "estimate": value,
            "lower": float(value * np.exp(-z * se_log)),
            "upper": float(value * np.exp(z * se_log)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def to_json_text(state: dict[str, Any], path: str | Path | None) -> str:
    text = json.dumps(state, indent=2, sort_keys=True, allow_nan=True)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


class JSONPersistence:
    """``to_json`` / ``from_json`` for estimators that define ``to_dict`` / ``from_dict``."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    @classmethod
    def from_dict(
        cls, state: dict[str, Any]
    ) -> Any:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise to JSON text (and write it to ``path`` when given)."""
        return to_json_text(self.to_dict(), path)

    @classmethod
    def from_json(cls, source: str | Path) -> Any:
        """Rebuild a fitted model from JSON text or a JSON file path."""
        return cls.from_dict(from_json_text(source))


def from_json_text(source: str | Path) -> dict[str, Any]:
    text = str(source)
    if not text.lstrip().startswith("{"):
        path = Path(source)
        if not path.exists():
            raise DataError(f"model file not found: {str(path)!r}")
        text = path.read_text(encoding="utf-8")
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"the model JSON is not valid JSON: {exc}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise DataError("the model JSON has no 'model' entry; it was not written by segml.")
    return state
