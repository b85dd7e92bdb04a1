"""Parquet logs read batch by batch: the same transactions, table and report as pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segml
import segml.data.parquet as parquet

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CAL = {"calibration_end": "2024-01-31"}


def _frame(rows: list[tuple], ids_as_int: bool) -> pd.DataFrame:
    ids = [r[0] for r in rows]
    if ids_as_int:
        ids = pd.array([None if i is None else abs(hash(i)) % 7 for i in ids], dtype="Int64")
    return pd.DataFrame(
        {
            "customer_id": ids,
            "date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta([r[1] * 86_400 + r[2] for r in rows], unit="s"),
            "amount": [r[3] for r in rows],
            "n_items": [r[4] for r in rows],
        }
    )


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", " 7 ", None, "", "ü", "customer-0000001"]),
            st.integers(0, 60),
            st.sampled_from([0, 3_600, 86_399]),
            st.sampled_from([0.0, 1.5, 2.0, 10.0, -1.5, np.nan]),
            st.integers(1, 3),
        ),
        min_size=1,
        max_size=40,
    ),
    ids_as_int=st.booleans(),
    batch=st.integers(1, 7),
    holdout=st.booleans(),
)
def test_reading_a_parquet_file_in_batches_equals_pandas(
    rows, ids_as_int, batch, holdout, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(parquet, "BATCH_ROWS", batch)
    path = tmp_path / "log.parquet"
    _frame(rows, ids_as_int).to_parquet(path, row_group_size=5)
    reference = pd.read_parquet(path)

    got, got_error = outcome(lambda: segml.read_transactions(path, amount="amount"))
    want, want_error = outcome(lambda: segml.read_transactions(reference, amount="amount"))
    assert got_error == want_error
    if want is not None:
        assert got["customer_id"].dtype == "str"
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs == want.attrs

    kw = {**CAL, "holdout_end": "2024-02-15" if holdout else None}
    got, got_error = outcome(lambda: segml.summarize(path, **kw))
    want, want_error = outcome(lambda: segml.summarize(reference, **kw))
    assert got_error == want_error
    if want is not None:
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs == want.attrs


def test_ids_come_back_as_a_categorical_in_order_of_first_appearance(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "BATCH_ROWS", 2)
    path = tmp_path / "log.parquet"
    ids = ["z", "y", "z", "x", "y", "w", None, "x"]
    pd.DataFrame({"customer_id": ids, "date": pd.Timestamp("2024-01-01")}).to_parquet(path)
    frame = parquet.read_parquet(path, "customer_id")
    column = frame["customer_id"]
    assert isinstance(column.dtype, pd.CategoricalDtype)
    assert list(column.cat.categories) == ["z", "y", "x", "w"]
    assert column.astype(object).where(column.notna(), None).tolist() == ids


def test_only_the_mapped_columns_are_read(tmp_path) -> None:
    path = tmp_path / "wide.parquet"
    frame = pd.DataFrame(
        {"id": ["a", "b"], "when": ["2024-01-01", "2024-01-02"], "blob": ["x" * 10, "y"]}
    )
    frame.to_parquet(path)
    read = parquet.read_parquet(path, "id", ["id", "when"])
    assert list(read.columns) == ["id", "when"]
    tx = segml.read_transactions(path, customer="id", time="when")
    assert list(tx.columns) == ["customer_id", "date"]


def test_a_missing_column_in_a_parquet_file_is_named_with_a_suggestion(tmp_path) -> None:
    path = tmp_path / "log.parquet"
    pd.DataFrame({"customer": ["a"], "date": ["2024-01-01"], "amount": [1.0]}).to_parquet(path)
    with pytest.raises(segml.DataError, match=r"customer column 'customer_id' \(did you mean "):
        segml.summarize(path, **CAL)
    with pytest.raises(segml.DataError, match="Available columns"):
        segml.read_transactions(path, customer="customer", amount="value")


def test_summarize_reads_a_csv_path_like_a_frame(tmp_path) -> None:
    path = tmp_path / "log.csv"
    raw = pd.DataFrame(
        {
            "customer_id": ["007", "7", "007", "7"],
            "date": ["2024-01-01", "2024-01-03", "2024-01-20", "2024-01-21"],
            "amount": [5.0, 6.0, 7.0, 8.0],
        }
    )
    raw.to_csv(path, index=False)
    got = segml.summarize(path, **CAL)
    assert list(got.index) == ["007", "7"]  # ids are text: leading zeros kept
    want = segml.summarize(segml.read_transactions(path, amount="amount"), **CAL)
    pd.testing.assert_frame_equal(got, want)


def test_a_categorical_id_column_gives_the_same_table_as_strings() -> None:
    tx = segml.load_cdnow()
    ids = tx["customer_id"].astype("str")
    unordered = pd.Categorical(ids, categories=[*sorted(set(ids), reverse=True), "unused"])
    as_cat = tx.assign(customer_id=unordered)
    as_cat.attrs = {}
    plain = tx.assign(customer_id=ids)
    plain.attrs = {}
    got = segml.summarize(as_cat, calibration_end="1997-09-30")
    want = segml.summarize(plain, calibration_end="1997-09-30")
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs == want.attrs
