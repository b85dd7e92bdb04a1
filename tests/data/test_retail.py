"""make_retail: a log shaped like real online retail, and what the data layer makes of it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml

READ = {"customer": "Customer ID", "time": "InvoiceDate", "quantity": "Quantity"}


@pytest.fixture(scope="module")
def retail() -> tuple[pd.DataFrame, pd.DataFrame]:
    return segml.make_retail(2000, random_state=3)


def test_the_log_has_what_real_retail_logs_have(retail) -> None:
    lines, customers = retail
    assert list(lines.columns) == [
        "Invoice",
        "StockCode",
        "Quantity",
        "InvoiceDate",
        "Price",
        "Customer ID",
        "Country",
    ]
    per_invoice = lines.groupby("Invoice").size()
    assert per_invoice.median() >= 4  # invoices of several lines
    assert 0.1 < lines["Customer ID"].isna().mean() < 0.3  # guest checkouts
    cancel = lines["Invoice"].str.startswith("C")
    assert 0.01 < cancel.mean() < 0.04 and (lines.loc[cancel, "Quantity"] < 0).all()
    assert lines.duplicated().sum() > 0.005 * len(lines)
    assert {"POST", "M"} <= set(lines["StockCode"])
    assert (lines["Price"] == 0).any() and (lines["Price"] < -1000).sum() == 2
    spend = (lines["Quantity"] * lines["Price"]).groupby(lines["Customer ID"]).sum()
    assert spend.max() > 50 * spend.median()  # wholesale buyers
    assert set(customers["country"]) >= {"United Kingdom", "Germany", "Netherlands"}
    # Cancellations lag their orders by 0-60 days.
    order_day = lines.loc[~cancel].groupby("Invoice")["InvoiceDate"].min()
    of = lines.loc[cancel, "Invoice"].str[1:]
    lag = (lines.loc[cancel, "InvoiceDate"] - order_day.reindex(of).to_numpy()).dropna()
    assert lag.dt.days.between(0, 61).all() and lag.dt.days.max() > 30


def test_only_cancellations_of_orders_before_the_log_are_unmatched(retail) -> None:
    lines, _ = retail
    tx = segml.read_transactions(lines, unit_price="Price", **READ)
    report = segml.quality_report(tx)
    amount = lines["Quantity"] * lines["Price"]
    cancel = lines["Invoice"].str.startswith("C") & lines["Customer ID"].notna() & (amount < 0)
    in_log = lines["Invoice"].str[1:].isin(lines["Invoice"])
    before_log = cancel & ~in_log
    assert report.dropped["unmatched_return"] == before_log.sum()
    assert report.dropped["return_netted"] == (cancel & in_log).sum()
    returned = amount[cancel & in_log].sum()
    assert f"{returned:,.2f} netted into purchases" in str(report)


@pytest.fixture(scope="module")
def net_and_gross(retail) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The retail log's table with returns netted, and with them dropped."""
    lines, customers = retail
    windows = {"calibration_end": "2010-11-30", "holdout_end": "2011-11-29"}
    net = segml.summarize(
        segml.read_transactions(lines, unit_price="Price", **READ), customers=customers, **windows
    )
    gross = segml.summarize(
        segml.read_transactions(lines, unit_price="Price", returns="drop", **READ),
        customers=customers,
        **windows,
    )
    return net, gross


def test_netting_lowers_revenue_against_dropping_returns(net_and_gross) -> None:
    net, gross = net_and_gross
    both = net.index.intersection(gross.index)
    assert len(both) >= 0.99 * len(gross)
    assert net.loc[both, "total_revenue"].sum() < gross.loc[both, "total_revenue"].sum()


def test_netting_cancels_purchase_days_returned_in_full(net_and_gross) -> None:
    net, gross = net_and_gross
    both = net.index.intersection(gross.index)
    assert (net.loc[both, "frequency"] <= gross.loc[both, "frequency"]).all()
    assert (net.loc[both, "frequency"] < gross.loc[both, "frequency"]).any()


def test_netted_revenue_plus_what_was_dropped_is_what_was_read(net_and_gross) -> None:
    net, _ = net_and_gross
    report = segml.quality_report(net)
    kept = net["total_revenue"].sum() + net["holdout_revenue"].sum()
    assert kept + report.amount_dropped == pytest.approx(report.amount_read, rel=1e-12)


def test_unit_price_needs_a_quantity() -> None:
    lines, _ = segml.make_retail(50, random_state=0)
    with pytest.raises(segml.DataError, match="map quantity too"):
        segml.read_transactions(
            lines, customer="Customer ID", time="InvoiceDate", unit_price="Price"
        )


def test_unit_price_excludes_an_amount() -> None:
    lines, _ = segml.make_retail(50, random_state=0)
    with pytest.raises(segml.DataError, match="and not amount"):
        segml.read_transactions(lines, unit_price="Price", amount="Price", **READ)


def test_planted_country_effects_are_in_the_log() -> None:
    lines, customers = segml.make_retail(6000, random_state=1)
    tx = segml.read_transactions(lines, unit_price="Price", **READ)
    table = segml.summarize(
        tx, calibration_end="2010-11-30", holdout_end="2011-11-29", customers=customers
    )
    by = table.groupby("country")
    rate = by["holdout_frequency"].mean()
    assert rate["Germany"] > 1.4 * rate["United Kingdom"]
    spend = by["monetary_value"].median()
    assert spend["Netherlands"] > 1.5 * spend["United Kingdom"]
    assert abs(np.log(rate["France"] / rate["United Kingdom"])) < 0.25
