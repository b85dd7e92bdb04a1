"""The one vocabulary of columns agrees with what segml actually computes."""

from __future__ import annotations

import pytest

import segml
from segml._columns import COLUMNS, SCORE_COLUMNS, arrow_schema, table_columns

DTYPES = {c.name: c.dtype for c in COLUMNS}


@pytest.mark.parametrize("holdout", [None, "1998-06-30"])
def test_the_customer_table_has_the_vocabulary_columns_and_dtypes(cdnow_tx, holdout) -> None:
    table = segml.summarize(cdnow_tx, calibration_end="1997-09-30", holdout_end=holdout)
    computed = set(table.columns) - {"first_n_items"}  # first_<col> of a further column
    assert computed == table_columns(amount=True, holdout=holdout is not None, scored=False)
    for col in computed:
        assert str(table[col].dtype) == DTYPES[col], col
    assert table.index.name == "customer_id"


def test_without_amounts_the_spend_columns_are_absent(cdnow_tx) -> None:
    table = segml.summarize(cdnow_tx[["customer_id", "date"]], calibration_end="1997-09-30")
    assert set(table.columns) == table_columns(amount=False, holdout=False, scored=False)


def test_clv_scores_are_the_vocabulary_value_columns(clv, cdnow) -> None:
    scores = clv.predict(cdnow, horizon=39)
    for col in scores.columns:
        assert DTYPES[col] == "float64" and col in table_columns(amount=True, holdout=False)


def test_the_score_schema_names_every_score_column_once() -> None:
    schema = arrow_schema(SCORE_COLUMNS)
    assert schema.names == list(SCORE_COLUMNS)
    assert len(set(SCORE_COLUMNS)) == len(SCORE_COLUMNS)
    assert [str(schema.field(n).type) for n in ("customer_id", "clv", "segment")] == [
        "string",
        "double",
        "int64",
    ]
