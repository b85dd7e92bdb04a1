"""Business hypotheses about customer value, and their statistical validation.

A hypothesis names a group of customers with a rule ("annual_revenue >= 10_000_000") and
says how its value should compare with everyone else's (``expect="higher"``, ``"lower"``
or ``"different"``). :func:`validate_hypotheses` tests each one with a Mann-Whitney U
test in the stated direction, controls the family-wise error over all tested hypotheses
with Holm's method, and reports effect sizes (Cliff's delta, lift, the ratio of mean values
with a bootstrap interval) next to the p-values: at scale every difference is
"significant", and the effect size says whether it matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from segml._columns import targetability
from segml.errors import DataError, examples
from segml.segment.mean_tests import joint_ratios, welch_permutation_test
from segml.segment.rules import Rule

__all__ = ["Hypothesis", "holm", "validate_hypotheses"]

_EXPECT = ("higher", "lower", "different")
_ALTERNATIVE = {"higher": "greater", "lower": "less", "different": "two-sided"}
#: Above this many customers the ratio-of-means interval uses the delta method.
BOOTSTRAP_MAX_N = 200_000


@dataclass(frozen=True)
class Hypothesis:
    """A testable statement: customers matching ``rule`` have higher/lower/different value.

    Parameters
    ----------
    name : str
        Short identifier, used to name segments (``"big_revenue"``).
    rule : str or Rule
        Who is in the group, in segml's rule language.
    expect : {"higher", "lower", "different"}
        Expected value of the group relative to all other customers.

    Examples
    --------
    >>> import segml
    >>> h = segml.Hypothesis("big", "annual_revenue >= 10_000_000", expect="higher")
    >>> sorted(h.rule.columns)
    ['annual_revenue']
    """

    name: str
    rule: Rule = field()
    expect: Literal["higher", "lower", "different"] = "higher"

    def __init__(
        self,
        name: str,
        rule: str | Rule,
        expect: Literal["higher", "lower", "different"] = "higher",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"a hypothesis needs a non-empty name, got {name!r}.")
        if expect not in _EXPECT:
            raise DataError(
                f"hypothesis {name!r}: expect={expect!r} is not one of {list(_EXPECT)}."
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "rule", rule if isinstance(rule, Rule) else Rule(rule))
        object.__setattr__(self, "expect", expect)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN entries are left out of the family).

    Examples
    --------
    >>> from segml.segment.hypotheses import holm
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _value_series(table: pd.DataFrame, value: str | pd.Series) -> pd.Series:
    if isinstance(value, pd.Series):
        if not value.index.equals(table.index):
            value = value.reindex(table.index)
        series = value
        label = str(value.name or "value")
    else:
        if value not in table.columns:
            hint = (
                " Add CLV predictions first, e.g. table = table.join(clv_model.predict(table))."
                if value == "clv"
                else ""
            )
            raise DataError(
                f"value column {value!r} is not in the table.{hint} Available: "
                f"{examples(table.columns, limit=20)}."
            )
        series = table[value]
        label = value
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise DataError(f"value {label!r} must be numeric, got dtype {series.dtype}.")
    bad = ~np.isfinite(series.to_numpy("float64", na_value=np.nan))
    if bad.any():
        raise DataError(
            f"value {label!r} is missing or infinite for {int(bad.sum()):,} customers, e.g. "
            f"{examples(table.index[bad])}; fill or drop them before validating."
        )
    return series.astype("float64")


def _ratio_interval(
    inside: np.ndarray, outside: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, float, str]:
    mean_out = outside.mean()
    if mean_out <= 0 or inside.mean() <= 0:
        return float("nan"), float("nan"), "undefined"
    if len(inside) + len(outside) <= BOOTSTRAP_MAX_N and n_boot > 0:
        ratios = np.empty(n_boot)
        for b in range(n_boot):
            mi = inside[rng.integers(0, len(inside), len(inside))].mean()
            mo = outside[rng.integers(0, len(outside), len(outside))].mean()
            ratios[b] = mi / mo if mo > 0 else np.nan
        lo, hi = np.nanpercentile(ratios, [2.5, 97.5])
        return float(lo), float(hi), "bootstrap"
    # Delta method on the log ratio of two independent means.
    var = inside.var(ddof=1) / (len(inside) * inside.mean() ** 2) + outside.var(ddof=1) / (
        len(outside) * mean_out**2
    )
    log_ratio = np.log(inside.mean() / mean_out)
    half = 1.959963984540054 * np.sqrt(var)
    return float(np.exp(log_ratio - half)), float(np.exp(log_ratio + half)), "delta"


def validate_hypotheses(
    hypotheses: Sequence[Hypothesis],
    table: pd.DataFrame,
    value: str | pd.Series = "clv",
    *,
    holdout_value: str | pd.Series | None = None,
    alpha: float = 0.05,
    min_lift: float = 1.1,
    min_size: int = 30,
    n_bootstrap: int = 1000,
    n_permutations: int = 2000,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Test each hypothesis on what it claims: the group's mean value against the rest's.

    The verdict rests on the ratio of mean value, group / rest: a studentized permutation
    test of the difference of means in the stated direction (:mod:`segml.segment.mean_tests`),
    Holm-adjusted over the hypotheses tested. ``validated`` needs the adjusted p-value at
    most ``alpha``, the 95 % interval of the ratio excluding 1 on the claimed side, and a
    ratio of at least ``min_lift`` (at most 1 / ``min_lift`` for "lower"); significant but
    smaller effects are ``negligible``. "different" reports the ``direction`` it found. With
    ``holdout_value`` the verdict rests on realised holdout value and the test on ``value``
    (in-sample predicted value) is reported beside it (``insample_*`` columns). Rank
    statistics (Cliff's delta, Mann-Whitney) are supporting columns; ``note`` says when
    they disagree with the means. Every hypothesis also gets its ratio adjusted for the
    others (a joint log-link model on all indicators); one whose effect vanishes given a
    validated other is a ``proxy`` of it.

    Parameters
    ----------
    hypotheses : sequence of Hypothesis
        The hypotheses; names must be unique.
    table : pandas.DataFrame
        Customer table with the columns the rules use and the value column.
    value : str or pandas.Series, default "clv"
        The customer quality score (a column, or a Series aligned on the index).
    holdout_value : str or pandas.Series, optional
        Realised value in a holdout window (e.g. ``"holdout_revenue"``): the verdict's value.
    alpha : float, default 0.05
        Family-wise error rate (Holm).
    min_lift : float, default 1.1
        Smallest ratio of mean value that counts as an effect.
    min_size : int, default 30
        A hypothesis whose group or complement has fewer customers is not tested
        (verdict ``too_small``) and does not count in the Holm family.
    n_bootstrap : int, default 1000
        Bootstrap resamples for the 95 % interval of the ratio of means (the delta method
        above 200,000 customers; column ``ci_method``).
    n_permutations : int, default 2000
        Permutations of the test (its normal limit above 50,000 customers; ``test``).
    random_state : int or numpy.random.Generator, optional
        Seed of the bootstrap and the permutations.

    Returns
    -------
    pandas.DataFrame
        One row per hypothesis, indexed by name: ``rule``, ``expect``, ``targetability``
        (who the rule can be applied to: ``"prospect"``, ``"acquisition"`` or
        ``"behavioural"``), ``n_in``,
        ``n_out``, ``share_in``, ``tested_on``, ``mean_in``, ``mean_out``, ``median_in``,
        ``median_out``, ``lift`` (mean in / overall mean), ``ratio`` (mean in / mean
        out), ``ratio_low``, ``ratio_high``, ``ci_method``, ``direction``, ``test``,
        ``p_value``, ``p_holm``, ``cliffs_delta``, ``p_rank``, ``adjusted_ratio``,
        ``adjusted_low``, ``adjusted_high``, ``proxy_of``, ``verdict`` (``validated``,
        ``negligible``, ``rejected``, ``proxy``, ``too_small``, ``no_match`` or
        ``matches_all``), ``note``; with a holdout, ``insample_ratio``,
        ``insample_ratio_low``, ``insample_ratio_high``, ``insample_p_holm``.

    Examples
    --------
    >>> import segml
    >>> tx, customers = segml.make_b2b(3000, random_state=0)
    >>> table = segml.summarize(tx, calibration_end="2023-12-31", customers=customers)
    >>> hyps = [segml.Hypothesis("big", "annual_revenue >= 10_000_000"),
    ...         segml.Hypothesis("north", "region == 'north'", expect="different")]
    >>> segml.validate_hypotheses(hyps, table, value="total_revenue")["verdict"].tolist()
    ['validated', 'rejected']
    """
    if not hypotheses:
        raise DataError("validate_hypotheses needs at least one Hypothesis.")
    names = [h.name for h in hypotheses]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise DataError(f"hypothesis names must be unique; repeated: {dups}.")
    if not 0 < alpha < 1:
        raise DataError(f"alpha must be in (0, 1), got {alpha!r}.")
    if not min_lift >= 1:
        raise DataError(f"min_lift must be at least 1, got {min_lift!r}.")
    for h in hypotheses:
        if not isinstance(h, Hypothesis):
            raise DataError(f"expected Hypothesis objects, got {type(h).__name__}.")
    masks = {h.name: np.asarray(h.rule.evaluate(table), dtype=bool) for h in hypotheses}
    rng = np.random.default_rng(random_state)
    predicted = _value_series(table, value).to_numpy()
    verdict_on = (
        predicted if holdout_value is None else _value_series(table, holdout_value).to_numpy()
    )
    label = str(value if holdout_value is None else holdout_value)
    if isinstance(holdout_value, pd.Series) or isinstance(value, pd.Series):
        label = "holdout value" if holdout_value is not None else "value"
    frame = _test_all(
        hypotheses, masks, table, verdict_on, min_size, n_bootstrap, n_permutations, rng
    )
    frame["tested_on"] = label
    _verdicts(frame, alpha, min_lift)
    if holdout_value is not None:
        inner = _test_all(
            hypotheses, masks, table, predicted, min_size, n_bootstrap, n_permutations, rng
        )
        for col in ("ratio", "ratio_low", "ratio_high", "p_holm"):
            frame[f"insample_{col}"] = inner[col]
    _adjusted(frame, masks, verdict_on)
    frame = frame[[c for c in _COLUMNS if c in frame.columns]]
    frame.attrs["segml_validation"] = {"alpha": alpha, "min_size": min_size, "min_lift": min_lift}
    return frame


_COLUMNS = [
    "rule", "expect", "targetability", "n_in", "n_out", "share_in", "tested_on", "mean_in",
    "mean_out", "median_in", "median_out", "lift", "ratio", "ratio_low", "ratio_high", "ci_method",
    "direction", "test", "p_value", "p_holm", "cliffs_delta", "p_rank", "insample_ratio",
    "insample_ratio_low", "insample_ratio_high", "insample_p_holm", "adjusted_ratio",
    "adjusted_low", "adjusted_high", "proxy_of", "verdict", "note",
]  # fmt: skip


def _test_all(
    hypotheses: Sequence[Hypothesis],
    masks: dict[str, np.ndarray],
    table: pd.DataFrame,
    values: np.ndarray,
    min_size: int,
    n_bootstrap: int,
    n_permutations: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    overall = values.mean() if len(values) else float("nan")
    rows = []
    for h in hypotheses:
        mask = masks[h.name]
        inside, outside = values[mask], values[~mask]
        row: dict[str, object] = {
            "hypothesis": h.name,
            "rule": h.rule.text,
            "expect": h.expect,
            "targetability": targetability(h.rule.columns),
            "n_in": int(mask.sum()),
            "n_out": int((~mask).sum()),
            "share_in": float(mask.mean()) if len(mask) else float("nan"),
            "note": "",
        }
        for tag, grp in (("in", inside), ("out", outside)):
            row[f"mean_{tag}"] = float(grp.mean()) if len(grp) else float("nan")
            row[f"median_{tag}"] = float(np.median(grp)) if len(grp) else float("nan")
        row["lift"] = row["mean_in"] / overall if overall else float("nan")  # type: ignore[operator]
        mean_out = row["mean_out"]
        row["ratio"] = row["mean_in"] / mean_out if mean_out else float("nan")  # type: ignore[operator]
        nan = float("nan")
        row.update(ratio_low=nan, ratio_high=nan, ci_method="not tested", direction="",
                   test="", p_value=nan, cliffs_delta=nan, p_rank=nan)  # fmt: skip
        if not len(inside) or not len(outside):
            row["verdict"] = "no_match" if not len(inside) else "matches_all"
            row["note"] = _takes(h, table, matched=len(inside))
        elif len(inside) < min_size or len(outside) < min_size:
            row["verdict"] = "too_small"
        else:
            stat, p, test = welch_permutation_test(
                inside, outside, _ALTERNATIVE[h.expect], n_permutations, rng
            )
            u = mannwhitneyu(inside, outside, alternative="two-sided")
            lo, hi, how = _ratio_interval(inside, outside, n_bootstrap, rng)
            row.update(
                ratio_low=lo,
                ratio_high=hi,
                ci_method=how,
                direction="higher" if stat > 0 else "lower",
                test=test,
                p_value=p,
                cliffs_delta=2.0 * float(u.statistic) / (len(inside) * len(outside)) - 1.0,
                p_rank=float(u.pvalue),
                verdict="",
            )
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("hypothesis")
    frame["p_holm"] = holm(frame["p_value"].to_numpy())
    return frame


def _takes(h: Hypothesis, table: pd.DataFrame, matched: int) -> str:
    """What the rule's columns take, for a rule that matches no customer or every one."""
    parts = []
    for col in sorted(h.rule.columns):
        values = table[col].dropna()
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parts.append(f"{col} runs from {values.min():g} to {values.max():g}")
        else:
            seen = values.astype(str).value_counts().index[:8]
            parts.append(
                f"{col} takes {', '.join(seen)}" + (", ..." if values.nunique() > 8 else "")
            )
    who = "no customer matches" if not matched else "every customer matches"
    return f"{who}: {'; '.join(parts)}"


def _verdicts(frame: pd.DataFrame, alpha: float, min_lift: float) -> None:
    tested = frame["verdict"] == ""
    for name in frame.index[tested]:
        row = frame.loc[name]
        significant = row["p_holm"] <= alpha
        if row["expect"] == "higher":
            excludes, big = row["ratio_low"] > 1, row["ratio"] >= min_lift
        elif row["expect"] == "lower":
            excludes, big = row["ratio_high"] < 1, row["ratio"] <= 1 / min_lift
        else:
            excludes = row["ratio_low"] > 1 or row["ratio_high"] < 1
            big = max(row["ratio"], 1 / row["ratio"]) >= min_lift if row["ratio"] > 0 else False
        if significant and excludes:
            frame.loc[name, "verdict"] = "validated" if big else "negligible"
        else:
            frame.loc[name, "verdict"] = "rejected"
        delta, ratio = row["cliffs_delta"], row["ratio"]
        if np.isfinite(delta) and abs(delta) >= 0.147 and np.sign(delta) != np.sign(np.log(ratio)):
            frame.loc[name, "note"] = (
                f"rank and mean disagree: the group's mean is {ratio:.2f}x the rest's, but "
                f"most of its customers are worth {'less' if delta < 0 else 'more'} "
                f"(Cliff's delta {delta:+.2f})"
            )
        if row["expect"] == "different" and frame.loc[name, "verdict"] == "validated":
            frame.loc[name, "note"] = (
                f"different: {row['direction']} ({ratio:.2f}x). " + frame.loc[name, "note"]
            ).strip()


def _adjusted(frame: pd.DataFrame, masks: dict[str, np.ndarray], values: np.ndarray) -> None:
    """Ratios adjusted for the other hypotheses, and proxies flagged."""
    nan = float("nan")
    frame["adjusted_ratio"], frame["adjusted_low"], frame["adjusted_high"] = nan, nan, nan
    frame["proxy_of"] = ""
    tested = [n for n in frame.index if frame.loc[n, "verdict"] not in _UNTESTED]
    # A hypothesis that is another's complement (or its copy) adds no column.
    columns: list[str] = []
    for name in tested:
        m = masks[name]
        if not any((m == masks[c]).all() or (m != masks[c]).all() for c in columns):
            columns.append(name)
    if len(columns) < 2 or (values < 0).any():
        return
    ratio, interval = joint_ratios(np.column_stack([masks[c] for c in columns]), values)
    for j, name in enumerate(columns):
        frame.loc[name, ["adjusted_ratio", "adjusted_low", "adjusted_high"]] = (
            ratio[j], interval[j, 0], interval[j, 1]
        )  # fmt: skip
    verdict = frame["verdict"].to_dict()
    low, high = frame["adjusted_low"].to_dict(), frame["adjusted_high"].to_dict()
    expect = frame["expect"].to_dict()
    # Gone given the others: the adjusted interval no longer excludes 1 on the claimed side.
    vanishes = {
        c: bool(
            low[c] <= 1
            if expect[c] == "higher"
            else high[c] >= 1
            if expect[c] == "lower"
            else low[c] <= 1 <= high[c]
        )
        for c in columns
    }
    for name in columns:
        if verdict[name] != "validated" or not vanishes[name]:
            continue
        others = [c for c in columns if c != name and verdict[c] == "validated" and not vanishes[c]]
        if not others:
            continue
        corr = {c: abs(float(np.corrcoef(masks[name], masks[c])[0, 1])) for c in others}
        best = max(corr, key=lambda c: corr[c])
        if corr[best] >= 0.3:
            adjusted = float(frame["adjusted_ratio"].to_dict()[name])
            frame.loc[name, "verdict"] = "proxy"
            frame.loc[name, "proxy_of"] = best
            frame.loc[name, "note"] = (
                f"a proxy of {best}: its effect vanishes given {best} (ratio adjusted for it "
                f"{adjusted:.2f} [{float(low[name]):.2f}, {float(high[name]):.2f}]; the groups "
                f"correlate {corr[best]:.2f})"
            )


_UNTESTED = ("too_small", "no_match", "matches_all")
