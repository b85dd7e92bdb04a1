"""Gamma-Gamma spend with covariates, and the value of prospects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from segml.clv.covariates import CovariateData, loglik_at, spend_layout, theta_of
from segml.clv.design import CovariateDesign
from segml.clv.likelihood import gamma_gamma_loglik


def _two_spend_groups(n: int, seed: int, multiplier: float) -> pd.DataFrame:
    """CDNOW-like customers whose second half spends ``multiplier`` times as much per order
    (the Gamma-Gamma scale gamma times it)."""
    base = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    parts = []
    for flag, gamma in ((False, 15.0), (True, 15.0 * multiplier)):
        part = segml.simulate_customers(
            n,
            spend_params={**base, "gamma": gamma},
            calibration_length=78,
            random_state=seed + flag,
        )
        part.index = [f"{int(flag)}-{i}" for i in part.index]
        part["premium"] = flag
        parts.append(part)
    return pd.concat(parts)


def test_a_planted_spend_multiplier_is_recovered_within_its_interval():
    table = _two_spend_groups(5000, seed=3, multiplier=1.5)
    gg = segml.GammaGamma(covariates=["premium"]).fit(table)
    ci = gg.conf_int(0.99).loc["spend.premium"]
    assert ci["lower"] < np.log(1.5) < ci["upper"]
    assert ci["lower"] > 0.2  # informative: far from no effect


def test_spend_with_zero_coefficients_is_the_model_without_covariates():
    table = _two_spend_groups(400, seed=5, multiplier=1.0)
    fitted = (table["frequency"] > 0).to_numpy()
    x = table["frequency"].to_numpy(float)[fitted]
    m = table["monetary_value"].to_numpy(float)[fitted]
    design = CovariateDesign.fit(table, ["premium"])
    layout = spend_layout(design.columns_of, design.columns, ["premium"])
    Z = design.transform(table)[fitted]
    patterns, which = np.unique(Z, axis=0, return_inverse=True)
    data = CovariateData((x, m), which.reshape(-1), np.ones(len(x)), patterns)
    params = {"p": 5.0, "q": 3.0, "gamma": 12.0}
    plain = float(np.sum(gamma_gamma_loglik(params, x, m)))
    assert loglik_at(layout, data, theta_of(layout, params, {})) == pytest.approx(plain, rel=1e-12)
    # and a fit on a covariate without effect is near the plain fit
    gg = segml.GammaGamma(covariates=["premium"]).fit(table)
    plain_fit = segml.GammaGamma().fit(table)
    assert gg.log_likelihood_ >= plain_fit.log_likelihood_ - 1e-6
    assert gg.log_likelihood_ - plain_fit.log_likelihood_ < 10  # chi2(1) far tail


def test_expected_spend_follows_each_customers_scale():
    table = _two_spend_groups(2000, seed=9, multiplier=2.0)
    gg = segml.GammaGamma(covariates=["premium"]).fit(table)
    p, q, g = gg.params_["p"], gg.params_["q"], gg.params_["gamma"]
    scale = g * np.exp(gg.coefficients_["spend.premium"] * table["premium"].to_numpy(float))
    x, m = table["frequency"].to_numpy(float), table["monetary_value"].to_numpy(float)
    expected = p * (scale + x * m) / (p * x + q - 1)
    np.testing.assert_allclose(gg.expected_spend(table), expected, rtol=1e-12)
    again = segml.GammaGamma.from_json(gg.to_json())
    np.testing.assert_allclose(again.expected_spend(table), gg.expected_spend(table))


def test_b2b_spend_effects_are_recovered():
    tx, customers = segml.make_b2b(5000, random_state=0)
    attrs = customers.set_index("customer_id")
    attrs["big"] = attrs["annual_revenue"] >= 10_000_000
    attrs["enterprise"] = attrs["plan"] == "enterprise"
    table = segml.summarize(tx, calibration_end="2023-12-31", customers=attrs)
    gg = segml.GammaGamma(covariates=["big", "enterprise", "region"]).fit(table)
    ci = gg.conf_int(0.99)
    assert ci.loc["spend.big", "lower"] < np.log(1.5) < ci.loc["spend.big", "upper"]
    assert ci.loc["spend.enterprise", "lower"] < np.log(1.4) < ci.loc["spend.enterprise", "upper"]


@pytest.fixture(scope="module")
def apparel_model():
    tx, customers = segml.load_apparel()
    table = segml.summarize(tx, calibration_end="2006-12-31", customers=customers)
    clv = segml.CLVModel(
        frequency=segml.ParetoNBD(purchase_covariates=["Channel"], dropout_covariates=["Channel"]),
        spend=segml.GammaGamma(covariates=["Channel"]),
    ).fit(table)
    return clv, table


def test_a_prospect_is_worth_its_first_purchase_plus_its_expected_repeat_ones(apparel_model):
    clv, _ = apparel_model
    prospects = pd.DataFrame({"Channel": [0, 1]}, index=["online", "offline"])
    new = clv.predict_new(prospects, horizon=52)
    freq, spend = clv.frequency_model_, clv.spend_model_
    for name, channel in (("online", 0), ("offline", 1)):
        plain = segml.ParetoNBD()
        plain.params_ = {
            **freq.params_,
            "alpha": freq.params_["alpha"]
            * np.exp(-freq.coefficients_["purchase.Channel"] * channel),
            "beta": freq.params_["beta"] * np.exp(-freq.coefficients_["dropout.Channel"] * channel),
        }
        repeat = float(plain.expected_purchases_new(52))
        gamma = spend.params_["gamma"] * np.exp(spend.coefficients_["spend.Channel"] * channel)
        mean_spend = spend.params_["p"] * gamma / (spend.params_["q"] - 1)
        assert new.loc[name, "expected_purchases"] == pytest.approx(repeat, rel=1e-10)
        assert new.loc[name, "expected_spend"] == pytest.approx(mean_spend, rel=1e-10)
        assert new.loc[name, "clv"] == pytest.approx(mean_spend * (1 + repeat), rel=1e-10)


PROSPECTS = pd.DataFrame({"Channel": [0, 1]}, index=["online", "offline"])


def test_discounting_lowers_a_prospects_value_down_to_the_first_purchase(apparel_model):
    clv, _ = apparel_model
    plain = clv.predict_new(PROSPECTS, horizon=104)
    discounted = clv.predict_new(PROSPECTS, horizon=104, discount_rate=0.2)
    assert (discounted["clv"] < plain["clv"]).all()
    assert (discounted["clv"] > plain["expected_spend"]).all()  # the first purchase at least


def test_a_prospects_interval_holds_its_discounted_value(apparel_model):
    clv, table = apparel_model
    clv.bootstrap(table, n_draws=100, random_state=0)
    ranged = clv.predict_new(PROSPECTS, horizon=104, discount_rate=0.2, interval=0.9)
    assert (ranged["clv_lower"] < ranged["clv"]).all()
    assert (ranged["clv"] < ranged["clv_upper"]).all()


def test_a_prospect_without_the_fitted_attributes_is_refused(apparel_model):
    clv, _ = apparel_model
    with pytest.raises(segml.DataError, match="not in the table"):
        clv.predict_new(pd.DataFrame({"Gender": [1]}))
