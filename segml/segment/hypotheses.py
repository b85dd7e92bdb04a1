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

from segml.errors import DataError, examples
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
    alpha: float = 0.05,
    min_size: int = 30,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Test each hypothesis on a customer table.

    Parameters
    ----------
    hypotheses : sequence of Hypothesis
        The hypotheses; names must be unique.
    table : pandas.DataFrame
        Customer table with the columns the rules use and the value column.
    value : str or pandas.Series, default "clv"
        The customer quality score to compare (a column, or a Series aligned on the index).
    alpha : float, default 0.05
        Family-wise error rate (Holm).
    min_size : int, default 30
        A hypothesis whose group or complement has fewer customers is not tested
        (verdict ``too_small``) and does not count in the Holm family.
    n_bootstrap : int, default 1000
        Bootstrap resamples for the 95 % interval of the ratio of means (the delta method
        is used above 200,000 customers; column ``ci_method`` says which).
    random_state : int or numpy.random.Generator, optional
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per hypothesis, indexed by name: ``rule``, ``expect``, ``n_in``,
        ``n_out``, ``share_in``, ``mean_in``, ``mean_out``, ``median_in``,
        ``median_out``, ``lift`` (mean in / overall mean), ``ratio`` (mean in / mean out),
        ``ratio_low``, ``ratio_high``, ``ci_method``, ``cliffs_delta`` (= rank-biserial
        correlation, in [-1, 1]), ``p_value`` (one-sided for higher/lower),
        ``p_holm``, ``verdict`` (``validated``, ``rejected`` or ``too_small``).

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
    values = _value_series(table, value).to_numpy()
    overall = values.mean() if len(values) else float("nan")
    rng = np.random.default_rng(random_state)
    rows = []
    for h in hypotheses:
        if not isinstance(h, Hypothesis):
            raise DataError(f"expected Hypothesis objects, got {type(h).__name__}.")
        mask = h.rule.evaluate(table)
        inside, outside = values[mask], values[~mask]
        row: dict[str, object] = {
            "hypothesis": h.name,
            "rule": h.rule.text,
            "expect": h.expect,
            "n_in": int(mask.sum()),
            "n_out": int((~mask).sum()),
            "share_in": float(mask.mean()) if len(mask) else float("nan"),
        }
        for tag, grp in (("in", inside), ("out", outside)):
            row[f"mean_{tag}"] = float(grp.mean()) if len(grp) else float("nan")
            row[f"median_{tag}"] = float(np.median(grp)) if len(grp) else float("nan")
        row["lift"] = row["mean_in"] / overall if overall else float("nan")  # type: ignore[operator]
        mean_out = row["mean_out"]
        row["ratio"] = row["mean_in"] / mean_out if mean_out else float("nan")  # type: ignore[operator]
        if len(inside) < min_size or len(outside) < min_size:
            row.update(
                ratio_low=float("nan"),
                ratio_high=float("nan"),
                ci_method="not tested",
                cliffs_delta=float("nan"),
                p_value=float("nan"),
                verdict="too_small",
            )
        else:
            u = mannwhitneyu(inside, outside, alternative=_ALTERNATIVE[h.expect])
            delta = 2.0 * float(u.statistic) / (len(inside) * len(outside)) - 1.0
            lo, hi, how = _ratio_interval(inside, outside, n_bootstrap, rng)
            row.update(
                ratio_low=lo,
                ratio_high=hi,
                ci_method=how,
                cliffs_delta=delta,
                p_value=float(u.pvalue),
                verdict="",
            )
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("hypothesis")
    frame["p_holm"] = holm(frame["p_value"].to_numpy())
    tested = frame["verdict"] != "too_small"
    frame.loc[tested, "verdict"] = np.where(
        frame.loc[tested, "p_holm"] <= alpha, "validated", "rejected"
    )
    columns = [
        "rule",
        "expect",
        "n_in",
        "n_out",
        "share_in",
        "mean_in",
        "mean_out",
        "median_in",
        "median_out",
        "lift",
        "ratio",
        "ratio_low",
        "ratio_high",
        "ci_method",
        "cliffs_delta",
        "p_value",
        "p_holm",
        "verdict",
    ]
    frame = frame[columns]
    frame.attrs["segml_validation"] = {"alpha": alpha, "min_size": min_size}
    return frame
