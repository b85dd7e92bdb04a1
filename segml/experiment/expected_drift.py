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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segml._units import span_words
from segml.clv import CLVModel
from segml.clv.forward import age_histories
from segml.experiment.scoring import score_customers
from segml.segment.base import Segmenter
from segml.segment.drift import psi

__all__ = ["EXPECTED_SAMPLE", "aged_cohort_report", "cohort_ids", "expected_shares", "joint_bands"]

#: Customers of the calibration cohort aged for the expected shares (a random sample above):
#: 200 re-scorings of a million customers would take minutes.
EXPECTED_SAMPLE = 20_000


def cohort_ids(ids: Sequence[Any] | pd.Series, limit: int | None = None) -> np.ndarray:
    """The ids of the calibration cohort that are aged: all of them, or a seeded random
    ``limit`` (default :data:`EXPECTED_SAMPLE`) of them, in sorted order.

    They depend on the set of ids alone, not on the order of the file, so ``segml score``
    and the Spark path age the same customers in the same order.

    Examples
    --------
    >>> from segml.experiment.expected_drift import cohort_ids
    >>> cohort_ids(["b", "c", "a"]).tolist(), len(cohort_ids([str(i) for i in range(50)], 10))
    (['a', 'b', 'c'], 10)
    """
    limit = EXPECTED_SAMPLE if limit is None else limit
    unique = np.unique(pd.Series(ids).astype(str).to_numpy(dtype=object))
    if len(unique) <= limit:
        return unique
    rng = np.random.default_rng(0)
    return unique[np.sort(rng.choice(len(unique), size=limit, replace=False))]


def aged_cohort_report(
    model: Any,
    cohort: pd.DataFrame,
    observed: pd.Series,
    elapsed: float,
    cohort_size: int,
) -> dict[str, Any]:
    """:func:`expected_shares` for an exported model (``model.clv``, ``model.segmenter``,
    ``model.meta``) on the ``cohort`` rows of :func:`cohort_ids`, aged in the order of their
    ids, with the elapsed time in words and the size of the whole cohort."""
    cohort = cohort.assign(customer_id=cohort["customer_id"].astype(str))
    cohort = cohort.sort_values("customer_id", kind="stable", ignore_index=True)
    shares = expected_shares(model.clv, model.segmenter, model.meta, cohort, observed, elapsed)
    unit = model.meta.get("unit") or "W"
    return {**shares, "span": span_words(float(elapsed), unit), "cohort_size": int(cohort_size)}


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
        Simulated ageings. The bands of every share and every move hold jointly
        (:func:`joint_bands`), so that a model that is right raises no alarm with probability
        about ``interval`` (the false-alarm rate is measured by simulation in
        ``tests/tracking/test_score_drift.py``).

    Returns
    -------
    dict
        ``segments`` (per label: ``expected``, ``low``, ``high``, ``observed``,
        ``outside``), ``transitions`` (per move between segments that the model or the
        data makes: ``from``, ``to``, the share of the cohort making it ``expected``,
        ``low``, ``high``, ``observed``, ``outside``), ``psi_expected_observed``,
        ``psi_raw`` (the cohort's shares at calibration against now), ``alarm`` (any
        observed share or move outside its band),
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
    now = observed.reindex(cohort["customer_id"].astype(str)).to_numpy()
    seen = np.array([np.mean(now == s) for s in labels])
    seen_moves = _transitions(start, now, labels)
    k = len(labels)
    # one joint band over every share and every move: see joint_bands
    mean, low, high, outside = joint_bands(
        np.concatenate([shares, moves.reshape(n_draws, -1)], axis=1),
        np.concatenate([seen, seen_moves.ravel()]),
        interval,
    )
    expected = mean[:k]
    then = np.array([np.mean(start == s) for s in labels])
    names = segmenter.segment_names_
    rows = {
        str(s): {
            "name": names.get(int(s), "not assigned" if s == -1 else str(s)),
            "expected": float(mean[i]),
            "low": float(low[i]),
            "high": float(high[i]),
            "observed": float(seen[i]),
            "outside": bool(outside[i]),
        }
        for i, s in enumerate(labels)
    }
    made = (moves.max(axis=0) > 0) | (seen_moves > 0)  # moves some draw or the data makes
    transitions = [
        {
            "from": str(labels[a]),
            "to": str(labels[b]),
            "expected": float(mean[k + a * k + b]),
            "low": float(low[k + a * k + b]),
            "high": float(high[k + a * k + b]),
            "observed": float(seen_moves[a, b]),
            "outside": bool(outside[k + a * k + b]),
        }
        for a, b in zip(*np.nonzero(made), strict=True)
    ]
    alarm = bool(outside.any())
    return {
        "segments": rows,
        "transitions": transitions,
        "psi_raw": psi(then, seen),
        "psi_expected": psi(then, expected),
        "psi_expected_observed": psi(expected, seen),
        "alarm": alarm,
        "n_customers": len(cohort),
        "n_draws": n_draws,
        "interval": interval,
        "elapsed": float(elapsed),
        "parameter_uncertainty": bool(pairs),
    }


def _transitions(start: np.ndarray, end: np.ndarray, labels: list[Any]) -> np.ndarray:
    """Share of the cohort moving from each segment (rows) to each segment (columns)."""
    k = len(labels)
    order = np.asarray(labels)
    i, j = np.searchsorted(order, start), np.searchsorted(order, end)
    # a customer with no segment now (not in the batch) moves nowhere
    known = (j < k) & (order[np.minimum(j, k - 1)] == end)
    counts = np.bincount(i[known] * k + j[known], minlength=k * k).reshape(k, k)
    return counts / max(len(start), 1)


def joint_bands(
    draws: np.ndarray, observed: np.ndarray, interval: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Simultaneous bands over the columns of ``draws`` (one row per simulated future).

    Each column's band is its mean +- ``c`` standard deviations, with ``c`` the
    ``interval`` quantile over the draws of their largest standardised deviation: a future
    drawn from the model has every column inside its band together with probability
    ``interval``, however many columns there are (a per-column Bonferroni split would need
    far more draws than a scoring can afford to resolve its tails). A column that never
    varies in the draws is outside as soon as the observation differs from it.

    Returns
    -------
    expected, low, high : numpy.ndarray
        Per column; the bands clipped to [0, 1] (shares).
    outside : numpy.ndarray of bool
    """
    mean, sd = draws.mean(axis=0), draws.std(axis=0, ddof=1)
    live = sd > 0
    z = np.zeros_like(draws)
    z[:, live] = np.abs(draws[:, live] - mean[live]) / sd[live]
    n = len(draws)  # the observation is one more future: the (n + 1)-th order statistic
    c = float(np.quantile(z.max(axis=1), min(1.0, np.ceil((n + 1) * interval) / n)))
    dev = np.abs(observed - mean)
    outside = np.where(live, dev > c * sd + 1e-12, dev > 1e-12)
    return mean, np.clip(mean - c * sd, 0.0, 1.0), np.clip(mean + c * sd, 0.0, 1.0), outside
