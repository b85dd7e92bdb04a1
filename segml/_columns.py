"""The one vocabulary of columns: the customer table and the scores, each spelled once.

Every column has a name, a dtype and a kind (``"history"``, purchase behaviour in the
calibration window; ``"first_order"``, known at acquisition; ``"holdout"``, realised after
calibration; ``"value"``, computed by the CLV model; ``"feature"``, derived by a segmenter from
the history; ``"score"``, the exported model's output).
The Arrow schema and Spark DDL of the scores, the score columns, the behavioural columns that
make a segmentation non-targetable and the columns an experiment's table will have are all
derived from :data:`COLUMNS`.

Examples
--------
>>> from segml._columns import SCORE_COLUMNS, spark_ddl
>>> SCORE_COLUMNS[:3]
('customer_id', 'expected_purchases', 'p_alive')
>>> spark_ddl(SCORE_COLUMNS).split(", ")[:2]
['customer_id string', 'expected_purchases double']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "BEHAVIOURAL_COLUMNS",
    "COLUMNS",
    "FIRST_ORDER_COLUMNS",
    "SCORE_COLUMNS",
    "TARGETABILITY",
    "Column",
    "arrow_schema",
    "spark_ddl",
    "table_columns",
    "targetability",
]

Kind = Literal["key", "history", "first_order", "holdout", "value", "feature", "score"]


@dataclass(frozen=True)
class Column:
    """A column of the customer table or of the scores.

    Attributes
    ----------
    name : str
    dtype : str
        ``"string"``, ``"int32"``, ``"int64"``, ``"float64"`` or ``"datetime64[ns]"``.
    kind : str
        See the module documentation.
    needs_amount : bool
        Only present when the log has amounts.
    """

    name: str
    dtype: str
    kind: Kind
    needs_amount: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "string", "key"),
    Column("frequency", "int64", "history"),
    Column("recency", "float64", "history"),
    Column("T", "float64", "history"),
    Column("n_transactions", "int64", "history"),
    Column("first_purchase", "datetime64[ns]", "first_order"),
    Column("last_purchase", "datetime64[ns]", "history"),
    Column("first_purchase_month", "int32", "first_order"),
    Column("litt", "float64", "history"),
    Column("monetary_value", "float64", "history", needs_amount=True),
    Column("first_amount", "float64", "first_order", needs_amount=True),
    Column("total_revenue", "float64", "history", needs_amount=True),
    Column("holdout_frequency", "int64", "holdout"),
    Column("holdout_revenue", "float64", "holdout", needs_amount=True),
    Column("holdout_duration", "float64", "holdout"),
    Column("expected_purchases", "float64", "value"),
    Column("p_alive", "float64", "value"),
    Column("expected_spend", "float64", "value"),
    Column("clv", "float64", "value"),
    Column("value_percentile", "float64", "value"),
    Column("recency_ratio", "float64", "value"),
    Column("days_since_last", "float64", "feature"),
    Column("batch_percentile", "float64", "score"),
    Column("segment", "int64", "score"),
    Column("segment_name", "string", "score"),
    Column("reason", "string", "score"),
    Column("out_of_range", "string", "score"),
)

_BY_NAME = {c.name: c for c in COLUMNS}

#: What the exported model returns for each customer, in order.
SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "expected_purchases",
    "p_alive",
    "expected_spend",
    "clv",
    "value_percentile",
    "batch_percentile",
    "segment",
    "segment_name",
    "reason",
    "out_of_range",
)

#: Columns that describe purchase behaviour or value: a segmentation using any of them cannot
#: be applied to a prospect. First-order facts (``first_amount``, ``first_<col>``,
#: ``first_purchase``) are known at acquisition and count as observable.
BEHAVIOURAL_COLUMNS = frozenset(
    c.name for c in COLUMNS if c.kind in ("history", "holdout", "value", "feature")
)

#: Facts of a customer's first order, known at acquisition but not before it (with every
#: ``first_<col>`` column :func:`segml.summarize` derives from a further numeric log column).
FIRST_ORDER_COLUMNS = frozenset(c.name for c in COLUMNS if c.kind == "first_order")

#: Who a segmentation can be applied to, from the widest audience to the narrowest.
TARGETABILITY = ("prospect", "acquisition", "behavioural")


def targetability(columns: Iterable[str]) -> str:
    """The audience a rule or segmentation over ``columns`` serves.

    ``"prospect"``: only attributes known before any purchase (firmographics, demographics,
    geography); ``"acquisition"``: also facts of the first order (``first_amount``,
    ``first_purchase_month``, ``first_<col>``), known once a customer has bought once;
    ``"behavioural"``: purchase history or value, known only for existing customers.

    Examples
    --------
    >>> from segml._columns import targetability
    >>> targetability(["country"]), targetability(["country", "first_amount"])
    ('prospect', 'acquisition')
    >>> targetability(["frequency", "first_amount"])
    'behavioural'
    """
    names = set(columns)
    if names & BEHAVIOURAL_COLUMNS:
        return "behavioural"
    if any(n in FIRST_ORDER_COLUMNS or n.startswith("first_") for n in names):
        return "acquisition"
    return "prospect"


_ARROW = {"string": "string", "int32": "int32", "int64": "int64", "float64": "float64"}
_SPARK = {"string": "string", "int32": "int", "int64": "long", "float64": "double"}


def table_columns(*, amount: bool, holdout: bool, scored: bool = True) -> set[str]:
    """The columns segml computes for a customer table (attributes and ``first_<col>`` aside).

    Parameters
    ----------
    amount : bool
        Whether the log has amounts.
    holdout : bool
        Whether a holdout window is set.
    scored : bool
        Whether the table carries the CLV model's value columns (as in an experiment).

    Returns
    -------
    set of str
    """
    kinds = {"history", "first_order"} | ({"holdout"} if holdout else set())
    kinds |= {"value"} if scored else set()
    return {c.name for c in COLUMNS if c.kind in kinds and (amount or not c.needs_amount)}


def spark_ddl(names: Iterable[str]) -> str:
    """The Spark DDL of ``names`` (``"customer_id string, clv double, ..."``).

    Parameters
    ----------
    names : iterable of str

    Returns
    -------
    str
    """
    return ", ".join(f"{n} {_SPARK[_BY_NAME[n].dtype]}" for n in names)


def arrow_schema(names: Iterable[str]) -> Any:
    """The pyarrow schema of ``names``.

    Parameters
    ----------
    names : iterable of str

    Returns
    -------
    pyarrow.Schema
    """
    import pyarrow as pa

    return pa.schema([(n, getattr(pa, _ARROW[_BY_NAME[n].dtype])()) for n in names])
