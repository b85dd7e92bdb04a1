"""Experiment files: TOML in, frozen and closed configuration objects out.

The schema is closed: an unknown key is an error with a did-you-mean suggestion; values are
type-checked; data files are resolved relative to the experiment file and must exist; rules
are parsed and every column a rule, segmenter or evaluation names is checked against the
columns the experiment will have, before any work starts. Segmenter methods come from a
fixed registry (:data:`segml.segment.registry.METHODS`), never from import paths.

A complete file::

    [experiment]
    name = "cdnow"                     # required
    description = "..."

    [data]
    dataset = "cdnow"                  # "cdnow", "cdnow_master", "b2b", "retail"; or transactions
    calibration_end = "1997-09-30"     # required
    holdout_end = "1998-06-30"
    unit = "W"

    [clv]
    frequency = "bgnbd"                # bgnbd | pnbd | mbgnbd | nbd (no dropout) | auto
                                       # | bgcnbd | mbgcnbd (regular buyers, k by likelihood)
    discount_rate = 0.10               # annual
    horizon = 52                       # in units; default one year
    intervals = 200                    # bootstrap refits for value intervals; 0: none
    purchase_covariates = ["plan"]     # attributes (customers file) that scale the purchase,
    dropout_covariates = ["industry"]  # dropout and spend processes; bgnbd, mbgnbd, pnbd
    spend_covariates = ["plan"]

    [[hypotheses]]
    name = "big_first_order"
    rule = "first_amount >= 30"
    expect = "higher"

    [[segmenters]]
    name = "kmeans"
    method = "kmeans"
    k = [2, 3, 4, 5, 6]

    [evaluation]
    value = "clv"
    min_share = 0.05
    max_k = 10

    [tracking]
    experiment = "segml-cdnow"
    registered_model = "segml-cdnow"
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from segml._columns import COLUMNS, table_columns
from segml._validation import check_name, require_regular_file
from segml.data.attributes import attribute_header
from segml.errors import ConfigError, DataError, did_you_mean
from segml.experiment.ranges import check_range
from segml.experiment.schema import (
    _SECTIONS,
    CLVConfig,
    DataConfig,
    EvaluationConfig,
    ExperimentConfig,
    HypothesisConfig,
    SegmenterConfig,
    TrackingConfig,
)
from segml.segment.registry import METHODS, parameters
from segml.segment.rules import Rule, RuleError

__all__ = ["ConfigError", "ExperimentConfig", "load_config"]


_BUILTIN = {
    "cdnow": ("first_n_items",),
    "cdnow_master": ("first_n_items",),
    "b2b": ("industry", "employees", "annual_revenue", "region", "plan", "channel"),
    "retail": ("country", "first_n_items"),
}


# ------------------------------------------------------------------------ parsing
def _where(path: Path | None) -> str:
    return f"{path}" if path else "the experiment"


def _check_keys(section: str, table: dict[str, Any], allowed: dict[str, Any], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r} in [{section}]{did_you_mean(key, allowed)}; "
                "allowed keys: "
                f"{', '.join(sorted(allowed))}."
            )


def _check_type(section: str, key: str, value: Any, types: tuple[type, ...], where: str) -> None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(
            f"{where}: [{section}] {key} must be {names}, got {type(value).__name__} {value!r}."
        )
    check_range(section, key, value, where)


def _section(raw: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table, got {type(value).__name__}.")
    spec = _SECTIONS[name]
    _check_keys(name, value, spec, where)
    for key, (types, required) in spec.items():
        if required and key not in value:
            raise ConfigError(f"{where}: [{name}] needs {key!r}.")
        if key in value:
            _check_type(name, key, value[key], types, where)
    return value


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment file.

    Parameters
    ----------
    path : str or path
        The TOML file.

    Returns
    -------
    ExperimentConfig

    Raises
    ------
    ConfigError
        For a missing file, invalid TOML, unknown keys (with a suggestion), wrong types,
        missing data files, unknown methods, invalid rules, or columns that the experiment
        will not have.

    Examples
    --------
    >>> import segml
    >>> config = segml.load_config("experiments/cdnow.toml")
    >>> config.data.calibration_end, [s.method for s in config.segmenters][:2]
    ('1997-09-30', ['kmeans', 'gmm'])
    """
    file = Path(path)
    require_regular_file(file, "experiment file", ConfigError)
    try:
        # utf-8-sig: a byte-order mark, which some editors write, is not part of the TOML
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {exc.start}): TOML files are UTF-8; save it as UTF-8."
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(raw, source=file.resolve(), text=text)


def parse_config(
    raw: dict[str, Any], source: Path | None = None, text: str = ""
) -> ExperimentConfig:
    """Validate an already-parsed TOML document (see :func:`load_config`)."""
    where = _where(source)
    _check_keys("top level", raw, _SECTIONS, where)
    exp = _section(raw, "experiment", where)
    data_raw = _section(raw, "data", where)
    base = source.parent if source else Path.cwd()
    data = _data_config(data_raw, base, where)
    clv_raw: dict[str, Any] = {
        k: float(v) if k in ("horizon", "discount_rate", "margin") else v
        for k, v in _section(raw, "clv", where).items()
    }
    for key in ("purchase_covariates", "dropout_covariates", "spend_covariates"):
        if key in clv_raw:
            clv_raw[key] = _column_names(clv_raw[key], f"[clv] {key}", where)
    clv = CLVConfig(**clv_raw)
    if (clv.purchase_covariates or clv.dropout_covariates) and clv.frequency not in (
        "bgnbd",
        "pnbd",
        "mbgnbd",
    ):
        raise ConfigError(
            f"{where}: [clv] purchase/dropout covariates need frequency bgnbd, mbgnbd or pnbd "
            f"(got {clv.frequency!r}): choose the model; 'auto' does not compare covariate fits."
        )
    if clv.intervals < 0 or clv.intervals == 1:
        raise ConfigError(
            f"{where}: [clv] intervals = {clv.intervals} must be 0 (no value intervals) or the "
            "number of bootstrap refits (at least 2; 200 by default)."
        )
    if clv.frequency not in ("bgnbd", "pnbd", "mbgnbd", "nbd", "bgcnbd", "mbgcnbd", "auto"):
        raise ConfigError(
            f"{where}: [clv] frequency {clv.frequency!r} is not one of bgnbd, pnbd, mbgnbd, "
            "nbd, bgcnbd, mbgcnbd, auto."
        )
    hyps = tuple(_hypotheses(raw.get("hypotheses", []), where))
    segs = tuple(_segmenters(raw.get("segmenters", []), where))
    ev_raw = _section(raw, "evaluation", where)
    ev_values: dict[str, Any] = {
        k: float(v) if k in ("min_share", "alpha") else v for k, v in ev_raw.items()
    }
    evaluation = EvaluationConfig(**ev_values)
    tr_raw = _section(raw, "tracking", where)
    name = check_name(exp["name"], "[experiment] name", where)
    tracking = TrackingConfig(
        experiment=_experiment_name(tr_raw.get("experiment", f"segml-{name}"), where),
        registered_model=check_name(
            tr_raw.get("registered_model", f"segml-{name}"), "[tracking] registered_model", where
        ),
    )
    config = ExperimentConfig(
        name=name,
        description=exp.get("description", ""),
        data=data,
        clv=clv,
        hypotheses=hyps,
        segmenters=segs,
        evaluation=evaluation,
        tracking=tracking,
        source=source,
        text=text,
    )
    check_references(config)
    return config


def _column_names(value: list[Any], what: str, where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v for v in value) or len(set(value)) != len(value):
        raise ConfigError(f"{where}: {what} must be distinct column names, got {value!r}.")
    return tuple(value)


def _experiment_name(value: str, where: str) -> str:
    # MLflow experiment names are free text (Databricks uses workspace paths); only what
    # MLflow itself rejects, or what cannot be shown on one line, is refused.
    if not value.strip() or len(value) > 500 or any(ord(c) < 32 for c in value):
        raise ConfigError(
            f"{where}: [tracking] experiment {value[:80]!r} must be non-empty, printable and "
            "at most 500 characters."
        )
    return value


def _data_config(raw: dict[str, Any], base: Path, where: str) -> DataConfig:
    values = dict(raw)
    if ("dataset" in values) == ("transactions" in values):
        raise ConfigError(
            f'{where}: [data] needs exactly one of dataset = "cdnow" | "cdnow_master" | '
            '"b2b" | "retail" or transactions = "file.csv".'
        )
    if "dataset" in values and values["dataset"] not in _BUILTIN:
        hint = did_you_mean(values["dataset"], _BUILTIN)
        raise ConfigError(
            f"{where}: [data] dataset {values['dataset']!r} is not built in{hint}; built in: "
            f"{', '.join(_BUILTIN)}."
        )
    for key in ("transactions", "customers"):
        if key in values:
            p = Path(values[key])
            resolved = p if p.is_absolute() else (base / p)
            if not resolved.exists():
                raise ConfigError(
                    f"{where}: [data] {key} file {values[key]!r} not found (looked at "
                    f"{resolved}; paths are relative to the experiment file)."
                )
            require_regular_file(resolved, f"{where}: [data] {key} file", ConfigError)
            values[key] = resolved.resolve()
    if "keep" in values:
        values["keep"] = tuple(values["keep"])
    for key in ("calibration_end", "holdout_end"):
        if key in values:
            try:
                pd.Timestamp(values[key])
            except (ValueError, TypeError):
                raise ConfigError(f"{where}: [data] {key} {values[key]!r} is not a date.") from None
    if "holdout_end" in values and pd.Timestamp(values["holdout_end"]) <= pd.Timestamp(
        values["calibration_end"]
    ):
        raise ConfigError(f"{where}: [data] holdout_end must come after calibration_end.")
    if values.get("unit", "W") not in ("D", "W", "M"):
        raise ConfigError(f"{where}: [data] unit must be 'D', 'W' or 'M', got {values['unit']!r}.")
    return DataConfig(**values)


def _tables(
    items: Any, section: str, noun: str, where: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, table) of an array of tables, each a table, names unique."""
    if not isinstance(items, list):
        raise ConfigError(f"{where}: {section} must be an array of tables ([[{section}]]).")
    seen: set[str] = set()
    for i, item in enumerate(items):
        label = f"{section}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: {label} must be a table.")
        name = item.get("name")
        if name is not None:
            check_name(name, f"[{label}] name", where)
            if name in seen:
                raise ConfigError(f"{where}: {noun} name {name!r} is used twice.")
            seen.add(name)
        yield label, item


def _hypotheses(items: Any, where: str) -> list[HypothesisConfig]:
    out = []
    for label, item in _tables(items, "hypotheses", "hypothesis", where):
        _check_keys(label, item, _SECTIONS["hypotheses"], where)
        for key, (types, required) in _SECTIONS["hypotheses"].items():
            if required and key not in item:
                raise ConfigError(f"{where}: [{label}] needs {key!r}.")
            if key in item:
                _check_type(label, key, item[key], types, where)
        if item.get("expect", "higher") not in ("higher", "lower", "different"):
            raise ConfigError(
                f"{where}: [{label}] expect must be higher, lower or different, "
                f"got {item['expect']!r}."
            )
        try:
            Rule(item["rule"])
        except RuleError as exc:
            raise ConfigError(f"{where}: [{label}] rule is invalid: {exc}") from None
        out.append(HypothesisConfig(**item))
    return out


def _segmenters(items: Any, where: str) -> list[SegmenterConfig]:
    out = []
    for label, item in _tables(items, "segmenters", "segmenter", where):
        for key in ("name", "method"):
            if key not in item:
                raise ConfigError(f"{where}: [{label}] needs {key!r}.")
            _check_type(label, key, item[key], (str,), where)
        method = item["method"]
        if method not in METHODS:
            raise ConfigError(
                f"{where}: [{label}] method {method!r} is not a segmenter"
                f"{did_you_mean(method, METHODS)}; methods: {', '.join(METHODS)}."
            )
        allowed = parameters(method)
        params = {k: v for k, v in item.items() if k not in ("name", "method")}
        _check_keys(f"{label} ({method})", params, allowed, where)
        for key, value in params.items():
            _check_type(label, key, value, allowed[key], where)
        if method == "rules":
            for j, pair in enumerate(params.get("rules", [])):
                if not (
                    isinstance(pair, list)
                    and len(pair) == 2
                    and all(isinstance(p, str) for p in pair)
                ):
                    raise ConfigError(f'{where}: [{label}] rules[{j}] must be ["name", "rule"].')
                try:
                    Rule(pair[1])
                except RuleError as exc:
                    raise ConfigError(f"{where}: [{label}] rules[{j}] is invalid: {exc}") from None
        frozen = tuple(
            (
                k,
                tuple(tuple(x) if isinstance(x, list) else x for x in v)
                if isinstance(v, list)
                else v,
            )
            for k, v in sorted(params.items())
        )
        out.append(SegmenterConfig(name=item["name"], method=method, params=frozen))
    return out


# ------------------------------------------------------------------ references
def expected_columns(config: ExperimentConfig) -> set[str]:
    """Columns the experiment's customer table will have (after CLV scoring)."""
    d = config.data
    has_amount = bool(d.dataset or d.amount)
    cols = table_columns(amount=has_amount, holdout=bool(d.holdout_end))
    if d.dataset:
        cols |= set(_BUILTIN[d.dataset])
    if d.quantity:
        cols.add("first_n_items")
    cols |= {f"first_{k}" for k in d.keep}
    if d.customers is not None:
        try:
            header = attribute_header(d.customers)
        except DataError as exc:
            raise ConfigError(f"{_where(config.source)}: [data] customers: {exc}") from None
        if d.customer_key not in header:
            raise ConfigError(
                f"{_where(config.source)}: customers file has no {d.customer_key!r} column "
                f"(set [data] customer_key); columns: {', '.join(header)}."
            )
        cols |= set(header) - {d.customer_key}
    return cols


def check_references(config: ExperimentConfig) -> None:
    """Every column named by a rule, segmenter or the evaluation must exist."""
    where = _where(config.source)
    cols = expected_columns(config)

    def check(names: Any, what: str) -> None:
        for name in names:
            if name not in cols:
                hint = did_you_mean(name, sorted(cols))
                raise ConfigError(
                    f"{where}: {what} names column {name!r}{hint}, which the experiment's "
                    f"customer table will not have; columns: {', '.join(sorted(cols))}."
                )

    for h in config.hypotheses:
        check(Rule(h.rule).columns, f"hypothesis {h.name!r}")
    for s in config.segmenters:
        kw = s.kwargs
        check(kw.get("features", []), f"segmenter {s.name!r}")
        if "value" in kw:
            check([kw["value"]], f"segmenter {s.name!r}")
        for pair in kw.get("rules", []):
            check(Rule(pair[1]).columns, f"segmenter {s.name!r}")
        if s.method == "hypotheses" and not config.hypotheses:
            raise ConfigError(
                f"{where}: segmenter {s.name!r} synthesises hypotheses, but there are none."
            )
    check([config.evaluation.value], "[evaluation] value")
    check(config.clv.covariates, "[clv] covariates")
    # what the model explains, or computes, cannot also explain it
    outcome = {c.name for c in COLUMNS if c.kind not in ("first_order",)}
    if taken := sorted(set(config.clv.covariates) & outcome):
        raise ConfigError(
            f"{where}: [clv] covariates {taken} are purchase history or value, which the "
            "CLV model explains: covariates are customer attributes (the customers file) or "
            "first-order columns."
        )
    if not config.segmenters:
        raise ConfigError(f"{where}: define at least one [[segmenters]].")
