"""The amount policies of the data layer: returns and zero amounts (all counted).

Exact duplicates are marked by :func:`segml.data._fast.duplicates.duplicate_marks`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segml.data.quality import DataQualityReport
from segml.data.quality import example_ids as _ids
from segml.data.returns import net_returns


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
