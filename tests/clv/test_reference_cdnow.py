"""Published CDNOW results (REFERENCE.md): Fader, Hardie & Lee 2005; Batislam et al. 2007;
Fader & Hardie 2013. Every figure here is from a paper, not from segml's own output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml

BGNBD = {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}
BGNBD_SE = {"r": 0.0126, "alpha": 0.378, "a": 0.186, "b": 0.705}
PNBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
PNBD_SE = {"r": 0.0476, "alpha": 0.843, "s": 0.187, "beta": 6.21}
MBGNBD = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
TEN_SPENDS = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
BINS = pd.DataFrame(
    {
        "customers": [1411, 439, 214, 100, 62, 38, 29, 64],
        "actual": [0.2367, 0.6970, 1.3925, 1.5600, 2.5323, 2.9474, 3.8621, 6.3594],
        "bgnbd": [0.2251, 0.5231, 1.0441, 1.5203, 2.1639, 2.6539, 3.5041, 6.1572],
        "pnbd": [0.1385, 0.5995, 1.1959, 1.7139, 2.3984, 2.9073, 3.8186, 6.4032],
    },
    index=["0", "1", "2", "3", "4", "5", "6", "7+"],
)


def test_customer_table_matches_the_papers(cdnow: pd.DataFrame) -> None:
    assert len(cdnow) == 2357
    assert int(cdnow["frequency"].sum()) == 2457
    assert int((cdnow["frequency"] > 0).sum()) == 946
    assert int(cdnow["holdout_frequency"].sum()) == 1882
    first = cdnow.loc["0001"]
    assert first["frequency"] == 2
    assert first["recency"] == pytest.approx(30.43, abs=0.005)
    assert first["T"] == pytest.approx(38.857, abs=5e-4)
    assert cdnow["holdout_duration"].iloc[0] == pytest.approx(39.0)


def test_same_day_merge_6919_rows_to_6696(cdnow: pd.DataFrame) -> None:
    report = segml.quality_report(cdnow)
    assert report.rows_read == 6919
    assert report.rows_kept == 6919
    assert 6919 - report.flagged["same_day_rows_merged"] == 6696


def test_bgnbd_parameters_and_log_likelihood(bgnbd: segml.BetaGeo) -> None:
    for name, value in BGNBD.items():
        assert bgnbd.params_[name] == pytest.approx(value, rel=1e-3), name
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.429, abs=0.05)


def test_bgnbd_standard_errors(bgnbd: segml.BetaGeo) -> None:
    for name, value in BGNBD_SE.items():
        assert bgnbd.standard_errors_[name] == pytest.approx(value, rel=0.02), name


def test_bgnbd_unconditional_expectations(bgnbd: segml.BetaGeo) -> None:
    got = bgnbd.expected_purchases_new([1.0, 3.0, 78.0])
    np.testing.assert_allclose(got, [0.0532, 0.1506, 1.8576], rtol=1e-3)


def test_bgnbd_single_customer(bgnbd: segml.BetaGeo) -> None:
    one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
    assert bgnbd.expected_purchases(one, 39).iloc[0] == pytest.approx(1.226, abs=5e-4)
    assert bgnbd.p_alive(one).iloc[0] == pytest.approx(0.7266, abs=5e-4)


def test_bgnbd_holdout(bgnbd: segml.BetaGeo, cdnow: pd.DataFrame) -> None:
    ev = segml.evaluate_holdout(bgnbd, cdnow)
    assert ev.actual_total == 1882
    assert ev.expected_total == pytest.approx(1653.4, abs=1.0)
    assert ev.correlation == pytest.approx(0.626, abs=1e-3)
    assert ev.bins["customers"].tolist() == BINS["customers"].tolist()
    np.testing.assert_allclose(ev.bins["actual"], BINS["actual"], atol=1e-3)
    np.testing.assert_allclose(ev.bins["expected"], BINS["bgnbd"], atol=1e-3)


def test_pareto_nbd(pnbd: segml.ParetoNBD, cdnow: pd.DataFrame) -> None:
    assert pnbd.log_likelihood_ == pytest.approx(-9594.976, abs=0.05)
    for name, value in PNBD.items():
        assert pnbd.params_[name] == pytest.approx(value, rel=2e-3), name
    for name, value in PNBD_SE.items():
        assert pnbd.standard_errors_[name] == pytest.approx(value, rel=0.03), name
    ev = segml.evaluate_holdout(pnbd, cdnow)
    assert ev.expected_total == pytest.approx(1665.6, abs=1.0)
    assert ev.correlation == pytest.approx(0.630, abs=1e-3)
    np.testing.assert_allclose(ev.bins["expected"], BINS["pnbd"], atol=1e-3)


def test_mbgnbd(cdnow: pd.DataFrame) -> None:
    model = segml.ModifiedBetaGeo().fit(cdnow)
    assert model.log_likelihood_ == pytest.approx(-9582.13, abs=0.05)
    for name, value in MBGNBD.items():
        assert model.params_[name] == pytest.approx(value, abs=1.5e-3 * max(1, value)), name


def test_gamma_gamma(gamma_gamma: segml.GammaGamma, cdnow: pd.DataFrame) -> None:
    for name, value in GG.items():
        assert gamma_gamma.params_[name] == pytest.approx(value, abs=0.01), name
    assert gamma_gamma.log_likelihood_ == pytest.approx(-4055.92, abs=0.05)
    assert gamma_gamma.population_mean_spend_ == pytest.approx(35.17, abs=0.005)
    assert gamma_gamma.n_fitted_ == 946
    spends = gamma_gamma.expected_spend(cdnow).iloc[:10]
    assert spends.index.tolist() == [f"{i:04d}" for i in range(1, 11)]
    np.testing.assert_allclose(spends.to_numpy(), TEN_SPENDS, atol=0.006)
