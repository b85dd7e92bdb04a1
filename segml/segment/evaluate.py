"""Value separation: one yardstick for every segmentation, in sample and out of sample.

For a labelling and a value per customer the metrics are: ``k`` (segments, not counting
``-1``), ``min_share`` (smallest segment), ``noise_share`` (label ``-1``); eta squared and
omega squared of a one-way ANOVA on the value and on ``log1p(value)``; Kruskal-Wallis
epsilon squared; the top segment's lift and share of total value; the Lorenz Gini of the
segments; and the normalised Gini of the ranking the segmentation induces.

The *ranking* is always by each segment's mean **predicted** value (what a marketer would
act on); out of sample the *measured* value is what customers actually spent in the
holdout window. Unassigned customers (``-1``) form a group of their own in every statistic.

The statistics come from scipy and scikit-learn: eta and omega squared from the F statistic
of :func:`scipy.stats.f_oneway`, epsilon squared from the H of :func:`scipy.stats.kruskal`,
areas under curves from :func:`sklearn.metrics.auc`, stability from
:func:`sklearn.metrics.adjusted_rand_score`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import f_oneway, kruskal
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score, auc

from segml._columns import TARGETABILITY
from segml.errors import DataError
from segml.segment.base import Segmenter
from segml.segment.hypotheses import _value_series
from segml.segment.intervals import normalised_gini_draws

__all__ = [
    "CHAMPION_RULE",
    "HEADLINE_COLUMNS",
    "compare",
    "headline",
    "separation_metrics",
    "stability",
]

#: The columns of a comparison worth showing first (out of sample is the headline).
HEADLINE_COLUMNS = (
    "kind",
    "method",
    "targetability",
    "k",
    "min_share",
    "oos_normalised_gini",
    "oos_normalised_gini_low",
    "oos_normalised_gini_high",
    "diff_to_best_low",
    "diff_to_best_high",
    "tied_with_best",
    "oos_omega2_log",
    "oos_top_lift",
    "is_normalised_gini",
    "stability_ari",
    "eligible",
    "champion",
)


def headline(comparison: pd.DataFrame) -> pd.DataFrame:
    """The ``HEADLINE_COLUMNS`` a comparison has (out-of-sample ones only with a holdout)."""
    return comparison[[c for c in HEADLINE_COLUMNS if c in comparison.columns]]


CHAMPION_RULE = (
    "highest out-of-sample normalised Gini (in-sample when the table has no holdout) among "
    "eligible segmentations (k <= max_k, every group, unassigned customers included, at least "
    "min_share of customers, stability ARI at least min_stability when measured); the "
    "segmentations whose paired bootstrap difference to the best covers 0 are tied with it, "
    "and among tied ones the widest audience wins (prospect, then acquisition, then "
    "behavioural), then the more stable, then fewer segments"
)


def _groups(labels: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    return [values[labels == g] for g in np.unique(labels)]


def _anova(labels: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(eta squared, omega squared) from scipy's one-way ANOVA F statistic."""
    groups = _groups(labels, values)
    k, n = len(groups), len(values)
    if k < 2 or n <= k:
        return float("nan"), float("nan")
    if np.ptp(values) == 0:
        return 0.0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant groups make scipy warn; F is still right
        f = float(f_oneway(*groups).statistic)
    if not np.isfinite(f):  # all within-group variance is zero: a perfect separation
        return 1.0, 1.0
    df_b, df_w = k - 1, n - k
    eta2 = f * df_b / (f * df_b + df_w)
    omega2 = (f - 1) * df_b / ((f - 1) * df_b + n)
    return float(eta2), float(omega2)


def _epsilon2(labels: np.ndarray, values: np.ndarray) -> float:
    groups = _groups(labels, values)
    n = len(values)
    if len(groups) < 2 or np.ptp(values) == 0:
        return 0.0 if len(groups) >= 2 else float("nan")
    h = float(kruskal(*groups).statistic)
    return h / (n - 1)


def _gain_gini(order_keys: np.ndarray, values: np.ndarray) -> float:
    """Gini of the gain curve of ``values`` when customers are taken by descending key.

    Customers with equal keys are taken together (the curve is straight across a tie), so
    a segmentation is credited only for its ranking of segments, not of customers within.
    """
    total = values.sum()
    if total <= 0:
        return float("nan")
    keys, inverse = np.unique(-order_keys, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(keys))
    sums = np.bincount(inverse, weights=values, minlength=len(keys))
    x = np.r_[0.0, np.cumsum(counts) / len(values)]
    y = np.r_[0.0, np.cumsum(sums) / total]
    return float(2 * auc(x, y) - 1)


def _lorenz_gini(labels: np.ndarray, values: np.ndarray) -> float:
    """Gini of the Lorenz curve over segments ordered by ascending value per customer."""
    total = values.sum()
    if total <= 0:
        return float("nan")
    ids = np.unique(labels)
    means = np.array([values[labels == g].mean() for g in ids])
    order = np.argsort(means, kind="stable")
    counts = np.array([(labels == g).sum() for g in ids])[order]
    sums = np.array([values[labels == g].sum() for g in ids])[order]
    x = np.r_[0.0, np.cumsum(counts) / len(values)]
    y = np.r_[0.0, np.cumsum(sums) / total]
    return float(1 - 2 * auc(x, y))


def separation_metrics(
    labels: np.ndarray, value: np.ndarray, ranking_value: np.ndarray | None = None
) -> dict[str, float]:
    """Value-separation metrics of one labelling.

    Parameters
    ----------
    labels : array of int
        Segment of each customer (``-1``: unassigned, a group of its own).
    value : array of float
        The value measured (predicted CLV in sample; realised holdout revenue out of sample).
    ranking_value : array of float, optional
        The value that ranks segments (their mean predicted value); default ``value``.

    Returns
    -------
    dict
        ``k`` (segments, not counting ``-1``), ``min_share`` (smallest group, the ``-1``
        group included), ``noise_share``, ``eta2``, ``omega2``, ``eta2_log``,
        ``omega2_log``, ``epsilon2``, ``top_lift``, ``top_value_share``,
        ``lorenz_gini``, ``gini``, ``oracle_gini``, ``normalised_gini``.

    Examples
    --------
    >>> import numpy as np
    >>> from segml.segment.evaluate import separation_metrics
    >>> m = separation_metrics(np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 5.0, 5.0]))
    >>> m["eta2"], m["k"], round(m["normalised_gini"], 6)
    (1.0, 2, 1.0)
    """
    labels = np.asarray(labels)
    value = np.asarray(value, dtype="float64")
    rank_on = value if ranking_value is None else np.asarray(ranking_value, dtype="float64")
    if not (labels.shape == value.shape == rank_on.shape):
        raise DataError("labels, value and ranking_value must have the same length.")
    if len(value) == 0:
        raise DataError("cannot measure separation on zero customers.")
    if not np.isfinite(value).all() or not np.isfinite(rank_on).all():
        raise DataError("value and ranking_value must be finite for every customer.")
    ids = np.unique(labels)
    real = ids[ids >= 0]
    # The noise group (-1) is a group like any other in every metric, min_share included.
    shares = np.array([(labels == g).mean() for g in ids])
    eta2, omega2 = _anova(labels, value)
    log_ok = (value >= 0).all()
    eta2_log, omega2_log = _anova(labels, np.log1p(value)) if log_ok else (np.nan, np.nan)
    # segment means of the ranking value define the order and the top segment
    seg_mean = {g: rank_on[labels == g].mean() for g in ids}
    keys = np.array([seg_mean[g] for g in labels])
    top = max(ids, key=lambda g: (seg_mean[g], -g))
    overall = value.mean()
    total = value.sum()
    in_top = labels == top
    gini = _gain_gini(keys, value)
    oracle = _gain_gini(value, value)
    return {
        "k": len(real),
        "min_share": float(shares.min()) if len(shares) else 0.0,
        "noise_share": float((labels == -1).mean()),
        "eta2": eta2,
        "omega2": omega2,
        "eta2_log": float(eta2_log),
        "omega2_log": float(omega2_log),
        "epsilon2": _epsilon2(labels, value),
        "top_lift": float(value[in_top].mean() / overall) if overall else float("nan"),
        "top_value_share": float(value[in_top].sum() / total) if total else float("nan"),
        "lorenz_gini": _lorenz_gini(labels, value),
        "gini": gini,
        "oracle_gini": oracle,
        "normalised_gini": float(gini / oracle) if oracle and np.isfinite(oracle) else float("nan"),
    }


def stability(
    segmenter: Segmenter,
    table: pd.DataFrame,
    n_bootstrap: int = 10,
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, float]:
    """Bootstrap stability: refit on resamples, compare with the full fit on every customer.

    Returns the mean adjusted Rand index to the full-data labels, and the mean and minimum
    over segments of the per-segment Jaccard similarity (each full-fit segment against its
    best-matching segment of the refit, averaged over resamples; Hennig's clusterboot).

    Examples
    --------
    >>> import segml
    >>> from segml.segment.evaluate import stability
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> seg = segml.RuleSegmenter([("repeat", "frequency >= 1")]).fit(table)
    >>> stability(seg, table, n_bootstrap=3)["ari"]
    1.0
    """
    full = segmenter.predict(table)
    rng = np.random.default_rng(random_state)
    aris: list[float] = []
    jaccards: dict[int, list[float]] = {int(g): [] for g in np.unique(full)}
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(table), len(table))
        refit = clone(segmenter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refit.fit(table.iloc[idx])
            again = refit.predict(table)
        aris.append(adjusted_rand_score(full, again))
        for g in jaccards:
            a = full == g
            best = 0.0
            for h in np.unique(again[a]):
                b = again == h
                best = max(best, float((a & b).sum() / (a | b).sum()))
            jaccards[g].append(best)
    per_segment = [float(np.mean(v)) for v in jaccards.values() if v]
    return {
        "ari": float(np.mean(aris)) if aris else float("nan"),
        "jaccard_mean": float(np.mean(per_segment)) if per_segment else float("nan"),
        "jaccard_min": float(np.min(per_segment)) if per_segment else float("nan"),
    }


def compare(
    segmenters: Mapping[str, Segmenter],
    table: pd.DataFrame,
    value: str = "clv",
    *,
    holdout: str | None = "holdout_revenue",
    min_share: float = 0.05,
    max_k: int = 12,
    n_bootstrap: int = 0,
    min_stability: float = 0.0,
    n_intervals: int = 200,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Measure every segmentation on the same yardstick and name a champion, with error bars.

    Parameters
    ----------
    segmenters : mapping of str to Segmenter
        Named segmenters; unfitted ones are fitted on ``table``.
    table : pandas.DataFrame
        Customer table with the predicted value and, for out-of-sample figures, the
        holdout value.
    value : str, default "clv"
        Predicted value: measured in sample, and the ranking value everywhere.
    holdout : str or None, default "holdout_revenue"
        Realised value in the holdout window; ``None`` (or a missing column) gives in-sample
        figures only.
    min_share, max_k : float, int
        Eligibility for champion (see ``CHAMPION_RULE``).
    n_bootstrap : int, default 0
        Resamples for :func:`stability` (0 skips it).
    min_stability : float, default 0.0
        Smallest stability ARI of an eligible segmentation (when stability is measured).
    n_intervals : int, default 200
        Bootstrap resamples of customers (labels fixed) for the 95 % interval of the
        headline metric and of each segmentation's paired difference to the best (0 skips
        them: no ties are then recognised).
    random_state : int, default 0
        Seed of the bootstraps.
    progress : callable, optional
        Called with a short message before each segmentation is measured and before the
        intervals (the comparison is the slowest step of an experiment).

    Returns
    -------
    pandas.DataFrame
        One row per segmentation, indexed by name: ``kind``, ``method``, ``targetable``,
        ``targetability`` (``"prospect"``, ``"acquisition"`` or ``"behavioural"``),
        ``k``, ``min_share``, ``noise_share``, ``is_<metric>`` and ``oos_<metric>`` for
        every metric of :func:`separation_metrics`, stability columns when bootstrapped,
        ``<score>_low`` and ``<score>_high`` (95 % interval of the headline score),
        ``diff_to_best``, ``diff_to_best_low``, ``diff_to_best_high`` (paired difference to
        the best eligible segmentation), ``tied_with_best``, ``eligible``, ``champion`` and
        ``status`` (the champion's with "clear" or "tied with X, Y").
        ``attrs``: ``champion``, ``champion_status`` ("clear" or "tied with X, Y"),
        ``champion_rule``, ``score``, ``n_intervals`` and ``warnings`` (in words).

    Examples
    --------
    >>> import segml
    >>> t = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30",
    ...                     holdout_end="1998-06-30")
    >>> t = t.join(segml.CLVModel().fit(t).predict(t, horizon=39))
    >>> table = segml.compare({"rfm": segml.RFMSegmenter(),
    ...                        "tiers": segml.ValueTierSegmenter()}, t)
    >>> table.attrs["champion"] in ("rfm", "tiers")
    True
    """
    if not segmenters:
        raise DataError("compare needs at least one segmenter.")
    predicted = _value_series(table, value).to_numpy()
    has_holdout = holdout is not None and holdout in table.columns
    actual = _value_series(table, holdout).to_numpy() if has_holdout and holdout else None
    rows = []
    labels_of: dict[str, np.ndarray] = {}
    say = progress or (lambda _msg: None)
    for i, (name, seg) in enumerate(segmenters.items(), start=1):
        say(
            f"{name} ({i}/{len(segmenters)})"
            + (f", stability over {n_bootstrap} refits" if n_bootstrap else "")
        )
        if not isinstance(seg, Segmenter):
            raise DataError(
                f"segmentation {name!r} is a {type(seg).__name__}, not a segml Segmenter."
            )
        if not hasattr(seg, "segment_names_"):
            seg.fit(table)
        labels = seg.predict(table)
        labels_of[name] = np.asarray(labels)
        row: dict[str, Any] = {
            "segmentation": name,
            "kind": seg.kind,
            "method": getattr(seg, "method", None)
            if seg.registry_name == "cluster"
            else seg.registry_name,
            "targetable": bool(seg.targetable),
            "targetability": seg.targetability,
        }
        ins = separation_metrics(labels, predicted)
        row["k"], row["min_share"], row["noise_share"] = (
            ins["k"],
            ins["min_share"],
            ins["noise_share"],
        )
        for key in ("k", "min_share", "noise_share"):
            ins.pop(key)
        row.update({f"is_{k}": v for k, v in ins.items()})
        if actual is not None:
            oos = separation_metrics(labels, actual, ranking_value=predicted)
            for key in ("k", "min_share", "noise_share"):
                oos.pop(key)
            row.update({f"oos_{k}": v for k, v in oos.items()})
        if n_bootstrap:
            row.update(
                {
                    f"stability_{k}": v
                    for k, v in stability(seg, table, n_bootstrap, random_state).items()
                }
            )
        rows.append(row)
    out = pd.DataFrame(rows).set_index("segmentation")
    score = "oos_normalised_gini" if actual is not None else "is_normalised_gini"
    out["eligible"] = (out["k"] <= max_k) & (out["min_share"] >= min_share) & (out["k"] >= 2)
    if "stability_ari" in out.columns:
        out["eligible"] &= out["stability_ari"].fillna(0.0) >= min_stability
    measured = actual if actual is not None else predicted
    labellings = {name: labels_of[name] for name in out.index}
    if n_intervals:
        say(f"intervals ({n_intervals} bootstrap resamples of {len(predicted):,} customers)")
    _intervals(out, score, labellings, measured, predicted, n_intervals, random_state)
    champion, status = _champion(out, score)
    out["champion"] = out.index == champion
    out["status"] = [
        f"champion ({status})"
        if c
        else "tied with the best"
        if t
        else "eligible"
        if e
        else "not eligible"
        for c, t, e in zip(out["champion"], out["tied_with_best"], out["eligible"], strict=True)
    ]
    out.attrs.update(
        champion=champion,
        champion_status=status,
        champion_rule=CHAMPION_RULE,
        score=score,
        n_intervals=n_intervals,
        warnings=_warnings(out, champion, labels_of, predicted),
    )
    for text in out.attrs["warnings"]:
        warnings.warn(text, UserWarning, stacklevel=2)
    return out


def _intervals(
    out: pd.DataFrame,
    score: str,
    labellings: dict[str, np.ndarray],
    measured: np.ndarray,
    predicted: np.ndarray,
    n_intervals: int,
    random_state: int,
) -> None:
    """The score's 95 % interval and the paired difference to the best, as columns."""
    nan = float("nan")
    pool = out[out["eligible"] & out[score].notna()]
    best = str(pool[score].idxmax()) if len(pool) else None
    best_score = float(out[score].to_numpy(float)[out.index.get_loc(best)]) if best else nan
    out["diff_to_best"] = out[score] - best_score
    if not n_intervals or best is None:
        for col in (f"{score}_low", f"{score}_high", "diff_to_best_low", "diff_to_best_high"):
            out[col] = nan
        out["tied_with_best"] = out.index == best
        return
    draws = normalised_gini_draws(labellings, measured, predicted, n_intervals, random_state)
    low, high, d_low, d_high = [], [], [], []
    for name in out.index:
        low.append(np.nanpercentile(draws[name], 2.5))
        high.append(np.nanpercentile(draws[name], 97.5))
        diff = draws[name] - draws[best]
        d_low.append(np.nanpercentile(diff, 2.5))
        d_high.append(np.nanpercentile(diff, 97.5))
    out[f"{score}_low"], out[f"{score}_high"] = low, high
    out["diff_to_best_low"], out["diff_to_best_high"] = d_low, d_high
    out["tied_with_best"] = out["eligible"] & (out["diff_to_best_high"] >= 0)


def _champion(out: pd.DataFrame, score: str) -> tuple[str | None, str]:
    """Among the segmentations tied with the best: widest audience, then stable, then fewer."""
    tied = out[out["tied_with_best"] & out["eligible"]]
    if not len(tied):
        return None, "no eligible segmentation"
    stable = tied["stability_ari"] if "stability_ari" in tied.columns else 0.0
    ranked = tied.assign(
        _t=tied["targetability"].map(TARGETABILITY.index),
        _a=pd.Series(stable, index=tied.index).fillna(-1.0).round(2),
        _s=tied[score].round(9),
    ).sort_values(["_t", "_a", "k", "_s"], ascending=[True, False, True, False], kind="stable")
    champion = str(ranked.index[0])
    others = [str(n) for n in ranked.index[1:]]
    return champion, "clear" if not others else "tied with " + ", ".join(others)


def _warnings(
    out: pd.DataFrame,
    champion: str | None,
    labels_of: dict[str, np.ndarray],
    predicted: np.ndarray,
) -> list[str]:
    found = []
    n = len(predicted)
    if n < 300:
        found.append(
            f"only {n:,} customers: differences between segmentations of this size are "
            "mostly noise; read the intervals, not the ranking."
        )
    if champion is not None:
        labels = labels_of[champion]
        groups = np.unique(labels)
        means = [predicted[labels == g].mean() for g in groups]
        top = groups[int(np.argmax(means))]
        size = int((labels == top).sum())
        if size < 30:
            found.append(
                f"the champion {champion!r} has a top segment of {size} customers: its value "
                "is too uncertain to act on alone."
            )
    return found
