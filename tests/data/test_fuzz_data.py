"""Fuzzing the data layer: only documented errors, and every row accounted for."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segml

IDS = st.one_of(
    st.none(),
    st.just(""),
    st.just("  "),
    st.sampled_from(["a", "b", "007", "7", "x y"]),
    st.integers(0, 5),
)
DATES = st.one_of(
    st.none(),
    st.sampled_from(["not a date", "2024-13-01", "2999-01-01", "1500-01-01", "2024-02-30"]),
    st.dates(
        min_value=pd.Timestamp("2023-06-01").date(), max_value=pd.Timestamp("2024-12-31").date()
    ).map(str),
    st.datetimes(
        min_value=pd.Timestamp("2023-06-01").to_pydatetime(),
        max_value=pd.Timestamp("2024-12-31").to_pydatetime(),
    ).map(lambda d: d.isoformat()),
)
AMOUNTS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-500, max_value=5000),
    st.sampled_from(["12.5", "abc", "1,234.00", "", "0", "-3"]),
)


@st.composite
def logs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 40))
    return pd.DataFrame(
        {
            "customer_id": pd.Series(draw(st.lists(IDS, min_size=n, max_size=n)), dtype=object),
            "date": pd.Series(draw(st.lists(DATES, min_size=n, max_size=n)), dtype=object),
            "amount": pd.Series(draw(st.lists(AMOUNTS, min_size=n, max_size=n)), dtype=object),
        }
    )


SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    raw=logs(),
    returns=st.sampled_from(["net", "drop"]),
    zeros=st.sampled_from(["keep", "drop"]),
    dups=st.sampled_from(["keep", "drop"]),
)
def test_read_transactions_conserves_rows(raw, returns, zeros, dups) -> None:
    try:
        tx = segml.read_transactions(
            raw, amount="amount", returns=returns, zero_amounts=zeros, duplicates=dups
        )
    except segml.DataError:
        return
    report = segml.quality_report(tx)
    assert report.rows_read == len(raw)
    # netting folds a return into its day's purchases: those rows are kept as part of them
    assert report.rows_kept == len(tx)
    assert tx["customer_id"].map(type).eq(str).all()
    assert np.isfinite(tx["amount"]).all()


@SETTINGS
@given(
    raw=logs(),
    cal=st.sampled_from(["2023-12-31", "2024-03-31", "2024-06-30"]),
    hold=st.sampled_from([None, "2024-09-30"]),
    unit=st.sampled_from(["D", "W", "M"]),
)
def test_summarize_accounts_for_every_kept_row(raw, cal, hold, unit) -> None:
    try:
        tx = segml.read_transactions(raw, amount="amount", returns="drop")
        table = segml.summarize(tx, calibration_end=cal, holdout_end=hold, unit=unit)
    except segml.DataError:
        return
    report = segml.quality_report(table)
    assert report.rows_read == len(raw)
    end = pd.Timestamp(hold or cal)
    days = tx["date"].dt.floor("D")
    in_window = tx[(days <= end) & tx["customer_id"].isin(table.index)]
    assert report.rows_kept == len(in_window)
    events = int(table["n_transactions"].sum()) + int(
        table.get("holdout_frequency", pd.Series(dtype=int)).sum()
    )
    assert events + report.flagged.get("same_day_rows_merged", 0) == report.rows_kept
    assert (table["frequency"] >= 0).all() and (table["recency"] <= table["T"] + 1e-9).all()
    assert np.isfinite(table[["recency", "T", "monetary_value", "total_revenue"]].to_numpy()).all()
