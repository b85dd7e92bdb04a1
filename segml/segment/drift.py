"""Segment migration and population drift between two scorings, or against training.

A *baseline* is what a population looked like: its segment shares and, for CLV and every
feature a model reads, the shares of frozen bins (numbers) or of levels (text). Bins are cut
once, on the baseline (deciles with duplicates merged, so the tied values of one-time buyers
share one bin), and every later batch is counted in those same bins: PSI on quantiles
re-cut for each batch would be zero by construction. The population stability index is

    PSI = sum over bins of (current - baseline) * ln(current / baseline),

with shares floored at 1e-4 so that an empty bin gives a large, finite term. The usual
bands are stated with every value: below 0.1 stable, 0.1 to 0.25 shifting, above 0.25 shifted.

Examples
--------
>>> import pandas as pd
>>> from segml.segment.drift import baseline_of, drift
>>> old = pd.DataFrame({"segment": [0, 0, 1, 1], "clv": [1.0, 2.0, 3.0, 4.0]})
>>> new = pd.DataFrame({"segment": [1, 1, 1, 1], "clv": [3.0, 4.0, 3.5, 4.0]})
>>> drift(baseline_of(old, ["clv"]), new).loc["segment", "band"]
'shifted'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from segml.errors import DataError

__all__ = [
    "BANDS",
    "Shares",
    "baseline_of",
    "current_shares",
    "drift",
    "migration",
    "psi",
    "segment_shares",
]

#: (upper limit, name) of the PSI bands, in order
BANDS = ((0.1, "stable"), (0.25, "shifting"), (np.inf, "shifted"))
_FLOOR = 1e-4
_MISSING = "(missing)"
_OTHER = "(other)"
_LEVELS = 20  # text levels kept by name; the rarer ones are pooled


def psi(baseline: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """The population stability index of two share vectors over the same bins.

    Examples
    --------
    >>> round(psi([0.5, 0.5], [0.5, 0.5]), 12)
    0.0
    >>> round(psi([0.5, 0.5], [0.9, 0.1]), 3)
    0.879
    """
    b = np.maximum(np.asarray(baseline, dtype=float), _FLOOR)
    c = np.maximum(np.asarray(current, dtype=float), _FLOOR)
    return float(np.sum((c - b) * np.log(c / b)))


def band(value: float) -> str:
    """The PSI band of ``value``: ``stable``, ``shifting`` or ``shifted``."""
    return next(name for limit, name in BANDS if value < limit)


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )


def _number_bins(values: np.ndarray) -> list[float]:
    """Inner bin edges: the deciles of the known values, duplicates merged."""
    known = values[np.isfinite(values)]
    if len(known) == 0:
        return []
    edges = np.unique(np.quantile(known, np.linspace(0.1, 0.9, 9)))
    return [float(e) for e in edges]


def _number_shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Shares of the bins (-inf, e1], (e1, e2], ..., (ek, inf) and, last, of missing values."""
    known = np.isfinite(values)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=float), values[known], side="left"),
        minlength=len(edges) + 1,
    )
    n = max(len(values), 1)
    return [*(counts / n).tolist(), float((~known).sum() / n)]


def _level_shares(values: pd.Series, levels: Sequence[str]) -> list[float]:
    """Shares of ``levels``, of every other level pooled, and of missing values."""
    text = values.astype(object).where(values.notna(), None)
    n = max(len(values), 1)
    counts = text.map(lambda v: v if v is None else str(v)).value_counts(dropna=False)
    named = [float(counts.get(level, 0)) / n for level in levels]
    missing = float(text.isna().sum()) / n
    return [*named, max(0.0, 1.0 - sum(named) - missing), missing]


def _segments(frame: pd.DataFrame) -> pd.Series:
    if "segment" not in frame.columns:
        raise DataError(
            f"a scoring needs a 'segment' column to compare segments; it has "
            f"{list(frame.columns)[:15]}."
        )
    return pd.to_numeric(frame["segment"], errors="coerce").fillna(-1).astype("int64")


def baseline_of(
    frame: pd.DataFrame, columns: Sequence[str] = ("clv",), names: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """The baseline of a population: segment shares and frozen bins of ``columns``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per customer, with ``segment`` (``-1`` for unassigned) and ``columns``.
    columns : sequence of str
        The value and features to watch; numbers get decile bins, text its levels.
    names : mapping, optional
        Segment names, kept for the reports.

    Returns
    -------
    dict
        JSON-ready: ``n``, ``segments`` (label -> share), ``names`` and ``columns``
        (column -> ``{"kind", "edges" or "levels", "shares"}``).
    """
    segments = _segments(frame)
    shares = segments.value_counts(normalize=True).sort_index()
    out: dict[str, Any] = {
        "n": len(frame),
        "segments": {str(k): float(v) for k, v in shares.items()},
        "names": {str(k): str(v) for k, v in (names or {}).items()},
        "columns": {},
    }
    for col in columns:
        if col not in frame.columns:
            continue
        values = frame[col]
        if _numeric(values):
            numbers = values.to_numpy("float64", na_value=np.nan)
            edges = _number_bins(numbers)
            out["columns"][col] = {
                "kind": "number",
                "edges": edges,
                "shares": _number_shares(numbers, edges),
            }
        else:
            common = values.dropna().astype(str).value_counts().index[:_LEVELS]
            levels = [str(level) for level in common]
            out["columns"][col] = {
                "kind": "text",
                "levels": levels,
                "shares": _level_shares(values, levels),
            }
    return out


@dataclass(frozen=True)
class Shares:
    """A batch already reduced to shares on a baseline's bins (what Spark computes).

    ``n`` customers; ``segments``: share by segment label; ``columns``: for each watched
    column, the shares of the baseline's bins (missing last), as :func:`current_shares`.
    """

    n: int
    segments: pd.Series
    columns: dict[str, list[float]]


def _segment_now(current: pd.DataFrame) -> pd.Series:
    return _segments(current).value_counts(normalize=True)


def current_shares(baseline: Mapping[str, Any], current: pd.DataFrame) -> Shares:
    """``current`` reduced to the shares of ``baseline``'s frozen bins and levels."""
    columns = {}
    for col, spec in baseline["columns"].items():
        if col not in current.columns:
            continue
        values = current[col]
        if spec["kind"] == "number":
            numbers = pd.to_numeric(values, errors="coerce").to_numpy("float64", na_value=np.nan)
            columns[col] = _number_shares(numbers, spec["edges"])
        else:
            columns[col] = _level_shares(values, spec["levels"])
    return Shares(len(current), _segment_now(current), columns)


def segment_shares(baseline: Mapping[str, Any], current: pd.DataFrame | Shares) -> pd.DataFrame:
    """Each segment's share in the baseline and now (``-1``: not assigned).

    Returns
    -------
    pandas.DataFrame
        Indexed by segment label: ``name``, ``baseline_share``, ``current_share``,
        ``change`` (current minus baseline, in share points).
    """
    now = current.segments if isinstance(current, Shares) else _segment_now(current)
    before = {int(k): float(v) for k, v in baseline["segments"].items()}
    labels = sorted(set(before) | {int(k) for k in now.index})
    names = {int(k): v for k, v in baseline.get("names", {}).items()}
    rows = pd.DataFrame(
        {
            "name": [names.get(s, "not assigned" if s == -1 else str(s)) for s in labels],
            "baseline_share": [before.get(s, 0.0) for s in labels],
            "current_share": [float(now.get(s, 0.0)) for s in labels],
        },
        index=pd.Index(labels, name="segment"),
    )
    rows["change"] = rows["current_share"] - rows["baseline_share"]
    return rows


def drift(
    baseline: Mapping[str, Any] | pd.DataFrame, current: pd.DataFrame | Shares
) -> pd.DataFrame:
    """PSI of the segment shares and of every watched column, against ``baseline``.

    Parameters
    ----------
    baseline : dict or pandas.DataFrame
        A baseline (:func:`baseline_of`; an exported model stores its training
        population's), or a previous scoring, whose own bins are then cut.
    current : pandas.DataFrame or Shares
        The new scoring: ``segment`` and the watched columns (or its :class:`Shares`).

    Returns
    -------
    pandas.DataFrame
        One row per quantity (``segment`` first): ``kind``, ``psi``, ``band`` (below 0.1
        stable, 0.1-0.25 shifting, above 0.25 shifted), ``n_baseline``, ``n_current`` and
        ``missing_share`` (of the current batch).

    Examples
    --------
    >>> import pandas as pd
    >>> import segml
    >>> before = pd.DataFrame({"segment": [0, 0, 1, 1], "clv": [1.0, 2.0, 3.0, 4.0]})
    >>> segml.drift(before, before).loc[["segment", "clv"], "band"].tolist()
    ['stable', 'stable']
    """
    if isinstance(baseline, pd.DataFrame):
        assert isinstance(current, pd.DataFrame), "a previous scoring needs the current frame"
        watched = [c for c in baseline.columns if c in current.columns and c != "segment"]
        watched = [c for c in watched if c not in ("customer_id", "reason", "segment_name")]
        baseline = baseline_of(baseline, watched)
    now = current if isinstance(current, Shares) else current_shares(baseline, current)
    segs = segment_shares(baseline, now)
    rows = [
        {
            "quantity": "segment",
            "kind": "segment",
            "psi": psi(segs["baseline_share"], segs["current_share"]),
            "missing_share": float(now.segments.get(-1, 0.0)) if now.n else 0.0,
        }
    ]
    for col, shares in now.columns.items():
        spec = baseline["columns"][col]
        rows.append(
            {
                "quantity": col,
                "kind": spec["kind"],
                "psi": psi(spec["shares"], shares),
                "missing_share": shares[-1],
            }
        )
    out = pd.DataFrame(rows).set_index("quantity")
    out["band"] = [band(v) for v in out["psi"]]
    out["n_baseline"] = int(baseline["n"])
    out["n_current"] = now.n
    return out[["kind", "psi", "band", "n_baseline", "n_current", "missing_share"]]


def migration(
    previous: pd.DataFrame, current: pd.DataFrame, value: str | None = None
) -> pd.DataFrame:
    """Customers (or ``value``) moving between segments from one scoring to the next.

    Parameters
    ----------
    previous, current : pandas.DataFrame
        Two scorings: ``customer_id`` and ``segment`` (and ``value`` when given).
    value : str, optional
        Sum this column instead of counting customers: the current scoring's value, the
        previous one's for customers who are gone.

    Returns
    -------
    pandas.DataFrame
        Rows: the previous segment, and ``new`` for customers only in the current scoring;
        columns: the current segment, and ``lost`` for customers only in the previous one.
        Counted in customers, each row adds up to the previous segment's size and each
        column to the current one's.

    Examples
    --------
    >>> import pandas as pd
    >>> import segml
    >>> march = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": [0, 0, 1]})
    >>> june = pd.DataFrame({"customer_id": ["a", "b", "d"], "segment": [0, 1, 1]})
    >>> segml.migration(march, june)  # doctest: +NORMALIZE_WHITESPACE
    current   0  1  lost
    previous
    0         1  1     0
    1         0  0     1
    new       0  1     0
    """
    for name, frame in (("previous", previous), ("current", current)):
        if "customer_id" not in frame.columns:
            raise DataError(f"the {name} scoring has no customer_id column.")
        if frame["customer_id"].astype(str).duplicated().any():
            raise DataError(f"the {name} scoring lists a customer twice; one row each.")
    cols = ["customer_id", "segment", *([value] if value else [])]
    for frame in (previous, current):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(f"a scoring lacks {missing} for the migration.")
    before = previous[cols].assign(customer_id=previous["customer_id"].astype(str))
    after = current[cols].assign(customer_id=current["customer_id"].astype(str))
    both = before.merge(after, on="customer_id", how="outer", suffixes=("_before", "_after"))
    src = both["segment_before"].map(lambda s: "new" if pd.isna(s) else int(s))
    dst = both["segment_after"].map(lambda s: "lost" if pd.isna(s) else int(s))
    if value:
        amount = both[f"{value}_after"].where(
            both["segment_after"].notna(), both[f"{value}_before"]
        )
        table = pd.crosstab(src, dst, values=amount.astype(float), aggfunc="sum").fillna(0.0)
    else:
        table = pd.crosstab(src, dst)
    order = sorted([c for c in set(src) | set(dst) if isinstance(c, int)])
    rows = [r for r in [*order, "new"] if r in table.index or r in order]
    columns = [c for c in [*order, "lost"] if c in table.columns or c in order]
    out = table.reindex(index=rows, columns=columns, fill_value=0)
    out.index.name, out.columns.name = "previous", "current"
    return out
