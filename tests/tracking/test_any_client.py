"""Every client of an exported model keeps a row whose attribute is missing or arrives in
another dtype: segml's own loader, MLflow's pyfunc, and ``mlflow models predict``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import mlflow_models_predict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segml
from segml.errors import DataError
from segml.tracking.export import load_model


@pytest.fixture(scope="module")
def batch(b2b_tree_model) -> tuple[Path, pd.DataFrame]:
    """The model and a scoring frame of its input columns, as a client would send it."""
    path, tx, customers = b2b_tree_model
    table = segml.summarize(tx, calibration_end="2024-12-29", customers=customers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        info = mlflow.models.get_model_info(str(path))
    columns = list(info.signature.inputs.input_names())
    frame = table.reset_index()[columns]
    frame["customer_id"] = frame["customer_id"].astype(str)
    return path, frame


def pyfunc(path: Path) -> mlflow.pyfunc.PyFuncModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mlflow.pyfunc.load_model(str(path))


def damaged(frame: pd.DataFrame) -> pd.DataFrame:
    """Row 0: a missing numeric attribute in a nullable dtype (pd.NA, as after
    ``convert_dtypes()``); row 1: a missing text attribute; the counts as floats."""
    out = frame.copy()
    out["annual_revenue"] = out["annual_revenue"].round().astype("Int64")
    out.loc[0, "annual_revenue"] = pd.NA
    out.loc[1, "industry"] = None
    out["frequency"] = out["frequency"].astype("float64")
    return out


def test_the_signature_accepts_every_dtype(batch) -> None:
    path, _ = batch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        inputs = mlflow.models.get_model_info(str(path)).signature.inputs
    assert {spec.type.to_dict()["type"] for spec in inputs.inputs} == {"any"}
    meta = json.loads(next(path.rglob("meta.json")).read_text())
    assert meta["attribute_kinds"] == {
        "annual_revenue": "number",
        "industry": "string",
        "plan": "string",
    }


@pytest.mark.parametrize("client", ["segml", "pyfunc"])
def test_a_missing_attribute_costs_its_row_only(batch, client) -> None:
    path, frame = batch
    clean = load_model(str(path)).predict(None, frame)
    if client == "segml":
        out = load_model(str(path)).predict(None, damaged(frame))
    else:
        out = pyfunc(path).predict(damaged(frame))
    assert len(out) == len(frame)
    assert out["reason"].iloc[:2].tolist() == [
        "missing attribute annual_revenue",
        "missing attribute industry",
    ]
    assert (out["segment"].iloc[:2] == -1).all()
    # everyone else is scored exactly as from the clean frame
    pd.testing.assert_frame_equal(
        out.iloc[2:].drop(columns="batch_percentile"),
        clean.iloc[2:].drop(columns="batch_percentile"),
    )
    np.testing.assert_allclose(out["clv"], clean["clv"])


def test_untyped_client_values_are_read_as_the_trained_kinds(batch) -> None:
    """Ids that arrive as numbers and numeric attributes that arrive as text (what an
    untyped CSV or JSON client sends) are read as the kinds the model was trained on."""
    path, frame = batch
    clean = load_model(str(path)).predict(None, frame)
    sent = frame.copy()
    sent["annual_revenue"] = sent["annual_revenue"].map(repr)
    sent.loc[2, "annual_revenue"] = "n/a"
    sent["customer_id"] = np.arange(len(sent))
    with pytest.warns(UserWarning, match="arrived as numbers"):
        out = pyfunc(path).predict(sent)
    assert out["customer_id"].tolist() == [str(i) for i in range(len(sent))]
    assert out["reason"].iloc[2] == "attribute annual_revenue is not a number"
    keep = np.arange(len(sent)) != 2
    np.testing.assert_array_equal(out["segment"][keep], clean["segment"][keep])


def test_duplicated_columns_are_named(batch) -> None:
    path, frame = batch
    doubled = pd.concat([frame, frame[["plan"]]], axis=1)
    with pytest.raises(DataError, match=r"duplicated columns \['plan'\]"):
        load_model(str(path)).predict(None, doubled)


def test_mlflow_models_predict_with_nulls_in_json(batch, tmp_path) -> None:
    path, frame = batch
    rows = frame.head(3).astype(object).where(frame.head(3).notna(), None)
    data = rows.to_numpy().tolist()
    data[0][list(rows.columns).index("annual_revenue")] = None
    data[1][list(rows.columns).index("industry")] = None
    request = {"dataframe_split": {"columns": list(rows.columns), "data": data}}
    predictions = mlflow_models_predict(str(path), request, tmp_path)
    assert [p["reason"] for p in predictions] == [
        "missing attribute annual_revenue",
        "missing attribute industry",
        "",
    ]
    assert predictions[2]["segment"] >= 0


CELLS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-5, 60),
    st.integers(-3, 40),
    st.sampled_from(["", "abc", "12", "1e400", "true", "healthcare", "enterprise"]),
    st.booleans(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_scoring_input_conserves_rows(batch, data) -> None:
    """Whatever a client sends in the model's columns, every row comes back once: scored,
    valued as a prospect (a row without any history), or with the reason it was not; the
    batch fails only with a SegmlError."""
    path, frame = batch
    rows = data.draw(st.integers(1, 8))
    sent = frame.head(rows).copy().astype(object)
    for col in sent.columns:
        for i in range(rows):
            if data.draw(st.booleans()):
                sent.iat[i, sent.columns.get_loc(col)] = data.draw(CELLS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            out = load_model(str(path)).predict(None, sent)
        except segml.SegmlError as exc:
            assert str(exc)
            return
    assert len(out) == rows
    valued = out["reason"].isin(["", "prospect"])
    assert np.isfinite(out.loc[valued, "clv"]).all() and (out.loc[valued, "clv"] >= 0).all()
    assert (out.loc[~valued, "segment"] == -1).all()
    assert (out.loc[valued, "segment"] >= 0).all()
    assert out.loc[out["reason"] == "prospect", "p_alive"].isna().all()  # not yet a customer
