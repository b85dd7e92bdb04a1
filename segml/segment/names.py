"""Whether segment names stay true on a new scoring, and which features drift with the calendar.

A name such as "frequent, recent, high spend" was earned on the training population: each
word says that the segment's mean of one feature lay well above (or below) the training
average. A scoring re-checks every word on the customers the segment now receives: a word is
contradicted when the segment's mean sits on the other side of the *training* average, and a
recency word ("recent", "recently active") also when 5 % or more of the segment's customers
have gone longer without a purchase than anyone in training.

Tenure ``T``, cumulative counts and recency grow with the calendar for every customer, so a
model trained on one date sees them leave its training range at later scorings; the scoring
names those features and the share of customers beyond the range, and says which
time-relative features (``recency_ratio``, purchases per unit of tenure) do not drift so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segml.segment.features import DERIVED_FEATURES, build_features
from segml.segment.profile import NAME_WORDS

__all__ = [
    "CALENDAR_FEATURES",
    "calendar_flags",
    "calendar_flags_from_shares",
    "checks_from_means",
    "claims",
    "name_baseline",
    "name_checks",
    "segment_means",
    "segmentation_features",
]

#: Features that grow with the calendar for every customer, whatever they do.
CALENDAR_FEATURES = ("T", "frequency", "recency", "total_revenue", "n_transactions")
_RECENCY_WORDS = ("recent", "recently active", "bought lately")
_BEYOND = 0.05  # share of a "recent" segment lapsed beyond training that contradicts the word
_CLAIMS = {
    word: (col, side)
    for col, pair in NAME_WORDS.items()
    for side, word in zip((1, -1), pair, strict=True)
}


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    """The named features computable from a customer table or a scoring."""
    out = pd.DataFrame(index=frame.index)
    for col in NAME_WORDS:
        if col in frame.columns:
            out[col] = pd.to_numeric(frame[col], errors="coerce")
        elif col in DERIVED_FEATURES and set(DERIVED_FEATURES[col]) <= set(frame.columns):
            out[col] = build_features(frame, [col])[col]
    return out


def claims(name: str) -> list[tuple[str, str, int]]:
    """The (word, feature, side) claims of a segment name; ``side`` is +1 for above average.

    Examples
    --------
    >>> from segml.segment.names import claims
    >>> claims("frequent, recent #2")
    [('frequent', 'frequency', 1), ('recent', 'recency_ratio', 1)]
    """
    words = [w.strip() for w in str(name).split("#")[0].split(",")]
    return [(w, *_CLAIMS[w]) for w in words if w in _CLAIMS]


def name_baseline(frame: pd.DataFrame) -> dict[str, Any]:
    """Training mean and standard deviation of every named feature, and the longest time
    since a last purchase: what a scoring checks names against (JSON-ready).

    Examples
    --------
    >>> import pandas as pd
    >>> from segml.segment.names import name_baseline
    >>> b = name_baseline(pd.DataFrame({"recency": [1.0, 3.0], "T": [4.0, 4.0]}))
    >>> b["since_last_max"], b["features"]["recency"]["mean"]
    (3.0, 2.0)
    """
    feats = _features(frame)
    out: dict[str, Any] = {"features": {}, "since_last_max": None}
    for col in feats.columns:
        values = feats[col].to_numpy("float64", na_value=np.nan)
        if col == "since_last" and np.isfinite(values).any():
            out["since_last_max"] = float(np.nanmax(values))
        if np.isfinite(values).sum() >= 2:
            mean, sd = float(np.nanmean(values)), float(np.nanstd(values))
            out["features"][col] = {"mean": mean, "sd": sd}
    return out


def name_checks(
    baseline: Mapping[str, Any], current: pd.DataFrame, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The words of segment names that the scored customers contradict.

    Parameters
    ----------
    baseline : mapping
        :func:`name_baseline` of the training population.
    current : pandas.DataFrame
        The scoring: ``segment`` and the customers' features (``recency``, ``T``, ...).
    names : mapping
        Segment label (as text) -> name.

    Returns
    -------
    list of dict
        One per contradicted word: ``segment``, ``name``, ``word``, ``feature``,
        ``training_mean`` and ``segment_value`` (for ``feature`` "since_last": the longest
        time since a purchase in training, and the share of the segment beyond it), and
        ``message``.

    Examples
    --------
    >>> import pandas as pd
    >>> from segml.segment.names import name_baseline, name_checks
    >>> train = pd.DataFrame({"recency": [9.0, 1.0], "T": [10.0, 10.0], "segment": [0, 1]})
    >>> now = pd.DataFrame({"recency": [9.0, 1.0], "T": [40.0, 40.0], "segment": [0, 1]})
    >>> [c["word"] for c in name_checks(name_baseline(train), now, {"0": "recent"})]
    ['recent', 'recent']
    """
    return checks_from_means(baseline, segment_means(current, baseline), names)


def segment_means(current: pd.DataFrame, baseline: Mapping[str, Any]) -> pd.DataFrame:
    """Per segment label (the index): the mean of every named feature of ``current``, and
    ``beyond``, the share of its customers longer without a purchase than anyone in
    training (what :func:`checks_from_means` reads; the Spark path aggregates the same)."""
    feats = _features(current)
    longest = baseline.get("since_last_max")
    if "since_last" in feats:
        since = feats["since_last"].to_numpy("float64")
        feats["beyond"] = (since > longest).astype(float) if longest is not None else np.nan
    segments = pd.to_numeric(current["segment"], errors="coerce").fillna(-1).astype("int64")
    return feats.groupby(segments.to_numpy()).mean()


def checks_from_means(
    baseline: Mapping[str, Any], means: pd.DataFrame, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """:func:`name_checks` from the per-segment means of :func:`segment_means`."""
    stats = baseline.get("features", {})
    longest = baseline.get("since_last_max")
    out = []
    for label, name in names.items():
        if int(label) not in means.index:
            continue
        row = means.loc[int(label)].to_numpy("float64")
        mine = dict(zip(map(str, means.columns), row.tolist(), strict=True))
        for word, col, side in claims(name):
            if col in stats and col in mine and np.isfinite(mine[col]):
                mean, value = stats[col]["mean"], mine[col]
                # beyond rounding: means summed in another order differ in the last digits
                slack = 1e-9 * (abs(mean) + stats[col].get("sd", 0.0))
                if side * (value - mean) < -slack:
                    where = "below" if side > 0 else "above"
                    why = (
                        f"its customers' mean {col} ({value:.3g}) is {where} the training "
                        f"average ({mean:.3g})"
                    )
                    out.append(_contradiction(label, name, word, col, mean, value, why))
            beyond = mine.get("beyond", np.nan)
            # NaN (no recency in the scoring) is never at or beyond the threshold
            if word in _RECENCY_WORDS and longest is not None and beyond >= _BEYOND:
                why = (
                    f"{beyond:.0%} of its customers have not bought for longer than anyone "
                    f"in training ({longest:.3g})"
                )
                out.append(_contradiction(label, name, word, "since_last", longest, beyond, why))
    return out


def _contradiction(
    label: str, name: str, word: str, col: str, reference: float, value: float, why: str
) -> dict[str, Any]:
    return {
        "segment": int(label),
        "name": str(name),
        "word": word,
        "feature": col,
        "training_mean": reference,
        "segment_value": value,
        "message": f"segment {name!r} is named {word!r}, but {why}",
    }


def segmentation_features(segmenter: Any) -> list[str]:
    """The features a fitted segmenter segments on: a clustering's ``features_`` (derived
    ones such as ``recency_ratio`` by their own name), else the columns it reads."""
    features = getattr(segmenter, "features_", None)
    return list(features) if features is not None else sorted(segmenter.columns_)


def calendar_flags(
    ranges: Mapping[str, Sequence[float]], current: pd.DataFrame, used: Sequence[str]
) -> list[dict[str, Any]]:
    """The calendar-bound features the segmentation uses, with the share of scored customers
    beyond their training maximum.

    Examples
    --------
    >>> import pandas as pd
    >>> from segml.segment.names import calendar_flags
    >>> flags = calendar_flags({"T": [0, 10]}, pd.DataFrame({"T": [5.0, 12.0]}), ["T"])
    >>> flags[0]["feature"], flags[0]["share_beyond"]
    ('T', 0.5)
    """
    beyond = {}
    for col in used:
        if col in CALENDAR_FEATURES and col in ranges and col in current.columns:
            values = pd.to_numeric(current[col], errors="coerce").to_numpy("float64")
            beyond[col] = float(np.mean(values > float(ranges[col][1]))) if len(values) else 0.0
    return calendar_flags_from_shares(ranges, beyond)


def calendar_flags_from_shares(
    ranges: Mapping[str, Sequence[float]], beyond: Mapping[str, float]
) -> list[dict[str, Any]]:
    """:func:`calendar_flags` from each calendar-bound feature's share beyond its training
    maximum (the Spark path counts them in Spark)."""
    return [
        {"feature": col, "training_max": float(ranges[col][1]), "share_beyond": share}
        for col, share in beyond.items()
    ]
