"""The (M)BG/CNBD-k likelihood and predictions: purchases on every k-th tick of a Poisson clock.

Platzer & Reutterer (2016, "Ticking away the moments", Marketing Science 35(5)). A customer's
clock ticks at rate lambda ~ Gamma(r, alpha); every k-th tick is a purchase (Erlang-k times
between purchases); after each repeat purchase (BG, ``d = 0``), and for MBG (``d = 1``) also
after the first, the customer leaves with probability p ~ Beta(a, b). With ``k = 1`` these
are BG/NBD and MBG/NBD.

Given a history (x, t_x, T) a customer who is alive at T is in phase j = 0..k-1 (ticks since
the last purchase) with weight ``c_j = prod_{i<j}(r+kx+i) u^j / j!``, ``u = (T-t_x)/(alpha+T)``;
a customer who left has weight ``S1``; the likelihood is ``exp(A) (S1 + sum_j c_j)`` times
``exp((k-1) litt - x log((k-1)!))``, which does not depend on the parameters. Alive in phase
j, lambda ~ Gamma(r + kx + j, alpha + T) and p ~ Beta(a, b + x + d), so the n-th future
purchase comes by T + t with probability ``E[(1-p)^(n-1)] P(N >= nk - j)``, N negative
binomial. The predictions here sum those terms exactly (the sum over n is cut where its
terms fall below 1e-12 of the total): a customer's prediction depends only on the customer
and the fitted parameters (no correction computed over the batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import betainc, betaln, digamma, gammaln

__all__ = [
    "CNBDPredictor",
    "cnbd_constant",
    "cnbd_loglik",
    "cnbd_objective",
    "draw_future",
    "expected_new",
    "purchase_pmf",
    "simulate_histories",
]

#: Terms of the sum over future purchases below this share of the running total end it.
_TOLERANCE = 1e-12
#: Future purchases summed at most (beyond, the clock would tick tens of thousands of times).
_MAX_PURCHASES = 20_000


def _unpack(params: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    return params["r"], params["alpha"], params["a"], params["b"]


def _log_weights(
    params: Mapping[str, Any], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, k: int, d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, log S1, log c_j for j = 0..k-1 as a (rows, k) array) of each history."""
    r, alpha, a, b = _unpack(params)
    s = r + k * x
    with np.errstate(divide="ignore", invalid="ignore"):
        A = (
            betaln(a, b + x + d)
            - betaln(a, b)
            + gammaln(s)
            - gammaln(r)
            + r * np.log(alpha)
            - s * np.log(alpha + T)
        )
        dead = (x > 0) | (d == 1)
        log_s1 = np.where(
            dead,
            np.log(a)
            - np.log(np.where(dead, b + x - 1 + d, 1.0))
            + s * (np.log(alpha + T) - np.log(alpha + t_x)),
            -np.inf,
        )
        log_u = np.log(np.maximum(T - t_x, 0.0)) - np.log(alpha + T)
    log_c = np.zeros((len(x), k))
    for j in range(1, k):
        log_c[:, j] = log_c[:, j - 1] + np.log(s + j - 1) + log_u - np.log(j)
    return A, log_s1, log_c


def _log_total(log_s1: np.ndarray, log_c: np.ndarray) -> np.ndarray:
    return np.logaddexp(log_s1, np.logaddexp.reduce(log_c, axis=1))


def cnbd_loglik(
    params: Mapping[str, Any], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, k: int, d: int
) -> np.ndarray:
    """Per-history log-likelihood without the litt term (:func:`cnbd_constant`).

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    x, t_x, T : numpy.ndarray
        Frequency, recency and age of each history.
    k : int
        Ticks per purchase (1 gives BG/NBD or MBG/NBD).
    d : {0, 1}
        1 for MBG (a customer may leave right after the first purchase), 0 for BG.

    Returns
    -------
    numpy.ndarray
    """
    A, log_s1, log_c = _log_weights(params, x, t_x, T, k, d)
    return A + _log_total(log_s1, log_c)


def cnbd_constant(x: np.ndarray, litt: np.ndarray, k: int) -> np.ndarray:
    """The parameter-free part of each log-likelihood, ``(k-1) litt - x log((k-1)!)``.

    Parameters
    ----------
    x, litt : numpy.ndarray
        Frequency and sum of the logs of the times between purchases.
    k : int

    Returns
    -------
    numpy.ndarray
    """
    return (k - 1) * litt - x * gammaln(k)


def cnbd_objective(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray, k: int, d: int
) -> Any:
    """``f(log_theta) -> (-mean log-likelihood, gradient)`` over weighted histories, for
    ``scipy.optimize.minimize(..., jac=True)``; ``theta = (r, alpha, a, b)``."""
    total_weight = float(w.sum())
    j = np.arange(k)

    def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_theta)
        p = {"r": r, "alpha": alpha, "a": a, "b": b}
        A, log_s1, log_c = _log_weights(p, x, t_x, T, k, d)
        total = _log_total(log_s1, log_c)
        value = float(np.sum(w * (A + total)))
        w1 = np.exp(log_s1 - total)
        wc = np.exp(log_c - total[:, None])
        s = r + k * x
        # d log c_j / dr = sum_{i<j} 1 / (s + i)
        inverse = 1.0 / (s[:, None] + j[None, :])
        harmonic = np.cumsum(inverse, axis=1) - inverse
        log_ratio = np.log(alpha + T) - np.log(alpha + t_x)
        dead_b = np.where(w1 > 0, b + x - 1 + d, 1.0)
        g_r = digamma(s) - digamma(r) + np.log(alpha) - np.log(alpha + T)
        g_r += w1 * log_ratio + np.sum(wc * harmonic, axis=1)
        g_alpha = r / alpha - s / (alpha + T)
        g_alpha += w1 * s * (1.0 / (alpha + T) - 1.0 / (alpha + t_x))
        g_alpha -= np.sum(wc * j[None, :], axis=1) / (alpha + T)
        g_a = digamma(a + b) - digamma(a + b + x + d) + w1 / a
        g_b = digamma(b + x + d) - digamma(a + b + x + d) - digamma(b) + digamma(a + b)
        g_b -= w1 / dead_b
        grads = np.array([np.sum(w * g) for g in (g_r, g_alpha, g_a, g_b)])
        grads *= np.exp(log_theta)  # chain rule to the log scale
        if not np.isfinite(value):
            return np.inf, np.zeros(4)
        return -value / total_weight, -grads / total_weight

    return objective


def _survival(params: Mapping[str, Any], x: np.ndarray, d: int, n: int) -> np.ndarray:
    """E[(1-p)^n] for p ~ Beta(a, b + x + d): surviving n more dropout chances."""
    a, b = params["a"], params["b"]
    return np.exp(betaln(a, b + x + d + n) - betaln(a, b + x + d))


class CNBDPredictor:
    """Predictions for a fixed set of histories at any number of horizons (the interface
    of :class:`segml.clv.conditional.ConditionalPredictor`).

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    x, t_x, T : numpy.ndarray
        The histories.
    k : int
    d : {0, 1}
    """

    def __init__(
        self,
        params: Mapping[str, Any],
        x: np.ndarray,
        t_x: np.ndarray,
        T: np.ndarray,
        k: int,
        d: int,
    ) -> None:
        self.params, self.k, self.d = dict(params), k, d
        self.x, self.T = np.asarray(x, float), np.asarray(T, float)
        _, log_s1, log_c = _log_weights(self.params, self.x, np.asarray(t_x, float), self.T, k, d)
        total = _log_total(log_s1, log_c)
        #: P(alive at T and j ticks since the last purchase), shape (rows, k)
        self.phase = np.exp(log_c - total[:, None])
        self.p_alive = np.clip(self.phase.sum(axis=1), 0.0, 1.0)

    def at_least(self, t: float, n: int) -> np.ndarray:
        """P(at least ``n`` >= 1 purchases in (T, T + t]) per history."""
        k, j = self.k, np.arange(self.k)
        shape = self.params["r"] + k * self.x[:, None] + j[None, :]
        q = t / (self.params["alpha"] + self.T[:, None] + t)
        ticks = n * k - j[None, :]
        reach = betainc(ticks, shape, np.broadcast_to(q, shape.shape))
        keep = _survival(self.params, self.x, self.d, n - 1)
        return keep * np.sum(self.phase * reach, axis=1)

    def expected(self, t: float) -> np.ndarray:
        """E[purchases in (T, T + t]] per history."""
        total = np.zeros(len(self.x))
        if t <= 0:
            return total
        for n in range(1, _MAX_PURCHASES + 1):
            term = self.at_least(t, n)
            total += term
            if not np.any(term > _TOLERANCE * np.maximum(total, 1e-300)):
                break
        return total

    def expected_sum(self, horizons: Sequence[float], weights: Sequence[float]) -> np.ndarray:
        """``sum_k weights[k] * E[purchases in (T, T + horizons[k])]`` per history."""
        out = np.zeros(len(self.x))
        for t, weight in zip(horizons, weights, strict=True):
            out += weight * self.expected(float(t))
        return out


def purchase_pmf(
    params: Mapping[str, Any],
    n: int,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    horizon: float,
    k: int,
    d: int,
) -> np.ndarray:
    """P(exactly ``n`` purchases in (T, T + horizon] | history).

    Parameters
    ----------
    params : mapping
    n : int
    x, t_x, T : numpy.ndarray
    horizon : float
    k : int
    d : {0, 1}

    Returns
    -------
    numpy.ndarray
    """
    predictor = CNBDPredictor(params, x, t_x, T, k, d)
    at_least = [np.ones(len(x)) if m == 0 else predictor.at_least(horizon, m) for m in (n, n + 1)]
    return np.clip(at_least[0] - at_least[1], 0.0, 1.0)


def expected_new(params: Mapping[str, Any], t: np.ndarray, k: int, d: int) -> np.ndarray:
    """E[repeat purchases by ``t``] of a customer just acquired (phase 0, no history).

    Parameters
    ----------
    params : mapping
    t : numpy.ndarray
    k : int
    d : {0, 1}

    Returns
    -------
    numpy.ndarray
    """
    t = np.atleast_1d(np.asarray(t, float))
    r, alpha = params["r"], params["alpha"]
    q = t / (alpha + t)
    total = np.zeros(len(t))
    for n in range(1, _MAX_PURCHASES + 1):
        keep = _survival(params, np.zeros(1), 0, n - 1 + d)
        term = keep * betainc(n * k, r, q)
        total += term
        if not np.any(term > _TOLERANCE * np.maximum(total, 1e-300)):
            break
    return total


def simulate_histories(
    n: int,
    params: Mapping[str, float],
    k: int,
    d: int,
    T: float | np.ndarray,
    horizon: float = 0.0,
    random_state: int | np.random.Generator | None = None,
) -> Any:
    """Customers drawn from the (M)BG/CNBD-k model: their histories at T and what followed.

    Parameters
    ----------
    n : int
        Customers, each with a first purchase at time 0.
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    k : int
    d : {0, 1}
    T : float or array of float
        Age of each customer at the end of calibration.
    horizon : float
        Length of the holdout after T.
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        ``frequency``, ``recency``, ``T``, ``litt``, ``holdout_frequency`` and ``alive``
        (whether the customer had not left by T).

    Examples
    --------
    >>> from segml.clv.cnbd import simulate_histories
    >>> sim = simulate_histories(5, {"r": 1.0, "alpha": 2.0, "a": 1.0, "b": 3.0}, 2, 0, 52.0,
    ...                          random_state=1)
    >>> list(sim.columns)
    ['frequency', 'recency', 'T', 'litt', 'holdout_frequency', 'alive']
    """
    import pandas as pd

    rng = np.random.default_rng(random_state)
    ages = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    end = ages + horizon
    rate = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    drop = rng.beta(params["a"], params["b"], n)
    left_at = np.full(n, np.inf)
    if d:  # MBG: a customer may leave right after the first purchase
        left_at[rng.random(n) < drop] = 0.0
    x, t_x, litt, later = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    last = np.zeros(n)
    active = np.isinf(left_at)
    while active.any():
        who = np.flatnonzero(active)
        gap = rng.gamma(k, 1.0 / rate[who])
        when = last[who] + gap
        made = when <= end[who]
        active[who[~made]] = False
        who, when, gap = who[made], when[made], gap[made]
        in_cal = when <= ages[who]
        cal = who[in_cal]
        x[cal] += 1
        t_x[cal] = when[in_cal]
        litt[cal] += np.log(gap[in_cal])
        later[who[~in_cal]] += 1
        last[who] = when
        leaves = rng.random(len(who)) < drop[who]
        left_at[who[leaves]] = when[leaves]
        active[who[leaves]] = False
    return pd.DataFrame(
        {
            "frequency": x,
            "recency": t_x,
            "T": ages,
            "litt": litt,
            "holdout_frequency": later,
            "alive": left_at > ages,
        }
    )


def draw_future(
    phase: np.ndarray,
    params: Mapping[str, Any],
    x: np.ndarray,
    T: np.ndarray,
    horizon: float,
    k: int,
    d: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One draw of each history's purchases in (T, T + horizon].

    Alive in phase j (drawn from ``phase``, P(alive, phase j) per history), the clock's rate
    is Gamma(r + kx + j, alpha + T); of its K ticks in the window the purchases fall on ticks
    k - j, 2k - j, ..., cut at a geometric number of purchases before dropout (p from
    Beta(a, b + x + d)).

    Parameters
    ----------
    phase : numpy.ndarray
        (histories, k), as :attr:`CNBDPredictor.phase`.
    params : mapping
    x, T : numpy.ndarray
    horizon : float
    k : int
    d : {0, 1}
    rng : numpy.random.Generator

    Returns
    -------
    rows, made, ticks, last_tick : numpy.ndarray
        The histories with a purchase possible in the window, their purchases, their ticks,
        and the tick of the last purchase.
    """
    cum = np.cumsum(phase, axis=1)
    draw = rng.random(len(x))
    live = np.flatnonzero(draw < cum[:, -1])
    j = np.argmax(draw[live, None] < cum[live], axis=1).astype("float64")
    rate = rng.gamma(params["r"] + k * x[live] + j, 1.0 / (params["alpha"] + T[live]))
    ticks = rng.poisson(rate * horizon).astype("float64")
    possible = np.floor((ticks + j) / k)
    some = possible > 0
    rows, ticks, possible, j = live[some], ticks[some], possible[some], j[some]
    p = rng.beta(params["a"], params["b"] + x[rows] + d)
    made = np.minimum(possible, rng.geometric(np.clip(p, 1e-12, 1.0)))
    return rows, made, ticks, made * k - j
