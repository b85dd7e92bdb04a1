"""Profile-likelihood intervals of the frequency models' parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import chi2

import segml
from segml.clv.likelihood import nbd_loglik


@pytest.fixture(scope="module")
def nbd(cdnow) -> segml.NBD:
    return segml.NBD().fit(cdnow)


def test_nbd_profile_bounds_sit_where_the_profile_likelihood_crosses_the_cut(nbd, cdnow) -> None:
    # Independent check: at each bound of r, maximise over alpha alone with a scalar search.
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    cut = nbd.log_likelihood_ - chi2.ppf(0.9, 1) / 2
    ci = nbd.conf_int(0.9, method="profile")
    for bound in ("lower", "upper"):
        r = ci.loc["r", bound]
        best = minimize_scalar(
            lambda la, r=r: -nbd_loglik({"r": r, "alpha": np.exp(la)}, x, t_x, T).sum(),
            bounds=(0.0, 6.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert -best.fun == pytest.approx(cut, abs=1e-3)
    assert ci.loc["r", "lower"] < nbd.params_["r"] < ci.loc["r", "upper"]


def test_profile_follows_the_skew_that_wald_misses(cdnow) -> None:
    model = segml.ModifiedBetaGeo().fit(cdnow)
    profile, wald = model.conf_int(0.95, method="profile"), model.conf_int(0.95)
    assert (
        (profile["lower"] < profile["estimate"]) & (profile["estimate"] < profile["upper"])
    ).all()
    # b's likelihood is flatter above the estimate than a log-normal's: a longer upper tail
    assert profile.loc["b", "upper"] > 1.05 * wald.loc["b", "upper"]
    # where the likelihood is close to quadratic the two agree
    assert profile.loc["alpha", "lower"] == pytest.approx(wald.loc["alpha", "lower"], rel=0.03)


def test_profile_intervals_cover_the_truth_at_the_nominal_rate() -> None:
    truth = {"r": 0.6, "alpha": 8.0}
    rng = np.random.default_rng(5)
    hits, reps = dict.fromkeys(truth, 0), 150
    for _ in range(reps):
        T = 39.0 - rng.uniform(0, 12, 800)
        x = rng.poisson(rng.gamma(truth["r"], 1 / truth["alpha"], 800) * T).astype(float)
        t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1.0), 0.0)
        table = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
        ci = segml.NBD().fit(table).conf_int(0.9, method="profile")
        for name, value in truth.items():
            hits[name] += ci.loc[name, "lower"] <= value <= ci.loc[name, "upper"]
    for name, count in hits.items():
        assert 0.84 <= count / reps <= 0.96, (name, count / reps)


def test_profile_of_a_model_loaded_from_json_asks_for_a_refit(bgnbd) -> None:
    loaded = segml.BetaGeo.from_json(bgnbd.to_json())
    with pytest.raises(segml.DataError, match="loaded from JSON"):
        loaded.conf_int(method="profile")
    assert loaded.conf_int().equals(bgnbd.conf_int())


@pytest.mark.parametrize(
    ("level", "method", "match"),
    [(0.95, "bootstrap", "choose 'wald' or 'profile'"), (1.5, "profile", "level")],
)
def test_conf_int_rejects_an_unknown_method_or_level(bgnbd, level, method, match) -> None:
    with pytest.raises(segml.DataError, match=match):
        bgnbd.conf_int(level, method=method)
