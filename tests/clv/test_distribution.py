"""The predictive purchase distribution: lifetimes called directly, simulation, its moments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import nbinom

import segml
from segml.clv import _lifetimes as engine
from segml.clv.distribution import purchase_pmf

MODELS = [segml.BetaGeo, segml.ModifiedBetaGeo, segml.ParetoNBD, segml.NBD]
COUNTS = list(range(0, 200))


@pytest.fixture(scope="module", params=MODELS, ids=lambda c: c.__name__)
def fitted(request, cdnow):
    return request.param().fit(cdnow)


def _lifetimes(model):
    """lifetimes' fitter of the same model at segml's estimate (lifetimes called directly)."""
    return engine._fitter(model._model, model.params_)


@pytest.mark.parametrize("horizon", [1.0, 39.0, 104.0])
def test_distribution_sums_to_one_with_mean_expected_purchases(fitted, cdnow, horizon) -> None:
    pmf = fitted.probability_of_purchases(cdnow, COUNTS, horizon)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    mean = pmf.to_numpy() @ np.arange(len(COUNTS))
    expected = fitted.expected_purchases(cdnow, horizon).to_numpy()
    np.testing.assert_allclose(mean, expected, rtol=1e-7, atol=1e-9)
    assert (pmf.to_numpy() >= 0).all()


@pytest.mark.parametrize("model_cls", [segml.BetaGeo, segml.ModifiedBetaGeo])
@pytest.mark.parametrize("horizon", [1.0, 39.0, 78.0])
def test_new_customer_distribution_equals_lifetimes(cdnow, model_cls, horizon) -> None:
    # lifetimes has the BG/NBD and MBG/NBD distribution of a customer just acquired only:
    # the conditional one at x = t_x = T = 0.
    model = model_cls().fit(cdnow)
    fitter = _lifetimes(model)
    new = pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [0.0]})
    ours = model.probability_of_purchases(new, list(range(12)), horizon).iloc[0].to_numpy()
    with engine.contained():
        theirs = [fitter.probability_of_n_purchases_up_to_time(horizon, n) for n in range(12)]
    np.testing.assert_allclose(ours, np.asarray(theirs, float), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("horizon", [5.0, 39.0, 260.0])
def test_pareto_conditional_distribution_equals_lifetimes(pnbd, cdnow, horizon) -> None:
    fitter = _lifetimes(pnbd)
    rows = cdnow.drop_duplicates(["frequency", "recency", "T"]).iloc[::4]
    ours = pnbd.probability_of_purchases(rows, [0, 1, 3, 8], horizon)
    for n in (0, 1, 3, 8):
        with engine.contained():
            theirs = [
                fitter.conditional_probability_of_n_purchases_up_to_time(n, horizon, x, t_x, T)
                for x, t_x, T in zip(rows["frequency"], rows["recency"], rows["T"], strict=True)
            ]
        np.testing.assert_allclose(ours[n], theirs, rtol=1e-8, atol=1e-12)


def test_nbd_distribution_is_the_negative_binomial(cdnow) -> None:
    model = segml.NBD().fit(cdnow)
    r, alpha = model.params_["r"], model.params_["alpha"]
    ours = model.probability_of_purchases(cdnow, [0, 2, 7], 39.0)
    x, T = cdnow["frequency"].to_numpy(), cdnow["T"].to_numpy()
    for n in (0, 2, 7):
        direct = nbinom.pmf(n, r + x, (alpha + T) / (alpha + T + 39.0))
        np.testing.assert_allclose(ours[n], direct, rtol=1e-10)


def _simulate_beta_geo(params, x, t_x, T, horizon, modified, n_sims=200_000, seed=1):
    """Future purchase counts of one history, simulated event by event from the prior and
    kept only where the simulated past reproduces the history (rejection sampling)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n_sims)
    p = rng.beta(params["a"], params["b"], n_sims)
    counts, kept = [], 0
    for i in range(n_sims):
        alive = not (modified and rng.random() < p[i])
        clock, bought, last = 0.0, 0, 0.0
        future = 0
        while alive:
            clock += rng.exponential(1.0 / lam[i])
            if clock > T + horizon:
                break
            if clock <= T:
                bought, last = bought + 1, clock
            else:
                future += 1
            alive = rng.random() >= p[i]
        # Accept histories with x purchases, the last one near t_x (within a week).
        if bought == x and (x == 0 or abs(last - t_x) < 1.0):
            kept += 1
            counts.append(future)
    return np.bincount(counts, minlength=6), kept


@pytest.mark.parametrize("modified", [False, True], ids=["bgnbd", "mbgnbd"])
def test_beta_geo_conditional_distribution_matches_simulation(modified) -> None:
    params = {"r": 1.2, "alpha": 8.0, "a": 1.0, "b": 3.0}
    x, t_x, T, horizon = 1, 4.0, 20.0, 30.0
    sims, kept = _simulate_beta_geo(params, x, t_x, T, horizon, modified)
    assert kept > 3000
    shares = sims[:4] / kept
    model = "mbgnbd" if modified else "bgnbd"
    ours = [purchase_pmf(model, params, n, [x], [t_x], [T], horizon)[0] for n in range(4)]
    # The acceptance window smears t_x by up to a week; 4 binomial SEs plus that bias.
    np.testing.assert_allclose(shares, ours, atol=4 * np.sqrt(0.25 / kept) + 0.01)


def test_calibration_counts_follow_the_published_fit(bgnbd, cdnow) -> None:
    # Customers with 0..6+ repeat purchases by their own T, from the distribution of a new
    # customer (Fader, Hardie & Lee 2005, figure 3: the BG/NBD fits CDNOW's histogram).
    T = cdnow["T"].to_numpy()
    predicted = np.zeros(8)
    zero = np.zeros(1)
    for t in np.unique(T):
        pmf = [purchase_pmf("bgnbd", bgnbd.params_, n, zero, zero, zero, t)[0] for n in range(7)]
        predicted += (t == T).sum() * np.array([*pmf, 1.0 - sum(pmf)])
    actual = np.bincount(np.minimum(cdnow["frequency"].astype(int), 7), minlength=8)
    assert actual.tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert predicted.sum() == pytest.approx(2357)
    np.testing.assert_allclose(predicted, actual, rtol=0.15)


def test_clv_model_delegates_with_a_one_year_default(clv, cdnow) -> None:
    ours = clv.probability_of_purchases(cdnow.head(50), 0)
    direct = clv.frequency_model_.probability_of_purchases(cdnow.head(50), 0, 52.1775)
    np.testing.assert_allclose(ours, direct, rtol=1e-6)
    assert ours.name == "p_0"
    assert ours.index.equals(cdnow.head(50).index)


@pytest.mark.parametrize(
    ("n", "horizon", "match"),
    [
        (-1, 10, "n must be"),
        (1.5, 10, "n must be"),
        ([], 10, "n must be"),
        (True, 10, "n must be"),
        (1, -2, "horizon"),
        (1, float("nan"), "horizon"),
        (1, "soon", "horizon"),
    ],
)
def test_bad_requests_get_a_clear_error(bgnbd, cdnow, n, horizon, match) -> None:
    with pytest.raises(segml.DataError, match=match):
        bgnbd.probability_of_purchases(cdnow.head(3), n, horizon)


def test_zero_horizon_is_no_purchase(bgnbd, cdnow) -> None:
    pmf = bgnbd.probability_of_purchases(cdnow.head(5), [0, 1], 0.0)
    assert (pmf[0] == 1.0).all() and (pmf[1] == 0.0).all()


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(["bgnbd", "mbgnbd", "pnbd", "nbd"]),
    r=st.floats(0.05, 5.0),
    alpha=st.floats(0.5, 50.0),
    a=st.floats(0.05, 5.0),
    b=st.floats(0.05, 10.0),
    x=st.integers(0, 40),
    gap=st.floats(0.0, 1.0),
    T=st.floats(0.5, 100.0),
    horizon=st.floats(0.1, 200.0),
)
def test_any_fit_gives_a_distribution_with_the_conditional_mean(
    model, r, alpha, a, b, x, gap, T, horizon
) -> None:
    params = {"r": r, "alpha": alpha, "a": a, "b": b, "s": a, "beta": b * 5}
    t_x = 0.0 if x == 0 else T * gap
    hist = pd.DataFrame({"frequency": [float(x)], "recency": [t_x], "T": [T]})
    est = segml.clv.FREQUENCY_MODELS[model]()
    est.params_ = {k: params[k] for k in est._param_names}
    pmf = est.probability_of_purchases(hist, list(range(3000)), horizon).iloc[0].to_numpy()
    mean = est.expected_purchases(hist, horizon).iloc[0]
    tail = 1.0 - pmf.sum()
    assert np.all(pmf >= 0) and tail > -1e-9
    # the counts shown hold the whole distribution of a customer alive (the dead ones' mass
    # at 0 would hide an alive tail that still carries mean)
    if tail < 1e-10 * est.p_alive(hist).iloc[0]:
        assert pmf @ np.arange(len(pmf)) == pytest.approx(mean, rel=1e-6, abs=1e-9)
