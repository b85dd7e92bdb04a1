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
    # only the settings that act on CDNOW are parameters; the data set is the run's input
    assert "data.n_customers" not in parent.data.params
    assert (
        "data.random_state" not in parent.data.params and "data.customer" not in parent.data.params
    )
    assert parent.data.params["data.calibration_end"] == "1997-09-30"
    (dataset,) = parent.inputs.dataset_inputs
    assert dataset.dataset.name == "cdnow"
    assert dataset.dataset.digest == tags["segml.data_digest"][:16]
    assert [t.value for t in dataset.tags] == ["training"]


def test_scorings_are_runs_with_their_drift(client, tmp_path) -> None:
    import segml

    run()
    tx = segml.load_cdnow()
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "tx.csv", index=False)
    for as_of in ("1997-12-31", "1998-03-31"):
        result = CliRunner().invoke(
            main,
            ["score", "--model", "models:/segml-cdnow@champion",
             "--transactions", str(tmp_path / "tx.csv"), "--as-of", as_of,
             "--output", str(tmp_path / f"{as_of}.csv")],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "MLflow: scoring run" in result.output
    experiment = client.get_experiment_by_name("segml-cdnow")
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`segml.kind` = 'scoring'", order_by=["tags.`segml.as_of`"]
    )
    assert [r.data.tags["segml.as_of"] for r in runs] == ["1997-12-31", "1998-03-31"]
    last = runs[-1]
    assert last.info.status == "FINISHED"
    assert last.data.tags["segml.model"] == "segml-cdnow"
    assert last.data.tags["segml.model_version"] == "1"
    assert last.data.tags["segml.model_alias"] == "champion"
    metrics = last.data.metrics
    assert metrics["customers"] == metrics["scored"] == 2357
    assert 0.1 < metrics["psi.segment"] < 0.25 and metrics["expected.alarm"] == 1.0
    assert sum(v for k, v in metrics.items() if k.startswith("segment_share.")) == 1.0
    (dataset,) = last.inputs.dataset_inputs
    assert dataset.dataset.name == "tx.csv" and len(dataset.dataset.digest) == 16
    names = {a.path for a in client.list_artifacts(last.info.run_id, "drift")}
    assert names == {"drift/1998-03-31-drift.json", "drift/1998-03-31-drift.html"}
    # the PSI of every scoring is a metric: it plots over time in the UI
    history = [client.get_metric_history(r.info.run_id, "psi.segment")[0].value for r in runs]
    assert len(history) == 2
