"""Data sets: CDNOW as shipped inside the lifetimes wheel, and synthetic customers.

The synthetic generator draws from the BG/NBD purchase process (Fader, Hardie & Lee 2005)
and the Gamma-Gamma spend model (Fader & Hardie 2013), fully vectorised, so tests and
benchmarks can check that estimates recover known parameters.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from segml._units import UNIT_DAYS
from segml._units import unit_key as _unit
from segml.data.read import read_transactions
from segml.errors import DataError

__all__ = ["B2B_EFFECTS", "load_cdnow", "make_b2b", "simulate_customers", "simulate_transactions"]

#: BG/NBD and Gamma-Gamma estimates on the CDNOW sample, the generator's defaults.
CDNOW_BGNBD = {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}
CDNOW_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _lifetimes_data_dir() -> Path:
    # find_spec locates the installed package without importing it: importing lifetimes
    # changes a pandas option and warning filters, and lifetimes.datasets needs
    # pkg_resources, which current setuptools no longer ships.
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the lifetimes package is not installed; it ships the CDNOW files.")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def load_cdnow(kind: Literal["sample", "master"] = "sample") -> pd.DataFrame:
    """The CDNOW transaction log, read from the files inside the lifetimes wheel.

    Parameters
    ----------
    kind : {"sample", "master"}
        ``"sample"``: the 1/10th sample used in the papers, 2,357 customers and 6,919
        transactions (customer ids ``"0001"``..``"2357"``). ``"master"``: the full log,
        23,570 customers and 69,659 transactions (ids ``"00001"``..).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str, zero-padded as in the file), ``date``, ``amount`` (dollars),
        ``n_items`` (CDs), with a data-quality report attached.

    Examples
    --------
    >>> import segml
    >>> tx = segml.load_cdnow()
    >>> len(tx), tx["customer_id"].nunique()
    (6919, 2357)
    """
    folder = _lifetimes_data_dir()
    if kind == "sample":
        raw = pd.read_csv(
            folder / "CDNOW_sample.txt",
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "n_items", "amount"],
            dtype={"master_id": str, "customer_id": str, "date": str},
        )
    elif kind == "master":
        raw = pd.read_csv(
            folder / "CDNOW_master.txt",
            sep=r"\s+",
            dtype={"customer_id": str, "date": str},
        ).rename(columns={"number_of_cds": "n_items", "dollar_value": "amount"})
    else:
        raise DataError(f"kind={kind!r}: CDNOW comes as 'sample' or 'master'.")
    return read_transactions(
        raw,
        customer="customer_id",
        time="date",
        amount="amount",
        quantity="n_items",
        time_format="%Y%m%d",
    )


def _check_params(params: Mapping[str, float], names: tuple[str, ...], what: str) -> list[float]:
    missing = [n for n in names if n not in params]
    if missing:
        raise DataError(f"{what} parameters need {names}; missing {missing}.")
    values = [float(params[n]) for n in names]
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise DataError(f"{what} parameters must be positive and finite, got {dict(params)}.")
    return values


def _latent(
    n: int,
    rng: np.random.Generator,
    frequency_params: Mapping[str, float],
    spend_params: Mapping[str, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, alpha, a, b = _check_params(frequency_params, ("r", "alpha", "a", "b"), "BG/NBD")
    p, q, gamma = _check_params(spend_params, ("p", "q", "gamma"), "Gamma-Gamma")
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    drop = rng.beta(a, b, size=n)
    # J: the repeat purchase after which the customer drops out (BG/NBD: never at time 0).
    death_after = rng.geometric(np.clip(drop, 1e-12, 1.0))
    nu = rng.gamma(q, 1.0 / gamma, size=n)
    return lam, death_after, nu, np.full(n, p)


def simulate_customers(
    n_customers: int,
    *,
    frequency_params: Mapping[str, float] | None = None,
    spend_params: Mapping[str, float] | None = None,
    calibration_length: float = 39.0,
    acquisition_length: float = 12.0,
    holdout_length: float = 39.0,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Draw a customer table from the BG/NBD + Gamma-Gamma generative process.

    Each customer is acquired at a uniform time in ``[0, acquisition_length)``, buys as a
    Poisson process with rate ``lambda ~ Gamma(r, alpha)``, drops out after each repeat
    purchase with probability ``p ~ Beta(a, b)``, and spends per transaction
    ``z ~ Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)``. Times are in abstract units.

    Parameters
    ----------
    n_customers : int
        Number of customers.
    frequency_params : mapping, optional
        ``r``, ``alpha``, ``a``, ``b``; default: the CDNOW estimates.
    spend_params : mapping, optional
        ``p``, ``q``, ``gamma``; default: the CDNOW estimates.
    calibration_length, acquisition_length, holdout_length : float
        Window lengths in units.
    random_state : int or numpy.random.Generator, optional
        Seed or generator; the global random state is never used.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`segml.summarize` that the models use (``frequency``,
        ``recency``, ``T``, ``monetary_value``, ``holdout_frequency``,
        ``holdout_revenue``, ``holdout_duration``) plus the latent truth:
        ``true_lambda``, ``true_dropout_after``, ``true_alive`` (at the end of
        calibration) and ``true_mean_spend``.

    Examples
    --------
    >>> import segml
    >>> table = segml.simulate_customers(1000, random_state=0)
    >>> bool((table["recency"] <= table["T"]).all())
    True
    """
    if n_customers < 1:
        raise DataError(f"n_customers must be at least 1, got {n_customers}.")
    rng = np.random.default_rng(random_state)
    lam, death_after, nu, p = _latent(
        n_customers, rng, frequency_params or CDNOW_BGNBD, spend_params or CDNOW_GAMMA_GAMMA
    )
    birth = rng.uniform(0.0, acquisition_length, size=n_customers)
    T = calibration_length - birth
    n_arrivals = rng.poisson(lam * T)
    x = np.minimum(n_arrivals, death_after)
    # Given N(T) = n arrivals on [0, T], the x-th is the x-th order statistic of n uniforms.
    pos = x > 0
    t_x = np.zeros(n_customers)
    t_x[pos] = T[pos] * rng.beta(x[pos], n_arrivals[pos] - x[pos] + 1)
    alive = death_after > n_arrivals
    h_arrivals = rng.poisson(lam * holdout_length)
    h_x = np.where(alive, np.minimum(h_arrivals, death_after - n_arrivals), 0)
    spend_sum = np.zeros(n_customers)
    spend_sum[pos] = rng.gamma(p[pos] * x[pos], 1.0 / nu[pos])
    h_rev = np.zeros(n_customers)
    h_pos = h_x > 0
    h_rev[h_pos] = rng.gamma(p[h_pos] * h_x[h_pos], 1.0 / nu[h_pos])
    width = len(str(n_customers))
    index = pd.Index([f"C{i:0{width}d}" for i in range(n_customers)], name="customer_id")
    return pd.DataFrame(
        {
            "frequency": x.astype("int64"),
            "recency": t_x,
            "T": T,
            "monetary_value": np.divide(spend_sum, x, out=np.zeros(n_customers), where=pos),
            "holdout_frequency": h_x.astype("int64"),
            "holdout_revenue": h_rev,
            "holdout_duration": np.full(n_customers, float(holdout_length)),
            "true_lambda": lam,
            "true_dropout_after": death_after.astype("int64"),
            "true_alive": alive,
            "true_mean_spend": p / nu,
        },
        index=index.astype("str"),
    )


def simulate_transactions(
    n_customers: int,
    *,
    frequency_params: Mapping[str, float] | None = None,
    spend_params: Mapping[str, float] | None = None,
    start: str = "2024-01-01",
    unit: str = "W",
    acquisition_length: float = 12.0,
    observation_length: float = 78.0,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Draw a transaction log from the BG/NBD + Gamma-Gamma generative process.

    The same process as :func:`simulate_customers`, written out as individual
    transactions with timestamps from ``start``: each customer's first purchase (at
    acquisition) and every repeat purchase until dropout or the end of the observation
    window (``observation_length`` units after ``start``).

    Parameters
    ----------
    n_customers : int
        Number of customers.
    frequency_params, spend_params : mapping, optional
        As in :func:`simulate_customers`.
    start : date-like
        Calendar date of time zero.
    unit : {"D", "W", "M"}
        Length of one time unit.
    acquisition_length, observation_length : float
        Acquisition window and whole observation window, in units.
    random_state : int or numpy.random.Generator, optional
        Seed or generator.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``date``, ``amount`` (rounded to cents), one row per transaction,
        sorted by customer and time, with a data-quality report attached.

    Examples
    --------
    >>> import segml
    >>> tx = segml.simulate_transactions(500, random_state=1)
    >>> tx["customer_id"].nunique()
    500
    """
    if n_customers < 1:
        raise DataError(f"n_customers must be at least 1, got {n_customers}.")
    rng = np.random.default_rng(random_state)
    lam, death_after, nu, p = _latent(
        n_customers, rng, frequency_params or CDNOW_BGNBD, spend_params or CDNOW_GAMMA_GAMMA
    )
    birth = rng.uniform(0.0, acquisition_length, size=n_customers)
    frame = _log_from_latent(
        lam, death_after, nu, p, birth, observation_length - birth, start, unit, rng, prefix="C"
    )
    return read_transactions(frame, amount="amount")


def _log_from_latent(
    lam: np.ndarray,
    death_after: np.ndarray,
    nu: np.ndarray,
    p: np.ndarray,
    birth: np.ndarray,
    span: np.ndarray,
    start: str,
    unit: str,
    rng: np.random.Generator,
    prefix: str,
) -> pd.DataFrame:
    """Transactions of the BG/NBD + Gamma-Gamma process for given latent traits."""
    n_customers = len(lam)
    n_arrivals = rng.poisson(lam * span)
    n_rep = np.minimum(n_arrivals, death_after)
    # The first m of n uniform order statistics on [0, span]: cumulative exponential
    # spacings divided by the total of n + 1 spacings (the rest drawn as one gamma).
    owner = np.repeat(np.arange(n_customers), n_rep)
    gaps = rng.exponential(1.0, size=int(n_rep.sum()))
    cum = np.cumsum(gaps)
    offsets = np.r_[0, np.cumsum(n_rep)[:-1]]
    base = np.r_[0.0, cum][offsets]
    within = cum - np.repeat(base, n_rep)
    tail = rng.gamma(np.maximum(n_arrivals - n_rep + 1, 1).astype(float), 1.0)
    total = np.bincount(owner, weights=gaps, minlength=n_customers) + tail
    rep_times = within / total[owner] * span[owner]

    cust = np.r_[np.arange(n_customers), owner]
    times = np.r_[birth, birth[owner] + rep_times]
    amounts = rng.gamma(p[cust], 1.0 / nu[cust])
    order = np.lexsort((times, cust))
    unit_days = UNIT_DAYS[_unit(unit)]
    offsets_ns = np.round(times[order] * unit_days * 86_400e9).astype("int64")
    dates = pd.Timestamp(start).value + offsets_ns
    width = len(str(n_customers))
    ids = np.array([f"{prefix}{i:0{width}d}" for i in range(n_customers)], dtype=object)
    return pd.DataFrame(
        {
            "customer_id": ids[cust[order]],
            "date": dates.view("datetime64[ns]"),
            "amount": np.round(amounts[order], 2),
        }
    )


#: Planted effects of :func:`make_b2b` (multipliers on the individual traits).
B2B_EFFECTS = {
    "annual_revenue >= 10_000_000": "purchase rate x2.0 and spend per order x1.5",
    "industry == 'healthcare'": "dropout probability after each purchase x0.4 (churns less)",
    "plan == 'enterprise'": "spend per order x1.4",
    "region": "no effect",
    "channel": "no effect",
}


def make_b2b(
    n_customers: int = 5000,
    *,
    random_state: int | np.random.Generator | None = None,
    start: str = "2023-01-01",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic B2B customers with firmographics and documented planted effects.

    Customers are acquired over the first 26 weeks after ``start`` and observed for 104
    weeks; use ``calibration_end = start + 52 weeks`` (``"2023-12-31"`` for the default
    start) and ``holdout_end = start + 104 weeks`` (``"2024-12-29"``). Purchases follow
    BG/NBD (r 0.6, alpha 8 per week, a 0.8, b 4) and spend Gamma-Gamma (p 6, q 4,
    gamma 300: mean order 600), modified by the planted effects in ``B2B_EFFECTS``:

    * ``annual_revenue >= 10_000_000``: purchase rate x2.0, spend per order x1.5;
    * ``industry == 'healthcare'``: dropout probability x0.4 (churns less);
    * ``plan == 'enterprise'``: spend per order x1.4;
    * ``region`` and ``channel``: no effect at all (true null hypotheses).

    Parameters
    ----------
    n_customers : int, default 5000
        Number of customers.
    random_state : int or numpy.random.Generator, optional
        Seed or generator.
    start : date-like, default "2023-01-01"
        Calendar date of week zero.

    Returns
    -------
    transactions : pandas.DataFrame
        ``customer_id``, ``date``, ``amount``, with a data-quality report attached.
    customers : pandas.DataFrame
        ``customer_id``, ``industry``, ``employees``, ``annual_revenue``, ``region``,
        ``plan``, ``channel``.

    Examples
    --------
    >>> import segml
    >>> tx, customers = segml.make_b2b(500, random_state=0)
    >>> sorted(customers.columns)
    ['annual_revenue', 'channel', 'customer_id', 'employees', 'industry', 'plan', 'region']
    """
    if n_customers < 1:
        raise DataError(f"n_customers must be at least 1, got {n_customers}.")
    rng = np.random.default_rng(random_state)
    n = n_customers
    industry = rng.choice(
        ["retail", "manufacturing", "software", "healthcare", "finance", "logistics"],
        size=n,
        p=[0.25, 0.2, 0.2, 0.15, 0.1, 0.1],
    )
    employees = np.clip(np.round(rng.lognormal(4.0, 1.2, size=n)), 1, 100_000).astype("int64")
    revenue = np.round(employees * rng.lognormal(np.log(150_000.0), 0.6, size=n), -3)
    region = rng.choice(["north", "south", "east", "west"], size=n)
    plan = rng.choice(["basic", "pro", "enterprise"], size=n, p=[0.5, 0.35, 0.15])
    channel = rng.choice(["web", "sales", "partner"], size=n, p=[0.5, 0.3, 0.2])

    big = revenue >= 10_000_000
    lam = rng.gamma(0.6, 1.0 / 8.0, size=n) * np.where(big, 2.0, 1.0)
    drop = rng.beta(0.8, 4.0, size=n) * np.where(industry == "healthcare", 0.4, 1.0)
    death_after = rng.geometric(np.clip(drop, 1e-12, 1.0))
    spend_mult = np.where(big, 1.5, 1.0) * np.where(plan == "enterprise", 1.4, 1.0)
    nu = rng.gamma(4.0, 1.0 / 300.0, size=n) / spend_mult
    p = np.full(n, 6.0)
    birth = rng.uniform(0.0, 26.0, size=n)
    frame = _log_from_latent(lam, death_after, nu, p, birth, 104.0 - birth, start, "W", rng, "B")
    width = len(str(n))
    customers = pd.DataFrame(
        {
            "customer_id": [f"B{i:0{width}d}" for i in range(n)],
            "industry": industry,
            "employees": employees,
            "annual_revenue": revenue,
            "region": region,
            "plan": plan,
            "channel": channel,
        }
    )
    return read_transactions(frame, amount="amount"), customers


def _simulate_pnbd(
    n_customers: int,
    params: Mapping[str, float],
    calibration_length: float = 39.0,
    acquisition_length: float = 12.0,
    random_state: int | None = None,
) -> pd.DataFrame:
    """A Pareto/NBD customer table (``frequency``, ``recency``, ``T``), for benchmarks and
    tests: ``lambda ~ Gamma(r, alpha)``, lifetime ``~ Exponential(mu)``,
    ``mu ~ Gamma(s, beta)``, uniform acquisition, times in weeks floored to whole days."""
    rng = np.random.default_rng(random_state)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], size=n_customers)
    mu = rng.gamma(params["s"], 1.0 / params["beta"], size=n_customers)
    T = calibration_length - rng.uniform(0.0, acquisition_length, size=n_customers)
    active = np.minimum(rng.exponential(1.0 / mu), T)
    x = rng.poisson(lam * active)
    # The last of x uniform purchase times on [0, active]: active * U^(1/x).
    t_x = np.where(x > 0, active * rng.uniform(size=n_customers) ** (1.0 / np.maximum(x, 1)), 0.0)
    # Whole days, as in a table built from a transaction log (weeks of 7 days).
    T, t_x = np.floor(T * 7) / 7, np.floor(t_x * 7) / 7
    return pd.DataFrame({"frequency": x.astype("int64"), "recency": t_x, "T": T})
