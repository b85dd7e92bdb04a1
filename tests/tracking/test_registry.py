"""The model registry a team can rely on: @champion moves only for a better model on the same
data (or on --promote), every version says what it is, the UI opens on runs and models."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import REPO
from mlflow.tracking import MlflowClient

from segml.cli import main


def run(*extra: str) -> str:
    result = CliRunner().invoke(main, ["run", str(REPO / "experiments" / "cdnow.toml"), *extra])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def client(segml_home) -> MlflowClient:
    uri = f"sqlite:///{segml_home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_rerun_is_a_challenger_until_promoted(client) -> None:
    first = run()
    assert "@champion: the first version" in first
    second = run()
    assert "models:/segml-cdnow@challenger (version 2" in second
    assert "does not beat the champion, version 1, on the same data" in second
    assert str(client.get_model_version_by_alias("segml-cdnow", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("segml-cdnow", "challenger").version) == "2"
    third = run("--promote")
    assert "@champion: --promote over version 1" in third
    assert str(client.get_model_version_by_alias("segml-cdnow", "champion").version) == "3"


def test_versions_say_what_they_are(client) -> None:
    run()
    version = client.get_model_version("segml-cdnow", "1")
    tags = version.tags
    assert tags["segml.segmentation"] == "value_tiers" and tags["segml.method"] == "value_tiers"
    assert tags["segml.calibration_end"] == "1997-09-30" and len(tags["segml.data_digest"]) == 64
    gini = float(tags["segml.oos_normalised_gini"])
    low, high = (
        float(tags["segml.oos_normalised_gini_low"]),
        float(tags["segml.oos_normalised_gini_high"]),
    )
    assert low <= gini <= high
    assert (
        f"out-of-sample normalised Gini {gini:.3f} [{low:.3f}, {high:.3f}]" in version.description
    )
    experiment = client.get_experiment_by_name("segml-cdnow")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    parent = client.get_run(version.run_id)
    assert parent.data.metrics["champion.oos_normalised_gini"] == pytest.approx(gini, abs=1e-6)
