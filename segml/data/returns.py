"""Returns netted against what they return: the same day first, then earlier purchase days.

A customer's purchase days form a stack, latest on top; each return (in time order) takes
amount off the top until it is absorbed. With per-day net flows ``f`` (purchases minus
returns), the stack height after day k is the clipped running sum (Lindley's recursion)
``H_k = S_k - m_k``, with ``S`` the running sum of ``f`` and ``m_k = min(0, S_1..S_k)``;
day k's purchases occupy heights ``[H_{k-1}, H_k]`` and survive up to the lowest later
height, so ``kept_k = max(0, min(H_k..H_n) - H_{k-1})``, and ``m_{k-1} - m_k`` of day k's
returns found nothing to net against. Days after a customer's last return keep their
purchases, so only the days up to it enter the scans. Every step is a grouped running sum
or minimum, the same in pandas and in Spark SQL (``segml.spark``), so both paths give the
same table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segml._units import DAY_NS

__all__ = ["Netting", "net_returns", "netting_note"]

#: A purchase day keeping less than this share of its purchases was returned in full
#: (what is left is rounding error of the running sums).
RESIDUE = 1e-9
SLICE = 1 << 20
CHUNK = 1 << 17


@dataclass
class Netting:
    """Outcome of :func:`net_returns`: row numbers of the input, in increasing order.

    Attributes
    ----------
    keep : numpy.ndarray
        Mask of the rows that stay purchases (returns and purchase days netted to zero
        leave).
    changed, changed_amount : numpy.ndarray
        Purchase rows kept whose amount netting reduced, and their new amounts.
    unmatched : numpy.ndarray
        Return rows with nothing before them to net against (wholly).
    netted : numpy.ndarray
        Return rows netted, at least in part, against purchases.
    in_full : numpy.ndarray
        Purchase rows of days netted to zero or less.
    unmatched_amount : float
        The part of all returns (negative) that found nothing to net against, including
        the remainder of returns netted in part.
    netted_amount : float
        The part of all returns (negative) netted against purchases.
    returned_amount : float
        The purchases (positive, before netting) of the days returned in full.
    by_order : int
        Return rows netted against the day of the order they name.
    """

    keep: np.ndarray
    changed: np.ndarray
    changed_amount: np.ndarray
    unmatched: np.ndarray
    netted: np.ndarray
    in_full: np.ndarray
    unmatched_amount: float = 0.0
    netted_amount: float = 0.0
    returned_amount: float = 0.0
    by_order: int = 0


def netting_note(
    returns: int,
    netted: float,
    cancelled: int,
    cancelled_amount: float,
    by_order: int,
    return_of: str | None,
) -> str:
    """The report's note on netting, the same from pandas and from Spark.

    Parameters
    ----------
    returns : int
        Return rows netted, at least in part.
    netted : float
        The amount netted into purchases (positive).
    cancelled : int
        Purchase rows cancelled in full.
    cancelled_amount : float
        Their purchases before netting.
    by_order : int
        Returns netted against the day of the order they name.
    return_of : str or None
        The column naming a return's order.

    Returns
    -------
    str

    Examples
    --------
    >>> note = netting_note(2, 15.0, 1, 10.0, 0, None)
    >>> note.split(": ")[1]
    '2 returns, 15.00 netted into purchases; 1 purchase rows cancelled in full (10.00 of purchases)'
    """
    tail = (
        f"; {by_order:,} named their order in {return_of!r} and netted against its day"
        if return_of is not None
        else ""
    )
    return (
        "returns netted against the same customer's purchases, the same day first, then "
        f"earlier purchase days, latest first: {returns:,} returns, {netted:,.2f} netted into "
        f"purchases; {cancelled:,} purchase rows cancelled in full ({cancelled_amount:,.2f} of "
        "purchases)" + tail
    )


def _group_running(values: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """Running sum or minimum of ``values`` restarting at each index of ``starts``."""
    groups = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(values)]))
    # A Categorical grouper uses its codes as they are (no hashing of the group numbers).
    labels = pd.Categorical.from_codes(
        groups, categories=pd.RangeIndex(len(starts)), validate=False
    )
    series = pd.Series(values).groupby(pd.Series(labels), observed=False, sort=False)
    return (series.cumsum() if how == "sum" else series.cummin()).to_numpy()


def _rows_before(times: np.ndarray, codes: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
    """Rows whose time is before their customer's ``cutoff``, a slice at a time (no
    temporary array of every row)."""
    found = []
    for start in range(0, len(times), SLICE):
        part = slice(start, start + SLICE)
        hit = np.flatnonzero(times[part] < cutoff[codes[part]])
        found.append(hit + start)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _in_order(c: np.ndarray, d: np.ndarray) -> bool:
    """Whether rows are sorted by customer code, then day (a log grouped by customer in
    time order needs no sort)."""
    step = np.diff(c)
    return bool(((step > 0) | ((step == 0) & (np.diff(d) >= 0))).all())


def _order_days(
    codes: np.ndarray, days: np.ndarray, amounts: np.ndarray, orders: pd.Series
) -> tuple[np.ndarray, int]:
    """Each return's netting day: the latest day of the order it names when the same
    customer bought on that order by then, else its own day; and how many moved."""
    frame = pd.DataFrame({"c": codes, "d": days, "o": orders.to_numpy(object)})
    bought = frame[(amounts > 0) & orders.notna().to_numpy()]
    last = bought.groupby(["c", "o"], sort=False)["d"].max().rename("order_day")
    returns = frame[(amounts < 0) & orders.notna().to_numpy()]
    found = returns.join(last, on=["c", "o"])["order_day"]
    usable = found.notna() & (found <= returns["d"])
    out = days.copy()
    out[found.index[usable]] = found[usable].to_numpy(np.int64)
    return out, int(usable.sum())


def net_returns(
    codes: np.ndarray,
    times: np.ndarray,
    amounts: np.ndarray,
    orders: pd.Series | None = None,
) -> Netting:
    """Net each customer's returns (negative amounts) against their purchases.

    Parameters
    ----------
    codes : numpy.ndarray
        Integer customer code of each row.
    times : numpy.ndarray
        Nanosecond timestamps (int64) of each row; netting works on calendar days.
    amounts : numpy.ndarray
        Amounts (float64); negative ones are returns.
    orders : pandas.Series, optional
        The order each row belongs to, or, for a return, the order it returns: a return
        nets against that order's day first.

    Returns
    -------
    Netting
    """
    negative = amounts < 0
    none = np.zeros(0, dtype=np.int64)
    out = Netting(~negative, none, np.zeros(0), none, none, none)
    if not negative.any():
        return out
    # Only the days of a customer up to their last return change: few rows of the log.
    cutoff = np.full(int(codes.max()) + 1, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(cutoff, codes[negative], times[negative] // DAY_NS * DAY_NS + DAY_NS)
    rows = _rows_before(times, codes, cutoff)
    c, a = codes[rows], amounts[rows]
    d = times[rows] // DAY_NS
    if orders is not None:
        d, out.by_order = _order_days(c, d, a, orders.iloc[rows].reset_index(drop=True))
    if not _in_order(c, d):
        order = np.lexsort((d, c))
        c, d, a, rows = c[order], d[order], a[order], rows[order]
    parts = [_net_sorted(c[i:j], d[i:j], a[i:j], rows[i:j]) for i, j in _cuts(c, CHUNK)]
    changed = np.concatenate([p["changed"] for p in parts])
    order = np.argsort(changed, kind="stable")
    out.changed = changed[order]
    out.changed_amount = np.concatenate([p["changed_amount"] for p in parts])[order]
    out.in_full = np.sort(np.concatenate([p["in_full"] for p in parts]))
    out.keep[out.in_full] = False
    out.unmatched = np.sort(np.concatenate([p["unmatched"] for p in parts]))
    out.netted = np.sort(np.concatenate([p["netted"] for p in parts]))
    out.unmatched_amount = -float(sum(p["unmatched_amount"] for p in parts))
    out.netted_amount = float(sum(p["returns"] for p in parts)) - out.unmatched_amount
    out.returned_amount = float(sum(p["returned"] for p in parts))
    return out


def _cuts(c: np.ndarray, size: int) -> list[tuple[int, int]]:
    """(start, stop) of pieces of about ``size`` rows of ``c`` (sorted), each customer's
    rows within one piece: small working arrays, reused, instead of a few of every row."""
    cuts, start, n = [], 0, len(c)
    while start < n:
        stop = min(start + size, n)
        if stop < n:
            stop = int(np.searchsorted(c, c[stop - 1], side="right"))
        cuts.append((start, stop))
        start = stop
    return cuts


def _net_sorted(c: np.ndarray, d: np.ndarray, a: np.ndarray, rows: np.ndarray) -> dict:
    """:func:`net_returns` of rows sorted by customer code ``c`` and day ``d``."""
    new_day = np.r_[True, (c[1:] != c[:-1]) | (d[1:] != d[:-1])]
    day_start = np.flatnonzero(new_day)
    day_of_row = np.cumsum(new_day) - 1
    bought = np.add.reduceat(np.where(a > 0, a, 0.0), day_start)
    flow = np.add.reduceat(a, day_start)  # purchases minus returns, per customer-day
    dc = c[day_start]
    cust_start = np.flatnonzero(np.r_[True, dc[1:] != dc[:-1]])
    running = _group_running(flow, cust_start, "sum")
    low = _group_running(np.minimum(running, 0.0), cust_start, "min")
    height = running - low
    first_day = np.zeros(len(dc), dtype=bool)
    first_day[cust_start] = True
    before = np.where(first_day, 0.0, np.r_[0.0, height[:-1]])
    low_before = np.where(first_day, 0.0, np.r_[0.0, low[:-1]])
    # The lowest height from each day on: a running minimum of the reversed days.
    rev_start = len(dc) - np.r_[cust_start[1:], len(dc)][::-1]
    floor = _group_running(height[::-1], rev_start, "min")[::-1]
    kept = np.maximum(floor - before, 0.0)
    kept[kept <= RESIDUE * bought] = 0.0
    unmatched_part = low_before - low  # of each day's returns, what found nothing

    returns = a < 0
    day_returns = np.add.reduceat(np.where(returns, -a, 0.0), day_start)
    whole = (unmatched_part >= day_returns * (1 - RESIDUE)) & (day_returns > 0)
    purchase = a > 0
    scale = np.divide(kept, bought, out=np.zeros_like(kept), where=bought > 0)
    gone = purchase & (kept[day_of_row] == 0.0)
    cut = purchase & ~gone & (scale[day_of_row] != 1.0)
    return {
        "changed": rows[cut],
        "changed_amount": a[cut] * scale[day_of_row[cut]],
        "in_full": rows[gone],
        "unmatched": rows[returns & whole[day_of_row]],
        "netted": rows[returns & ~whole[day_of_row]],
        "unmatched_amount": float(unmatched_part.sum()),
        "returns": float(a[returns].sum()),
        "returned": float(a[gone].sum()),
    }
