"""The data-quality report: what was read, what was kept, what was dropped and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segml.data._fast import order as _order

__all__ = ["DataQualityReport", "example_ids", "quality_report"]

#: Explanations printed next to each reason, so a report reads on its own; in the order the
#: reading applies them (the Spark path records its counts in this order too).
REASONS: dict[str, str] = {
    "missing_customer_id": "customer id missing or blank",
    "unparsable_time": "timestamp missing or not in the expected format",
    "invalid_amount": "amount missing or not a number",
    "non_finite_amount": "amount infinite",
    "extreme_amount": "amount beyond +/-1e12, implausible for one transaction",
    "exact_duplicate": "row identical to an earlier row, dropped by duplicates='drop'",
    "negative_amount": "negative amount (return) dropped by returns='drop'",
    "unmatched_return": "return with no earlier purchase by the same customer to net against",
    "return_netted": "return netted against the customer's purchases (its amount is in them)",
    "returned_in_full": "purchase day whose net amount after returns is zero or less",
    "zero_amount": "zero amount dropped by zero_amounts='drop'",
    "after_window": "transaction after the end of the observation window",
    "first_seen_after_calibration": "customer whose first purchase is after calibration_end",
}


@dataclass
class DataQualityReport:
    """Counts of rows read, kept and dropped, by reason, with a few example customer ids.

    Attributes
    ----------
    rows_read : int
        Rows in the input, before anything is dropped.
    dropped : dict of str to int
        Rows dropped, by reason (see ``REASONS``).
    flagged : dict of str to int
        Rows or customers kept but worth knowing about (zero amounts, duplicates,
        same-day merges, customers without attributes, ...).
    examples : dict of str to list
        Up to five example customer ids per reason.
    notes : list of str
        Policies that were applied, in words.
    amounts : dict of str to float
        The amount carried by the rows of each reason when they were dropped or flagged
        (0 for returns netted and purchase days returned in full: their amounts are in the
        purchases kept; the note on returns gives the amounts netted).
    amount_read : float or None
        Sum of the input's valid amounts (finite, within ``MAX_AMOUNT``); None without an
        amount column. It equals the table's calibration and holdout revenue plus the
        amounts of every dropped reason.
    customers : dict of str to int
        Customers in the table (``in_table``) and excluded, by reason.

    Examples
    --------
    >>> from segml.data.quality import DataQualityReport
    >>> r = DataQualityReport(rows_read=10)
    >>> r.drop("missing_customer_id", 2, ["<NA>"])
    >>> r.rows_kept
    8
    """

    rows_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    amounts: dict[str, float] = field(default_factory=dict)
    amount_read: float | None = None
    customers: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        """Total number of input rows dropped, over all reasons."""
        return int(sum(self.dropped.values()))

    @property
    def rows_kept(self) -> int:
        """Input rows that survived every check."""
        return self.rows_read - self.rows_dropped

    @property
    def amount_dropped(self) -> float:
        """Total amount of the dropped rows, over all reasons."""
        return float(sum(v for k, v in self.amounts.items() if k in self.dropped))

    def drop(
        self, reason: str, count: int, example_ids: Any = (), amount: float | None = None
    ) -> None:
        """Record ``count`` rows dropped for ``reason`` carrying ``amount`` (no-op when
        ``count`` and ``amount`` are zero: a reason may carry an amount without whole rows)."""
        if count or amount:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)
            self._add_examples(reason, example_ids)
            self._add_amount(reason, amount)

    def flag(
        self, what: str, count: int, example_ids: Any = (), amount: float | None = None
    ) -> None:
        """Record ``count`` rows or customers kept but flagged as ``what``."""
        if count:
            self.flagged[what] = self.flagged.get(what, 0) + int(count)
            self._add_examples(what, example_ids)
            self._add_amount(what, amount)

    def _add_amount(self, key: str, amount: float | None) -> None:
        if amount is not None:
            self.amounts[key] = self.amounts.get(key, 0.0) + float(amount)

    def note(self, text: str) -> None:
        """Record a policy that was applied."""
        if text not in self.notes:
            self.notes.append(text)

    def _add_examples(self, key: str, ids: Any) -> None:
        have = self.examples.setdefault(key, [])
        need = 5 - len(have)
        if need <= 0:
            return
        if isinstance(ids, pd.Series | pd.Index):
            ids = ids[:need] if isinstance(ids, pd.Index) else ids.iloc[:need]
        for value in ids:
            if len(have) == 5:
                break
            if str(value) not in have:
                have.append(str(value))

    def merged(self, other: DataQualityReport) -> DataQualityReport:
        """A new report with ``other``'s drops and flags added to this one's rows read."""
        out = DataQualityReport(rows_read=self.rows_read, amount_read=self.amount_read)
        for rep in (self, other):
            for k, v in rep.dropped.items():
                out.drop(k, v, rep.examples.get(k, ()), rep.amounts.get(k))
            for k, v in rep.flagged.items():
                out.flag(k, v, rep.examples.get(k, ()), rep.amounts.get(k))
            for n in rep.notes:
                out.note(n)
            out.customers.update(rep.customers)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per reason: ``kind`` (dropped/flagged), ``reason``, ``count``, ``amount``,
        ``examples``."""
        nan = float("nan")
        kept = nan if self.amount_read is None else self.amount_read - self.amount_dropped
        rows = [
            {"kind": "read", "reason": "rows_read", "count": self.rows_read, "amount": nan},
            {"kind": "kept", "reason": "rows_kept", "count": self.rows_kept, "amount": kept},
        ]
        rows[0]["amount"] = nan if self.amount_read is None else self.amount_read
        for kind, table in (("dropped", self.dropped), ("flagged", self.flagged)):
            for reason, count in table.items():
                rows.append(
                    {
                        "kind": kind,
                        "reason": reason,
                        "count": count,
                        "amount": self.amounts.get(reason, nan),
                    }
                )
        for row in rows:
            row["examples"] = ", ".join(self.examples.get(str(row["reason"]), []))
        for what, count in self.customers.items():
            rows.append(
                {"kind": "customers", "reason": what, "count": count, "amount": nan, "examples": ""}
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary of the report."""
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "flagged": dict(self.flagged),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "notes": list(self.notes),
            "amounts": dict(self.amounts),
            "amount_read": self.amount_read,
            "customers": dict(self.customers),
        }

    def _amount(self, key: str) -> str:
        value = self.amounts.get(key)
        return "" if value is None else f", amount {value:,.2f}"

    def __str__(self) -> str:
        read = "" if self.amount_read is None else f" (amount {self.amount_read:,.2f})"
        kept = (
            ""
            if self.amount_read is None
            else f" (amount {self.amount_read - self.amount_dropped:,.2f})"
        )
        lines = [
            f"rows read: {self.rows_read:,}{read}",
            f"rows kept: {self.rows_kept:,}{kept}",
            f"rows dropped: {self.rows_dropped:,}"
            + ("" if self.amount_read is None else f" (amount {self.amount_dropped:,.2f})"),
        ]
        for reason, count in self.dropped.items():
            ex = ", ".join(self.examples.get(reason, []))
            why = REASONS.get(reason, reason)
            lines.append(
                f"  - {reason}: {count:,}{self._amount(reason)} ({why})"
                + (f"; e.g. {ex}" if ex else "")
            )
        if self.flagged:
            lines.append("kept but flagged:")
            for what, count in self.flagged.items():
                ex = ", ".join(self.examples.get(what, []))
                lines.append(
                    f"  - {what}: {count:,}{self._amount(what)}" + (f"; e.g. {ex}" if ex else "")
                )
        if self.customers:
            lines.append("customers:")
            lines.extend(f"  - {what}: {count:,}" for what, count in self.customers.items())
        if self.notes:
            lines.append("policies applied:")
            lines.extend(f"  - {n}" for n in self.notes)
        return "\n".join(lines)


_ATTR = "segml_quality"


def attach(df: pd.DataFrame, report: DataQualityReport) -> pd.DataFrame:
    """Attach ``report`` to ``df`` (in ``df.attrs``) and return ``df``."""
    df.attrs[_ATTR] = report.to_dict()
    return df


def quality_report(df: pd.DataFrame) -> DataQualityReport:
    """The data-quality report attached to a frame by :func:`segml.read_transactions` or
    :func:`segml.summarize`.

    Parameters
    ----------
    df : pandas.DataFrame
        A transaction frame or customer table made by segml.

    Returns
    -------
    DataQualityReport

    Raises
    ------
    segml.DataError
        If the frame carries no report (it was not made by segml, or an operation such as
        ``merge`` dropped pandas' ``attrs``).

    Examples
    --------
    >>> import segml
    >>> tx = segml.load_cdnow()
    >>> table = segml.summarize(tx, calibration_end="1997-09-30")
    >>> segml.quality_report(table).rows_read
    6919
    """
    from segml.errors import DataError

    raw = df.attrs.get(_ATTR)
    if raw is None:
        raise DataError(
            "this DataFrame carries no segml data-quality report: it was not produced by "
            "segml.read_transactions or segml.summarize, or an operation dropped its .attrs. "
            "Call segml.summarize on the transactions again to get one."
        )
    rep = DataQualityReport(rows_read=int(raw["rows_read"]))
    rep.dropped = dict(raw["dropped"])
    rep.flagged = dict(raw["flagged"])
    rep.examples = {k: list(v) for k, v in raw["examples"].items()}
    rep.notes = list(raw["notes"])
    rep.amounts = dict(raw.get("amounts", {}))
    rep.amount_read = raw.get("amount_read")
    rep.customers = dict(raw.get("customers", {}))
    return rep


def example_ids(frame: pd.DataFrame, mask: np.ndarray, k: int = 5) -> list[str]:
    """The first ``k`` distinct customer ids where ``mask`` holds (examples for the report).

    Element by element: taking rows of a chunked Arrow column (``.iloc``) would first
    concatenate all its chunks, a copy of ten million ids for five examples.
    """
    values = frame["customer_id"]
    found: list[str] = []
    for start in range(0, len(mask), _order.SLICE_ROWS):
        # A bounded look per slice: a million hits of one customer cost no more than a few.
        for i in np.flatnonzero(mask[start : start + _order.SLICE_ROWS])[:200]:
            value = str(values.iat[start + int(i)])
            if value not in found:
                found.append(value)
                if len(found) == k:
                    return found
    return found
