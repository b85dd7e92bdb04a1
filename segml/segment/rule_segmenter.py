"""Rule-based segmentations: ordered business rules, and the synthesis of validated hypotheses."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segml.errors import DataError
from segml.segment.base import Segmenter, rank_letters
from segml.segment.hypotheses import _value_series
from segml.segment.rules import Rule

__all__ = ["RuleSegmenter"]


class RuleSegmenter(Segmenter):
    """Segments defined by an ordered list of named rules; the first rule that matches wins.

    Customers that match no rule get label ``-1`` and the name ``default``.

    Parameters
    ----------
    rules : sequence of (name, rule) pairs
        Segment names and their rules, in priority order.
    default : str, default "other"
        Name of the customers no rule matches.

    Attributes
    ----------
    segment_names_ : dict of int to str
        Label -> name (``-1`` -> ``default``).
    columns_ : frozenset of str
        Columns the rules use.
    labels_ : numpy.ndarray
        Labels of the table the segmenter was fitted on.
    provenance_ : dict
        For a synthesised segmentation: the hypotheses used, the cells and their merges.

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> seg = segml.RuleSegmenter([("big first order", "first_amount >= 50"),
    ...                            ("repeat buyer", "frequency >= 1")])
    >>> labels = seg.fit_predict(table)
    >>> seg.segment_names_
    {0: 'big first order', 1: 'repeat buyer', -1: 'other'}
    >>> seg.targetable   # 'frequency' is purchase behaviour
    False
    """

    kind = "hypothesis"
    registry_name = "rules"

    def __init__(self, rules: Sequence[tuple[str, str]] = (), default: str = "other") -> None:
        self.rules = rules
        self.default = default

    def _parsed(self) -> list[tuple[str, Rule]]:
        if not self.rules:
            raise DataError("RuleSegmenter needs at least one (name, rule) pair.")
        out = []
        for item in self.rules:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise DataError(f"each rule must be a (name, rule) pair, got {item!r}.")
            name, text = item
            out.append((str(name), text if isinstance(text, Rule) else Rule(str(text))))
        names = [n for n, _ in out]
        if len(set(names)) != len(names) or self.default in names:
            raise DataError(f"segment names must be unique and differ from default: {names}.")
        return out

    def _fit(self, table: pd.DataFrame) -> None:
        parsed = self._parsed()
        for _, rule in parsed:
            rule.check(table)
        self._compiled = parsed
        self.segment_names_ = {i: name for i, (name, _) in enumerate(parsed)}
        self.segment_names_[-1] = self.default
        self.columns_ = frozenset().union(*(r.columns for _, r in parsed))
        labels = self._predict(table)
        empty = [name for i, (name, _) in enumerate(parsed) if not (labels == i).any()]
        if empty:
            warnings.warn(
                f"RuleSegmenter: segments {empty} match no customer in the fitted table "
                "(their rules are never the first to match).",
                stacklevel=3,
            )

    @classmethod
    def of_rules(cls, rules: Sequence[tuple[str, str]], default: str = "other") -> RuleSegmenter:
        """A segmenter applying ``rules`` as given, ready without a table to fit on (for
        rules learnt elsewhere, such as a value tree's leaves).

        Parameters
        ----------
        rules : sequence of (name, rule)
            First match wins.
        default : str
            Name of the customers no rule matches (label ``-1``).

        Returns
        -------
        RuleSegmenter
        """
        obj = cls(rules, default=default)
        obj._compiled = obj._parsed()
        obj.segment_names_ = {i: name for i, (name, _) in enumerate(obj._compiled)}
        obj.segment_names_[-1] = default
        obj.columns_ = frozenset().union(*(r.columns for _, r in obj._compiled))
        return obj

    def assign(self, table: pd.DataFrame) -> np.ndarray:
        """The label of the first matching rule for each row of ``table`` (``-1`` for none).

        Parameters
        ----------
        table : pandas.DataFrame

        Returns
        -------
        numpy.ndarray
        """
        return self._predict(table)

    def _predict(self, table: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "_compiled"):
            self._compiled = self._parsed()
        labels = np.full(len(table), -1, dtype=np.int64)
        free = np.ones(len(table), dtype=bool)
        for i, (_, rule) in enumerate(self._compiled):
            hit = rule.evaluate(table) & free
            labels[hit] = i
            free &= ~hit
        return labels

    def _state(self, directory: Path) -> dict[str, Any]:
        return {"provenance": getattr(self, "provenance_", None)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], directory: Path) -> RuleSegmenter:
        params = state["params"]
        obj = cls(rules=[tuple(r) for r in params["rules"]], default=params["default"])
        obj._compiled = obj._parsed()
        if state["state"].get("provenance") is not None:
            obj.provenance_ = state["state"]["provenance"]
        return obj

    # ---------------------------------------------------------------- synthesis
    @classmethod
    def from_hypotheses(
        cls,
        validation: pd.DataFrame,
        table: pd.DataFrame,
        value: str | pd.Series = "clv",
        *,
        min_share: float = 0.05,
        max_hypotheses: int = 4,
    ) -> RuleSegmenter:
        """Synthesise the validated hypotheses into one segmentation.

        Every combination of the validated hypotheses (each true or false) is a cell of
        their cross product. Cells smaller than ``min_share`` of the customers are merged,
        smallest first, into the cell nearest in mean value (empty cells into the cell
        differing in the fewest hypotheses). The resulting segments are ranked by mean
        value, A being the most valuable, and named from their hypotheses.

        Parameters
        ----------
        validation : pandas.DataFrame
            Output of :func:`segml.validate_hypotheses`.
        table : pandas.DataFrame
            The customer table the cells are measured on.
        value : str or pandas.Series, default "clv"
            Value used to merge and rank cells.
        min_share : float, default 0.05
            Smallest share of customers a segment may have.
        max_hypotheses : int, default 4
            At most this many validated hypotheses (largest absolute effect size first)
            are combined, so there are at most ``2 ** max_hypotheses`` cells.

        Returns
        -------
        RuleSegmenter
            Fitted on ``table``, with ``provenance_`` describing the synthesis.

        Examples
        --------
        >>> import segml
        >>> tx, customers = segml.make_b2b(3000, random_state=0)
        >>> table = segml.summarize(tx, calibration_end="2023-12-31", customers=customers)
        >>> hyps = [segml.Hypothesis("big", "annual_revenue >= 10_000_000"),
        ...         segml.Hypothesis("health", "industry == 'healthcare'")]
        >>> v = segml.validate_hypotheses(hyps, table, value="total_revenue")
        >>> seg = segml.RuleSegmenter.from_hypotheses(v, table, value="total_revenue")
        >>> seg.segment_names_[0]
        'A: big & health'
        """
        required = {"rule", "verdict", "cliffs_delta"}
        if not isinstance(validation, pd.DataFrame) or not required <= set(validation.columns):
            raise DataError(
                "from_hypotheses needs the table returned by segml.validate_hypotheses "
                f"(columns {sorted(required)})."
            )
        if not 0 <= min_share < 1:
            raise DataError(f"min_share must be in [0, 1), got {min_share!r}.")
        chosen = validation[validation["verdict"] == "validated"]
        if chosen.empty:
            raise DataError(
                "no hypothesis was validated, so there is nothing to synthesise; verdicts: "
                f"{validation['verdict'].to_dict()}."
            )
        chosen = chosen.reindex(
            chosen["cliffs_delta"].abs().sort_values(ascending=False, kind="stable").index
        ).iloc[:max_hypotheses]
        names = [str(n) for n in chosen.index]
        rules = [Rule(str(r)) for r in chosen["rule"]]
        values = _value_series(table, value).to_numpy()
        bits = np.column_stack([r.evaluate(table) for r in rules]).astype(np.int64)
        codes = (bits << np.arange(len(rules))).sum(axis=1)
        n_cells = 2 ** len(rules)
        sizes = np.bincount(codes, minlength=n_cells).astype(float)
        sums = np.bincount(codes, weights=values, minlength=n_cells)
        groups: list[list[int]] = [[c] for c in range(n_cells)]
        merges: list[dict[str, Any]] = []

        def stats(group: list[int]) -> tuple[float, float]:
            size = sizes[group].sum()
            return size / len(values), (sums[group].sum() / size if size else float("nan"))

        while len(groups) > 1:
            shares = [stats(g)[0] for g in groups]
            small = [i for i, s in enumerate(shares) if s < min_share or s == 0]
            if not small:
                break
            i = min(small, key=lambda k: (shares[k], groups[k][0]))
            others = [j for j in range(len(groups)) if j != i]
            if shares[i] == 0:

                def hamming(j: int, i: int = i, shares: list[float] = shares) -> tuple[int, float]:
                    dist = min(bin(a ^ b).count("1") for a in groups[i] for b in groups[j])
                    return dist, -shares[j]

                j = min(others, key=hamming)
            else:
                mean_i = stats(groups[i])[1]
                j = min(others, key=lambda k: (abs(stats(groups[k])[1] - mean_i), -shares[k]))
            merges.append(
                {
                    "cells": [_cell_name(c, names) for c in groups[i]],
                    "into": [_cell_name(c, names) for c in groups[j]],
                    "share": float(shares[i]),
                }
            )
            groups[j] = sorted(groups[j] + groups[i])
            del groups[i]

        ranked = sorted(groups, key=lambda g: -np.nan_to_num(stats(g)[1], nan=-np.inf))
        letters = rank_letters(len(ranked))
        pairs = []
        for letter, group in zip(letters, ranked, strict=True):
            label, text = _group_label_and_rule(group, names, rules)
            pairs.append((f"{letter}: {label}", text))
        seg = cls(rules=pairs)
        seg.fit(table)
        seg.provenance_ = {
            "hypotheses": dict(zip(names, [r.text for r in rules], strict=True)),
            "min_share": min_share,
            "merges": merges,
            "segments": [
                {"name": n, "share": float(stats(g)[0]), "mean_value": float(stats(g)[1])}
                for (n, _), g in zip(pairs, ranked, strict=True)
            ],
        }
        return seg


def _cell_name(code: int, names: list[str]) -> str:
    parts = [n if code >> j & 1 else f"not {n}" for j, n in enumerate(names)]
    return " & ".join(parts)


def _cell_rule(code: int, rules: list[Rule]) -> str:
    return " and ".join(
        f"({r.text})" if code >> j & 1 else f"not ({r.text})" for j, r in enumerate(rules)
    )


def _group_label_and_rule(group: list[int], names: list[str], rules: list[Rule]) -> tuple[str, str]:
    """Name and rule of a group of cells, dropping hypotheses the group spans entirely."""
    m = len(names)
    fixed = [j for j in range(m) if len({c >> j & 1 for c in group}) == 1]
    free = m - len(fixed)
    if len(group) == 2**free:  # the group is a sub-cube: describe it by its fixed bits
        code = group[0]
        if not fixed:
            return "everyone", "true"
        label = " & ".join(names[j] if code >> j & 1 else f"not {names[j]}" for j in fixed)
        text = " and ".join(
            f"({rules[j].text})" if code >> j & 1 else f"not ({rules[j].text})" for j in fixed
        )
        return label, text
    label = " | ".join(_cell_name(c, names) for c in group)
    cell_rules = [_cell_rule(c, rules) for c in group]
    return label, " or ".join(f"({r})" for r in cell_rules)
