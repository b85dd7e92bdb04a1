"""Scoring customers with a fitted CLV model and segmenter (no MLflow).

Used by the exported MLflow model, by ``segml score`` and by the Spark path, so every client
scores the same way. Rows are conserved: a customer that cannot be scored keeps its row, with
missing outputs and a ``reason``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segml._columns import COLUMNS, SCORE_COLUMNS
from segml.clv import CLVModel
from segml.clv.covariate_effects import covariate_names, covariate_problems
from segml.errors import DataError, examples
from segml.experiment.prospect_scoring import prospect_rows, score_prospects
from segml.segment.base import Segmenter

__all__ = [
    "NUMERIC_OUTPUTS",
    "OUTPUT_COLUMNS",
    "attribute_kinds",
    "batch_percentile",
    "out_of_range",
    "percentile_reference",
    "required_columns",
    "score_customers",
    "training_ranges",
]

#: What the exported model returns for each customer, in order.
OUTPUT_COLUMNS = SCORE_COLUMNS
#: The numeric outputs, missing (NaN) for a customer that cannot be scored.
NUMERIC_OUTPUTS = tuple(c.name for c in COLUMNS if c.name in SCORE_COLUMNS and c.dtype == "float64")
HISTORY = ("frequency", "recency", "T", "monetary_value")
_COMPUTED = {
    "clv",
    "expected_purchases",
    "p_alive",
    "expected_spend",
    "value_percentile",
    "recency_ratio",
}


def percentile_reference(clv: np.ndarray) -> list[float]:
    """The 1,001 quantiles (0, 0.1, ..., 100 %) of the reference CLV distribution."""
    return np.quantile(np.asarray(clv, dtype="float64"), np.linspace(0, 1, 1001)).tolist()


def value_percentile(clv: np.ndarray, reference: list[float]) -> np.ndarray:
    """Percentile (0-100) of each CLV in the reference distribution (linear interpolation)."""
    ref = np.asarray(reference, dtype="float64")
    grid = np.linspace(0.0, 100.0, len(ref))
    # np.interp needs increasing x; ties in the reference (e.g. many equal CLVs) are averaged
    xs, inverse = np.unique(ref, return_inverse=True)
    ys = np.bincount(inverse, weights=grid) / np.bincount(inverse)
    return np.interp(np.asarray(clv, dtype="float64"), xs, ys)


def batch_percentile(clv: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
    """Percent rank (0-100) of each CLV among the CLVs of ``batch`` (default: ``clv`` itself).

    ``100 * (number of batch values below it) / (batch size - 1)``: Spark's
    ``percent_rank``, ties taking the lowest rank; NaN stays NaN and is not counted.

    Examples
    --------
    >>> import numpy as np
    >>> from segml.experiment.scoring import batch_percentile
    >>> batch_percentile(np.array([5.0, 1.0, 3.0, 3.0, np.nan])).round(2).tolist()
    [100.0, 0.0, 33.33, 33.33, nan]
    """
    values = np.asarray(clv, dtype="float64")
    known = np.sort(np.asarray(values if batch is None else batch, dtype="float64"))
    known = known[~np.isnan(known)]
    out = np.full(len(values), np.nan)
    finite = ~np.isnan(values)
    if len(known) == 1:
        out[finite] = 0.0
    elif len(known) > 1:
        out[finite] = 100.0 * np.searchsorted(known, values[finite], "left") / (len(known) - 1)
    return out


def attribute_kinds(
    table: pd.DataFrame, segmenter: Segmenter, clv_model: CLVModel | None = None
) -> dict[str, str]:
    """The kind (``number``, ``boolean``, ``date`` or ``string``) of every attribute the
    segmenter and the CLV model's covariates read, as it was in the training table: scoring
    reads each batch's values as that kind, whatever dtype the client delivered them in."""
    out = {}
    for col in required_columns(segmenter, clv_model):
        if col in HISTORY or col not in table.columns:
            continue
        dtype = table[col].dtype
        if pd.api.types.is_bool_dtype(dtype):
            out[col] = "boolean"
        elif pd.api.types.is_numeric_dtype(dtype):
            out[col] = "number"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[col] = "date"
        else:
            out[col] = "string"
    return out


def _covariates_usable(
    frame: pd.DataFrame,
    ok: np.ndarray,
    reason: np.ndarray,
    clv_model: CLVModel,
    meta: Mapping[str, Any],
) -> np.ndarray:
    """Read the CLV covariates of the ``ok`` rows as trained (in place) and give each row
    that cannot be valued its reason; the rows still ``ok``."""
    names = covariate_names(clv_model)
    if not names or not ok.any():
        return ok
    rows = frame.loc[ok, names].copy()
    gaps = _read_attributes(rows, names, meta.get("attribute_kinds", {}))
    problems = np.where(gaps != "", gaps, covariate_problems(clv_model, rows))
    frame.loc[ok, names] = rows
    where = np.flatnonzero(ok)
    reason[where[problems != ""]] = problems[problems != ""]
    return reason == ""


def _as_kind(values: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    """``values`` read as ``kind``, and a mask of the present values that are not of it.

    A client may deliver an integer attribute with a missing value as float, ``Int64`` with
    ``pd.NA``, object or text (MLflow's schema enforcement, Spark's Arrow batches): the
    segmenter gets what it was trained on, a missing value stays missing."""
    present = values.notna().to_numpy()
    if kind == "number":
        out = pd.to_numeric(values.astype(object).where(present, None), errors="coerce")
        return out.astype("float64"), present & out.isna().to_numpy()
    if kind == "boolean":
        words = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
        mapped = values.astype(object).map(
            lambda v: v if isinstance(v, (bool, np.bool_)) else words.get(str(v).strip().lower())
        )
        return mapped.where(present, None), present & mapped.isna().to_numpy()
    if kind == "date":
        out = pd.to_datetime(values.where(present, None), errors="coerce", format="ISO8601")
        return out, present & out.isna().to_numpy()
    text = values.astype(object).where(present, None)
    return text.map(lambda v: v if v is None or isinstance(v, str) else str(v)), np.zeros(
        len(values), dtype=bool
    )


def _read_attributes(frame: pd.DataFrame, attrs: list[str], kinds: Mapping[str, str]) -> np.ndarray:
    """Read each attribute of ``frame`` (in place) as its trained kind; per row, the reason
    the first unusable attribute gives ("" where all are usable)."""
    reason = np.full(len(frame), "", dtype=object)
    for col in attrs:
        wrong = np.zeros(len(frame), dtype=bool)
        if col in kinds:
            frame[col], wrong = _as_kind(frame[col], kinds[col])
        gap = frame[col].isna().to_numpy()
        free = reason == ""
        reason[wrong & free] = f"attribute {col} is not a {kinds.get(col)}"
        reason[gap & ~wrong & free] = f"missing attribute {col}"
    return reason


def training_ranges(table: pd.DataFrame, segmenter: Segmenter) -> dict[str, list[float]]:
    """``[min, max]`` of the history and of every numeric column the segmenter uses."""
    cols = list(HISTORY) + sorted(c for c in segmenter.columns_ if c not in HISTORY)
    out = {}
    for col in cols:
        if col in table.columns and pd.api.types.is_numeric_dtype(table[col].dtype):
            values = table[col].to_numpy("float64", na_value=np.nan)
            if np.isfinite(values).any():
                out[col] = [float(np.nanmin(values)), float(np.nanmax(values))]
    return out


def out_of_range(frame: pd.DataFrame, ranges: Mapping[str, list[float]]) -> np.ndarray:
    """For each row, the columns outside the range the model was trained on ("" if none)."""
    flags = np.full(len(frame), "", dtype=object)
    for col, (low, high) in ranges.items():
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy("float64", na_value=np.nan)
        slack = 1e-9 * max(abs(low), abs(high), 1.0)
        outside = (values < low - slack) | (values > high + slack)
        flags[outside] = [f"{f}, {col}" if f else col for f in flags[outside]]
    return flags


def required_columns(segmenter: Segmenter, clv_model: CLVModel | None = None) -> list[str]:
    """Input columns a scoring frame must have (besides ``customer_id``): the history, the
    segmenter's attributes and those the CLV model's covariates use."""
    cols = list(HISTORY)
    attrs = sorted(segmenter.columns_) + (covariate_names(clv_model) if clv_model else [])
    for col in attrs:
        if col not in _COMPUTED and col not in cols:
            cols.append(col)
    return cols


def _input_frame(
    frame: pd.DataFrame, segmenter: Segmenter, clv_model: CLVModel | None = None
) -> pd.DataFrame:
    """The scoring input with ``customer_id`` as a column, its columns checked."""
    frame = (
        frame.reset_index() if "customer_id" not in frame.columns else frame.reset_index(drop=True)
    )
    if "customer_id" in frame.columns and pd.api.types.is_numeric_dtype(frame["customer_id"].dtype):
        warnings.warn(
            "customer_id arrived as numbers: ids are converted to strings, but zero-padded ids "
            "('00042') have already lost their leading zeros upstream; read ids as strings "
            "(dtype=str) to keep them.",
            UserWarning,
            stacklevel=3,
        )
    doubled = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if doubled:
        raise DataError(f"the scoring input has duplicated columns {doubled}; keep one of each.")
    needed = ["customer_id", *required_columns(segmenter, clv_model)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"the scoring input lacks required columns {missing}; the model needs "
            f"{needed}. Got columns {examples(frame.columns, limit=15)}."
        )
    return frame


def score_customers(
    frame: pd.DataFrame,
    clv_model: CLVModel,
    segmenter: Segmenter,
    meta: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Score per-customer rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``customer_id`` (column or index), the summary columns (``frequency``, ``recency``,
        ``T``, ``monetary_value``) and the attributes the segmenter uses.
    clv_model : CLVModel
    segmenter : Segmenter
    meta : mapping
        ``horizon``, ``discount_rate`` (defaults), ``percentile_reference`` and, optionally,
        ``training_ranges`` (see :func:`training_ranges`).
    params : mapping, optional
        ``horizon`` and ``discount_rate`` overriding the defaults.

    Returns
    -------
    pandas.DataFrame
        One row per input row, in input order: ``OUTPUT_COLUMNS``. ``reason`` is empty for
        scored customers, ``"prospect"`` for a row without purchase history valued from its
        attributes (:mod:`segml.experiment.prospect_scoring`), and says why otherwise;
        ``segment`` is ``-1`` when unassigned.
        ``value_percentile`` places each CLV in the population the model was fitted on,
        ``batch_percentile`` in this frame; ``out_of_range`` names the columns outside the
        ranges the model was trained on (``meta["training_ranges"]``; empty when in range).

    Raises
    ------
    segml.DataError
        If a required column is missing altogether.
    """
    frame = _input_frame(frame, segmenter, clv_model)
    params = dict(params or {})
    horizon = float(params.get("horizon", meta["horizon"]))
    rate = float(params.get("discount_rate", meta["discount_rate"]))
    n = len(frame)
    ids = frame["customer_id"].astype("str").to_numpy(dtype=object)
    reason = np.full(n, "", dtype=object)
    history = {
        col: pd.to_numeric(frame[col], errors="coerce").to_numpy("float64", na_value=np.nan)
        for col in HISTORY
    }
    prospect = prospect_rows(history)  # no history at all: valued from attributes alone
    reason[prospect] = "prospect"
    for col in HISTORY:
        bad = ~np.isfinite(history[col]) & (reason == "")
        reason[bad] = f"missing or non-numeric {col}"
    x, t_x, T = history["frequency"], history["recency"], history["T"]
    ok = reason == ""
    invalid = ok & (
        (x < 0) | (x != np.round(x)) | (t_x < 0) | (t_x > T + 1e-9) | ((x == 0) & (t_x > 0))
    )
    reason[invalid] = "inconsistent history (frequency, recency, T)"
    ok = reason == ""
    # Mean spend below zero (returns exceeding purchases) has no Gamma-Gamma value: that
    # customer gets a reason, the batch is still scored.
    reason[ok & (history["monetary_value"] < 0)] = "negative monetary_value"
    ok = reason == ""
    out = pd.DataFrame({"customer_id": ids})
    for col in NUMERIC_OUTPUTS:
        out[col] = np.nan
    out["out_of_range"] = ""
    out["segment"] = -1
    out["segment_name"] = None
    ok = _covariates_usable(frame, ok, reason, clv_model, meta)
    if ok.any():
        rows = frame.loc[ok, covariate_names(clv_model)].reset_index(drop=True)
        rows = rows.assign(**{c: history[c][ok] for c in HISTORY})
        scores = clv_model.predict(rows, horizon=horizon, discount_rate=rate)
        for col in ("expected_purchases", "p_alive", "expected_spend", "clv"):
            out.loc[ok, col] = scores[col].to_numpy()
        out.loc[ok, "value_percentile"] = value_percentile(
            scores["clv"].to_numpy(), meta["percentile_reference"]
        )
        seg_input = frame.loc[ok].reset_index(drop=True).copy()
        for col in HISTORY:
            seg_input[col] = history[col][ok]
        for col in ("expected_purchases", "p_alive", "expected_spend", "clv"):
            seg_input[col] = scores[col].to_numpy()
        seg_input["value_percentile"] = out.loc[ok, "value_percentile"].to_numpy()
        out.loc[ok, "out_of_range"] = out_of_range(seg_input, meta.get("training_ranges", {}))
        attrs = [c for c in required_columns(segmenter) if c not in HISTORY]
        no_attr = _read_attributes(seg_input, attrs, meta.get("attribute_kinds", {}))
        where = np.flatnonzero(ok)
        reason[where[no_attr != ""]] = no_attr[no_attr != ""]
        no_attr = no_attr != ""
        labels = np.full(int(ok.sum()), -1, dtype=np.int64)
        if (~no_attr).any():
            labels[~no_attr] = segmenter.predict(seg_input.loc[~no_attr].reset_index(drop=True))
        out.loc[ok, "segment"] = labels
    if prospect.any():
        scores, why = score_prospects(
            frame.loc[prospect].reset_index(drop=True),
            clv_model,
            segmenter,
            meta["percentile_reference"],
            horizon,
            rate,
            value_percentile,
            lambda rows: _read_attributes(
                rows,
                [c for c in required_columns(segmenter) if c not in HISTORY],
                meta.get("attribute_kinds", {}),
            ),
        )
        for col in scores.columns:
            out.loc[prospect, col] = scores[col].to_numpy()
        reason[prospect] = why
    names = segmenter.segment_names_
    out["segment_name"] = [
        names.get(int(s), str(s)) if r in ("", "prospect") and s >= 0 else None
        for s, r in zip(out["segment"], reason, strict=True)
    ]
    out["reason"] = reason
    out["batch_percentile"] = batch_percentile(out["clv"].to_numpy("float64"))
    out["segment"] = out["segment"].astype("int64")
    return out[list(OUTPUT_COLUMNS)]
