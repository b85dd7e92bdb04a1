"""The value tree: readable rules on observable attributes that separate customer value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from segml.errors import DataError, examples
from segml.segment.base import BEHAVIOURAL_COLUMNS, Segmenter, rank_letters
from segml.segment.hypotheses import _value_series
from segml.segment.profile import _is_categorical
from segml.segment.rule_segmenter import RuleSegmenter

__all__ = ["ValueTreeSegmenter"]

_TREE_FILE = "tree.joblib"


def _fmt(value: float) -> str:
    """A number as the rule language writes it: integers with underscores, else repr."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):_}"
    return repr(float(value))


def _quote(level: Any) -> str:
    text = str(level).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class ValueTreeSegmenter(Segmenter):
    """A regression tree of value on observable attributes; its leaves are the segments.

    The tree predicts value (e.g. CLV) from attributes a marketer can see before any
    purchase history (firmographics, demographics, first-order facts). Each leaf becomes a
    segment named by its rule path and ranked by mean value (A = most valuable). Predictions
    go through the exported rules, so :meth:`to_rule_segmenter` and :meth:`predict` agree
    by construction, and the segmentation applies to prospects when its features are
    observable (``targetable``).

    Missing numbers are imputed with the fitted median, and the rules say so
    (``annual_revenue <= 9_950_000 or annual_revenue is null`` on the median's side);
    categories are one-hot encoded, a missing category matching no level.

    Parameters
    ----------
    features : sequence of str, optional
        Attribute columns; default every column that is not behaviour or value
        (``segml._columns.BEHAVIOURAL_COLUMNS``), a date, or a category with more than 50
        levels.
    value : str, default "clv"
        The value column to predict.
    max_leaves : int, default 8
        Largest number of segments.
    min_share : float, default 0.05
        Smallest share of customers in a leaf.
    random_state : int, default 0
        Seed of the tree (ties between equally good splits).

    Attributes
    ----------
    rules_ : list of (name, rule)
        Leaf rules, most valuable first.
    tree_ : sklearn.tree.DecisionTreeRegressor
        The fitted tree.
    rule_segmenter_ : RuleSegmenter
        The exported segmentation used by :meth:`predict`.

    Examples
    --------
    >>> import segml
    >>> tx, customers = segml.make_b2b(3000, random_state=0)
    >>> table = segml.summarize(tx, calibration_end="2023-12-31", customers=customers)
    >>> tree = segml.ValueTreeSegmenter(value="total_revenue", max_leaves=3,
    ...                                 features=["annual_revenue", "industry"]).fit(table)
    >>> tree.targetable, len(tree.rules_)
    (True, 3)
    """

    kind = "discovered"
    registry_name = "value_tree"

    def __init__(
        self,
        features: Sequence[str] | None = None,
        value: str = "clv",
        max_leaves: int = 8,
        min_share: float = 0.05,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.value = value
        self.max_leaves = max_leaves
        self.min_share = min_share
        self.random_state = random_state

    def _select_features(self, table: pd.DataFrame) -> list[str]:
        if self.features is not None:
            feats = list(self.features)
            missing = [f for f in feats if f not in table.columns]
            if missing:
                raise DataError(
                    f"ValueTreeSegmenter: features {missing} are not columns of the table; "
                    f"available: {examples(table.columns, limit=20)}."
                )
            return feats
        feats = []
        for col in table.columns:
            series = table[col]
            if col in BEHAVIOURAL_COLUMNS or col == self.value:
                continue
            if pd.api.types.is_datetime64_any_dtype(series.dtype):
                continue
            if _is_categorical(series) and series.nunique() > 50:
                continue
            feats.append(col)
        if not feats:
            raise DataError(
                "ValueTreeSegmenter found no observable attribute in the table; join customer "
                "attributes (summarize(..., customers=...)) or pass features=[...]."
            )
        return feats

    def _fit(self, table: pd.DataFrame) -> None:
        if not isinstance(self.max_leaves, int) or self.max_leaves < 2:
            raise DataError(f"max_leaves must be an integer >= 2, got {self.max_leaves!r}.")
        if not 0 < self.min_share < 0.5:
            raise DataError(f"min_share must be in (0, 0.5), got {self.min_share!r}.")
        feats = self._select_features(table)
        y = _value_series(table, self.value).to_numpy()
        columns: list[np.ndarray] = []
        self.encoding_: list[dict[str, Any]] = []
        for col in feats:
            series = table[col]
            if pd.api.types.is_bool_dtype(series.dtype):
                columns.append(series.to_numpy("float64"))
                self.encoding_.append({"column": col, "kind": "bool"})
            elif _is_categorical(series):
                levels = sorted(str(v) for v in series.dropna().unique())
                as_str = series.astype(object).where(series.notna(), None)
                for level in levels:
                    columns.append((as_str == level).to_numpy("float64"))
                    self.encoding_.append({"column": col, "kind": "level", "level": level})
            elif pd.api.types.is_numeric_dtype(series.dtype):
                values = series.to_numpy("float64", na_value=np.nan)
                if np.isinf(values).any():
                    raise DataError(f"feature {col!r} has infinite values; cap or remove them.")
                if np.isnan(values).all():
                    raise DataError(f"feature {col!r} is missing for every customer.")
                median = float(np.nanmedian(values))
                columns.append(np.where(np.isnan(values), median, values))
                self.encoding_.append(
                    {
                        "column": col,
                        "kind": "number",
                        "median": median,
                        "has_missing": bool(np.isnan(values).any()),
                    }
                )
            else:
                raise DataError(
                    f"feature {col!r} has dtype {series.dtype}, which the value tree cannot use."
                )
        X = np.column_stack(columns)
        self.tree_ = DecisionTreeRegressor(
            max_leaf_nodes=self.max_leaves,
            min_samples_leaf=max(1, math.ceil(self.min_share * len(y))),
            random_state=self.random_state,
        ).fit(X, y)
        leaves = self._leaf_rules(X)
        leaves.sort(key=lambda t: -t[1])
        letters = rank_letters(len(leaves))
        self.rules_ = [
            (f"{letter}: {label}", text)
            for letter, (label, _, text) in zip(letters, leaves, strict=True)
        ]
        self.rule_segmenter_ = RuleSegmenter.of_rules(self.rules_, default="other")
        self.segment_names_ = dict(self.rule_segmenter_.segment_names_)
        self.columns_ = frozenset(
            {e["column"] for e in self.encoding_}
            & set().union(*(set(_used_columns(t)) for _, t in self.rules_))
        ) or frozenset(feats)

    def _condition(self, feature: int, threshold: float, left: bool) -> tuple[str, str]:
        enc = self.encoding_[feature]
        col = enc["column"]
        if enc["kind"] == "level":
            cond = f"{col} == {_quote(enc['level'])}"
            return (
                (f"not ({cond})", f"{col} != {enc['level']}")
                if left
                else (cond, f"{col} = {enc['level']}")
            )
        if enc["kind"] == "bool":
            return (f"not ({col} == true)", f"not {col}") if left else (f"{col} == true", col)
        op = "<=" if left else ">"
        text = f"{col} {op} {_fmt(threshold)}"
        label = f"{col} {op} {_fmt(threshold)}"
        median_side = enc["median"] <= threshold if left else enc["median"] > threshold
        if enc["has_missing"] and median_side:
            text = f"({text} or {col} is null)"
        return text, label

    def _leaf_rules(self, X: np.ndarray) -> list[tuple[str, float, str]]:
        tree = self.tree_.tree_
        out: list[tuple[str, float, str]] = []
        nice: dict[int, float] = {}
        for node in np.flatnonzero(tree.children_left != -1):
            f, t = int(tree.feature[node]), float(tree.threshold[node])
            col = X[:, f]
            nice[int(node)] = _nice_threshold(float(col[col <= t].max()), float(col[col > t].min()))

        def walk(node: int, path: list[tuple[int, float, bool]]) -> None:
            left, right = tree.children_left[node], tree.children_right[node]
            if left == -1:
                conds = _simplify(path)
                parts = [self._condition(f, t, side) for f, t, side in conds]
                text = " and ".join(p[0] for p in parts) if parts else "true"
                label = " & ".join(p[1] for p in parts) if parts else "everyone"
                out.append((label, float(tree.value[node].ravel()[0]), text))
                return
            f, t = int(tree.feature[node]), nice[node]
            walk(left, [*path, (f, t, True)])
            walk(right, [*path, (f, t, False)])

        walk(0, [])
        return out

    def _predict(self, table: pd.DataFrame) -> np.ndarray:
        return self.rule_segmenter_.assign(table)

    def to_rule_segmenter(self) -> RuleSegmenter:
        """The leaves as a :class:`RuleSegmenter` (unfitted; fit it on any table)."""
        if not hasattr(self, "rules_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("fit the ValueTreeSegmenter before exporting its rules.")
        return RuleSegmenter(list(self.rules_), default="other")

    def _state(self, directory: Path) -> dict[str, Any]:
        joblib.dump(self.tree_, directory / _TREE_FILE)
        return {"rules": self.rules_, "encoding": self.encoding_}

    @classmethod
    def _from_state(cls, state: dict[str, Any], directory: Path) -> ValueTreeSegmenter:
        obj = cls(**state["params"])
        s = state["state"]
        obj.rules_ = [tuple(r) for r in s["rules"]]
        obj.encoding_ = s["encoding"]
        path = directory / _TREE_FILE
        if path.exists():
            obj.tree_ = joblib.load(path)
        obj.rule_segmenter_ = RuleSegmenter.of_rules(obj.rules_, default="other")
        return obj


def _nice_threshold(lo: float, hi: float) -> float:
    """The roundest number r with lo <= r < hi: splits the training data exactly as the tree."""
    if not lo < hi:
        return lo
    top = math.floor(math.log10(max(abs(lo), abs(hi), 1e-12))) + 1
    for exponent in range(top, -10, -1):
        step = 10.0**exponent
        r = math.ceil(lo / step) * step
        if lo <= r < hi:
            return float(round(r, 10))
    return lo


def _simplify(path: list[tuple[int, float, bool]]) -> list[tuple[int, float, bool]]:
    """Keep the tightest bound per (feature, side) along a path, in first-seen order."""
    best: dict[tuple[int, bool], float] = {}
    order: list[tuple[int, bool]] = []
    for f, t, left in path:
        key = (f, left)
        if key not in best:
            order.append(key)
            best[key] = t
        else:
            best[key] = min(best[key], t) if left else max(best[key], t)
    return [(f, best[(f, left)], left) for f, left in order]


def _used_columns(text: str) -> list[str]:
    from segml.segment.rules import Rule

    return sorted(Rule(text).columns)
