"""The exported MLflow model: equal to the experiment, registered, loadable, honest."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO, mlflow_models_predict

import segml
from segml.cli import main
from segml.tracking.export import save_model


@pytest.fixture(scope="module")
def cdnow_result() -> segml.ExperimentResult:
    return segml.run_experiment(REPO / "experiments" / "cdnow.toml")


@pytest.fixture(scope="module")
def model_dir(cdnow_result, tmp_path_factory) -> Path:
    return save_model(cdnow_result, tmp_path_factory.mktemp("model") / "cdnow")


def load(path: Path | str) -> mlflow.pyfunc.PyFuncModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mlflow.pyfunc.load_model(str(path))


def test_loaded_model_equals_the_experiment(cdnow_result, model_dir) -> None:
    model = load(model_dir)
    table = cdnow_result.table
    frame = table[["frequency", "recency", "T", "monetary_value"]].reset_index()
    out = model.predict(frame)
    assert list(out.columns) == [
        "customer_id",
        "expected_purchases",
        "p_alive",
        "expected_spend",
        "clv",
        "value_percentile",
        "batch_percentile",
        "segment",
        "segment_name",
        "reason",
        "out_of_range",
    ]
    assert out["customer_id"].tolist() == table.index.tolist()
    # scored on its own training table: nothing out of range; the batch percentile is the
    # percent rank, ties taking the lowest (value_percentile averages them)
    assert (out["out_of_range"] == "").all()
    clv = out["clv"].to_numpy()
    below = (clv[:, None] > clv[None, :]).sum(axis=1)
    np.testing.assert_allclose(out["batch_percentile"], 100 * below / (len(clv) - 1))
    np.testing.assert_allclose(out["clv"], table["clv"], rtol=1e-12)
    np.testing.assert_allclose(out["p_alive"], table["p_alive"], rtol=1e-12)
    np.testing.assert_allclose(out["value_percentile"], table["value_percentile"], rtol=1e-12)
    np.testing.assert_array_equal(out["segment"], table[f"segment_{cdnow_result.champion}"])
    assert (out["reason"] == "").all()


def test_model_directory_contents(model_dir, cdnow_result) -> None:
    mlmodel = (model_dir / "MLmodel").read_text()
    assert "signature" in mlmodel and "horizon" in mlmodel and "discount_rate" in mlmodel
    assert "customer_id" in mlmodel and "string" in mlmodel
    assert (model_dir / "input_example.json").exists()
    reqs = (model_dir / "requirements.txt").read_text()
    for pkg in ("lifetimes==", "scikit-learn==", "hdbscan==", "mlflow=="):
        assert pkg in reqs
    meta = json.loads(next(model_dir.rglob("meta.json")).read_text())
    assert meta["champion"] == cdnow_result.champion
    assert {"segml", "lifetimes", "scikit-learn", "hdbscan"} <= set(meta["versions"])
    assert not list(model_dir.rglob("*.pkl")), "models from code: nothing cloudpickled"


def test_params_change_the_horizon(model_dir, cdnow_result) -> None:
    model = load(model_dir)
    frame = (
        cdnow_result.table[["frequency", "recency", "T", "monetary_value"]].head(20).reset_index()
    )
    short = model.predict(frame, params={"horizon": 10.0, "discount_rate": 0.1})
    long = model.predict(frame, params={"horizon": 100.0, "discount_rate": 0.1})
    assert (long["clv"] >= short["clv"]).all() and (long["clv"] > short["clv"]).any()


def test_unscorable_rows_are_kept_with_their_reason(model_dir) -> None:
    # segml score goes through the python model itself: MLflow's schema enforcement would
    # reject a float 'frequency' column (the NaN) before any row could be kept.
    model = load(model_dir).unwrap_python_model()
    frame = pd.DataFrame(
        {
            "customer_id": ["000123", "000124", "000125", "000126"],
            "frequency": [2, np.nan, 1, 3],
            "recency": [10.0, 5.0, 50.0, 20.0],
            "T": [30.0, 30.0, 30.0, 25.0],
            "monetary_value": [20.0, 10.0, 10.0, 15.0],
        }
    )
    out = model.predict(None, frame)
    assert out["customer_id"].tolist() == ["000123", "000124", "000125", "000126"]
    assert out["reason"].tolist() == [
        "",
        "missing or non-numeric frequency",
        "inconsistent history (frequency, recency, T)",
        "",
    ]
    assert out.loc[[1, 2], "clv"].isna().all() and (out.loc[[1, 2], "segment"] == -1).all()
    assert out.loc[[0, 3], "clv"].notna().all()


def test_a_negative_monetary_value_is_that_row_s_reason(model_dir) -> None:
    """Small or large, a negative mean spend fails only its own row, named by its id."""
    model = load(model_dir).unwrap_python_model()
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "frequency": [2, 2, 2],
            "recency": [10.0, 10.0, 10.0],
            "T": [30.0, 30.0, 30.0],
            "monetary_value": [-0.01, 20.0, -1e9],
        }
    )
    out = model.predict(None, frame)
    assert out["customer_id"].tolist() == ["a", "b", "c"]
    assert out["reason"].tolist() == ["negative monetary_value", "", "negative monetary_value"]
    assert out.loc[[0, 2], "clv"].isna().all() and out.loc[1, "clv"] > 0


def test_missing_required_column_is_named(model_dir) -> None:
    model = load(model_dir)
    frame = pd.DataFrame({"customer_id": ["1"], "frequency": [1], "recency": [1.0], "T": [2.0]})
    with pytest.raises(Exception, match="monetary_value"):
        model.predict(frame)


def test_different_major_versions_warn(model_dir, tmp_path) -> None:
    copy = tmp_path / "old"
    import shutil

    shutil.copytree(model_dir, copy)
    meta_file = next(copy.rglob("meta.json"))
    meta = json.loads(meta_file.read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    meta_file.write_text(json.dumps(meta))
    # as exported under that version: its checksum table matches its files
    from segml.tracking.export import checksums

    artifacts = meta_file.parent
    table = checksums(
        {
            "meta": meta_file,
            "clv": next(copy.rglob("clv.json")),
            "segmenter": next(p for p in copy.rglob("segmenter") if p.is_dir()),
        }
    )
    next(artifacts.rglob("checksums.json")).write_text(json.dumps(table))
    with pytest.warns(
        UserWarning, match=r"different major versions: scikit-learn 0\.24\.2 when exported"
    ):
        mlflow.pyfunc.load_model(str(copy))


def test_the_registered_champion_alias_predicts_on_every_route(
    segml_home, tmp_path, monkeypatch
) -> None:
    result = CliRunner().invoke(
        main,
        ["run", str(REPO / "experiments" / "cdnow.toml"), "--output-dir", str(tmp_path / "out")],
    )
    assert result.exit_code == 0, result.output
    assert "models:/segml-cdnow@champion" in result.output
    assert (tmp_path / "models" / "cdnow" / "MLmodel").exists()
    uri = f"sqlite:///{segml_home / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = load("models:/segml-cdnow@champion")
    rows = pd.read_parquet(tmp_path / "out" / "customers.parquet").head(25)
    frame = rows[["frequency", "recency", "T", "monetary_value"]].reset_index()
    by_alias = model.predict(frame)
    np.testing.assert_allclose(by_alias["clv"], rows["clv"])

    payload = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    predictions = mlflow_models_predict("models:/segml-cdnow@champion", payload, tmp_path, env)
    got = pd.DataFrame(predictions)
    assert len(got) == 25
    assert got["customer_id"].tolist() == frame["customer_id"].tolist()  # zero-padded ids survive
    np.testing.assert_allclose(got["clv"], rows["clv"], rtol=1e-9)

    tx = segml.load_cdnow()
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "tx.csv", index=False)
    scored = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            "models:/segml-cdnow@champion",
            "--transactions",
            str(tmp_path / "tx.csv"),
            "--as-of",
            "1997-09-30",
            "--output",
            str(tmp_path / "s.parquet"),
        ],
    )
    assert scored.exit_code == 0, scored.output
    by_cli = pd.read_parquet(tmp_path / "s.parquet").set_index("customer_id")
    full = pd.read_parquet(tmp_path / "out" / "customers.parquet")
    np.testing.assert_allclose(by_cli.loc[full.index, "clv"], full["clv"], rtol=1e-9)
    version_one = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            "models:/segml-cdnow/1",
            "--transactions",
            str(tmp_path / "tx.csv"),
            "--output",
            str(tmp_path / "s1.csv"),
        ],
    )
    assert version_one.exit_code == 0, version_one.output


def test_mlflow_evaluate_with_the_segml_evaluator(cdnow_result, model_dir, segml_home) -> None:
    """Any MLflow user scores a segml model's value separation with mlflow.models.evaluate;
    the figures equal the experiment's own out-of-sample comparison."""
    from mlflow.models.evaluation.evaluator_registry import _model_evaluation_registry

    assert "segml" in _model_evaluation_registry._registry  # the entry point, installed
    champion = cdnow_result.champion
    frame = cdnow_result.table.reset_index()
    frame["customer_id"] = frame["customer_id"].astype(str)
    required = json.loads((model_dir / "artifacts" / "meta.json").read_text())["required_columns"]
    frame = frame[["customer_id", *required, "holdout_revenue"]]
    frame.loc[0, "T"] = np.nan  # one row the model cannot score: counted, not measured
    mlflow.set_tracking_uri(f"sqlite:///{segml_home / 'mlflow.db'}")
    try:
        with mlflow.start_run() as run, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = mlflow.models.evaluate(
                str(model_dir),
                frame,
                targets="holdout_revenue",
                model_type="segml",
                evaluators=["segml"],
            )
        logged = mlflow.tracking.MlflowClient().get_run(run.info.run_id)
    finally:
        mlflow.set_tracking_uri(None)
    m = result.metrics
    assert m["scored_customers"] == len(frame) - 1 and m["not_scored_customers"] == 1
    expected = segml.separation_metrics(
        cdnow_result.table[f"segment_{champion}"].to_numpy()[1:],
        cdnow_result.table["holdout_revenue"].to_numpy()[1:],
        ranking_value=cdnow_result.table["clv"].to_numpy()[1:],
    )
    assert m["normalised_gini"] == pytest.approx(expected["normalised_gini"], rel=1e-9)
    assert m["normalised_gini_low"] < m["normalised_gini"] < m["normalised_gini_high"]
    assert logged.data.metrics["normalised_gini"] == pytest.approx(m["normalised_gini"])
    table = result.artifacts["segml_gain_table"].content
    assert table["customers"].sum() == len(frame) - 1
    assert table["cum_value_share"].iloc[-1] == pytest.approx(1.0)
    assert table["mean_predicted_clv"].is_monotonic_decreasing
    names = {a.path for a in mlflow.tracking.MlflowClient(
        f"sqlite:///{segml_home / 'mlflow.db'}").list_artifacts(run.info.run_id)}  # fmt: skip
    assert {"segml_gain_table.csv", "segml_gain_curve.png"} <= names


def test_a_behavioural_segmentation_values_a_prospect_but_does_not_place_it(model_dir) -> None:
    model = load(model_dir).unwrap_python_model()
    rows = pd.DataFrame(
        {"customer_id": ["new1"], "frequency": [np.nan], "recency": [np.nan], "T": [np.nan],
         "monetary_value": [np.nan]}
    )  # fmt: skip
    out = model.predict(None, rows)
    assert out.loc[0, "reason"] == "prospect (the segmentation needs purchase history)"
    assert np.isfinite(out.loc[0, "clv"]) and out.loc[0, "segment"] == -1
