"""The one fitting routine: each step of the cascade, in order, and its record of attempts."""

from __future__ import annotations

import numpy as np
import pytest

import segml
from segml.clv.fitting import fit_with_fallbacks
from segml.clv.objectives import MLE


def _mle(value: float, converged: bool) -> MLE:
    theta = np.log([value])
    return MLE(theta, -1.0, np.zeros(1), -np.eye(1), converged, "converged" if converged else "no")


def _fit(own_converged: bool, lifetimes_results: list, polish_gain: float | None, **kw):
    def lifetimes(start):
        result = lifetimes_results[start]
        if isinstance(result, Exception):
            raise result
        return result

    def polish(start, attempts):
        attempts.append(f"polish from {start}")
        if polish_gain is None:
            return None
        return polish_gain, {"a": 3.0}  # the log-likelihood at a = 3, plus a gain

    return fit_with_fallbacks(
        names=["a"],
        own=lambda: _mle(2.0, own_converged),
        accept=lambda params, mle: mle.converged,
        lifetimes=lifetimes,
        lifetimes_starts=range(len(lifetimes_results)),
        total_loglik=lambda params: -((params["a"] - 3.0) ** 2),
        valid=lambda params, value: params["a"] > 0,
        polish=polish,
        last_resort=kw.get("last_resort", [{"a": 1.0}]),
        failure=lambda attempts: f"no estimate after {len(attempts)} attempts",
    )


def test_an_accepted_gradient_fit_is_the_answer_with_its_hessian() -> None:
    est = _fit(True, [], None)
    assert est.engine == "segml" and est.params == {"a": pytest.approx(2.0)}
    assert est.hessian is not None and est.log_likelihood == -1.0
    assert len(est.attempts) == 1


def test_the_first_valid_lifetimes_start_is_polished() -> None:
    est = _fit(False, [ValueError("bad"), {"a": -1.0}, {"a": 2.5}, {"a": 9.0}], polish_gain=0.0)
    assert est.engine == "segml" and est.params == {"a": 3.0}
    assert "lifetimes from 0: ValueError" in est.attempts[1]
    assert not any("from 3" in a for a in est.attempts)  # stops at the first valid start


def test_a_polish_that_lowers_the_likelihood_keeps_the_lifetimes_estimate() -> None:
    kept = _fit(False, [{"a": 2.5}], polish_gain=-10.0)
    assert kept.engine == "lifetimes" and kept.params == {"a": 2.5}


def test_last_resort_starts_when_lifetimes_finds_nothing() -> None:
    est = _fit(False, [RuntimeError("x")], polish_gain=0.0, last_resort=[{"a": 1.0}])
    assert est.engine == "segml" and est.params == {"a": 3.0}
    assert est.attempts[-1] == "polish from {'a': 1.0}"


def test_nothing_acceptable_is_a_convergence_error_listing_the_attempts() -> None:
    with pytest.raises(segml.ConvergenceError, match="no estimate after 4 attempts"):
        _fit(False, [RuntimeError("x")], polish_gain=None, last_resort=[{"a": 1.0}, {"a": 2.0}])
