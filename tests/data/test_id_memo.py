"""summarize reuses the id codes read_transactions made, and only for the very same ids."""

from __future__ import annotations

import pandas as pd

import segml


def _log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(["a", "b", "a", "c", "b"], dtype="str"),
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-06", "2024-02-01"]
            ),
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )


def test_ids_changed_after_reading_are_factorized_again(monkeypatch) -> None:
    tx = segml.read_transactions(_log(), amount="amount")
    tx.loc[0, "customer_id"] = "z"  # the caller edits an id: the remembered codes are stale
    got = segml.summarize(tx, calibration_end="2024-03-01")
    monkeypatch.setenv("SEGML_FAST", "0")
    want = segml.summarize(tx, calibration_end="2024-03-01")
    pd.testing.assert_frame_equal(got, want)
    assert list(got.index) == ["z", "b", "a", "c"]


def test_rows_filtered_after_reading_are_factorized_again() -> None:
    tx = segml.read_transactions(_log(), amount="amount")
    kept = tx[tx["customer_id"] != "a"]
    table = segml.summarize(kept, calibration_end="2024-03-01")
    assert list(table.index) == ["b", "c"]
    assert table.loc["b", "frequency"] == 1
