"""Scoring prospects: rows with attributes and no purchase history.

A prospect is valued by :meth:`segml.CLVModel.predict_new` (from the covariates the CLV
models were fitted with; without covariates every prospect gets the value of an average
new customer) and placed in a segment when the segmentation uses attributes known before
any purchase (``targetability == "prospect"``). Its ``reason`` is ``"prospect"``; one that
cannot be valued or placed says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from segml.clv import CLVModel
from segml.clv.covariate_effects import covariate_problems
from segml.segment.base import Segmenter

__all__ = ["score_prospects"]


def score_prospects(
    rows: pd.DataFrame,
    clv_model: CLVModel,
    segmenter: Segmenter,
    reference: Any,
    horizon: float,
    rate: float,
    percentile: Any,
    read_attributes: Callable[[pd.DataFrame], np.ndarray],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Values, segments and reasons of the prospects ``rows`` (index 0..n-1).

    Returns
    -------
    scores : pandas.DataFrame
        ``expected_purchases`` (repeat purchases in the horizon after acquisition),
        ``p_alive`` (NaN: not yet a customer), ``expected_spend``, ``clv`` (acquisition
        purchase included), ``value_percentile``, ``segment`` (-1 when not placed).
        ``read_attributes`` reads the segmenter's attributes in place and gives each row's
        gap ("" when none), as for customers.
    reason : numpy.ndarray
        ``"prospect"``, or why the row could not be valued or placed.
    """
    n = len(rows)
    out = pd.DataFrame(
        {c: np.full(n, np.nan) for c in ("expected_purchases", "p_alive", "expected_spend")}
    )
    out["clv"], out["value_percentile"], out["segment"] = np.nan, np.nan, -1
    reason = np.full(n, "prospect", dtype=object)
    problems = covariate_problems(clv_model, rows)
    reason[problems != ""] = [f"prospect not valued: {p}" for p in problems[problems != ""]]
    ok = reason == "prospect"
    if not ok.any():
        return out, reason
    valued = clv_model.predict_new(rows.loc[ok].reset_index(drop=True), horizon, rate)
    for col in ("expected_purchases", "expected_spend", "clv"):
        out.loc[ok, col] = valued[col].to_numpy()
    out.loc[ok, "value_percentile"] = percentile(valued["clv"].to_numpy(), reference)
    if segmenter.targetability != "prospect":
        reason[ok] = "prospect (the segmentation needs purchase history)"
        return out, reason
    seg_input = rows.loc[ok].reset_index(drop=True).copy()
    for col in ("expected_purchases", "expected_spend", "clv", "value_percentile"):
        seg_input[col] = out.loc[ok, col].to_numpy()
    # the segmenter's attributes, read as in training: a gap is the row's reason
    gaps = read_attributes(seg_input)
    where = np.flatnonzero(ok)
    reason[where[gaps != ""]] = [f"prospect not placed: {g}" for g in gaps[gaps != ""]]
    placed = where[gaps == ""]
    if len(placed):
        out.loc[placed, "segment"] = segmenter.predict(seg_input.loc[gaps == ""])
    return out, reason


def prospect_rows(history: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows whose whole purchase history is missing: prospects, not bad histories."""
    return np.logical_and.reduce([~np.isfinite(v) for v in history.values()])
