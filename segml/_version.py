"""The installed version of segml."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def segml_version() -> str:
    """The installed package's version ("unknown" when running from a source tree)."""
    try:
        return version("segml")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"
