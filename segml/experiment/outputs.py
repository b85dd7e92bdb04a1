"""Where segml writes: output folders it owns, replaced atomically, and nothing else.

Every folder segml writes results into carries a marker file, :data:`MARKER`, that lists the
files segml wrote there. segml writes only into a folder that is new, empty or marked; it
deletes only folders it made; it logs to MLflow only the files the marker lists; and it
replaces a saved model by building the new one beside it and renaming, so the previous model
stays whole until the new one is complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segml._validation import check_name
from segml.errors import OutputError

if TYPE_CHECKING:
    from segml.experiment.result import ExperimentResult

__all__ = [
    "MARKER",
    "atomic_file",
    "check_output_dir",
    "check_replaceable",
    "child_dir",
    "is_segml_model",
    "prepare_output_dir",
    "record_written",
    "replace_dir",
    "write_outputs",
    "written_files",
]

MARKER = ".segml-output.json"


def child_dir(parent: str | Path, name: str, what: str = "experiment name") -> Path:
    """``parent / name``, for a valid ``name`` that cannot leave ``parent``.

    Raises
    ------
    ConfigError
        If ``name`` is not a valid name (see :func:`segml._validation.check_name`).
    OutputError
        If the joined path resolves outside ``parent`` (a symbolic link, for instance).
    """
    check_name(name, what)
    base = Path(parent).resolve()
    target = (base / name).resolve()
    if target.parent != base:
        raise OutputError(
            f"{base / name} resolves to {target}, outside {base}; segml writes only inside "
            "the folder it was given. Remove the link or choose another name."
        )
    return base / name


def _is_marked(path: Path) -> bool:
    return (path / MARKER).is_file()


def prepare_output_dir(path: str | Path) -> Path:
    """Make sure ``path`` is a folder segml may write results into, and mark it.

    A new folder is created; an existing one must be empty or carry segml's marker (a previous
    run's results), so ``--output-dir .`` in a project folder is refused, not filled.

    Raises
    ------
    OutputError
        If ``path`` is a file, or a folder with other content.
    """
    out = check_output_dir(path)
    out.mkdir(parents=True, exist_ok=True)
    if not _is_marked(out):
        _write_marker(out, [])
    return out


def check_output_dir(path: str | Path) -> Path:
    """``path`` as a path, if segml may write results there (see :func:`prepare_output_dir`).

    Raises
    ------
    OutputError
        If ``path`` is a file, or a folder with other content.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"the output folder {out} is a file; choose a folder.")
    if out.is_dir() and not _is_marked(out) and any(out.iterdir()):
        raise OutputError(
            f"the output folder {out.resolve()} already holds files segml did not write; "
            "segml writes only into a new or empty folder or one of its own earlier outputs. "
            "Choose another --output-dir."
        )
    return out


def _write_marker(out: Path, files: list[str]) -> None:
    tmp = out / f"{MARKER}.tmp"
    tmp.write_text(json.dumps({"written_by": "segml", "files": sorted(files)}, indent=2))
    os.replace(tmp, out / MARKER)


def record_written(out: str | Path, paths: dict[str, Path]) -> None:
    """Record in the marker of ``out`` the files segml wrote there."""
    root = Path(out)
    _write_marker(root, [Path(p).relative_to(root).as_posix() for p in paths.values()])


def written_files(out: str | Path) -> list[Path]:
    """The files segml recorded as written in ``out`` (empty if it is not a segml output)."""
    root = Path(out)
    try:
        listed = json.loads((root / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    files = []
    for rel in listed:
        file = (root / str(rel)).resolve()
        if file.parent == root.resolve() and file.is_file():
            files.append(file)
    return files


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block ends without error."""
    target = Path(path)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would outlive the rename
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def is_segml_model(path: str | Path) -> bool:
    """Whether ``path`` is a model folder segml saved (an MLmodel naming a segml champion)."""
    mlmodel = Path(path) / "MLmodel"
    try:
        return mlmodel.is_file() and "segml_champion" in mlmodel.read_text(errors="replace")
    except OSError:
        return False


def check_replaceable(target: str | Path) -> Path:
    """``target`` as a path, if it is absent or something segml saved (which it may replace).

    Raises
    ------
    OutputError
        If ``target`` exists and is not a segml model or output.
    """
    dest = Path(target)
    if dest.exists() and not (is_segml_model(dest) or _is_marked(dest)):
        raise OutputError(
            f"{dest.resolve()} exists and is not a model or output saved by segml; segml "
            "does not overwrite it. Move it away or choose another name or --models-dir."
        )
    return dest


def replace_dir(target: str | Path, build: Callable[[Path], None]) -> Path:
    """Build a folder with ``build(path)`` beside ``target``, then rename it onto ``target``.

    ``build`` receives a path that does not exist yet, in the same parent folder, and must
    create it. An existing ``target`` is replaced only if it is a segml model or output; it
    stays untouched until the new folder is complete, and a failure or an interruption inside
    ``build`` leaves it as it was.

    Raises
    ------
    OutputError
        If ``target`` exists and is not something segml wrote.
    """
    dest = check_replaceable(target)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial"))
    old: Path | None = None  # where the model being replaced waits, until the swap is done
    try:
        build(work / "new")
        for attempt in range(3):
            with contextlib.suppress(FileNotFoundError):
                os.rename(dest, work / f"old{attempt}")
                old = work / f"old{attempt}"
            try:
                os.rename(work / "new", dest)
                old = None
                break
            except OSError as exc:  # another run put its model there in between
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or attempt == 2:
                    raise
    finally:
        if old is not None and not dest.exists():
            os.rename(old, dest)  # interrupted between the two renames: put the old one back
        shutil.rmtree(work, ignore_errors=True)
    return dest


def write_outputs(result: ExperimentResult, output_dir: str | Path) -> dict[str, Path]:
    """Write ``comparison.csv``, ``hypotheses.csv``, ``profiles.csv``,
    ``customers.parquet``, ``clv.json``, ``quality.json`` and ``report.html`` to
    ``output_dir``."""
    from segml.experiment.report import write_report

    out = prepare_output_dir(output_dir)
    names = {
        "comparison": "comparison.csv",
        "hypotheses": "hypotheses.csv",
        **({"decomposition": "decomposition.csv"} if len(result.decomposition) else {}),
        "profiles": "profiles.csv",
        "customers": "customers.parquet",
        "clv": "clv.json",
        "quality": "quality.json",
        "report": "report.html",
    }
    paths = {key: out / name for key, name in names.items()}
    table = result.table.copy()
    table.attrs = {}
    writers: dict[str, Callable[[Path], object]] = {
        "comparison": result.comparison.to_csv,
        "hypotheses": result.validation.to_csv,
        **({"decomposition": result.decomposition.to_csv} if len(result.decomposition) else {}),
        "profiles": lambda p: result.profiles.to_csv(p, index=False),
        "customers": table.to_parquet,
        "clv": lambda p: p.write_text(
            json.dumps(result.clv_summary(), indent=2, default=_json_default)
        ),
        "quality": lambda p: p.write_text(json.dumps(result.quality.to_dict(), indent=2)),
        "report": lambda p: write_report(result, p),
    }
    for key, writer in writers.items():
        with atomic_file(paths[key]) as tmp:
            writer(tmp)
    record_written(out, paths)
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return str(value)
