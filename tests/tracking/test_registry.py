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


def test_versions_are_logged_models_ranked_on_their_data(client) -> None:
    from segml.export import load_model

    run()
    run()
    first, second = (client.get_model_version("segml-cdnow", v) for v in ("1", "2"))
    model_id = first.tags["segml.model_id"]
    assert model_id.startswith("m-") and model_id != second.tags["segml.model_id"]
    logged = client.get_logged_model(model_id)
    assert first.source == logged.artifact_location
    assert logged.source_run_id == first.run_id and logged.status.to_proto() == 2  # READY
    (output,) = client.get_run(first.run_id).outputs.model_outputs
    assert output.model_id == model_id
    (gini,) = [m for m in logged.metrics if m.key == "oos_normalised_gini"]
    assert gini.dataset_name == "cdnow"
    assert gini.dataset_digest == first.tags["segml.data_digest"][:16]
    assert gini.value == pytest.approx(float(first.tags["segml.oos_normalised_gini"]), abs=1e-6)
    ranked = client.search_logged_models(
        [logged.experiment_id],
        filter_string="metrics.oos_normalised_gini > 0",
        datasets=[{"dataset_name": "cdnow", "dataset_digest": gini.dataset_digest}],
        order_by=[{"field_name": "metrics.oos_normalised_gini", "ascending": False}],
    )
    assert {m.model_id for m in ranked} == {model_id, second.tags["segml.model_id"]}
    values = [next(m.value for m in r.metrics if m.key == "oos_normalised_gini") for r in ranked]
    assert values == sorted(values, reverse=True)
    # one model, whichever URI names it
    uri = client.tracking_uri
    by_version = load_model("models:/segml-cdnow/1", tracking_uri=uri)
    by_id = load_model(f"models:/{model_id}", tracking_uri=uri)
    by_run = load_model(f"runs:/{first.run_id}/model", tracking_uri=uri)
    assert by_version.meta == by_id.meta == by_run.meta


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
    model_id = client.get_model_version("segml-cdnow", "1").tags["segml.model_id"]
    assert last.data.tags["segml.model_id"] == model_id
    inputs = client.get_run(last.info.run_id).inputs  # search_runs leaves model inputs out
    assert [m.model_id for m in inputs.model_inputs] == [model_id]
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
