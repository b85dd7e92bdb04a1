"""Nothing an experiment file or a command line says can delete, overwrite or upload anything
outside segml's own outputs; secrets in tracking URIs are never printed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import RUN_OUTPUT_FILES
from mlflow.tracking import MlflowClient

import segml
from segml.cli import main
from segml.experiment.outputs import MARKER, replace_dir

SMALL = """
[experiment]
name = {name}

[data]
dataset = "cdnow"
calibration_end = "1997-09-30"
holdout_end = "1998-06-30"
unit = "W"

[[segmenters]]
name = {segmenter}
method = "value_tiers"

[evaluation]
min_share = 0.01
{tracking}
"""


def experiment(
    folder: Path, name: str = '"small"', segmenter: str = '"tiers"', tracking: str = ""
) -> Path:
    path = folder / "experiment.toml"
    path.write_text(SMALL.format(name=name, segmenter=segmenter, tracking=tracking))
    return path


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under ``root`` (outside the folders ``skip``) with its SHA-256."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(rel == s or rel.startswith(f"{s}/") for s in skip):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run(*args: str) -> object:
    return CliRunner().invoke(main, ["run", *args])


@pytest.fixture
def sandbox(segml_home: Path, tmp_path: Path) -> Path:
    """A project folder with neighbours that must survive: thesis/, a .env, a raw log."""
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("precious")
    (tmp_path / ".env").write_text("API_KEY=do-not-upload")
    (tmp_path / "raw_log.csv").write_text("customer_id,date,amount\n1,2024-01-01,5\n")
    return tmp_path


@pytest.mark.parametrize(
    "name", ['"../../thesis"', '"../thesis"', '"/tmp/segml-abs"', '"."', '""', '"a/b"', '"a..b"']
)
def test_experiment_names_that_are_paths_are_refused_before_any_work(sandbox, name) -> None:
    (sandbox / "exp").mkdir()
    file = experiment(sandbox / "exp", name=name)
    before = snapshot(sandbox, skip=("segml-home",))
    result = run(str(file), "--no-tracking")
    assert result.exit_code == 3, result.output
    assert "not a valid name" in result.output
    assert snapshot(sandbox, skip=("segml-home",)) == before
    assert not Path("/tmp/segml-abs").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("segmenter", '"bad!name"'),
        ("segmenter", '"' + "s" * 300 + '"'),
        ("tracking", '[tracking]\nregistered_model = "team/a@b"'),
        ("tracking", '[tracking]\nregistered_model = ""'),
    ],
)
def test_names_mlflow_would_reject_fail_at_load_time(tmp_path, field, value) -> None:
    kwargs = {field: value}
    with pytest.raises(segml.ConfigError, match="not a valid name"):
        segml.load_config(experiment(tmp_path, **kwargs))


def test_an_output_dir_with_foreign_files_is_refused_before_anything_is_written(sandbox) -> None:
    file = experiment(sandbox)
    before = snapshot(sandbox, skip=("segml-home",))
    result = run(str(file), "--output-dir", str(sandbox))
    assert result.exit_code == 8, result.output
    assert "did not write" in result.output
    assert snapshot(sandbox, skip=("segml-home",)) == before
    client = MlflowClient(tracking_uri=f"sqlite:///{sandbox / 'segml-home' / 'mlflow.db'}")
    assert client.search_experiments(filter_string="name = 'segml-small'") == []


def test_only_the_files_segml_wrote_are_logged(sandbox) -> None:
    file = experiment(sandbox)
    out = sandbox / "results"
    assert run(str(file), "--output-dir", str(out)).exit_code == 0
    (out / "secrets.env").write_text("TOKEN=abc")  # someone drops a file into the output
    result = run(str(file), "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri=f"sqlite:///{sandbox / 'segml-home' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("segml-small")
    runs = [
        r
        for r in client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
        if "mlflow.parentRunId" not in r.data.tags
    ]
    logged = {a.path for a in client.list_artifacts(runs[0].info.run_id, "outputs")}
    assert logged == {f"outputs/{n}" for n in RUN_OUTPUT_FILES}
    assert (out / "secrets.env").read_text() == "TOKEN=abc"


def test_rerun_replaces_the_model_only_when_the_new_one_is_complete(sandbox) -> None:
    file = experiment(sandbox)
    assert run(str(file), "--no-tracking").exit_code == 0
    model = sandbox / "models" / "small"
    before = snapshot(model)
    assert "MLmodel" in before

    def broken(path: Path) -> None:
        path.mkdir()
        (path / "MLmodel").write_text("half")
        raise KeyboardInterrupt  # Ctrl-C half-way through writing the new model

    with pytest.raises(KeyboardInterrupt):
        replace_dir(model, broken)
    assert snapshot(model) == before
    assert [p.name for p in model.parent.iterdir()] == ["small"]  # no partial folder left
    assert run(str(file), "--no-tracking").exit_code == 0
    assert (model / "MLmodel").is_file()


def test_a_folder_segml_did_not_save_is_never_replaced(sandbox) -> None:
    (sandbox / "models" / "small").mkdir(parents=True)
    (sandbox / "models" / "small" / "notes.txt").write_text("mine")
    file = experiment(sandbox)
    result = run(str(file), "--no-tracking")
    assert result.exit_code == 8, result.output
    assert "not a model or output saved by segml" in result.output
    assert (sandbox / "models" / "small" / "notes.txt").read_text() == "mine"
    assert not (sandbox / "outputs" / "small" / "comparison.csv").exists()


def test_outputs_are_marked_with_what_segml_wrote(sandbox) -> None:
    file = experiment(sandbox)
    assert run(str(file), "--no-tracking").exit_code == 0
    out = sandbox / "outputs" / "small"
    assert sorted(p.name for p in out.iterdir()) == sorted([*RUN_OUTPUT_FILES, MARKER])
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]


def test_output_symlink_out_of_the_parent_is_refused(sandbox) -> None:
    (sandbox / "outputs").mkdir()
    os.symlink(sandbox / "thesis", sandbox / "outputs" / "small")
    result = run(str(experiment(sandbox)), "--no-tracking")
    assert result.exit_code == 8, result.output
    assert "outside" in result.output
    assert sorted(p.name for p in (sandbox / "thesis").iterdir()) == ["chapter1.tex"]


def test_password_in_tracking_uri_is_never_printed(sandbox) -> None:
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(experiment(sandbox)),
            "--tracking-uri",
            "http://ann:hunter2@127.0.0.1:9/?token=tok123",
        ],
    )
    assert result.exit_code == 7, result.output
    assert "hunter2" not in result.output and "tok123" not in result.output
    assert "ann:***@127.0.0.1:9" in result.output


def test_sigterm_while_logging_leaves_no_run_running(sandbox) -> None:
    """A run stopped while it logs to MLflow is marked KILLED, never left RUNNING."""
    import signal
    import subprocess
    import sys

    file = experiment(sandbox)
    proc = subprocess.Popen(
        [sys.executable, "-m", "segml.cli", "run", str(file), "--output-dir", "out"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=sandbox,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "logging to MLflow" in line:
            proc.send_signal(signal.SIGTERM)
            break
    proc.wait(timeout=300)
    assert proc.returncode in (0, 143)
    client = MlflowClient(tracking_uri=f"sqlite:///{sandbox / 'segml-home' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("segml-small")
    runs = client.search_runs([exp.experiment_id]) if exp else []
    assert not [r for r in runs if r.info.status == "RUNNING"]
    if proc.returncode == 143:
        assert any(r.info.status == "KILLED" for r in runs) or not runs


def test_two_runs_at_once_on_a_new_store_in_one_folder_both_work(tmp_path, monkeypatch) -> None:
    """Both would migrate the new SQLite store and create the same experiment, registered
    model and model folder: the store lock and the atomic model swap let both finish."""
    import subprocess
    import sys

    home = tmp_path / "fresh-home"  # no mlflow.db yet
    monkeypatch.setenv("SEGML_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    file = experiment(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "segml.cli", "run", str(file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    exp = client.get_experiment_by_name("segml-small")
    parents = [
        r
        for r in client.search_runs([exp.experiment_id])
        if "mlflow.parentRunId" not in r.data.tags
    ]
    assert len(parents) == 2 and all(r.info.status == "FINISHED" for r in parents)
    assert len(client.search_model_versions("name = 'segml-small'")) == 2
    assert (tmp_path / "models" / "small" / "MLmodel").is_file()


def test_files_written_atomically_get_the_usual_permissions(tmp_path) -> None:
    from segml.experiment.outputs import atomic_file

    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "report.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644
