"""The policies of the data layer: exact duplicates, returns and zero amounts (all counted)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segml.data._fast import enabled
from segml.data._fast import order as _order
from segml.data._fast.order import (
    _code_order,
    _Codes,
    _customer_day_key,
    _in_key_order,
    _in_time_order,
    _key_layout,
    _Order,
    _stable_argsort,
)
from segml.data.quality import DataQualityReport
from segml.data.quality import example_ids as _ids
from segml.data.returns import net_returns


def _exact_duplicates(
    out: pd.DataFrame, known: tuple[np.ndarray, Any] | None = None
) -> tuple[np.ndarray, _Codes]:
    """The marks of ``out.duplicated()`` (later copies of a row), computed faster, and the
    customer codes of ``out`` (``pandas.factorize`` of the ids) for reuse; with
    ``SEGML_FAST=0``, ``out.duplicated()`` itself.

    Copies of a row share the customer and the day, so only rows in a (customer, day)
    group of two or more rows (few, in a transaction log) are compared column by column.
    """
    n = len(out)
    codes, uniques = known or pd.factorize(out["customer_id"], sort=False)

    times = out["date"].to_numpy("datetime64[ns]").view("i8")
    layout = _key_layout(codes, times)
    if layout is None or not enabled():
        return out.duplicated().to_numpy(), (codes, uniques, None)
    counted = _code_order(codes) if _in_time_order(times) else None
    same = np.empty(max(n - 1, 0), dtype=bool)  # neighbours (in key order) with equal keys
    order: _Order
    if counted is None and _in_key_order(codes, times, layout, same):
        order = slice(0, n)  # grouped by customer, in time order: nothing to sort, no key
    else:
        key = _customer_day_key(codes, times, layout)
        # A stable argsort of one integer key: much faster than a two-key lexsort.
        permutation = _stable_argsort(key) if counted is None else counted
        for start in range(0, n - 1, _order.SLICE_ROWS):
            sorted_key = key[permutation[start : start + _order.SLICE_ROWS + 1]]
            same[start : start + len(sorted_key) - 1] = sorted_key[1:] == sorted_key[:-1]
        del key
        order = permutation
    in_group = np.zeros(n, dtype=bool)
    in_group[1:] |= same
    in_group[:-1] |= same
    del same
    candidates = np.flatnonzero(in_group) if isinstance(order, slice) else np.sort(order[in_group])
    del in_group
    dup = np.zeros(n, dtype=bool)
    if len(candidates):
        # The customer codes stand in for the ids: taking rows of a chunked Arrow id
        # column would first concatenate all its chunks.
        others = [c for c in out.columns if c != "customer_id"]
        if all(_plain(out[c].dtype) for c in others):
            columns = [codes[candidates]] + [out[c].to_numpy()[candidates] for c in others]
            dup[candidates] = _duplicated(columns)
        else:
            rows = out[others].iloc[candidates]
            rows.insert(0, "customer_id", codes[candidates])
            dup[candidates] = rows.duplicated().to_numpy()
    return dup, (codes, uniques, order)


def _plain(dtype: Any) -> bool:
    """Whether a column of ``dtype`` holds NumPy numbers, booleans or times."""
    return isinstance(dtype, np.dtype) and dtype.kind in "biufmM"


def _duplicated(columns: list[np.ndarray]) -> np.ndarray:
    """``DataFrame.duplicated()`` of the rows whose values are ``columns`` (of
    :func:`_plain` dtypes): the rows sorted together by a stable sort, each copy follows the
    first of its kind. Missing values equal each other, and 0.0 equals -0.0, as in pandas."""
    n = len(columns[0])
    dup = np.zeros(n, dtype=bool)
    if n < 2:
        return dup
    keys = [c.view(np.int64) if c.dtype.kind in "mM" else c for c in columns]
    order = np.lexsort(keys[::-1])  # by the first column, then the next, ...
    same = np.ones(n - 1, dtype=bool)
    for values in keys:
        ordered = values[order]
        equal = ordered[1:] == ordered[:-1]
        if ordered.dtype.kind == "f":
            missing = np.isnan(ordered)
            equal |= missing[1:] & missing[:-1]
        same &= equal
    dup[order[1:][same]] = True
    return dup


def _apply_amount_policies(
    out: pd.DataFrame,
    report: DataQualityReport,
    *,
    returns: str,
    zero_amounts: str,
    codes: np.ndarray | None = None,
    return_of: str | None = None,
) -> pd.DataFrame:
    """``out`` after the returns and zero-amount policies, each counted with its amount."""
    amounts = out["amount"].to_numpy()
    negative = amounts < 0
    if negative.any():
        if returns == "drop":
            report.drop(
                "negative_amount",
                int(negative.sum()),
                _ids(out, negative),
                float(amounts[negative].sum()),
            )
            out = out.loc[~negative].reset_index(drop=True)
        else:
            out = _net(out, report, codes, return_of)
    zero = out["amount"].to_numpy() == 0
    if zero_amounts == "drop":
        report.drop("zero_amount", int(zero.sum()), _ids(out, zero), 0.0)
        out = out.loc[~zero].reset_index(drop=True)
    else:
        report.flag("zero_amount_rows_kept", int(zero.sum()), _ids(out, zero), 0.0)
    return out


def _net(
    out: pd.DataFrame,
    report: DataQualityReport,
    codes: np.ndarray | None,
    return_of: str | None,
) -> pd.DataFrame:
    """``out`` with its returns netted (:mod:`segml.data.returns`), counted in ``report``."""
    if codes is None:
        codes = pd.factorize(out["customer_id"], sort=False)[0]
    times = out["date"].to_numpy("datetime64[ns]").view("i8")
    orders = out[return_of] if return_of is not None else None
    result = net_returns(codes, times, out["amount"].to_numpy(), orders)
    report.drop(
        "unmatched_return",
        len(result.unmatched),
        _ids_at(out, result.unmatched),
        result.unmatched_amount,
    )
    # Netted returns and the days they cancel leave the log carrying nothing: their
    # amounts now sit in the purchases they reduced (the note says how much).
    report.drop("return_netted", len(result.netted), _ids_at(out, result.netted), 0.0)
    report.drop("returned_in_full", len(result.in_full), _ids_at(out, result.in_full), 0.0)
    by_order = (
        f"; {result.by_order:,} named their order in {return_of!r} and netted against its day"
        if orders is not None
        else ""
    )
    report.note(
        "returns netted against the same customer's purchases, the same day first, then "
        f"earlier purchase days, latest first: {len(result.netted):,} returns, "
        f"{result.netted_amount:,.2f} netted into purchases; {len(result.in_full):,} "
        f"purchase rows cancelled in full ({result.returned_amount:,.2f} of purchases)" + by_order
    )
    # The kept rows' amounts, taken once and reduced where netting cut them (a copy of
    # the column either way: the input's own array is never written to).
    amount = out["amount"].to_numpy()[result.keep]
    if len(result.changed):
        gone = np.flatnonzero(~result.keep)  # few: the returns and the days they cancel
        amount[result.changed - np.searchsorted(gone, result.changed)] = result.changed_amount
    kept = out.drop(columns="amount").loc[result.keep].reset_index(drop=True)
    kept.insert(list(out.columns).index("amount"), "amount", amount)
    return kept


def _ids_at(out: pd.DataFrame, rows: np.ndarray, k: int = 5) -> list[str]:
    """The first ``k`` distinct customer ids of the rows numbered ``rows``."""
    found: list[str] = []
    values = out["customer_id"]
    for i in rows[:200]:
        value = str(values.iat[int(i)])
        if value not in found:
            found.append(value)
            if len(found) == k:
                break
    return found
