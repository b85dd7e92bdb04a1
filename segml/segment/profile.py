"""Segment profiles (size, value, lift, what characterises each segment) and cluster names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from segml._setops import distinct
from segml.errors import DataError
from segml.segment.hypotheses import _value_series
from segml.segment.intervals import lift_intervals

__all__ = ["NAME_WORDS", "describe_segments", "profile"]

#: Words for a segment far above / below the average of a feature.
NAME_WORDS: dict[str, tuple[str, str]] = {
    "frequency": ("frequent", "infrequent"),
    "recency_ratio": ("recent", "lapsed"),
    "recency": ("recently active", "early lapsers"),
    "T": ("long-standing", "new"),
    "purchase_rate": ("high purchase rate", "low purchase rate"),
    "since_last": ("long since last purchase", "bought lately"),
    "monetary_value": ("high spend", "low spend"),
    "first_amount": ("big first order", "small first order"),
    "total_revenue": ("high revenue", "low revenue"),
    "revenue_rate": ("high revenue rate", "low revenue rate"),
    "clv": ("high value", "low value"),
}
_DEFAULT_FEATURES = ("frequency", "recency", "T", "monetary_value", "first_amount")


def _is_categorical(series: pd.Series) -> bool:
    return (
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(series.dtype)
        or series.dtype == object
        or pd.api.types.is_bool_dtype(series.dtype)
    )


def describe_segments(
    frame: pd.DataFrame, labels: np.ndarray, features: Sequence[str] | None = None
) -> dict[int, str]:
    """Short descriptive names ("frequent, recent, high spend") for each label.

    For numeric features the words describe the features whose segment mean is furthest
    from the overall mean (at least 0.3 standard deviations, at most three features); for
    categorical features, a level that makes up at least half of the segment and is
    1.5 times as common as overall. Label ``-1`` is named "noise / unassigned".

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from segml.segment.profile import describe_segments
    >>> f = pd.DataFrame({"frequency": [0, 0, 9, 10], "monetary_value": [5, 6, 5, 6]})
    >>> describe_segments(f, np.array([0, 0, 1, 1]), ["frequency", "monetary_value"])
    {0: 'infrequent', 1: 'frequent'}
    """
    features = [c for c in (features if features is not None else frame.columns) if c in frame]
    labels = np.asarray(labels).astype(np.int64, copy=False)
    if len(labels) == 0:
        return {}
    low = int(labels.min())
    slot = labels - low  # each label's slot in the per-segment sums
    sizes = np.bincount(slot)
    present = np.flatnonzero(sizes)
    scored: dict[int, list[tuple[float, str]]] = {int(s) + low: [] for s in present}
    for col in features:
        series = frame[col]
        score = _categorical_words if _is_categorical(series) else _numeric_words
        for s, strength, word in score(col, series, slot, sizes, present):
            scored[int(s) + low].append((strength, word))
    names: dict[int, str] = {}
    used: dict[str, int] = {}
    for label, found in sorted(scored.items()):
        if label == -1:
            names[-1] = "noise / unassigned"
            continue
        found.sort(key=lambda t: -t[0])
        name = ", ".join(word for _, word in found[:3]) or "average"
        used[name] = used.get(name, 0) + 1
        names[label] = name if used[name] == 1 else f"{name} #{used[name]}"
    return names


def _categorical_words(
    col: str, series: pd.Series, slot: np.ndarray, sizes: np.ndarray, present: np.ndarray
) -> list[tuple[int, float, str]]:
    """(segment slot, strength, words) for a level dominating a segment."""
    as_objects = series.astype(object)
    overall = as_objects.value_counts(normalize=True, dropna=True)
    out = []
    for s in present:
        seg = as_objects[slot == s].value_counts(normalize=True, dropna=True)
        if len(seg):
            level, share = seg.index[0], float(seg.iloc[0])
            base = float(overall.get(level, 0.0))
            if share >= 0.5 and base > 0 and share >= 1.5 * base:
                out.append((int(s), share / base, f"{col} {level}"))
    return out


def _numeric_words(
    col: str, series: pd.Series, slot: np.ndarray, sizes: np.ndarray, present: np.ndarray
) -> list[tuple[int, float, str]]:
    """(segment slot, |z|, words) for segment means at least 0.3 SD from the overall mean."""
    values = pd.to_numeric(series, errors="coerce").to_numpy("float64", na_value=np.nan)
    known = ~np.isnan(values)
    if known.sum() < 2:
        return []  # no spread to compare with
    sd, mean = np.nanstd(values), np.nanmean(values)
    # a constant column's sd is rounding noise: no segment is high or low on it
    if not np.isfinite(sd) or sd <= 1e-12 * abs(mean) or sd == 0:
        return []
    # every segment's mean in one pass (a segment without values gets none)
    if known.all():
        sums, counts = np.bincount(slot, weights=values), sizes
    else:
        sums = np.bincount(slot[known], weights=values[known], minlength=len(sizes))
        counts = np.bincount(slot[known], minlength=len(sizes))
    high, low_word = NAME_WORDS.get(col, (f"high {col}", f"low {col}"))
    out = []
    for s in present:
        z = (sums[s] / counts[s] - mean) / sd if counts[s] else 0.0
        if abs(z) >= 0.3:
            out.append((int(s), abs(z), high if z > 0 else low_word))
    return out


def profile(
    labels: np.ndarray | pd.Series,
    table: pd.DataFrame,
    value: str | pd.Series = "clv",
    *,
    names: Mapping[int, str] | None = None,
    features: Sequence[str] | None = None,
    attributes: Sequence[str] | None = None,
    holdout: str | pd.Series | None = None,
    n_resamples: int = 200,
    random_state: int | np.random.Generator | None = 0,
    value_draws: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per segment: size, value and what characterises it, ranked by mean value.

    Every lift has a 95 % percentile bootstrap interval over customers (labels fixed). The
    lift on ``value`` is in sample when the value was predicted from the same customers'
    history; with ``holdout`` (the value realised after calibration) the ``oos_`` columns
    give the out-of-sample lift, the one to act on.

    Parameters
    ----------
    labels : array of int
        Segment label of each row of ``table`` (``-1``: unassigned).
    table : pandas.DataFrame
        Customer table.
    value : str or pandas.Series, default "clv"
        The customer quality score.
    names : mapping of int to str, optional
        Segment names (e.g. ``segmenter.segment_names_``); default: descriptive names.
    features : sequence of str, optional
        Numeric columns whose segment means are reported; default: frequency, recency,
        T, monetary_value and first_amount where present.
    attributes : sequence of str, optional
        Categorical columns whose most common level is reported; default: every
        string, categorical or boolean column.
    holdout : str or pandas.Series, optional
        Value realised in the holdout window (e.g. ``"holdout_revenue"``).
    n_resamples : int, default 200
        Bootstrap resamples of the lift intervals (0: no intervals).
    random_state : int or numpy.random.Generator, optional
        Seed of the bootstrap.
    value_draws : numpy.ndarray, optional
        Draws of each customer's value, shape ``(n_draws, n_customers)`` (e.g.
        :func:`segml.clv.uncertainty.value_draws`, the model's parameter uncertainty): each
        segment's mean and total value get a 95 % interval from the same draws.

    Returns
    -------
    pandas.DataFrame
        Indexed by label: ``name``, ``customers``, ``share``, ``mean_value``,
        ``median_value``, ``total_value``, ``value_share``, ``lift`` (mean value over the
        overall mean), ``lift_low``, ``lift_high``; with ``value_draws``,
        ``mean_value_low``, ``mean_value_high``, ``total_value_low``, ``total_value_high``;
        with ``holdout``, ``oos_mean``,
        ``oos_lift``, ``oos_lift_low``, ``oos_lift_high``; ``mean_<feature>`` columns and
        ``top_<attribute>`` columns (``"level (share%)"``).

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> rfm = segml.RFMSegmenter().fit(table)
    >>> p = segml.profile(rfm.labels_, table, "total_revenue", names=rfm.segment_names_)
    >>> int(p["customers"].sum()) == len(table)
    True
    """
    labels = np.asarray(labels)
    if labels.shape != (len(table),):
        raise DataError(
            f"labels must have one entry per customer ({len(table):,}), got shape {labels.shape}."
        )
    values = _value_series(table, value).to_numpy()
    realised = None if holdout is None else _value_series(table, holdout).to_numpy()
    bounds = _lift_bounds(labels, values, realised, n_resamples, random_state)
    totals = _total_bounds(labels, value_draws)
    if features is None:
        features = [c for c in _DEFAULT_FEATURES if c in table.columns]
    if attributes is None:
        attributes = [
            c
            for c in table.columns
            if _is_categorical(table[c]) and c not in features and table[c].nunique() <= 50
        ]
    for col in list(features) + list(attributes):
        if col not in table.columns:
            raise DataError(f"profile: column {col!r} is not in the table.")
    auto = describe_segments(table, labels, list(features) + list(attributes))
    total = values.sum()
    overall = values.mean()
    numbers = {
        col: pd.to_numeric(table[col], errors="coerce").to_numpy("float64", na_value=np.nan)
        for col in features
    }
    rows = []
    for label in distinct(labels).tolist():
        inside = labels == label
        seg_values = values[inside]
        row: dict[str, object] = {
            "segment": label,
            "name": (names or {}).get(label, auto[label]),
            "customers": int(inside.sum()),
            "share": float(inside.mean()),
            "mean_value": float(seg_values.mean()),
            "median_value": float(np.median(seg_values)),
            "total_value": float(seg_values.sum()),
            "value_share": float(seg_values.sum() / total) if total else float("nan"),
            "lift": float(seg_values.mean() / overall) if overall else float("nan"),
            **bounds.get(label, {}),
            **totals.get(label, {}),
        }
        if realised is not None:
            seg_real, overall_real = realised[inside], realised.mean()
            row["oos_mean"] = float(seg_real.mean())
            row["oos_lift"] = float(seg_real.mean() / overall_real) if overall_real else np.nan
            for key in ("oos_lift_low", "oos_lift_high"):
                row[key] = row.pop(key, np.nan)
        for col in features:
            known = numbers[col][inside]
            known = known[~np.isnan(known)]
            row[f"mean_{col}"] = float(known.mean()) if len(known) else float("nan")
        for col in attributes:
            counts = table[col][inside].astype(object).value_counts(normalize=True)
            row[f"top_{col}"] = f"{counts.index[0]} ({counts.iloc[0]:.0%})" if len(counts) else ""
        rows.append(row)
    out = pd.DataFrame(rows).set_index("segment")
    return out.sort_values("mean_value", ascending=False, kind="stable")


def _lift_bounds(
    labels: np.ndarray,
    values: np.ndarray,
    realised: np.ndarray | None,
    n_resamples: int,
    random_state: int | np.random.Generator | None,
) -> dict[int, dict[str, float]]:
    """``lift_low`` / ``lift_high`` (and the ``oos_`` ones) of every label, from one bootstrap."""
    if not n_resamples or not len(labels):
        return {}
    stacked = values[:, None] if realised is None else np.column_stack([values, realised])
    segments, low, high = lift_intervals(labels, stacked, n_resamples, 0.95, random_state)
    names = ["lift"] if realised is None else ["lift", "oos_lift"]
    return {
        int(seg): {
            f"{name}_{side}": float(bound[i, j])
            for j, name in enumerate(names)
            for side, bound in (("low", low), ("high", high))
        }
        for i, seg in enumerate(segments)
    }


def _total_bounds(labels: np.ndarray, draws: np.ndarray | None) -> dict[int, dict[str, float]]:
    """95 % intervals of each segment's mean and total value, summed draw by draw."""
    if draws is None:
        return {}
    if draws.ndim != 2 or draws.shape[1] != len(labels):
        raise DataError(
            f"value_draws must have shape (n_draws, {len(labels):,}), got {draws.shape}."
        )
    segments, codes = np.unique(labels, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(segments))
    sums = np.stack([np.bincount(codes, weights=d, minlength=len(segments)) for d in draws])
    low, high = np.percentile(sums, [2.5, 97.5], axis=0)
    return {
        int(seg): {
            "mean_value_low": float(low[i] / sizes[i]),
            "mean_value_high": float(high[i] / sizes[i]),
            "total_value_low": float(low[i]),
            "total_value_high": float(high[i]),
        }
        for i, seg in enumerate(segments)
    }
