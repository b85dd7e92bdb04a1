"""Drift a model expects: the segment shares a cohort should have after ageing, with bands.

Customer value moves by design as a cohort ages (one-time buyers' value decays, the
recent become lapsed), so raw PSI against the training population flags "drift" on a model
that is right. This module ages the cohort the model was trained on, customer by customer,
by the time elapsed (:func:`segml.clv.forward.age_histories`), re-scores each draw with the
model itself, and gives each segment's expected share with a band. Only an observed share
outside its band is an alarm; the PSI between the expected and observed shares says how
much of the raw PSI the model does not explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segml.clv import CLVModel
from segml.clv.forward import age_histories
from segml.experiment.scoring import score_customers
from segml.segment.base import Segmenter
from segml.segment.drift import psi

__all__ = ["expected_shares"]


def expected_shares(
    clv_model: CLVModel,
    segmenter: Segmenter,
    meta: Mapping[str, Any],
    cohort: pd.DataFrame,
    observed: pd.Series,
    elapsed: float,
    *,
    n_draws: int = 200,
    interval: float = 0.9,
    random_state: int = 0,
) -> dict[str, Any]:
    """Expected segment shares of ``cohort`` after ``elapsed``, against the ``observed`` ones.

    Parameters
    ----------
    clv_model, segmenter, meta
        The exported model's parts (``meta`` gives the horizon, discount rate and
        percentile reference scoring uses).
    cohort : pandas.DataFrame
        The customers as they were at the model's calibration end: ``customer_id``, the
        history columns and the attributes the segmenter reads.
    observed : pandas.Series
        The segment each of those customers has now, indexed by ``customer_id``.
    elapsed : float
        Time units from the calibration end to the scoring's as-of date.
    n_draws : int
        Simulated ageings. Each segment's band is central at level ``1 - (1 - interval) / k``
        for ``k`` segments, so that a model that is right raises no alarm with probability
        about ``interval`` (Bonferroni; the false-alarm rate is measured by simulation in
        ``tests/tracking/test_score_drift.py``).

    Returns
    -------
    dict
        ``segments`` (per label: ``expected``, ``low``, ``high``, ``observed``,
        ``outside``), ``transitions`` (per move between segments that the model or the
        data makes: ``from``, ``to``, the share of the cohort making it ``expected``,
        ``low``, ``high``, ``observed``, ``outside``; bands Bonferroni-split over every
        cell), ``psi_expected_observed``, ``psi_raw`` (the cohort's shares at
        calibration against now), ``alarm`` (any observed share outside its band),
        ``n_customers``, ``n_draws``, ``interval``, ``elapsed`` and
        ``parameter_uncertainty`` (whether the draws used the model's parameter draws,
        ``CLVModel.draws_``; without them the bands hold the ageing's randomness only).
    """
    rng = np.random.default_rng(random_state)
    draws = getattr(clv_model, "draws_", None)
    pairs = list(zip(draws.frequency, draws.spend, strict=True)) if draws is not None else []
    start = score_customers(cohort, clv_model, segmenter, meta)["segment"].to_numpy()
    labels = sorted(set(start) | set(observed.to_numpy()))
    shares = np.empty((n_draws, len(labels)))
    moves = np.empty((n_draws, len(labels), len(labels)))
    for d in range(n_draws):
        aged = age_histories(
            clv_model, cohort, elapsed, rng, pairs[d % len(pairs)] if pairs else None
        )
        seg = score_customers(aged, clv_model, segmenter, meta)["segment"].to_numpy()
        shares[d] = [np.mean(seg == s) for s in labels]
        moves[d] = _transitions(start, seg, labels)
    # One band per segment, Bonferroni-split: all shares stay inside their bands together
    # with probability ``interval`` when the model is right, whatever the number of segments.
    tail = (1.0 - interval) / (2.0 * len(labels))
    low, high = np.quantile(shares, [tail, 1.0 - tail], axis=0)
    expected = shares.mean(axis=0)
    now = observed.reindex(cohort["customer_id"].astype(str)).to_numpy()
    seen = np.array([np.mean(now == s) for s in labels])
    then = np.array([np.mean(start == s) for s in labels])
    names = segmenter.segment_names_
    rows = {
        str(s): {
            "name": names.get(int(s), "not assigned" if s == -1 else str(s)),
            "expected": float(e),
            "low": float(lo),
            "high": float(hi),
            "observed": float(o),
            "outside": bool(o < lo or o > hi),
        }
        for s, e, lo, hi, o in zip(labels, expected, low, high, seen, strict=True)
    }
    transitions = _expected_transitions(moves, _transitions(start, now, labels), labels, interval)
    return {
        "segments": rows,
        "transitions": transitions,
        "psi_raw": psi(then, seen),
        "psi_expected": psi(then, expected),
        "psi_expected_observed": psi(expected, seen),
        "alarm": any(r["outside"] for r in rows.values()),
        "n_customers": len(cohort),
        "n_draws": n_draws,
        "interval": interval,
        "elapsed": float(elapsed),
        "parameter_uncertainty": bool(pairs),
    }


def _transitions(start: np.ndarray, end: np.ndarray, labels: list[Any]) -> np.ndarray:
    """Share of the cohort moving from each segment (rows) to each segment (columns)."""
    index = {s: i for i, s in enumerate(labels)}
    out = np.zeros((len(labels), len(labels)))
    known = [(index[a], index[b]) for a, b in zip(start, end, strict=True) if b in index]
    for i, j in known:
        out[i, j] += 1.0
    return out / max(len(start), 1)


def _expected_transitions(
    moves: np.ndarray, seen: np.ndarray, labels: list[Any], interval: float
) -> list[dict[str, Any]]:
    """Every move made in some draw or in the data, with its band and the observed share."""
    tail = (1.0 - interval) / (2.0 * moves[0].size)
    low, high = np.quantile(moves, [tail, 1.0 - tail], axis=0)
    expected = moves.mean(axis=0)
    cells = zip(*np.nonzero((moves.max(axis=0) > 0) | (seen > 0)), strict=True)
    return [
        {
            "from": str(labels[i]),
            "to": str(labels[j]),
            "expected": float(expected[i, j]),
            "low": float(low[i, j]),
            "high": float(high[i, j]),
            "observed": float(seen[i, j]),
            "outside": bool(seen[i, j] < low[i, j] or seen[i, j] > high[i, j]),
        }
        for i, j in cells
    ]
