"""Holdout accuracy of a purchase-frequency model: the tables of the CLV papers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segml._setops import distinct, in_index
from segml.clv._base import require_columns
from segml.clv.frequency import FrequencyModel

__all__ = ["HoldoutEvaluation", "evaluate_holdout"]


@dataclass(frozen=True)
class HoldoutEvaluation:
    """Expected vs actual purchases in the holdout window.

    Attributes
    ----------
    model : str
        Frequency model evaluated.
    n_customers : int
        Customers evaluated.
    actual_total, expected_total : float
        Total holdout purchases, actual and expected.
    mae, rmse : float
        Per-customer mean absolute and root mean squared error.
    correlation : float
        Pearson correlation of expected and actual purchases per customer.
    bins : pandas.DataFrame
        By calibration frequency (0, 1, ..., ``max_bin - 1``, ``"max_bin+"``):
        ``customers``, mean ``actual`` and mean ``expected`` holdout purchases.

    Examples
    --------
    >>> import segml
    >>> t = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30",
    ...                     holdout_end="1998-06-30")
    >>> ev = segml.evaluate_holdout(segml.BetaGeo().fit(t), t)
    >>> list(ev.bins.index)
    ['0', '1', '2', '3', '4', '5', '6', '7+']
    """

    model: str
    n_customers: int
    actual_total: float
    expected_total: float
    mae: float
    rmse: float
    correlation: float
    bins: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary (bins as a list of records)."""
        return {
            "model": self.model,
            "n_customers": self.n_customers,
            "actual_total": self.actual_total,
            "expected_total": self.expected_total,
            "mae": self.mae,
            "rmse": self.rmse,
            "correlation": self.correlation,
            "bins": self.bins.reset_index().to_dict(orient="records"),
        }


def evaluate_holdout(model: Any, table: pd.DataFrame, max_bin: int = 7) -> HoldoutEvaluation:
    """Compare a fitted frequency model's holdout expectations with what happened.

    Parameters
    ----------
    model : FrequencyModel or CLVModel
        A fitted model (a CLV model is evaluated through its frequency model).
    table : pandas.DataFrame
        Customer table with a holdout window (``holdout_frequency``,
        ``holdout_duration``), from :func:`segml.summarize` with ``holdout_end``.
    max_bin : int, default 7
        Calibration frequencies of ``max_bin`` or more are pooled in one bin.

    Returns
    -------
    HoldoutEvaluation

    Examples
    --------
    >>> import segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30",
    ...                         holdout_end="1998-06-30")
    >>> ev = segml.evaluate_holdout(segml.BetaGeo().fit(table), table)
    >>> int(ev.actual_total), round(ev.expected_total, 1)
    (1882, 1653.4)
    """
    freq_model = getattr(model, "frequency_model_", model)
    if not isinstance(freq_model, FrequencyModel):
        raise TypeError(
            f"evaluate_holdout needs a fitted frequency or CLV model, got {type(model).__name__}."
        )
    require_columns(
        table,
        ("frequency", "recency", "T", "holdout_frequency", "holdout_duration"),
        "evaluate_holdout (build the table with holdout_end=...)",
    )
    expected = freq_model.expected_purchases(table, table["holdout_duration"]).to_numpy()
    actual = table["holdout_frequency"].to_numpy("float64")
    err = expected - actual
    corr = (
        float(np.corrcoef(expected, actual)[0, 1])
        if np.ptp(actual) and np.ptp(expected)
        else float("nan")
    )
    # bins by number (0, 1, ..., max_bin for max_bin or more), named after the grouping
    number = np.minimum(table["frequency"].to_numpy(), max_bin).astype("int64")
    frame = pd.DataFrame({"bin": number, "actual": actual, "expected": expected})
    bins = frame.groupby("bin", sort=True).agg(
        customers=("actual", "size"), actual=("actual", "mean"), expected=("expected", "mean")
    )
    bins.index = pd.Index(
        [str(i) if i < max_bin else f"{max_bin}+" for i in bins.index], name="frequency"
    )
    return HoldoutEvaluation(
        model=freq_model._model,
        n_customers=len(table),
        actual_total=float(actual.sum()),
        expected_total=float(expected.sum()),
        mae=float(np.mean(np.abs(err))),
        rmse=float(np.sqrt(np.mean(err**2))),
        correlation=corr,
        bins=bins,
    )


def cumulative_tracking(
    model: Any, transactions: pd.DataFrame, table: pd.DataFrame, end: Any, unit: str = "W"
) -> pd.DataFrame:
    """Cumulative repeat transactions over time, actual vs expected (the papers' tracking plot).

    Parameters
    ----------
    model : FrequencyModel or CLVModel
        Fitted on ``table``.
    transactions : pandas.DataFrame
        The transaction log (``customer_id``, ``date``).
    table : pandas.DataFrame
        The customer table (its customers form the cohort; ``first_purchase``).
    end : date-like
        Last date of the curve (the holdout end, or the calibration end).
    unit : {"D", "W", "M"}
        Step of the curve.

    Returns
    -------
    pandas.DataFrame
        ``date``, ``actual`` and ``expected`` cumulative repeat transactions of the cohort,
        one row per time unit from the first acquisition. Expected is the sum over
        customers of E[X(t - acquisition)], the unconditional expectation.
    """
    from segml._units import UNIT_DAYS

    freq_model = getattr(model, "frequency_model_", model)
    day = np.timedelta64(1, "D")
    unit_days = UNIT_DAYS[unit]
    births = table["first_purchase"].to_numpy("datetime64[ns]")
    origin = births.min()
    stop = np.datetime64(pd.Timestamp(end).normalize().to_datetime64())
    span = float((stop - origin) / day)
    grid = np.arange(int(np.floor(span / unit_days)) + 1) * unit_days  # days from origin
    if grid[-1] < span:
        grid = np.r_[grid, span]
    # Distinct (customer, day) purchase events of the cohort, on integer codes: one hash
    # of the ids, then a sort of one integer key per row.
    codes, uniques = pd.factorize(transactions["customer_id"], sort=False)
    in_cohort = in_index(pd.Index(uniques), table.index)
    keep = codes >= 0
    keep[keep] = in_cohort[codes[keep]]
    days = transactions["date"].to_numpy("datetime64[ns]")[keep].astype("datetime64[D]")
    day_no = days.view("i8")
    c = codes[keep].astype(np.int64)
    lo = int(day_no.min()) if len(day_no) else 0
    span_days = (int(day_no.max()) - lo + 1) if len(day_no) else 1
    events = distinct(c * span_days + (day_no - lo))
    customer, event_day = np.divmod(events, span_days)
    repeat = np.r_[False, customer[1:] == customer[:-1]]  # not the customer's first day
    origin_day = int(origin.astype("datetime64[D]").view("i8"))
    offsets = np.sort(event_day[repeat] + lo - origin_day).astype("float64")
    offsets = offsets[offsets <= (stop - origin) / day]
    actual = np.searchsorted(offsets, grid, side="right")
    birth_days, counts = np.unique((births - origin) / day, return_counts=True)
    expected = np.zeros(len(grid))
    for b, n in zip(birth_days, counts, strict=True):
        age = np.clip(grid - b, 0.0, None) / unit_days
        expected += n * freq_model.expected_purchases_new(age)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(origin) + pd.to_timedelta(grid, unit="D"),
            "actual": actual.astype("int64"),
            "expected": expected,
        }
    )
