"""The data layer: reading, validation policies, the customer table, the report."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import segml


def _lifetimes_utils():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import utils
    return utils


def test_summary_equals_lifetimes_with_papers_conventions(cdnow_tx: pd.DataFrame) -> None:
    utils = _lifetimes_utils()
    raw = cdnow_tx.assign(date=cdnow_tx["date"].dt.strftime("%Y-%m-%d"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = utils.summary_data_from_transaction_data(
            raw,
            "customer_id",
            "date",
            monetary_value_col="amount",
            observation_period_end="1997-09-30",
            freq="D",
            freq_multiplier=7,
        )
    ours = segml.summarize(cdnow_tx, calibration_end="1997-09-30", unit="W")
    ref = ref.reindex(ours.index)
    assert len(ref) == len(ours) == 2357
    np.testing.assert_array_equal(ours["frequency"], ref["frequency"])
    np.testing.assert_allclose(ours["recency"], ref["recency"], rtol=1e-12)
    np.testing.assert_allclose(ours["T"], ref["T"], rtol=1e-12)
    np.testing.assert_allclose(ours["monetary_value"], ref["monetary_value"], rtol=1e-9)


def test_holdout_counts_equal_lifetimes(cdnow_tx, cdnow) -> None:
    utils = _lifetimes_utils()
    raw = cdnow_tx.assign(date=cdnow_tx["date"].dt.strftime("%Y-%m-%d"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = utils.calibration_and_holdout_data(
            raw,
            "customer_id",
            "date",
            calibration_period_end="1997-09-30",
            observation_period_end="1998-06-30",
            freq="D",
            freq_multiplier=7,
            monetary_value_col="amount",
        )
    ref = ref.reindex(cdnow.index)
    np.testing.assert_array_equal(cdnow["frequency"], ref["frequency_cal"])
    np.testing.assert_array_equal(cdnow["holdout_frequency"], ref["frequency_holdout"])
    np.testing.assert_allclose(cdnow["holdout_duration"], ref["duration_holdout"])


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_zero_padded_ids_survive_a_file(tmp_path, suffix) -> None:
    frame = pd.DataFrame(
        {
            "cust": ["007", "007", "0100"],
            "ts": ["2024-01-01", "2024-02-01", "2024-01-05"],
            "amt": [1.0, 2.0, 3.0],
        }
    )
    path = tmp_path / f"t.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    tx = segml.read_transactions(path, customer="cust", time="ts", amount="amt")
    assert sorted(tx["customer_id"].unique()) == ["007", "0100"]
    table = segml.summarize(tx, calibration_end="2024-03-01")
    assert list(table.index) == ["007", "0100"]


def test_a_missing_column_is_named_with_a_suggestion() -> None:
    frame = pd.DataFrame({"customer": ["a"], "date": ["2024-01-01"]})
    with pytest.raises(
        segml.DataError, match=r"customer column 'customer_id' \(did you mean 'customer'\?\)"
    ):
        segml.read_transactions(frame)


def test_a_missing_file_is_reported_as_not_found(tmp_path) -> None:
    with pytest.raises(segml.DataError, match="not found"):
        segml.read_transactions(tmp_path / "nope.csv")


def test_bad_rows_are_dropped_and_counted() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", None, " ", "b", "c", "d"],
            "date": [
                "2024-01-01",
                "2024-01-01",
                "2024-01-02",
                "not a date",
                "2024-01-03",
                "2024-01-04",
            ],
            "amount": ["10", "5", "5", "5", "abc", "7.5"],
        }
    )
    tx = segml.read_transactions(frame, amount="amount")
    report = segml.quality_report(tx)
    assert report.rows_read == 6
    assert report.dropped == {"missing_customer_id": 2, "unparsable_time": 1, "invalid_amount": 1}
    assert report.rows_kept == 2 == len(tx)
    assert report.examples["unparsable_time"] == ["b"]
    assert "unparsable_time: 1" in str(report)


def test_all_unparsable_times_is_an_error() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "b"], "date": ["01/02/1997", "01/01/1997"]})
    with pytest.raises(segml.DataError, match=r"no timestamp .* could be parsed.*time_format"):
        segml.read_transactions(frame)
    tx = segml.read_transactions(frame, time_format="%m/%d/%Y")
    assert tx["date"].min() == pd.Timestamp("1997-01-01")


def test_returns_are_netted_same_day_or_dropped() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c"],
            "date": [
                "2024-01-01",
                "2024-01-01",
                "2024-01-02",
                "2024-01-01",
                "2024-01-01",
                "2024-01-05",
            ],
            "amount": [30.0, -10.0, 5.0, 10.0, -10.0, -4.0],
        }
    )
    tx = segml.read_transactions(frame, amount="amount")
    report = segml.quality_report(tx)
    assert report.dropped == {"unmatched_return": 1, "return_netted": 2, "returned_in_full": 1}
    assert tx.groupby("customer_id")["amount"].sum().to_dict() == {"a": 25.0}
    dropped = segml.read_transactions(frame, amount="amount", returns="drop")
    assert segml.quality_report(dropped).dropped == {"negative_amount": 3}
    assert len(dropped) == 3


ZERO_AND_COPY = pd.DataFrame(
    {"customer_id": ["a", "a", "a"], "date": ["2024-01-01"] * 3, "amount": [0.0, 4.0, 4.0]}
)


def test_by_default_suspect_rows_are_flagged_not_dropped() -> None:
    kept = segml.read_transactions(ZERO_AND_COPY, amount="amount")
    assert len(kept) == 3
    assert segml.quality_report(kept).flagged == {
        "exact_duplicate_rows_kept": 1,
        "zero_amount_rows_kept": 1,
    }


def test_the_drop_policies_remove_suspect_rows() -> None:
    strict = segml.read_transactions(
        ZERO_AND_COPY, amount="amount", zero_amounts="drop", duplicates="drop"
    )
    assert segml.quality_report(strict).dropped == {"exact_duplicate": 1, "zero_amount": 1}
    assert strict["amount"].tolist() == [4.0]


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(segml.DataError, match="duplicates='maybe' is not one of"):
        segml.read_transactions(ZERO_AND_COPY, duplicates="maybe")


WINDOWED = pd.DataFrame(
    {
        "customer_id": ["a", "a", "a", "b", "c"],
        "date": ["2024-01-01", "2024-01-15", "2024-03-01", "2024-02-10", "2024-05-01"],
        "amount": [10.0, 20.0, 30.0, 5.0, 1.0],
    }
)


def _windowed() -> pd.DataFrame:
    return segml.summarize(
        WINDOWED, calibration_end="2024-01-31", holdout_end="2024-03-31", unit="D"
    )


def test_rows_and_customers_outside_the_windows_are_counted() -> None:
    table = _windowed()
    report = segml.quality_report(table)
    assert list(table.index) == ["a"]
    assert report.dropped["after_window"] == 1
    assert report.dropped["first_seen_after_calibration"] == 1
    assert report.flagged["customers_first_seen_after_calibration"] == 1


def test_a_customer_row_sums_its_calibration_and_holdout_windows() -> None:
    row = _windowed().loc["a"]
    assert (row["frequency"], row["recency"], row["T"]) == (1, 14.0, 30.0)
    assert (row["monetary_value"], row["first_amount"], row["total_revenue"]) == (20.0, 10.0, 30.0)
    assert (row["holdout_frequency"], row["holdout_revenue"]) == (1, 30.0)
    assert row["holdout_duration"] == 60.0


@pytest.mark.parametrize("merge_same_day", [True, False])
@pytest.mark.parametrize("layout", ["grouped", "time order", "shuffled"])
def test_window_ends_at_its_last_instant(merge_same_day, layout) -> None:
    """A row at the window's last instant is in, one a nanosecond later is out, whichever
    route the log takes (in order, sorted by customer, or sorted by key); the same for the
    rows of a customer first seen in the holdout."""
    end = pd.Timestamp("2024-03-31")
    last = end + pd.Timedelta(days=1) - pd.Timedelta(1, "ns") if merge_same_day else end
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "late", "late"],
            "date": [
                pd.Timestamp("2024-01-01"),
                last,
                last + pd.Timedelta(1, "ns"),
                pd.Timestamp("2024-02-10"),
                last + pd.Timedelta(1, "ns"),
            ],
            "amount": [10.0, 20.0, 30.0, 5.0, 1.0],
        }
    )
    if layout == "time order":
        frame = frame.sort_values("date", kind="stable", ignore_index=True)
    elif layout == "shuffled":
        frame = frame.iloc[[4, 2, 0, 3, 1]].reset_index(drop=True)
    table = segml.summarize(
        frame,
        calibration_end="2024-01-31",
        holdout_end=end,
        unit="D",
        merge_same_day=merge_same_day,
    )
    report = segml.quality_report(table)
    assert list(table.index) == ["a"]
    assert report.dropped["after_window"] == 2
    assert report.dropped["first_seen_after_calibration"] == 1
    assert (table.loc["a", "holdout_frequency"], table.loc["a", "holdout_revenue"]) == (1, 20.0)


def test_month_unit_is_exact() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "a"], "date": ["2023-01-01", "2024-01-01"]})
    table = segml.summarize(frame, calibration_end="2025-01-01", unit="M")
    assert table.loc["a", "recency"] == pytest.approx(365 / (365.2425 / 12))
    assert table.loc["a", "T"] == pytest.approx(731 / (365.2425 / 12))
    with pytest.raises(segml.DataError, match="unit='fortnight'"):
        segml.summarize(frame, calibration_end="2025-01-01", unit="fortnight")


def test_intraday_transactions_merge_by_day_or_not() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "date": ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-03 12:00"],
            "amount": [1.0, 2.0, 3.0],
        }
    )
    merged = segml.summarize(frame, calibration_end="2024-01-10", unit="D")
    assert merged.loc["a", "frequency"] == 1
    assert merged.loc["a", "first_amount"] == 3.0
    raw = segml.summarize(frame, calibration_end="2024-01-10", unit="D", merge_same_day=False)
    assert raw.loc["a", "frequency"] == 2
    assert raw.loc["a", "recency"] == pytest.approx(2.125)


def test_timezone_aware_times_are_converted() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "date": ["2024-01-01T23:30:00-05:00", "2024-01-02T01:00:00+00:00"],
        }
    )
    tx = segml.read_transactions(frame)
    assert tx["date"].tolist() == [
        pd.Timestamp("2024-01-02 04:30"),
        pd.Timestamp("2024-01-02 01:00"),
    ]
    assert any("UTC" in note for note in segml.quality_report(tx).notes)


TWO_CUSTOMERS = pd.DataFrame({"customer_id": ["01", "02"], "date": ["2024-01-01", "2024-01-02"]})


def test_attributes_are_joined_and_mismatches_counted() -> None:
    frame = TWO_CUSTOMERS
    attrs = pd.DataFrame({"id": ["01", "99"], "industry": ["retail", "energy"]})
    table = segml.summarize(frame, calibration_end="2024-02-01", customers=attrs, customer_key="id")
    assert table.loc["01", "industry"] == "retail"
    assert pd.isna(table.loc["02", "industry"])
    report = segml.quality_report(table)
    assert report.flagged["customers_without_attributes"] == 1
    assert report.flagged["attribute_rows_without_customer_in_table"] == 1
    assert report.examples["attribute_rows_without_customer_in_table"] == ["99"]


def test_attributes_with_two_rows_for_a_customer_are_refused() -> None:
    dup = pd.DataFrame({"id": ["01", "01"], "industry": ["a", "b"]})
    with pytest.raises(segml.DataError, match="one row per customer"):
        segml.summarize(
            TWO_CUSTOMERS, calibration_end="2024-02-01", customers=dup, customer_key="id"
        )


def test_attributes_named_like_a_table_column_are_refused() -> None:
    clash = pd.DataFrame({"customer_id": ["01"], "frequency": [3]})
    with pytest.raises(segml.DataError, match="clash"):
        segml.summarize(TWO_CUSTOMERS, calibration_end="2024-02-01", customers=clash)


def test_window_errors_are_clear() -> None:
    frame = pd.DataFrame({"customer_id": ["a"], "date": ["2024-06-01"]})
    with pytest.raises(segml.DataError, match="152 days before the first transaction"):
        segml.summarize(frame, calibration_end="2024-01-01")
    with pytest.raises(segml.DataError, match=r"holdout_end .* must be after calibration_end"):
        segml.summarize(frame, calibration_end="2024-07-01", holdout_end="2024-06-01")
    with pytest.raises(segml.DataError, match="not a date"):
        segml.summarize(frame, calibration_end="yesterday-ish")


def test_the_report_exports_as_a_frame(cdnow) -> None:
    frame = segml.quality_report(cdnow).to_frame()
    assert {"read", "kept", "flagged"} <= set(frame["kind"])


def test_the_report_exports_as_a_dict(cdnow) -> None:
    assert segml.quality_report(cdnow).to_dict()["rows_read"] == 6919


def test_a_frame_segml_did_not_make_has_no_report() -> None:
    with pytest.raises(segml.DataError, match="carries no segml data-quality report"):
        segml.quality_report(pd.DataFrame({"a": [1]}))


def test_summarize_counts_every_purchase_day_of_a_simulated_log_once() -> None:
    tx = segml.simulate_transactions(3000, random_state=7)
    table = segml.summarize(tx, calibration_end="2024-09-29", holdout_end="2025-06-28")
    counts = tx.assign(day=tx["date"].dt.floor("D")).drop_duplicates(["customer_id", "day"])
    in_window = counts[counts["day"] <= pd.Timestamp("2025-06-28")]
    total = table["n_transactions"].sum() + table["holdout_frequency"].sum()
    assert total == len(in_window[in_window["customer_id"].isin(table.index)])
    assert (table["recency"] <= table["T"]).all()
    assert ((table["frequency"] == 0) == (table["recency"] == 0)).all()


def test_rows_removed_by_the_caller_are_reported(cdnow_tx) -> None:
    subset = cdnow_tx[cdnow_tx["amount"] > 20]
    table = segml.summarize(subset, calibration_end="1997-09-30")
    report = segml.quality_report(table)
    assert report.flagged["rows_removed_by_caller_after_read"] == int(
        (cdnow_tx["amount"] <= 20).sum()
    )
    assert any("by the caller" in n for n in report.notes)


def test_a_calibration_end_far_from_the_data_says_how_far(cdnow) -> None:
    tx = segml.load_cdnow()
    with pytest.warns(UserWarning, match=r"calibration_end=2027-09-30 is 10,\d\d\d days after"):
        segml.summarize(tx, calibration_end="2027-09-30")
    with pytest.warns(UserWarning, match="holdout_end=2001-06-30 is 1,0"):
        segml.summarize(tx, calibration_end="1997-09-30", holdout_end="2001-06-30")
    with pytest.raises(segml.DataError, match=r"calibration_end=1996-09-30 is 93 days before"):
        segml.summarize(tx, calibration_end="1996-09-30")


def test_customer_attributes_keyed_by_their_index() -> None:
    tx, customers = segml.make_b2b(300, random_state=0)
    as_column = segml.summarize(tx, calibration_end="2023-12-31", customers=customers)
    as_index = segml.summarize(
        tx, calibration_end="2023-12-31", customers=customers.set_index("customer_id")
    )
    pd.testing.assert_frame_equal(as_index, as_column)
    by_agg = customers.groupby("customer_id").agg(industry=("industry", "first"))
    assert "industry" in segml.summarize(tx, calibration_end="2023-12-31", customers=by_agg)
