"""Returns netted against what they return, and revenue conserved through the data layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segml
from segml.data.read import MAX_AMOUNT

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lifo_reference(log: pd.DataFrame) -> dict[str, tuple[float, int, float]]:
    """Per customer: net revenue, purchase days left and the unmatched return amount, by
    walking each customer's days in order with an explicit stack (the definition)."""
    out = {}
    for cid, rows in log.groupby("customer_id"):
        stack: list[float] = []  # purchases left per day, latest last
        unmatched = 0.0
        for _, amounts in rows.groupby(rows["date"].dt.floor("D"))["amount"]:
            stack.append(float(amounts[amounts > 0].sum()))
            returned = -float(amounts[amounts < 0].sum())
            while returned > 0 and stack:
                take = min(stack[-1], returned)
                stack[-1] -= take
                returned -= take
                if stack[-1] <= 1e-9:
                    stack.pop()
            unmatched += returned
        left = [s for s in stack if s > 1e-9]
        out[str(cid)] = (sum(left), len(left), -unmatched)
    return out


@st.composite
def clean_logs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 30))
    ids = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    cents = draw(st.lists(st.integers(-5000, 8000).filter(bool), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "customer_id": ids,
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"),
            "amount": np.array(cents) / 100.0,
        }
    )


@SETTINGS
@given(log=clean_logs())
def test_netting_equals_a_stack_walked_day_by_day(log) -> None:
    try:
        tx = segml.read_transactions(log, amount="amount")
    except segml.DataError:  # every row was a return with nothing to net against
        assert all(n_days == 0 for _, n_days, _ in lifo_reference(log).values())
        return
    expected = lifo_reference(log)
    days = tx.assign(day=tx["date"].dt.floor("D")).groupby(["customer_id", "day"])["amount"].sum()
    got_revenue = days.groupby(level=0).sum()
    got_days = days.groupby(level=0).size()
    for cid, (revenue, n_days, _) in expected.items():
        if n_days == 0:
            assert cid not in got_revenue.index
            continue
        assert got_revenue[cid] == pytest.approx(revenue, rel=1e-9, abs=1e-9)
        assert got_days[cid] == n_days
    report = segml.quality_report(tx)
    unmatched = sum(u for _, _, u in expected.values())
    assert report.amounts.get("unmatched_return", 0.0) == pytest.approx(unmatched, abs=1e-9)


def test_a_return_weeks_later_nets_against_the_latest_earlier_days() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "date": ["2024-01-01", "2024-01-05", "2024-01-20", "2024-02-01", "2024-01-02"],
            "amount": [100.0, 50.0, -70.0, 30.0, -5.0],
        }
    )
    tx = segml.read_transactions(log, amount="amount")
    # -70 takes the 50 of 5 January (that day is no purchase any more), then 20 of 1 January.
    assert tx["date"].dt.strftime("%m-%d").tolist() == ["01-01", "02-01"]
    assert tx["amount"].tolist() == [80.0, 30.0]
    report = segml.quality_report(tx)
    assert report.dropped == {"unmatched_return": 1, "return_netted": 1, "returned_in_full": 1}
    assert report.amounts == {
        "unmatched_return": -5.0,
        "return_netted": 0.0,
        "returned_in_full": 0.0,
    }
    assert report.rows_kept == len(tx)
    assert "-70.00 netted into purchases" in str(report)
    assert "(50.00 of purchases)" in str(report)
    table = segml.summarize(tx, calibration_end="2024-03-01")
    assert table.loc["a", "frequency"] == 1 and table.loc["a", "total_revenue"] == 110.0


def test_rows_of_customers_first_seen_later_leave_with_their_returns() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a", "b", "b"],
            "date": ["2024-01-01", "2024-08-01", "2024-08-05"],
            "amount": [10.0, 30.0, -10.0],
        }
    )
    table = segml.summarize(
        segml.read_transactions(log, amount="amount"),
        calibration_end="2024-06-30",
        holdout_end="2024-12-31",
    )
    report = segml.quality_report(table)
    assert report.rows_kept == 1 and report.dropped["first_seen_after_calibration"] == 1
    assert report.amounts["first_seen_after_calibration"] == 20.0
    assert report.customers == {
        "in_table": 1,
        "excluded_first_seen_after_calibration": 1,
        "excluded_purchases_only_after_window": 0,
        "excluded_no_row_left_after_reading": 0,
    }


def test_a_return_naming_its_order_nets_against_that_orders_day() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "date": ["2024-01-01", "2024-01-05", "2024-01-20"],
            "order": ["o1", "o2", "o1"],
            "amount": [100.0, 50.0, -40.0],
        }
    )
    by_day = segml.read_transactions(log, amount="amount")
    assert by_day["amount"].tolist() == [100.0, 10.0]
    by_order = segml.read_transactions(log, amount="amount", return_of="order")
    assert by_order["amount"].tolist() == [60.0, 50.0]
    assert by_order["order"].tolist() == ["o1", "o2"]
    assert "1 named their order in 'order'" in str(segml.quality_report(by_order))


AMOUNTS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-800, max_value=5000),
    st.sampled_from(["12.5", "abc", "", "0", "-3", "2e13"]),
)


@st.composite
def messy_logs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    ids = st.one_of(st.none(), st.just(" "), st.sampled_from(["a", "b", "c", " d", "7"]))
    dates = st.one_of(
        st.none(),
        st.just("not a date"),
        st.dates(
            min_value=pd.Timestamp("2023-06-01").date(),
            max_value=pd.Timestamp("2024-12-31").date(),
        ).map(str),
    )
    return pd.DataFrame(
        {
            "customer_id": pd.Series(draw(st.lists(ids, min_size=n, max_size=n)), dtype=object),
            "date": pd.Series(draw(st.lists(dates, min_size=n, max_size=n)), dtype=object),
            "amount": pd.Series(draw(st.lists(AMOUNTS, min_size=n, max_size=n)), dtype=object),
        }
    )


def valid_amount_sum(raw: pd.DataFrame) -> float:
    values = pd.to_numeric(raw["amount"], errors="coerce").astype(float).to_numpy()
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (np.abs(values) <= MAX_AMOUNT)
    return float(values[valid].sum()), float(np.abs(values[valid]).sum())


@SETTINGS
@given(
    raw=messy_logs(),
    returns=st.sampled_from(["net", "drop"]),
    zeros=st.sampled_from(["keep", "drop"]),
    dups=st.sampled_from(["keep", "drop"]),
    cal=st.sampled_from(["2023-12-31", "2024-06-30"]),
    hold=st.sampled_from([None, "2024-09-30"]),
)
def test_revenue_is_conserved_over_messy_logs(raw, returns, zeros, dups, cal, hold) -> None:
    try:
        tx = segml.read_transactions(
            raw, amount="amount", returns=returns, zero_amounts=zeros, duplicates=dups
        )
        table = segml.summarize(tx, calibration_end=cal, holdout_end=hold)
    except segml.DataError:
        return
    report = segml.quality_report(table)
    total, scale = valid_amount_sum(raw)
    assert report.amount_read == pytest.approx(total, abs=1e-9 * scale + 1e-9)
    in_table = table["total_revenue"].sum() + table.get("holdout_revenue", pd.Series()).sum()
    assert in_table + report.amount_dropped == pytest.approx(total, abs=1e-9 * scale + 1e-9)
    assert report.rows_read == report.rows_kept + report.rows_dropped == len(raw)
    events = table["n_transactions"].sum() + table.get("holdout_frequency", pd.Series()).sum()
    # Rows kept are the table's events plus the rows merged into them on the same day.
    assert report.rows_kept == events + report.flagged.get("same_day_rows_merged", 0)
    assert report.customers["in_table"] == len(table)
    # Every customer with an id is in the table or excluded for one reason.
    cleaned = raw["customer_id"].map(lambda v: v.strip() if isinstance(v, str) else v)
    assert sum(report.customers.values()) == cleaned.replace("", None).dropna().nunique()
    for ids in report.examples.values():
        assert len(ids) == len(set(ids))


@SETTINGS
@given(log=clean_logs())
def test_netting_in_small_pieces_equals_netting_at_once(log) -> None:
    from segml.data import returns

    codes = pd.factorize(log["customer_id"])[0]
    times = log["date"].to_numpy("datetime64[ns]").view("i8")
    whole = returns.net_returns(codes, times, log["amount"].to_numpy())
    saved = returns.CHUNK
    returns.CHUNK = 2  # a piece per customer or two
    try:
        pieces = returns.net_returns(codes, times, log["amount"].to_numpy())
    finally:
        returns.CHUNK = saved
    for name in ("keep", "changed", "changed_amount", "unmatched", "netted", "in_full"):
        np.testing.assert_array_equal(getattr(pieces, name), getattr(whole, name), err_msg=name)
    assert pieces.unmatched_amount == pytest.approx(whole.unmatched_amount, abs=1e-9)
