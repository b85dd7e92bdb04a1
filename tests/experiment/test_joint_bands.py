"""The joint bands of expected drift: measured false-alarm rate and power, by simulation."""

from __future__ import annotations

import numpy as np

from segml.experiment.expected_drift import joint_bands

# ten segments, three of them small, as the tiers and moves of a scoring are
P = np.array([0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05, 0.03, 0.015, 0.005])
N = 600


def shares(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    return rng.multinomial(N, p, size=size) / N


def test_a_future_from_the_model_leaves_the_bands_about_one_time_in_ten() -> None:
    rng = np.random.default_rng(0)
    replicates = 400
    alarms = sum(
        bool(joint_bands(shares(rng, P, 200), shares(rng, P, 1)[0], 0.9)[3].any())
        for _ in range(replicates)
    )
    # nominal 10 %: 400 replicates put a correct rate within 5-15 % with probability > 99 %;
    # bands of 90 % per column would alarm in about 60 % of them
    assert 0.05 <= alarms / replicates <= 0.15, alarms


def test_only_the_segment_that_doubles_is_outside_the_bands() -> None:
    rng = np.random.default_rng(1)
    shifted = P.copy()
    shifted[3] *= 2  # 10 % of the customers become 20 %
    shifted[0] -= P[3]
    hits, others = 0, 0
    for _ in range(50):
        outside = joint_bands(shares(rng, P, 200), shares(rng, shifted, 1)[0], 0.9)[3]
        hits += bool(outside[3])
        others += int(outside[[1, 2, 4, 5, 6, 7, 8, 9]].sum())
    assert hits == 50 and others <= 5


def test_a_share_that_never_varies_in_the_draws_is_outside_when_observed_otherwise() -> None:
    draws = np.tile([0.5, 0.5, 0.0], (200, 1))
    draws[:, :2] += np.random.default_rng(2).normal(0, 0.01, (200, 1)) * [1, -1]
    mean, low, high, outside = joint_bands(draws, np.array([0.49, 0.5, 0.01]), 0.9)
    assert outside.tolist() == [False, False, True]
    assert low[2] == high[2] == 0.0 and (low <= mean).all() and (mean <= high).all()
