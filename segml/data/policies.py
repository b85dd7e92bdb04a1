"""The row policies of the data layer: exact duplicates, returns, zero amounts (all counted).

Each policy decides which rows stay (a mask; exact duplicates are marked by
:func:`segml.data._fast.duplicates.duplicate_marks`); :func:`kept_rows` then removes the
others, copying each column once, and :func:`segml.data.ids.codes_of_rows` keeps the ids'
factorization for :func:`segml.summarize`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segml.data._fast.duplicates import duplicate_marks
from segml.data._fast.order import _Codes
from segml.data.ids import codes_of_rows
from segml.data.quality import DataQualityReport
from segml.data.quality import example_ids as _ids
from segml.data.returns import net_returns, netting_note
from segml.errors import DataError

#: Rows of the input whose amount netting reduced, and their new amounts.
Changes = tuple[np.ndarray, np.ndarray]


def row_policies(
    out: pd.DataFrame,
    codes: tuple[np.ndarray, Any],
    report: DataQualityReport,
    *,
    duplicates: str,
    returns: str,
    zero_amounts: str,
    return_of: str | None,
) -> tuple[pd.DataFrame, _Codes]:
    """``out`` after the duplicate, returns and zero-amount policies, each counted.

    Parameters
    ----------
    out : pandas.DataFrame
        The canonical log (customer_id, date, amount, kept columns), validated.
    codes : tuple
        ``pandas.factorize(out["customer_id"], sort=False)``.
    report : DataQualityReport
        Receives the counts, amounts and notes of every policy.
    duplicates, returns, zero_amounts, return_of : str
        The policies, as :func:`segml.read_transactions` takes them.

    Returns
    -------
    frame : pandas.DataFrame
        The rows left (``out`` itself when none went).
    codes : tuple
        The factorization of the rows left and, while no row went, their (customer, day)
        order (else None: summarize computes it).
    """
    ids, uniques = codes
    dup, order = duplicate_marks(out, ids)
    if duplicates == "drop":
        report.drop("exact_duplicate", int(dup.sum()), _ids(out, dup), _sum(out, dup))
        if dup.any():
            ids, uniques = codes_of_rows(ids, uniques, ~dup)
            out, order = kept_rows(out, ~dup), None
    else:
        report.flag("exact_duplicate_rows_kept", int(dup.sum()), _ids(out, dup), _sum(out, dup))
    del dup
    if "amount" not in out.columns:
        return out, (ids, uniques, order)
    keep, changes = _amount_policies(
        out, report, returns=returns, zero_amounts=zero_amounts, codes=ids, return_of=return_of
    )
    if keep is None:
        return out, (ids, uniques, order)
    if not keep.any():
        raise DataError(
            "every transaction was dropped by the amount policies "
            f"({report.dropped}); check the sign of the amount column."
        )
    ids, uniques = codes_of_rows(ids, uniques, keep)
    return kept_rows(out, keep, changes), (ids, uniques, None)  # an order of the old rows


def _sum(out: pd.DataFrame, mask: np.ndarray) -> float | None:
    """The amount of the rows in ``mask`` (None without an amount column or rows)."""
    if "amount" not in out.columns or not mask.any():
        return None
    return float(out["amount"].to_numpy()[mask].sum())


def _amount_policies(
    out: pd.DataFrame,
    report: DataQualityReport,
    *,
    returns: str,
    zero_amounts: str,
    codes: np.ndarray | None = None,
    return_of: str | None = None,
) -> tuple[np.ndarray | None, Changes | None]:
    """The rows the returns and zero-amount policies keep (None: every row) and the amounts
    netting changed, each policy counted with its amount in ``report``."""
    amounts = out["amount"].to_numpy()
    keep: np.ndarray | None = None
    changes: Changes | None = None
    negative = amounts < 0
    if negative.any():
        if returns == "drop":
            report.drop(
                "negative_amount",
                int(negative.sum()),
                _ids(out, negative),
                float(amounts[negative].sum()),
            )
            keep = ~negative
        else:
            keep, changes = _net(out, report, codes, return_of)
    del negative
    # Netting never leaves a zero amount: the zero rows are the input's, among those kept.
    zero = amounts == 0
    if keep is not None:
        zero &= keep
    if zero_amounts == "drop":
        report.drop("zero_amount", int(zero.sum()), _ids(out, zero), 0.0)
        if zero.any():
            keep = ~zero if keep is None else keep & ~zero
    else:
        report.flag("zero_amount_rows_kept", int(zero.sum()), _ids(out, zero), 0.0)
    return keep, changes


def _net(
    out: pd.DataFrame,
    report: DataQualityReport,
    codes: np.ndarray | None,
    return_of: str | None,
) -> tuple[np.ndarray, Changes]:
    """The rows kept and the amounts changed by netting ``out``'s returns
    (:mod:`segml.data.returns`), counted in ``report``."""
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
    report.note(
        netting_note(
            len(result.netted),
            result.netted_amount,
            len(result.in_full),
            result.returned_amount,
            result.by_order,
            return_of,
        )
    )
    return result.keep, (result.changed, result.changed_amount)


def kept_rows(
    frame: pd.DataFrame, keep: np.ndarray, changes: Changes | None = None
) -> pd.DataFrame:
    """``frame.loc[keep].reset_index(drop=True)`` with the ``changes`` to its amounts.

    Each column is copied once, the input's arrays are never written to, and Arrow columns
    are filtered outside Arrow's pooled allocator (which would keep the freed pages).

    Parameters
    ----------
    frame : pandas.DataFrame
    keep : numpy.ndarray
        Boolean mask of the rows that stay.
    changes : tuple of numpy.ndarray, optional
        Row numbers of ``frame`` (kept, increasing) and their new ``amount``.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "amount": [1.0, -1.0, 3.0]})
    >>> kept_rows(frame, np.array([True, False, True]), (np.array([2]), np.array([2.5])))
      customer_id  amount
    0           a     1.0
    1           c     2.5
    """
    mask = pa.array(keep, type=pa.bool_())
    columns: dict[str, object] = {}
    for name in frame.columns:
        values = frame[name]
        if changes is not None and name == "amount":
            amount = values.to_numpy("float64")[keep]
            gone = np.flatnonzero(~keep)  # few: the rows a policy removes
            amount[changes[0] - np.searchsorted(gone, changes[0])] = changes[1]
            columns[name] = amount
        elif isinstance(values.array, pd.arrays.ArrowExtensionArray):
            arrow = values.array.__arrow_array__()
            kept = pc.filter(arrow, mask, memory_pool=pa.system_memory_pool())
            columns[name] = pd.array(kept, dtype=values.dtype)
        else:  # a Series, so that inference cannot retype an object column
            columns[name] = pd.Series(values.array[keep], dtype=values.dtype, copy=False)
    return pd.DataFrame(columns, index=pd.RangeIndex(int(keep.sum())), copy=False)


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
