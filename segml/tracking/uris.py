"""Model URIs, parsed once: ``models:/m-<id>`` (an MLflow 3 logged model),
``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` and ``runs:/RUN_ID/PATH``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ModelRef", "parse_model_uri", "registry_version"]


@dataclass(frozen=True)
class ModelRef:
    """What a model URI names.

    ``kind`` is "logged" (``model_id``), "alias" (``name``, ``alias``), "version" (``name``,
    ``version``), "run" (``run_id``, ``artifact``), "registry" (a ``models:/`` URI of
    another form) or "other" (a path or an unknown scheme).
    """

    kind: str
    uri: str
    model_id: str | None = None
    name: str | None = None
    alias: str | None = None
    version: str | None = None
    run_id: str | None = None
    artifact: str | None = None


def parse_model_uri(uri: str) -> ModelRef:
    """The parts of a model URI.

    Examples
    --------
    >>> from segml.tracking.uris import parse_model_uri
    >>> parse_model_uri("models:/m-abc").model_id, parse_model_uri("models:/seg@champion").alias
    ('m-abc', 'champion')
    >>> ref = parse_model_uri("runs:/0123/model")
    >>> ref.kind, ref.run_id, ref.artifact
    ('run', '0123', 'model')
    """
    if uri.startswith("models:/"):
        ref = uri.removeprefix("models:/").rstrip("/")
        if ref.startswith("m-") and "/" not in ref and "@" not in ref:
            return ModelRef("logged", uri, model_id=ref)
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return ModelRef("alias", uri, name=name, alias=alias)
        if "/" in ref:
            name, version = ref.split("/", 1)
            return ModelRef("version", uri, name=name, version=version)
        return ModelRef("registry", uri)
    if uri.startswith("runs:/"):
        run_id, _, artifact = uri.removeprefix("runs:/").partition("/")
        return ModelRef("run", uri, run_id=run_id, artifact=artifact or "model")
    return ModelRef("other", uri)


def registry_version(client: Any, ref: ModelRef) -> Any:
    """The model version an "alias" or "version" reference names."""
    if ref.kind == "alias":
        return client.get_model_version_by_alias(ref.name, ref.alias)
    if ref.kind == "version":
        return client.get_model_version(ref.name, ref.version)
    raise ValueError(
        f"model URI {ref.uri!r}: use models:/NAME@ALIAS, models:/NAME/VERSION or "
        "models:/m-<logged model id>."
    )
