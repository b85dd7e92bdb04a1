"""The one registry of segmentation methods: experiment files, the run and loading saved
segmenters all read it.

Each method names the class that builds it, the arguments it fixes and the constructor
parameters an experiment file may set; those parameters come from the constructor's signature,
so a new parameter of a segmenter is accepted by experiment files once its TOML type is listed
in :data:`TOML_TYPES`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segml.errors import DataError
from segml.segment.base import STATE_FILE, Segmenter
from segml.segment.baselines import RFMSegmenter, ValueTierSegmenter
from segml.segment.cluster import ClusterSegmenter
from segml.segment.rule_segmenter import RuleSegmenter
from segml.segment.tree import ValueTreeSegmenter

__all__ = ["METHODS", "TOML_TYPES", "Method", "build", "load_segmenter", "parameters"]

#: The TOML types an experiment file may give each constructor parameter.
TOML_TYPES: dict[str, tuple[type, ...]] = {
    "features": (list,),
    "k": (int, list),
    "random_state": (int,),
    "sample_size": (int,),
    "min_cluster_size": (int,),
    "time_relative": (bool,),
    "value": (str,),
    "max_leaves": (int,),
    "min_share": (float, int),
    "tiers": (list,),
    "rules": (list,),
    "default": (str,),
    "max_hypotheses": (int,),
}


@dataclass(frozen=True)
class Method:
    """A segmentation method of experiment files.

    Attributes
    ----------
    cls : type of Segmenter
    constructor : str
        ``"__init__"``, or the class method that builds it (``"from_hypotheses"``).
    fixed : mapping
        Constructor arguments the method sets itself (``method="kmeans"``).
    excluded : frozenset of str
        Constructor parameters that do not apply to this method, or that the run supplies.
    """

    cls: type[Segmenter]
    constructor: str = "__init__"
    fixed: Mapping[str, Any] = field(default_factory=dict)
    excluded: frozenset[str] = frozenset()


METHODS: dict[str, Method] = {
    "kmeans": Method(
        ClusterSegmenter, fixed={"method": "kmeans"}, excluded=frozenset({"min_cluster_size"})
    ),
    "gmm": Method(
        ClusterSegmenter, fixed={"method": "gmm"}, excluded=frozenset({"min_cluster_size"})
    ),
    "hdbscan": Method(ClusterSegmenter, fixed={"method": "hdbscan"}, excluded=frozenset({"k"})),
    "value_tree": Method(ValueTreeSegmenter),
    "rfm": Method(RFMSegmenter),
    "value_tiers": Method(ValueTierSegmenter),
    "rules": Method(RuleSegmenter),
    "hypotheses": Method(
        RuleSegmenter,
        constructor="from_hypotheses",
        excluded=frozenset({"validation", "table", "value"}),
    ),
}

#: Saved segmenters name their class by ``registry_name``.
_CLASSES: dict[str, type[Segmenter]] = {m.cls.registry_name: m.cls for m in METHODS.values()}


def parameters(method: str) -> dict[str, tuple[type, ...]]:
    """The parameters an experiment file may set for ``method``, with their TOML types.

    Examples
    --------
    >>> from segml.segment.registry import parameters
    >>> sorted(parameters("hdbscan"))
    ['features', 'min_cluster_size', 'random_state', 'sample_size', 'time_relative']
    """
    spec = METHODS[method]
    signature = inspect.signature(getattr(spec.cls, spec.constructor))
    names = [
        p
        for p in signature.parameters
        if p not in ("self", "cls") and p not in spec.fixed and p not in spec.excluded
    ]
    return {name: TOML_TYPES[name] for name in names}


def build(method: str, params: Mapping[str, Any]) -> Segmenter:
    """A segmenter of ``method`` from experiment-file parameters (lists become tuples).

    Examples
    --------
    >>> from segml.segment.registry import build
    >>> build("value_tiers", {"tiers": [0.1, 0.9]}).tiers
    (0.1, 0.9)
    """
    spec = METHODS[method]
    if spec.constructor != "__init__":
        raise DataError(f"segmenter method {method!r} is built by the experiment run.")
    kwargs = dict(params)
    if "tiers" in kwargs:
        kwargs["tiers"] = tuple(kwargs["tiers"])
    if "rules" in kwargs:
        kwargs["rules"] = [tuple(pair) for pair in kwargs["rules"]]
    return spec.cls(**spec.fixed, **kwargs)


def load_segmenter(path: str | Path) -> Segmenter:
    """Read a segmenter written by :meth:`Segmenter.save`.

    Loading runs no code from the directory: rules and parameters are JSON, and the
    joblib files hold scikit-learn and hdbscan objects (joblib unpickles them, so load only
    directories you trust).

    Parameters
    ----------
    path : str or path
        The directory.

    Returns
    -------
    Segmenter

    Raises
    ------
    DataError
        If the directory holds no segmenter, or one of an unknown method.

    Examples
    --------
    >>> import tempfile, segml
    >>> table = segml.summarize(segml.load_cdnow(), calibration_end="1997-09-30")
    >>> seg = segml.RuleSegmenter([("repeat", "frequency >= 1")]).fit(table)
    >>> again = segml.load_segmenter(seg.save(tempfile.mkdtemp()))
    >>> bool((again.predict(table) == seg.labels_).all())
    True
    """
    directory = Path(path)
    file = directory / STATE_FILE
    if not file.exists():
        raise DataError(f"no segmenter at {str(directory)!r}: {STATE_FILE} is missing.")
    try:
        state = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{str(file)!r} is not valid JSON: {exc}") from None
    cls = _CLASSES.get(str(state.get("method")))
    if cls is None:
        raise DataError(
            f"{str(file)!r} names an unknown segmenter method {state.get('method')!r}; known: "
            f"{sorted(_CLASSES)}."
        )
    obj = cls._from_state(state, directory)
    obj._restore_common(state)
    return obj
