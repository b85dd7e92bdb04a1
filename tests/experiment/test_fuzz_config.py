"""Fuzzing the experiment-file loader: random documents of the right shape (known sections
and keys, values of every TOML type) load or raise a ``SegmlError``; nothing else escapes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import segml

KEYS = {
    "experiment": ["name", "description"],
    "data": [
        "dataset",
        "transactions",
        "customers",
        "customer",
        "time",
        "amount",
        "quantity",
        "keep",
        "time_format",
        "calibration_end",
        "holdout_end",
        "unit",
        "n_customers",
        "random_state",
        "returns",
        "zero_amounts",
        "duplicates",
    ],
    "clv": ["frequency", "spend", "horizon", "discount_rate", "margin", "intervals"],
    "evaluation": ["value", "min_share", "max_k", "n_bootstrap", "min_lift", "alpha"],
    "tracking": ["experiment", "registered_model"],
}
SEGMENTER_KEYS = ["name", "method", "k", "features", "max_leaves", "min_cluster_size", "tiers"]
HYPOTHESIS_KEYS = ["name", "rule", "expect"]
WORDS = st.sampled_from(
    [
        "cdnow",
        "b2b",
        "kmeans",
        "value_tiers",
        "value_tree",
        "hypotheses",
        "rfm",
        "hdbscan",
        "gmm",
        "bgnbd",
        "auto",
        "W",
        "D",
        "1997-09-30",
        "1998-06-30",
        "frequency >= 2",
        "((x",
        "higher",
        "../x",
        "",
        "%Y-%m-%d",
        "%Q",
        "clv",
        "net",
    ]
)
SCALARS = st.one_of(
    WORDS,
    st.text(max_size=12),
    st.integers(-(10**20), 10**20),
    st.integers(-3, 12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # JSON's string escapes are TOML basic-string escapes


BASE: dict[str, Any] = {
    "experiment": {"name": "fuzz"},
    "data": {
        "dataset": "cdnow",
        "calibration_end": "1997-09-30",
        "holdout_end": "1998-06-30",
        "unit": "W",
    },
    "clv": {"horizon": 52, "discount_rate": 0.1},
    "evaluation": {"min_share": 0.05, "n_bootstrap": 10},
    "segmenters": [{"name": "tiers", "method": "value_tiers"}, {"name": "k", "method": "kmeans"}],
    "hypotheses": [{"name": "repeat", "rule": "frequency >= 2", "expect": "higher"}],
}


def render(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    for section, body in doc.items():
        rows = body if isinstance(body, list) else [body]
        for row in rows:
            lines.append(f"[[{section}]]" if isinstance(body, list) else f"[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


@st.composite
def documents(draw: st.DrawFn) -> str:
    """The valid base with one to three edits: a key set to a random value, a key dropped,
    or an unknown key added, in a top-level section or one segmenter or hypothesis."""
    doc = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from([*KEYS, "segmenters", "hypotheses"]))
        if section in ("segmenters", "hypotheses"):
            rows = doc[section]
            target = rows[draw(st.integers(0, len(rows) - 1))]
            keys = SEGMENTER_KEYS if section == "segmenters" else HYPOTHESIS_KEYS
        else:
            target = doc.setdefault(section, {})
            keys = KEYS[section]
        action = draw(st.sampled_from(["set", "set", "set", "drop", "unknown"]))
        if action == "drop" and target:
            target.pop(draw(st.sampled_from(sorted(target))))
        elif action == "unknown":
            target[draw(st.sampled_from(["nme", "colour", "k2"]))] = draw(VALUES)
        else:
            target[draw(st.sampled_from(keys))] = draw(VALUES)
    return render(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents())
def test_random_experiment_files_load_or_raise_config_errors(text, tmp_path_factory) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "experiment.toml"
    path.write_text(text)
    try:
        config = segml.load_config(path)
    except segml.SegmlError as exc:
        assert str(exc)  # a message, never an empty error
        event(type(exc).__name__)
        return
    event("loaded")
    assert config.name and config.segmenters  # what loaded is a runnable experiment's shape
