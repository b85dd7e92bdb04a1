"""Shared fixtures: the CDNOW table with the papers' conventions, fitted once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import segml


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
