"""MLflow logging of an experiment result, and where the tracking store lives.

Tracking URI resolution: an explicit URI (``--tracking-uri``) wins, then the
``MLFLOW_TRACKING_URI`` environment variable, else an embedded SQLite store at an absolute
path, ``sqlite:///<segml home>/mlflow.db``, with artifacts in ``<segml home>/mlartifacts``.
The segml home is ``$SEGML_HOME`` or ``~/.segml``. Never a path that depends on the current
directory, never the deprecated ``./mlruns`` file store.

Everything goes through an ``MlflowClient`` bound to that URI: segml never changes MLflow's
process-wide tracking URI or active run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from segml._validation import mask_secrets, mask_uri
from segml._version import segml_version
from segml.errors import OutputError
from segml.experiment.outputs import written_files
from segml.experiment.result import ExperimentResult
from segml.tracking.uris import parse_model_uri, registry_version

__all__ = ["check_tracking", "log_result", "log_scoring", "resolve_tracking_uri", "segml_home"]

_MAX_PARAM = 500
# The MLflow UI opens an experiment without this tag in its GenAI view (traces, evaluations).
_KIND, _CLASSIC = "mlflow.experimentKind", "custom_model_development"


def segml_home() -> Path:
    """segml's home directory: ``$SEGML_HOME`` or ``~/.segml`` (absolute, created)."""
    home = Path(os.environ.get("SEGML_HOME") or Path.home() / ".segml").expanduser().resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        what = "is a file, not a directory" if home.is_file() else f"cannot be created ({exc})"
        raise OutputError(
            f"segml's home {str(home)!r} (SEGML_HOME, or ~/.segml) {what}: point SEGML_HOME "
            "at a directory, or pass --tracking-uri."
        ) from None
    return home


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The tracking URI to use: ``uri``, else ``MLFLOW_TRACKING_URI``, else the embedded store.

    Examples
    --------
    >>> import os
    >>> from segml.tracking import resolve_tracking_uri
    >>> resolve_tracking_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    if uri:
        return uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{segml_home() / 'mlflow.db'}"


def check_tracking(uri: str) -> None:
    """Fail fast, before any work, when the tracking store cannot be reached.

    Raises
    ------
    segml.TrackingError
        With the URI and the reason.
    """
    from segml.errors import TrackingError

    saved = {k: os.environ.get(k) for k in _PROBE_ENV}
    os.environ.update(_PROBE_ENV)
    try:
        with store_lock(uri):  # the first call to a new store migrates it
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # any failure to talk to the store
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        reason = mask_secrets(first, uri)
        raise TrackingError(
            f"the MLflow tracking store {mask_uri(uri)} cannot be reached ({reason}). Start the "
            "server, fix --tracking-uri / MLFLOW_TRACKING_URI, or run with --no-tracking."
        ) from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def _artifact_location(uri: str, name: str) -> str | None:
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts" / name).resolve().as_uri()
    return None  # a server decides (and may proxy artifacts)


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside an embedded SQLite store (nothing for other stores).

    Two ``segml run`` started together on a new store would both migrate it, and both
    create the same experiment; under the lock one does it and the other finds it done.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(f"{db.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: the data settings of a built-in data set (no column mapping of the user's)
_BUILT_IN_KEYS = {"dataset", "calibration_end", "holdout_end", "unit"}


def _applies(config: Any, param: str) -> bool:
    """Whether a logged setting acts on the experiment's data (CDNOW has no size or seed)."""
    section, _, key = param.partition(".")
    dataset = config.data.dataset
    if section != "data":
        return True
    if key in ("n_customers", "random_state"):
        return dataset in ("b2b", "retail")
    return dataset in (None, "retail") or key in _BUILT_IN_KEYS


def _champion_metrics(result: ExperimentResult) -> dict[str, float]:
    """The champion's headline numbers as metrics, so runs sort and plot by them."""
    if result.champion is None or result.champion not in result.comparison.index:
        return {}
    row = {str(k): v for k, v in result.comparison.loc[result.champion].to_dict().items()}
    keys = ["oos_normalised_gini", "oos_normalised_gini_low", "oos_normalised_gini_high"]
    keys += ["is_normalised_gini", "stability_ari", "k"]
    return {f"champion.{k}": float(row[k]) for k in keys if k in row and pd.notna(row[k])}


def comparison_metrics(result: ExperimentResult, name: str) -> dict[str, float]:
    """A segmentation's numeric comparison columns (its scores and their intervals)."""
    row = {str(k): v for k, v in result.comparison.loc[name].items()}
    return {m.key: m.value for m in metric_list(row)}


def training_dataset(result: ExperimentResult) -> tuple[str, str]:
    """The name and digest under which a run's training data is logged."""
    data = result.config.data
    return data.dataset or Path(str(data.transactions)).name, result.data_hash[:16]


def _experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    with store_lock(uri):
        found = client.get_experiment_by_name(name)
        if found is not None:
            if _KIND not in found.tags:
                client.set_experiment_tag(found.experiment_id, _KIND, _CLASSIC)
            return str(found.experiment_id)
        location = _artifact_location(uri, name)
        return str(
            client.create_experiment(name, artifact_location=location, tags={_KIND: _CLASSIC})
        )


def _git_commit(where: Path | None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _metric_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)


def _clv_metrics(clv: dict[str, Any]) -> dict[str, Any]:
    """The CLV fit's parameters, errors, attribute multipliers and holdout accuracy."""
    out = {f"clv.{k}": v for k, v in clv["params"].items()}
    out.update({f"clv.se.{k}": v for k, v in clv["standard_errors"].items()})
    out.update({f"clv.spend.{k}": v for k, v in clv["spend_params"].items()})
    for e in clv.get("covariate_effects", []):  # each attribute's multiplier, by process
        out[f"clv.effect.{e['process']}.{e['column']}"] = e["multiplier"]
    if clv["holdout"]:
        for key in ("actual_purchases", "expected_purchases", "correlation", "mae"):
            out[f"holdout.{key}"] = clv["holdout"][key]
    return out


def metric_list(values: dict[str, Any], step: int = 0) -> list[Metric]:
    """MLflow metrics of the finite numbers in ``values``, names made valid."""
    ts = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    out = []
    for key, value in values.items():
        if isinstance(value, (bool, np.bool_)):
            value = float(value)
        if isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value):
            out.append(Metric(_metric_name(key), float(value), ts, step))
    return out


def _params(values: dict[str, Any]) -> list[Param]:
    return [Param(k, str(v)[:_MAX_PARAM]) for k, v in values.items()]


def _segment_figure(result: ExperimentResult, name: str) -> Figure:
    table = result.table
    labels = table[f"segment_{name}"].to_numpy()
    seg = result.segmenters[name]
    ids = sorted(set(int(v) for v in labels))
    value = result.config.evaluation.value
    predicted = np.array([table[value].to_numpy()[labels == g].mean() for g in ids])
    order = np.argsort(-predicted)
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    names = [seg.segment_names_.get(ids[i], str(ids[i]))[:28] for i in order]
    x = np.arange(len(ids))
    ax1.bar(x - 0.2, predicted[order], width=0.4, label=f"mean {value} (predicted)")
    if "holdout_revenue" in table.columns:
        actual = np.array(
            [table["holdout_revenue"].to_numpy()[labels == ids[i]].mean() for i in order]
        )
        ax1.bar(x + 0.2, actual, width=0.4, label="mean holdout revenue (actual)")
        keys = np.array([dict(zip(ids, predicted, strict=True))[v] for v in labels])
        rank = np.argsort(-keys, kind="stable")
        gains = np.cumsum(table["holdout_revenue"].to_numpy()[rank])
        share = np.arange(1, len(rank) + 1) / len(rank)
        ax2.plot(share, gains / gains[-1], label=name)
        oracle = np.cumsum(np.sort(table["holdout_revenue"].to_numpy())[::-1])
        ax2.plot(share, oracle / oracle[-1], linestyle="--", label="oracle")
        ax2.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="random")
        ax2.set_xlabel("share of customers, by segment's predicted value")
        ax2.set_ylabel("share of holdout revenue")
        ax2.set_title("gain curve (out of sample)")
        ax2.legend(fontsize=7)
    ax1.set_xticks(x, names, rotation=30, ha="right", fontsize=7)
    ax1.set_title(f"{name}: value by segment")
    ax1.legend(fontsize=7)
    return fig


def _quality_metrics(quality: Any) -> dict[str, float]:
    """The data-quality report as metrics: counts and amounts by reason."""
    out: dict[str, float] = {f"quality.dropped.{k}": v for k, v in quality.dropped.items()}
    out.update({f"quality.flagged.{k}": v for k, v in quality.flagged.items()})
    out.update({f"quality.amount.{k}": v for k, v in quality.amounts.items()})
    out.update({f"quality.customers.{k}": v for k, v in quality.customers.items()})
    if quality.amount_read is not None:
        out["quality.amount_read"] = quality.amount_read
    return out


def log_result(
    result: ExperimentResult,
    tracking_uri: str | None = None,
    output_dir: str | Path | None = None,
) -> dict[str, str]:
    """Log an experiment result to MLflow: one parent run, one nested run per segmentation.

    The parent run gets the configuration (as parameters and as ``experiment.toml``), a hash
    of the input data, the data-quality counts, the CLV parameters, log-likelihood and
    holdout accuracy, the hypothesis verdicts and the comparison; each nested run gets its
    segmenter's parameters, its metrics, its profile table and a plot. Runs are tagged with
    the segml version and the git commit when there is one.

    Parameters
    ----------
    result : ExperimentResult
    tracking_uri : str, optional
        See :func:`resolve_tracking_uri`.
    output_dir : path, optional
        Directory written by :meth:`ExperimentResult.write`; the files segml recorded as
        written there (and only those) are logged as artifacts of the parent run.

    Returns
    -------
    dict
        ``tracking_uri``, ``experiment_id``, ``run_id`` and ``child_run_ids`` (as a
        comma-separated string).
    """
    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    config = result.config
    exp_id = _experiment_id(client, uri, config.tracking.experiment)
    tags = {"segml.version": segml_version(), "segml.experiment_file": str(config.source or "")}
    commit = _git_commit(config.source.parent if config.source else None)
    if commit:
        tags["segml.git_commit"] = commit
    parent = client.create_run(exp_id, run_name=config.name, tags=tags)
    run_id = parent.info.run_id
    children: list[str] = []
    open_child: str | None = None
    try:
        params = {k: v for k, v in config.as_params().items() if _applies(config, k)}
        params["data.hash"] = result.data_hash
        clv = result.clv_summary()
        metrics: dict[str, Any] = {
            "quality.rows_read": result.quality.rows_read,
            "quality.rows_kept": result.quality.rows_kept,
            "customers": len(result.table),
            "clv.log_likelihood": clv["log_likelihood"],
            "clv.spend_log_likelihood": clv["spend_log_likelihood"],
        }
        metrics.update(_quality_metrics(result.quality))
        metrics.update(_clv_metrics(clv))
        for name, row in result.validation.iterrows():
            metrics[f"hypothesis.{name}.p_holm"] = row["p_holm"]
            metrics[f"hypothesis.{name}.cliffs_delta"] = row["cliffs_delta"]
            params[f"hypothesis.{name}.verdict"] = row["verdict"]
        params["champion"] = str(result.champion)
        metrics.update(_champion_metrics(result))
        client.log_batch(run_id, metrics=metric_list(metrics), params=_params(params))
        client.log_text(run_id, config.text or "", "experiment.toml")
        data = config.data
        dataset_name, _ = training_dataset(result)
        source = None if data.dataset else data.transactions
        _log_dataset(client, run_id, dataset_name, source, result.data_hash, "training")
        from segml.experiment.report import figures, render_report

        for plot_name, fig in figures(result).items():
            client.log_figure(run_id, fig, f"plots/{plot_name}.png")
        client.log_text(run_id, render_report(result), "report.html")
        client.log_dict(run_id, clv, "clv.json")
        client.log_text(run_id, result.comparison.to_csv(), "comparison.csv")
        if len(result.validation):
            client.log_text(run_id, result.validation.to_csv(), "hypotheses.csv")
        if output_dir is not None:
            for file in written_files(output_dir):
                client.log_artifact(run_id, str(file), "outputs")
        for name, seg in result.segmenters.items():
            child = client.create_run(
                exp_id, run_name=name, tags={**tags, "mlflow.parentRunId": run_id}
            )
            cid = child.info.run_id
            children.append(cid)
            open_child = cid
            seg_row = result.comparison.loc[name]
            seg_params = {
                "method": seg_row["method"],
                "kind": seg_row["kind"],
                "targetable": seg_row["targetable"],
                "targetability": seg_row["targetability"],
                "champion": bool(seg_row["champion"]),
            }
            seg_params.update({f"param.{k}": v for k, v in seg.get_params(deep=False).items()})
            client.log_batch(
                cid,
                metrics=metric_list(comparison_metrics(result, name)),
                params=_params(seg_params),
            )
            prof = result.profiles[result.profiles["segmentation"] == name]
            client.log_text(cid, prof.to_csv(index=False), "profile.csv")
            client.log_dict(
                cid, {str(k): v for k, v in seg.segment_names_.items()}, "segments.json"
            )
            client.log_figure(cid, _segment_figure(result, name), f"{name}_value.png")
            client.set_terminated(cid)
            open_child = None
        client.set_terminated(run_id)
    except BaseException as exc:
        # Ctrl-C or SIGTERM: KILLED; anything else: FAILED (never left RUNNING)
        status = "FAILED" if isinstance(exc, Exception) else "KILLED"
        with contextlib.suppress(Exception):  # the store may be the thing that failed
            if open_child is not None:
                client.set_terminated(open_child, status=status)
            client.set_terminated(run_id, status=status)
        raise
    return {
        "tracking_uri": uri,
        "experiment_id": exp_id,
        "run_id": run_id,
        "child_run_ids": ",".join(children),
    }


def _model_run(client: MlflowClient, model_uri: str) -> tuple[str | None, dict[str, str]]:
    """The run a registry model was logged from, and tags naming the model it is (with its
    logged-model id, ``segml.model_id``, when it has one)."""
    ref = parse_model_uri(model_uri)
    if ref.kind == "logged":
        model_id = str(ref.model_id)
        logged = client.get_logged_model(model_id)
        return logged.source_run_id, {"segml.model": model_uri, "segml.model_id": model_id}
    if ref.kind in ("alias", "version", "registry"):
        version = registry_version(client, ref)
        tags = {"segml.model_alias": str(ref.alias)} if ref.kind == "alias" else {}
        tags |= {"segml.model": str(ref.name), "segml.model_version": str(version.version)}
        model_id = version.tags.get("segml.model_id") or version.model_id
        if model_id:
            tags["segml.model_id"] = str(model_id)
        return version.run_id, tags
    return ref.run_id, {"segml.model": model_uri}


def _log_dataset(
    client: MlflowClient, run_id: str, name: str, path: Path | None, digest: str, context: str
) -> None:
    """Log a run's input data as an MLflow dataset: a file by its path, a built-in data set
    by its name; the digest identifies the content either way."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    source = (
        resolve_dataset_source(str(path))
        if path is not None
        else CodeDatasetSource({"segml.dataset": name})
    )
    dataset = MetaDataset(source=source, name=name, digest=digest[:16])  # type: ignore[abstract]
    tag = InputTag(key="mlflow.data.context", value=context)
    client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), [tag])])


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def log_scoring(
    summary: dict[str, Any],
    model_uri: str,
    transactions: str | Path,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> dict[str, str]:
    """Log one ``segml score`` as a run: in the experiment of the model's run (registry
    models), else in ``experiment``; tagged with the model, its version and alias and the
    as-of date, with the input file as a dataset (name, path, SHA-256 digest), the counts,
    segment shares and PSI values as metrics and the drift report as artifacts.

    Returns
    -------
    dict
        ``run_id``, ``experiment_id``, ``tracking_uri``.
    """
    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    source_run, tags = _model_run(client, model_uri)
    if source_run is not None:
        exp_id = client.get_run(source_run).info.experiment_id
        tags["segml.model_run"] = source_run
    else:
        exp_id = _experiment_id(client, uri, experiment or "segml-scoring")
    tags |= {
        "segml.kind": "scoring",
        "segml.as_of": summary["as_of"],
        "segml.version": segml_version(),
    }
    run = client.create_run(exp_id, run_name=f"score as of {summary['as_of']}", tags=tags)
    run_id = run.info.run_id
    status = "FAILED"
    try:
        metrics: dict[str, Any] = {
            "customers": summary["customers"],
            "scored": summary["scored"],
            "out_of_range": summary["out_of_range"],
        }
        metrics |= {f"not_scored.{k}": v for k, v in summary["not_scored"].items()}
        total = max(summary["customers"], 1)
        metrics |= {f"segment_share.{k}": v / total for k, v in summary["segments"].items()}
        drift = summary.get("drift") or {}
        metrics |= {f"psi.{q}": v["psi"] for q, v in drift.get("psi", {}).items()}
        expected = drift.get("expected") or {}
        if expected:
            metrics["expected.psi_expected_observed"] = expected["psi_expected_observed"]
            metrics["expected.alarm"] = float(expected["alarm"])
            moves = expected.get("transitions", [])
            metrics["expected.transitions_outside"] = sum(t["outside"] for t in moves)
        client.log_batch(run_id, metrics=metric_list(metrics))
        path = Path(transactions).resolve()
        _log_dataset(client, run_id, path.name, path, _file_digest(path), "scoring")
        if "segml.model_id" in tags:  # the run page links the model it scored with
            from mlflow.entities import LoggedModelInput

            client.log_inputs(run_id, models=[LoggedModelInput(tags["segml.model_id"])])
        for file in summary.get("drift_files", []):
            client.log_artifact(run_id, file, "drift")
        status = "FINISHED"
    finally:
        client.set_terminated(run_id, status)
    return {"run_id": run_id, "experiment_id": str(exp_id), "tracking_uri": uri}
