"""`segml run` end to end: files, clv.json against the paper, MLflow runs read back."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO, RUN_OUTPUT_FILES
from mlflow.tracking import MlflowClient

import segml
from segml.cli import main
from segml.segment.evaluate import separation_metrics

CLV_KEYS = {
    "frequency_model",
    "params",
    "log_likelihood",
    "standard_errors",
    "spend_model",
    "spend_params",
    "spend_log_likelihood",
    "n_customers",
    "holdout",
}


def check_runs(client: MlflowClient, n_segmenters: int) -> None:
    exp = client.get_experiment_by_name("segml-cdnow")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == n_segmenters
    parent = parents[0]
    assert parent.data.metrics["clv.log_likelihood"] == pytest.approx(-9582.43, abs=0.05)
    assert parent.data.metrics["holdout.actual_purchases"] == 1882
    assert parent.data.params["data.calibration_end"] == "1997-09-30"
    assert len(parent.data.params["data.hash"]) == 64
    assert parent.data.tags["segml.version"] == segml.__version__
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {
        "experiment.toml",
        "clv.json",
        "comparison.csv",
        "outputs",
        "report.html",
        "plots",
    } <= names
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/p_alive_matrix.png" in plots and "plots/gain_curves.png" in plots
    child = children[0]
    assert "oos_normalised_gini" in child.data.metrics
    files = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert "profile.csv" in files and any(f.endswith(".png") for f in files)


def test_segml_run_cdnow_end_to_end(segml_home, tmp_path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(REPO / "experiments" / "cdnow.toml"), "--output-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    for name in RUN_OUTPUT_FILES:
        assert (out / name).stat().st_size > 0, name
    clv = json.loads((out / "clv.json").read_text())
    assert set(clv) == CLV_KEYS
    assert clv["frequency_model"] == "bgnbd"
    for name, value in {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}.items():
        assert clv["params"][name] == pytest.approx(value, rel=1e-3)
    assert clv["log_likelihood"] == pytest.approx(-9582.43, abs=0.05)
    assert clv["spend_log_likelihood"] == pytest.approx(-4055.92, abs=0.05)
    assert clv["holdout"]["actual_purchases"] == 1882
    assert clv["holdout"]["expected_purchases"] == pytest.approx(1653.4, abs=1)
    assert clv["holdout"]["correlation"] == pytest.approx(0.626, abs=1e-3)
    assert len(clv["holdout"]["by_frequency"]) == 8
    customers = pd.read_parquet(out / "customers.parquet")
    assert len(customers) == 2357 and "segment_kmeans" in customers and "clv" in customers
    comparison = pd.read_csv(out / "comparison.csv", index_col=0)
    assert comparison["champion"].sum() == 1
    assert (
        "champion:" in result.output and "mlflow ui --backend-store-uri sqlite:///" in result.output
    )
    check_runs(MlflowClient(tracking_uri=f"sqlite:///{segml_home / 'mlflow.db'}"), len(comparison))
    assert not (tmp_path / "mlruns").exists(), "never the ./mlruns file store"
    assert (segml_home / "mlartifacts" / "segml-cdnow").is_dir()


def test_bad_experiment_file_is_a_clean_cli_error(segml_home, tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (REPO / "experiments" / "cdnow.toml").read_text().replace("[evaluation]", "[evaluaton]")
    )
    result = CliRunner().invoke(main, ["run", str(bad)])
    assert result.exit_code == 3  # ConfigError
    assert "did you mean 'evaluation'" in result.output
    assert "Traceback" not in result.output
    assert len([ln for ln in result.output.splitlines() if ln.startswith("error:")]) == 1
    with pytest.raises(segml.ConfigError):
        CliRunner().invoke(main, ["--debug", "run", str(bad)], catch_exceptions=False)


def test_segml_run_against_a_real_mlflow_server(mlflow_server, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEGML_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(REPO / "experiments" / "cdnow.toml"),
            "--tracking-uri",
            mlflow_server.uri,
            "--output-dir",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"tracking URI {mlflow_server.uri}" in result.output
    check_runs(MlflowClient(tracking_uri=mlflow_server.uri), 7)
    assert mlflow_server.artifacts.is_dir()


@pytest.fixture(scope="module")
def b2b_result() -> segml.ExperimentResult:
    config = segml.load_config(REPO / "experiments" / "b2b.toml")
    return segml.run_experiment(
        replace(config, evaluation=replace(config.evaluation, n_bootstrap=0))
    )


@pytest.mark.parametrize("name", ["hypotheses", "value_tree"])
def test_a_b2b_segmentation_beats_random_ones(b2b_result, name) -> None:
    table = b2b_result.table
    actual = table["holdout_revenue"].to_numpy()
    predicted = table["clv"].to_numpy()
    rng = np.random.default_rng(0)
    labels = table[f"segment_{name}"].to_numpy()
    real = separation_metrics(labels, actual, ranking_value=predicted)
    assert real["normalised_gini"] == pytest.approx(
        b2b_result.comparison.loc[name, "oos_normalised_gini"]
    )
    random = [
        separation_metrics(rng.permutation(labels), actual, ranking_value=predicted)
        for _ in range(30)
    ]
    assert real["normalised_gini"] > max(r["normalised_gini"] for r in random)
    assert real["eta2"] > max(r["eta2"] for r in random)


@pytest.mark.parametrize("name", ["hypotheses", "value_tree"])
def test_a_b2b_firmographic_segmentation_is_targetable(b2b_result, name) -> None:
    assert b2b_result.comparison.loc[name, "targetable"]


def test_segml_run_on_retail_reports_the_netted_returns(segml_home, tmp_path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(REPO / "experiments" / "retail.toml"), "--output-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "netted into purchases" in result.output
    assert "in_table:" in result.output and "excluded_first_seen_after_calibration" in result.output
    html = (out / "report.html").read_text()
    assert "netted into purchases" in html and "return_netted" in html
    quality = json.loads((out / "quality.json").read_text())
    table = pd.read_parquet(out / "customers.parquet")
    assert quality["customers"]["in_table"] == len(table) > 2500
    revenue = table["total_revenue"].sum() + table["holdout_revenue"].sum()
    dropped = sum(v for k, v in quality["amounts"].items() if k in quality["dropped"])
    assert revenue + dropped == pytest.approx(quality["amount_read"], rel=1e-9)


def test_segml_run_on_a_log_without_churn_says_so(segml_home, tmp_path) -> None:
    tx = segml.simulate_transactions(
        2000, frequency_params={"r": 0.5, "alpha": 10.0, "a": 1e-6, "b": 1.0}, random_state=3
    )
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "tx.csv", index=False)
    (tmp_path / "steady.toml").write_text(
        '[experiment]\nname = "steady"\n\n[data]\ntransactions = "tx.csv"\n'
        'calibration_end = "2024-09-30"\nholdout_end = "2025-06-30"\nunit = "W"\n\n'
        '[clv]\nfrequency = "auto"\n\n[[segmenters]]\nname = "tiers"\nmethod = "value_tiers"\n'
    )
    out = tmp_path / "out"
    run = CliRunner().invoke(main, ["run", str(tmp_path / "steady.toml"), "--output-dir", str(out)])
    assert run.exit_code == 0, run.output
    sentence = "no dropout identified in 9 months: CLV assumes every customer stays"
    assert sentence in run.output
    assert "dropout against the NBD (no dropout)" in run.output
    html = (out / "report.html").read_text()
    assert "No dropout identified in 9 months" in html and "NBD has no dropout" in html
