"""Shared fixtures: the CDNOW table with the papers' conventions, fitted once per session."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import segml

#: What `segml run` writes to its output directory (README, "The command line").
RUN_OUTPUT_FILES = (
    "comparison.csv",
    "hypotheses.csv",
    "profiles.csv",
    "customers.parquet",
    "clv.json",
    "quality.json",
    "report.html",
)


def outcome(fn):
    """``(fn(), None)``, or ``(None, message)`` when it raises a DataError: two routes that
    must agree are compared on both their results and their errors."""
    try:
        return fn(), None
    except segml.DataError as exc:
        return None, str(exc)


@pytest.fixture(scope="session")
def cdnow_tx() -> pd.DataFrame:
    return segml.load_cdnow("sample")


@pytest.fixture(scope="session")
def cdnow(cdnow_tx: pd.DataFrame) -> pd.DataFrame:
    return segml.summarize(
        cdnow_tx, calibration_end="1997-09-30", holdout_end="1998-06-30", unit="W"
    )


@pytest.fixture(scope="session")
def bgnbd(cdnow: pd.DataFrame) -> segml.BetaGeo:
    return segml.BetaGeo().fit(cdnow)


@pytest.fixture(scope="session")
def pnbd(cdnow: pd.DataFrame) -> segml.ParetoNBD:
    return segml.ParetoNBD().fit(cdnow)


@pytest.fixture(scope="session")
def gamma_gamma(cdnow: pd.DataFrame) -> segml.GammaGamma:
    return segml.GammaGamma().fit(cdnow)


@pytest.fixture(scope="session")
def clv(cdnow: pd.DataFrame) -> segml.CLVModel:
    return segml.CLVModel().fit(cdnow)


B2B_CAL, B2B_HOLD = "2023-12-31", "2024-12-29"


@pytest.fixture(scope="session")
def b2b() -> pd.DataFrame:
    """B2B customers with attributes and one-year CLV (10 % discount)."""
    tx, customers = segml.make_b2b(8000, random_state=11)
    table = segml.summarize(tx, calibration_end=B2B_CAL, holdout_end=B2B_HOLD, customers=customers)
    clv = segml.CLVModel().fit(table)
    return table.join(clv.predict(table, discount_rate=0.1))


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def b2b_tree_model(tmp_path_factory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """The B2B experiment's value tree exported, and a new batch: transactions, customers."""
    from dataclasses import replace

    from segml.tracking.export import save_model

    config = segml.load_config(REPO / "experiments" / "b2b.toml")
    config = replace(config, evaluation=replace(config.evaluation, n_bootstrap=0))
    result = segml.run_experiment(config)
    path = save_model(result, tmp_path_factory.mktemp("m") / "b2b", champion="value_tree")
    tx, customers = segml.make_b2b(300, random_state=99)
    return path, tx, customers


B2B_COVARIATES_CONFIG = """
[experiment]
name = "cov"

[data]
dataset = "b2b"
n_customers = 3000
random_state = 0
calibration_end = "2023-12-31"
holdout_end = "2024-12-29"

[clv]
frequency = "{frequency}"
horizon = 52
intervals = 20
{covariates}

[[segmenters]]
name = "value_tree"
method = "value_tree"
features = ["annual_revenue", "employees", "industry", "region", "plan", "channel"]
max_leaves = 6
"""
B2B_COVARIATES = """purchase_covariates = ["plan"]
dropout_covariates = ["industry"]
spend_covariates = ["plan"]"""


@pytest.fixture(scope="session")
def b2b_covariate_model(tmp_path_factory) -> tuple[segml.ExperimentResult, Path]:
    """A B2B experiment whose CLV model has covariates (plan in purchase and spend, industry
    in dropout), its value tree exported."""
    from segml.tracking.export import save_model

    folder = tmp_path_factory.mktemp("cov")
    path = folder / "cov.toml"
    path.write_text(B2B_COVARIATES_CONFIG.format(frequency="bgnbd", covariates=B2B_COVARIATES))
    result = segml.run_experiment(segml.load_config(path))
    return result, save_model(result, folder / "model")


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite tracking store per test session (migration takes seconds)."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-template")
    MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


@pytest.fixture
def segml_home(tmp_path: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh segml home with a copy of the migrated store; the test runs from tmp_path."""
    home = tmp_path / "segml-home"
    home.mkdir()
    shutil.copy(mlflow_template, home / "mlflow.db")
    monkeypatch.setenv("SEGML_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def mlflow_models_predict(
    model: str, request: dict, folder: Path, env: dict[str, str] | None = None
) -> list[dict]:
    """``mlflow models predict`` in a subprocess on a JSON request; its predictions (the
    NaN MLflow writes for missing values read as None)."""
    import json
    import subprocess
    import sys

    (folder / "in.json").write_text(json.dumps(request))
    command = [sys.executable, "-m", "mlflow", "models", "predict", "-m", model,
               "-i", str(folder / "in.json"), "-o", str(folder / "out.json"),
               "-t", "json", "--env-manager", "local"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((folder / "out.json").read_text().replace("NaN", "null"))["predictions"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MlflowServer:
    uri: str
    process: subprocess.Popen
    artifacts: Path

    def kill(self) -> None:
        """Kill the server and its workers at once (SIGKILL to its process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[MlflowServer]:
    """A real `mlflow server` on a free loopback port, stopped after the test."""
    port = free_port()
    artifacts = tmp_path / "server-artifacts"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(artifacts),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    server = MlflowServer(f"http://127.0.0.1:{port}", process, artifacts)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                err = process.stderr.read().decode()[-2000:] if process.stderr else ""
                raise AssertionError(f"mlflow server did not start: {err}")
            time.sleep(0.5)
        yield server
    finally:
        server.kill()


#: Test modules whose tests run whole experiments, notebooks or benchmarks.
SLOW_MODULES = {
    "test_run.py",
    "test_output_safety.py",
    "test_tracking_faults.py",
    "test_export.py",
    "test_score.py",
    "test_notebooks.py",
    "test_benchmarks.py",
    "test_report.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks from what a test uses: a server fixture, Spark, a whole run."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "mlflow_server" in fixtures:
            item.add_marker(pytest.mark.mlflow_server)
        if item.path.name == "test_spark.py":
            item.add_marker(pytest.mark.spark)
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if "chromium" in item.name:
            item.add_marker(pytest.mark.browser)
