"""A small, safe rule language over customer-table columns.

Rules are parsed by segml's own recursive-descent parser into a tree and evaluated with
vectorised numpy/pandas operations. Nothing is ever passed to ``eval``, ``DataFrame.eval``
or ``DataFrame.query``: a rule can only name columns, compare them and combine the results.

Grammar (keywords are case-insensitive)::

    rule      := or_expr
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | predicate
    predicate := operand [ op operand
                         | ["not"] "in" "[" literal ("," literal)* "]"
                         | ["not"] "between" operand "and" operand
                         | "is" ["not"] "null" ]
    operand   := column | literal | "(" or_expr ")"
    op        := "==" | "!=" | "<" | "<=" | ">" | ">="
    literal   := number | string | "true" | "false"

Numbers may use underscores (``10_000_000``), a sign and an exponent; strings use single or
double quotes. A column on its own is a predicate when it is boolean. Dates are compared
with strings (``first_purchase >= "1997-03-01"``).

Missing values: a comparison, ``in`` or ``between`` involving a missing value is false
(use ``is null`` to select missing values); ``not`` negates the result as computed, so
``not revenue > 5`` includes customers with a missing revenue.

Examples
--------
>>> import pandas as pd
>>> from segml.segment.rules import Rule
>>> t = pd.DataFrame({"annual_revenue": [5e6, 2e7], "industry": ["retail", "energy"]})
>>> Rule("annual_revenue >= 10_000_000 and industry in ['energy', 'software']").evaluate(t)
array([False,  True])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from segml.errors import did_you_mean
from segml.segment.rule_parser import (
    Between,
    BoolOp,
    Column,
    Compare,
    InList,
    IsNull,
    Literal,
    Not,
    RuleError,
    caret,
    node_pos,
    parse_rule,
)

__all__ = ["Rule", "RuleError", "parse_rule"]


# ------------------------------------------------------------------------ evaluation
def _kind(values: pd.Series) -> str:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return "string"
    if pd.api.types.is_object_dtype(dtype):
        sample = values.dropna()
        if len(sample) and all(isinstance(v, (bool, np.bool_)) for v in sample.iloc[:100]):
            return "boolean"
        if len(sample) and all(isinstance(v, (int, float)) for v in sample.iloc[:100]):
            return "number"
        return "string"
    return "string"


def _literal_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


class _Evaluator:
    def __init__(self, text: str, table: pd.DataFrame) -> None:
        self.text = text
        self.table = table
        self.n = len(table)

    def error(self, message: str, pos: int) -> RuleError:
        return RuleError(f"{message} at position {pos} in rule" + caret(self.text, pos))

    def column(self, node: Column) -> tuple[pd.Series, str]:
        if node.name not in self.table.columns:
            cols = [str(c) for c in self.table.columns]
            same_case = [c for c in cols if c.lower() == node.name.lower()]
            hint = (
                f" (did you mean {same_case[0]!r}?)" if same_case else did_you_mean(node.name, cols)
            )
            raise RuleError(
                f"unknown column {node.name!r}{hint} at position {node.pos} in rule"
                + caret(self.text, node.pos)
                + f"\navailable columns: {', '.join(cols)}"
            )
        values = self.table[node.name]
        return values, _kind(values)

    def value(self, node: Any) -> tuple[Any, str, bool]:
        """(values, kind, is_column) of an operand."""
        if isinstance(node, Column):
            values, kind = self.column(node)
            return values, kind, True
        if isinstance(node, Literal):
            return node.value, _literal_kind(node.value), False
        return self.truth(node), "boolean", True

    def coerce(
        self, lit: Any, lit_kind: str, target: str, node: Any, name: str, like: Any = None
    ) -> Any:
        """The literal in the column's kind; a date string in the column's time zone."""
        if target == lit_kind:
            return lit
        if target == "date" and lit_kind == "string":
            try:
                stamp = pd.Timestamp(lit)
            except (ValueError, TypeError):
                raise self.error(
                    f"{lit!r} is not a date to compare with {name}", node_pos(node)
                ) from None
            zone = getattr(getattr(like, "dt", None), "tz", None)
            if stamp.tzinfo is None and zone is not None:
                stamp = stamp.tz_localize(zone)  # a plain date means the column's local time
            return _utc_naive(stamp)
        raise self.error(
            f"type mismatch: {name} is {_article(target)} but {lit!r} is {_article(lit_kind)}",
            node_pos(node),
        )

    def compare(self, node: Compare) -> np.ndarray:
        left, lk, lcol = self.value(node.left)
        right, rk, rcol = self.value(node.right)
        if not lcol and not rcol:
            raise self.error("a comparison needs at least one column", node.pos)
        if lcol and rcol:
            if lk != rk:
                raise self.error(
                    f"type mismatch: {_describe(node.left)} is {_article(lk)} but "
                    f"{_describe(node.right)} is {_article(rk)}",
                    node.pos,
                )
        elif lcol:
            right = self.coerce(right, rk, lk, node.right, _describe(node.left), left)
            rk = lk
        else:
            left = self.coerce(left, lk, rk, node.left, _describe(node.right), right)
            lk = rk
        if lk in ("string", "boolean") and node.op not in ("==", "!="):
            raise self.error(f"{node.op!r} does not apply to {lk} values; use == or !=", node.pos)
        lv, lmiss = _array(left, self.n)
        rv, rmiss = _array(right, self.n)
        with np.errstate(invalid="ignore"):
            if node.op == "==":
                out = lv == rv
            elif node.op == "!=":
                out = lv != rv
            elif node.op == "<":
                out = lv < rv
            elif node.op == "<=":
                out = lv <= rv
            elif node.op == ">":
                out = lv > rv
            else:
                out = lv >= rv
        return np.asarray(out, dtype=bool) & ~lmiss & ~rmiss

    def in_list(self, node: InList) -> np.ndarray:
        values, kind, is_col = self.value(node.operand)
        if not is_col:
            raise self.error("'in' needs a column on its left", node.pos)
        name = _describe(node.operand)
        wanted = [
            self.coerce(lit.value, _literal_kind(lit.value), kind, lit, name, values)
            for lit in node.values
        ]
        arr, miss = _array(values, self.n)
        out = np.zeros(self.n, dtype=bool)
        for w in wanted:
            out |= np.asarray(arr == w, dtype=bool)
        out &= ~miss
        return ~out & ~miss if node.negated else out

    def between(self, node: Between) -> np.ndarray:
        values, kind, is_col = self.value(node.operand)
        if not is_col:
            raise self.error("'between' needs a column on its left", node.pos)
        if kind not in ("number", "date"):
            raise self.error(
                f"'between' needs numbers or dates, but {_describe(node.operand)} is "
                f"{_article(kind)}",
                node.pos,
            )
        name = _describe(node.operand)
        bounds = []
        for b in (node.low, node.high):
            bv, bk, bcol = self.value(b)
            if bcol:
                if bk != kind:
                    raise self.error(
                        f"type mismatch: {_describe(b)} is {_article(bk)}", node_pos(b)
                    )
            else:
                bv = self.coerce(bv, bk, kind, b, name, values)
            bounds.append(_array(bv, self.n))
        arr, miss = _array(values, self.n)
        (lo, lo_miss), (hi, hi_miss) = bounds
        with np.errstate(invalid="ignore"):
            inside = np.asarray((arr >= lo) & (arr <= hi), dtype=bool)
        known = ~miss & ~lo_miss & ~hi_miss
        return (~inside & known) if node.negated else (inside & known)

    def truth(self, node: Any) -> np.ndarray:
        handlers: dict[type, Callable[[Any], np.ndarray]] = {
            Compare: self.compare,
            InList: self.in_list,
            Between: self.between,
            IsNull: self.is_null,
            Not: lambda n: ~self.truth(n.operand),
            BoolOp: self.bool_op,
            Column: self.flag,
            Literal: self.constant,
        }
        handler = handlers.get(type(node))
        if handler is None:  # pragma: no cover
            raise self.error("cannot evaluate this part of the rule", node_pos(node))
        return handler(node)

    def is_null(self, node: IsNull) -> np.ndarray:
        values, _, is_col = self.value(node.operand)
        if not is_col:
            raise self.error("'is null' needs a column on its left", node.pos)
        miss = np.asarray(pd.isna(values), dtype=bool)
        return ~miss if node.negated else miss

    def bool_op(self, node: BoolOp) -> np.ndarray:
        parts = [self.truth(p) for p in node.operands]
        out = parts[0].copy()
        for p in parts[1:]:
            out = (out & p) if node.op == "and" else (out | p)
        return out

    def flag(self, node: Column) -> np.ndarray:
        """A boolean column on its own."""
        values, kind = self.column(node)
        if kind != "boolean":
            raise self.error(
                f"column {node.name!r} is {_article(kind)}, not a condition; compare it, "
                f"e.g. '{node.name} > 0'",
                node.pos,
            )
        arr, miss = _array(values, self.n)
        return np.asarray(arr == True, dtype=bool) & ~miss  # noqa: E712

    def constant(self, node: Literal) -> np.ndarray:
        if isinstance(node.value, bool):
            return np.full(self.n, node.value)
        raise self.error(f"{node.value!r} on its own is not a condition", node.pos)


def _article(kind: str) -> str:
    return {"number": "a number", "string": "a string", "boolean": "a boolean", "date": "a date"}[
        kind
    ]


def _describe(node: Any) -> str:
    if isinstance(node, Column):
        return f"column {node.name!r}"
    if isinstance(node, Literal):
        return repr(node.value)
    return "the condition"


def _array(values: Any, n: int) -> tuple[Any, np.ndarray]:
    """Values as a numpy array (or scalar) and a mask of missing entries."""
    if isinstance(values, pd.Series):
        miss = np.asarray(values.isna(), dtype=bool)
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            return values.to_numpy(), miss
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        ):
            return values.to_numpy("float64", na_value=np.nan), miss
        out = values.astype(object).to_numpy(copy=True)
        # pandas' nullable dtypes hold pd.NA, whose comparisons are NA, not False: a
        # missing entry is masked out anyway, so it becomes a plain None here
        out[miss] = None
        return out, miss
    if isinstance(values, np.ndarray):
        return values, np.zeros(n, dtype=bool)
    return values, np.zeros(n, dtype=bool)


def _utc_naive(stamp: pd.Timestamp) -> pd.Timestamp:
    """Aware instants in UTC without a zone, the form every date column is compared in."""
    return stamp if stamp.tzinfo is None else stamp.tz_convert("UTC").tz_localize(None)


def _columns(node: Any) -> set[str]:
    if isinstance(node, Column):
        return {node.name}
    out: set[str] = set()
    for attr in ("left", "right", "operand", "low", "high"):
        if hasattr(node, attr):
            out |= _columns(getattr(node, attr))
    for child in getattr(node, "operands", ()):
        out |= _columns(child)
    return out


class Rule:
    """A parsed rule; evaluate it on a customer table to get a boolean mask.

    Parameters
    ----------
    text : str
        The rule, in segml's rule language (see the module documentation).

    Attributes
    ----------
    text : str
        The rule as written.
    columns : frozenset of str
        Columns the rule refers to.

    Raises
    ------
    RuleError
        If the text is not a valid rule; the message shows the position.

    Examples
    --------
    >>> import pandas as pd
    >>> from segml.segment.rules import Rule
    >>> rule = Rule("first_amount between 10 and 50 or region == 'north'")
    >>> sorted(rule.columns)
    ['first_amount', 'region']
    >>> rule.evaluate(pd.DataFrame({"first_amount": [5, 20], "region": ["north", "south"]}))
    array([ True,  True])
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tree = parse_rule(text)
        self.columns = frozenset(_columns(self.tree))

    def evaluate(self, table: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``table`` that satisfy the rule.

        Raises
        ------
        RuleError
            For an unknown column (listing the available ones) or a type mismatch.
        """
        if not isinstance(table, pd.DataFrame):
            raise RuleError(f"rules evaluate on a pandas DataFrame, got {type(table).__name__}.")
        out = _Evaluator(self.text, table).truth(self.tree)
        return np.broadcast_to(np.asarray(out, dtype=bool), (len(table),)).copy()

    def check(self, table: pd.DataFrame) -> None:
        """Raise :class:`RuleError` if the rule cannot be evaluated on ``table``'s columns."""
        self.evaluate(table.iloc[:0])

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)
