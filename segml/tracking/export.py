"""Export the champion segmentation and the CLV model as ONE MLflow pyfunc model.

The model is logged as *models-from-code* (``segml/_model_code.py``), so nothing is
cloudpickled; its fitted pieces are artifacts: ``clv.json`` (parameters), ``segmenter/``
(rules and parameters as JSON, scikit-learn and hdbscan parts as joblib) and ``meta.json``
(defaults, percentile reference, library versions). The segml package itself travels with the
model (``code_paths``) and the pip requirements are pinned to the exporting environment.

Loading a model runs its code and unpickles joblib files: load only models you trust.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, Schema

from segml._version import segml_version
from segml.clv import CLVModel
from segml.errors import ModelError
from segml.experiment.outputs import replace_dir
from segml.experiment.result import ExperimentResult
from segml.experiment.scoring import (
    attribute_kinds,
    percentile_reference,
    required_columns,
    score_customers,
    training_ranges,
)
from segml.segment.drift import baseline_of
from segml.segment.names import name_baseline
from segml.segment.registry import load_segmenter
from segml.tracking.log import comparison_metrics, store_lock, training_dataset
from segml.tracking.uris import parse_model_uri, registry_version

__all__ = ["SegmlModel", "export_model", "register_model", "save_model"]

_PACKAGES = ("segml", "lifetimes", "scikit-learn", "hdbscan", "numpy", "pandas", "scipy", "mlflow")
_CHECKED = ("segml", "lifetimes", "scikit-learn", "hdbscan")
_REQUIREMENTS = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "lifetimes",
    "hdbscan",
    "mlflow",
    "pyarrow",
    "joblib",
    "matplotlib",
    "click",
)
_CODE = Path(__file__).with_name("_model_code.py")
#: The model's artifacts (name -> file in the model), all covered by checksums.json.
_ARTIFACTS = {"meta": "meta.json", "clv": "clv.json", "segmenter": "segmenter"}
_PACKAGE_DIR = Path(__file__).parents[1]  # the whole segml package travels with the model


def _version(name: str) -> str | None:
    if name == "segml":
        return segml_version()
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]


def checksums(artifacts: dict[str, Path]) -> dict[str, str]:
    """SHA-256 of every file of the named artifacts, keyed ``name/relative/path``."""
    out = {}
    for name, root in artifacts.items():
        for file in _files(root):
            rel = file.relative_to(root).as_posix() if root.is_dir() else ""
            out[f"{name}/{rel}".rstrip("/")] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


def verify_checksums(recorded: dict[str, str], artifacts: dict[str, Path]) -> None:
    """Raise :class:`segml.ModelError` if an artifact file is missing, added or altered."""
    for name, root in artifacts.items():
        if not root.exists():
            raise ModelError(
                f"the model's {name} artifact is missing ({root}); re-export the model."
            )
    found = checksums(artifacts)
    missing = sorted(set(recorded) - set(found))
    added = sorted(set(found) - set(recorded))
    changed = sorted(k for k in set(recorded) & set(found) if recorded[k] != found[k])
    if missing or changed or added:
        raise ModelError(
            "the model's artifacts do not match the checksums recorded at export: "
            + (f"missing {missing}; " if missing else "")
            + (f"altered {changed}; " if changed else "")
            + (f"unexpected {added}; " if added else "")
            + "the model directory is corrupt or was modified. Re-export it or load a trusted copy."
        )


def check_versions(recorded: dict[str, str | None]) -> list[str]:
    """Warn for each library whose major version differs from the one recorded at export."""
    problems = []
    for name in _CHECKED:
        then, now = recorded.get(name), _version(name)
        if then and now and then.split(".")[0] != now.split(".")[0]:
            problems.append(f"{name} {then} when exported, {now} here")
    if problems:
        warnings.warn(
            "this segml model was exported under different major versions: "
            + "; ".join(problems)
            + ". Predictions may differ or fail; install the recorded versions "
            "(see the model's requirements.txt) to reproduce them.",
            UserWarning,
            stacklevel=3,
        )
    return problems


class SegmlModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """The pyfunc model: per-customer rows in, CLV, value percentile and segment out.

    Input: ``customer_id`` (string), ``frequency``, ``recency``, ``T``, ``monetary_value`` and
    the attributes the segmentation uses. Params: ``horizon``, ``discount_rate``. Output:
    ``customer_id``, ``expected_purchases``, ``p_alive``, ``expected_spend``, ``clv``,
    ``value_percentile`` (in the fitted population), ``batch_percentile`` (in this batch),
    ``segment``, ``segment_name``, ``reason`` (empty when scored) and ``out_of_range`` (the
    columns outside the ranges the model was trained on).
    """

    def load_context(self, context: Any) -> None:
        table_path = Path(context.artifacts.get("checksums", ""))
        if not context.artifacts.get("checksums") or not table_path.is_file():
            raise ModelError(
                "the model has no checksum table (checksums.json), so its artifacts cannot be "
                "verified; re-export the model with this segml version."
            )
        try:
            recorded = json.loads(table_path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"the model's checksums.json is corrupt ({exc}).") from None
        if not isinstance(recorded, dict) or not recorded:
            raise ModelError("the model's checksums.json is empty; re-export the model.")
        verify_checksums(recorded, {name: Path(context.artifacts[name]) for name in _ARTIFACTS})
        self.meta = json.loads(Path(context.artifacts["meta"]).read_text())
        check_versions(self.meta.get("versions", {}))
        self.clv = CLVModel.from_json(str(context.artifacts["clv"]))
        self.segmenter = load_segmenter(context.artifacts["segmenter"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return score_customers(model_input, self.clv, self.segmenter, self.meta, params)


def _input_frame(result: ExperimentResult, champion: str, n: int = 5) -> pd.DataFrame:
    seg = result.segmenters[champion]
    cols = required_columns(seg, result.clv_model)
    frame = result.table[cols].head(n).reset_index()
    frame["customer_id"] = frame["customer_id"].astype(object).astype(str)
    frame["frequency"] = frame["frequency"].astype("int64")  # as segml.summarize makes it
    return frame


def training_baseline(result: ExperimentResult, champion: str) -> dict[str, Any]:
    """The population the model was fitted on, for drift at every scoring: segment shares,
    and frozen bins of CLV and of every column the model reads."""
    seg = result.segmenters[champion]
    frame = result.table.assign(segment=result.table[f"segment_{champion}"])
    watched = ["clv", *required_columns(seg, result.clv_model)]
    return baseline_of(frame, watched, names=seg.segment_names_)


def save_model(result: ExperimentResult, path: str | Path, champion: str | None = None) -> Path:
    """Save the champion (or ``champion``) with the CLV model as an MLflow model directory.

    An existing model at ``path`` is replaced only when it is a segml model, and only once the
    new one is complete (built beside it, then renamed); anything else there is refused with
    :class:`segml.OutputError`.

    Returns
    -------
    pathlib.Path
        The model directory.
    """
    champion = champion or result.champion
    if champion is None or champion not in result.segmenters:
        raise ValueError(
            f"no segmentation named {champion!r} to export; have {list(result.segmenters)}."
        )
    return replace_dir(path, lambda target: _save(result, champion, target))


def _save(result: ExperimentResult, champion: str, target: Path) -> None:
    cfg = result.config
    horizon = cfg.clv.horizon if cfg.clv.horizon is not None else result.clv_model.default_horizon()
    versions = {name: _version(name) for name in _PACKAGES}
    meta = {
        "experiment": cfg.name,
        "champion": champion,
        "horizon": float(horizon),
        "discount_rate": float(cfg.clv.discount_rate),
        "unit": result.clv_model.unit_,
        "percentile_reference": percentile_reference(result.table["clv"].to_numpy()),
        "versions": versions,
        "required_columns": required_columns(result.segmenters[champion], result.clv_model),
        "training_ranges": training_ranges(result.table, result.segmenters[champion]),
        "attribute_kinds": attribute_kinds(
            result.table, result.segmenters[champion], result.clv_model
        ),
        "baseline": training_baseline(result, champion),
        "names_baseline": name_baseline(result.table),
        "calibration_end": str(pd.Timestamp(cfg.data.calibration_end).date()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result.clv_model.to_json(str(work / "clv.json"))
        result.segmenters[champion].save(work / "segmenter")
        (work / "meta.json").write_text(json.dumps(meta, indent=2))
        # Every other artifact, metadata included, is checksummed in a table of its own.
        table = checksums({name: work / file for name, file in _ARTIFACTS.items()})
        (work / "checksums.json").write_text(json.dumps(table, indent=2))
        example = _input_frame(result, champion)
        output = score_customers(example, result.clv_model, result.segmenters[champion], meta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its advice on integer inputs: they become Any
            inferred = infer_signature(
                example,
                output,
                params={"horizon": float(horizon), "discount_rate": float(cfg.clv.discount_rate)},
            )
        # Typed inputs would make MLflow refuse a whole batch for one missing attribute
        # (an integer column with a null) or integer ids and counts: every column is Any,
        # and the model reads each as the kind it was trained on, row by row.
        inputs = Schema([ColSpec(AnyType(), str(c)) for c in example.columns])
        signature = ModelSignature(inputs, inferred.outputs, inferred.params)
        requirements = [f"{p}=={_version(p)}" for p in _REQUIREMENTS if _version(p)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mlflow's advice to add type hints etc.
            mlflow.pyfunc.save_model(
                str(target),
                python_model=str(_CODE),
                artifacts={
                    **{name: str(work / file) for name, file in _ARTIFACTS.items()},
                    "checksums": str(work / "checksums.json"),
                },
                code_paths=[str(_PACKAGE_DIR)],
                signature=signature,
                input_example=example,
                pip_requirements=requirements,
                metadata={
                    k: v
                    for k, v in {
                        "segml_champion": champion,
                        "segml_experiment": cfg.name,
                        **{f"{k}_version": v for k, v in versions.items()},
                    }.items()
                    if v is not None
                },
            )


def version_tags(result: ExperimentResult) -> dict[str, str]:
    """What a model version says about itself: the segmentation, its out-of-sample score
    with its interval, the data it was trained on."""
    champion = str(result.champion)
    row = {str(k): v for k, v in result.comparison.loc[champion].to_dict().items()}
    score = str(result.comparison.attrs.get("score", "oos_normalised_gini"))
    tags = {
        "segml.segmentation": champion,
        "segml.method": str(row["method"]),
        "segml.k": str(int(row["k"])),
        "segml.score": score,
        f"segml.{score}": f"{float(row[score]):.6f}",
        "segml.data_digest": result.data_hash,
        "segml.calibration_end": str(pd.Timestamp(result.config.data.calibration_end).date()),
        "segml.experiment": result.config.name,
    }
    for side in ("low", "high"):
        if pd.notna(row.get(f"{score}_{side}", np.nan)):
            tags[f"segml.{score}_{side}"] = f"{float(row[f'{score}_{side}']):.6f}"
    return tags


def _describe(tags: dict[str, str]) -> str:
    score = tags["segml.score"]
    interval = (
        f" [{float(tags[f'segml.{score}_low']):.3f}, {float(tags[f'segml.{score}_high']):.3f}]"
        if f"segml.{score}_low" in tags
        else ""
    )
    where = "out-of-sample" if score.startswith("oos") else "in-sample"
    return (
        f"segml: CLV + segmentation {tags['segml.segmentation']!r} ({tags['segml.method']}, "
        f"{tags['segml.k']} segments); {where} normalised Gini "
        f"{float(tags[f'segml.{score}']):.3f}{interval}; data {tags['segml.data_digest'][:12]}, "
        f"calibration end {tags['segml.calibration_end']}."
    )


def _alias_for(
    client: MlflowClient, name: str, tags: dict[str, str], promote: bool
) -> tuple[str, str]:
    """``champion`` or ``challenger`` for a new version, and why."""
    try:
        current = client.get_model_version_by_alias(name, "champion")
    except mlflow.exceptions.MlflowException:
        return "champion", "the first version"
    score = tags["segml.score"]
    theirs = current.tags.get(f"segml.{score}")
    if current.tags.get("segml.data_digest") != tags["segml.data_digest"] or theirs is None:
        if promote:
            return "champion", f"--promote over version {current.version} (other data)"
        return "challenger", (
            f"trained on other data than the champion (version {current.version}): scores "
            "on different data do not compare; pass --promote to make it the champion"
        )
    mine = float(tags[f"segml.{score}"])
    if mine > float(theirs):
        return (
            "champion",
            f"beats version {current.version} on the same data ({mine:.3f} > {float(theirs):.3f})",
        )
    if promote:
        return "champion", f"--promote over version {current.version}"
    return "challenger", (
        f"does not beat the champion, version {current.version}, on the same data "
        f"({mine:.3f} against {float(theirs):.3f}; a tie keeps the champion)"
    )


def _log_model(
    client: MlflowClient,
    model_dir: Path,
    run_id: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    dataset: tuple[str, str] | None,
) -> str:
    """Log ``model_dir`` as an MLflow 3 logged model of ``run_id``, with the comparison
    metrics on it (for ``search_logged_models``); returns its id."""
    from mlflow.entities import LoggedModelOutput

    run = client.get_run(run_id)
    logged = client.create_logged_model(
        run.info.experiment_id,
        name="model",
        source_run_id=run_id,
        tags=tags,
        model_type="segml",
    )
    try:
        client.log_model_artifacts(logged.model_id, str(model_dir))
        name, digest = dataset if dataset is not None else (None, None)
        for key, value in metrics.items():
            client.log_metric(
                run_id,
                key,
                value,
                model_id=logged.model_id,
                dataset_name=name,
                dataset_digest=digest,
            )
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(logged.model_id, "FAILED")
        raise
    client.finalize_logged_model(logged.model_id, "READY")
    return str(logged.model_id)


def register_model(
    model_dir: str | Path,
    run_id: str,
    name: str,
    tracking_uri: str,
    tags: dict[str, str] | None = None,
    promote: bool = False,
    metrics: dict[str, float] | None = None,
    dataset: tuple[str, str] | None = None,
) -> dict[str, str]:
    """Log ``model_dir`` as a logged model of the run and register it as ``name``, with a
    description and ``tags`` (:func:`version_tags`).

    The version's source is the logged model (``models:/<model_id>`` on a tracking server,
    its storage location on an embedded store) and its tag ``segml.model_id`` names it.
    ``metrics`` are logged on the logged model against ``dataset`` (name, digest), so
    ``search_logged_models`` ranks the models of an experiment by them. ``@champion`` moves
    to the new version on the first registration, when it scores higher than the current
    champion on the same data (same digest; a tie keeps the champion), or with ``promote``;
    otherwise the new version is ``@challenger``.

    Returns
    -------
    dict
        ``version``, ``alias``, ``reason`` and ``model_id``.
    """
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    tags = dict(tags or {})
    model_id = _log_model(client, Path(model_dir), run_id, tags, dict(metrics or {}), dataset)
    # A server resolves ``models:/<id>`` itself; an embedded SQL registry resolves it through
    # the process-wide tracking URI (which segml never sets), so there the source is the
    # logged model's storage. Either way a version tag names the logged model.
    served = tracking_uri.startswith(("http://", "https://"))
    source = (
        f"models:/{model_id}" if served else client.get_logged_model(model_id).artifact_location
    )
    tags["segml.model_id"] = model_id
    with store_lock(tracking_uri):  # two runs registering a new name at once
        try:
            client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            client.create_registered_model(name, description="segml: CLV + champion segmentation")
        mv = client.create_model_version(
            name,
            source=source,
            run_id=run_id,
            tags=tags,
            description=_describe(tags) if "segml.score" in tags else None,
            model_id=model_id,
        )
        alias, reason = (
            _alias_for(client, name, tags, promote)
            if "segml.score" in tags
            else ("champion", "no score to compare")
        )
        client.set_registered_model_alias(name, alias, mv.version)
    return {"version": str(mv.version), "alias": alias, "reason": reason, "model_id": model_id}


def export_model(
    result: ExperimentResult,
    model_dir: str | Path,
    run_id: str | None = None,
    tracking_uri: str | None = None,
    promote: bool = False,
) -> dict[str, str]:
    """Save the champion model locally and, given a run, log and register it.

    Returns
    -------
    dict
        ``path`` and, when registered, ``name``, ``version``, ``alias`` (``champion`` or
        ``challenger``, see :func:`register_model`), ``reason`` and ``uri``
        (``models:/<name>/<version>``).
    """
    path = save_model(result, model_dir)
    out = {"path": str(path)}
    if run_id is not None and tracking_uri is not None:
        name = result.config.tracking.registered_model
        registered = register_model(
            path,
            run_id,
            name,
            tracking_uri,
            version_tags(result),
            promote=promote,
            metrics=comparison_metrics(result, str(result.champion)),
            dataset=training_dataset(result),
        )
        out.update(name=name, uri=f"models:/{name}/{registered['version']}", **registered)
    return out


def _run_model_id(client: MlflowClient, run_id: str, artifact: str) -> str | None:
    """The logged model a run produced under ``artifact`` (what ``runs:/RUN/model`` means
    when the model is a logged model, not a run artifact)."""
    run = client.get_run(run_id)
    for output in run.outputs.model_outputs if run.outputs else []:
        if client.get_logged_model(output.model_id).name == artifact:
            return str(output.model_id)
    return None


def _local_copy(uri: str, tracking_uri: str | None, workdir: Path) -> Path:
    """A local directory holding the model at ``uri`` (resolved with an explicit client)."""
    path = Path(uri)
    if path.exists():
        return path
    from segml.tracking.log import resolve_tracking_uri

    resolved = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=resolved, registry_uri=resolved)
    original, ref = uri, parse_model_uri(uri)
    model_id = ref.model_id
    if uri.startswith("models:/") and model_id is None:
        mv = registry_version(client, ref)
        uri = str(mv.source)
        ref = parse_model_uri(uri)
        model_id = mv.tags.get("segml.model_id") or mv.model_id or ref.model_id
    if ref.kind == "run" and model_id is None:
        run_id, artifact = str(ref.run_id), str(ref.artifact)
        model_id = _run_model_id(client, run_id, artifact)
        if model_id is None:
            return Path(client.download_artifacts(run_id, artifact, str(workdir)))
    if model_id is not None:
        location = client.get_logged_model(model_id).artifact_location
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=location, dst_path=str(workdir), tracking_uri=resolved
            )
        )
    if uri != original:  # a version whose source is neither a logged model nor a run
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(workdir), tracking_uri=resolved
            )
        )
    raise ValueError(
        f"model {uri!r} is neither a local model directory nor a models:/ or runs:/ URI."
    )


def load_model(uri: str, tracking_uri: str | None = None) -> SegmlModel:
    """Load an exported segml model for batch scoring.

    Parameters
    ----------
    uri : str
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``models:/m-<logged model id>``,
        ``runs:/RUN_ID/model`` or a local model directory.
    tracking_uri : str, optional
        Where ``models:/`` and ``runs:/`` URIs live (see
        :func:`segml.tracking.resolve_tracking_uri`); MLflow's global state is not changed.

    Returns
    -------
    SegmlModel
        The python model; ``predict(None, frame, params)`` scores without MLflow's schema
        enforcement, so rows with missing values are kept (with a ``reason``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        local = _local_copy(uri, tracking_uri, Path(tmp))
        if not (local / "MLmodel").exists():
            raise ModelError(f"{uri!r} is not an MLflow model directory (no MLmodel file).")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
            try:
                model = mlflow.pyfunc.load_model(str(local))
            except ModelError:
                raise
            except Exception as exc:
                cause: BaseException = exc
                while cause.__cause__ is not None or cause.__context__ is not None:
                    nxt = cause.__cause__ or cause.__context__
                    if isinstance(nxt, ModelError):
                        raise nxt from None
                    assert nxt is not None
                    cause = nxt
                raise ModelError(f"cannot load the model at {uri!r}: {exc}") from exc
        python_model = model.unwrap_python_model()
    if not isinstance(python_model, SegmlModel):
        raise ValueError(f"{uri!r} is an MLflow model, but not one exported by segml.")
    return python_model
