"""Multipliers of the attributes on the purchase rate, dropout and spend, and the per-row
check of attributes a covariate model cannot encode."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from segml.clv.covariate_effects import covariate_effects, covariate_problems
from segml.clv.design import CovariateDesign

BOTH = ["Gender", "Channel"]


@pytest.fixture(scope="module")
def apparel() -> pd.DataFrame:
    tx, customers = segml.load_apparel()
    return segml.summarize(tx, calibration_end="2006-12-31", customers=customers)


def test_pareto_nbd_multipliers_are_the_exponentiated_coefficients(apparel):
    fit = segml.ParetoNBD(purchase_covariates=BOTH, dropout_covariates=BOTH).fit(apparel)
    effects = covariate_effects(fit).set_index(["process", "column"])
    for name in BOTH:
        # alpha_i = alpha exp(-g z): the mean rate r / alpha_i is exp(g) times the reference's
        g, se = fit.coefficients_[f"purchase.{name}"], fit.standard_errors_[f"purchase.{name}"]
        row = effects.loc[("purchase", name)]
        assert row["multiplier"] == pytest.approx(np.exp(g), rel=1e-9)
        assert row["lower"] == pytest.approx(np.exp(g - 1.959964 * se), rel=1e-5)
        assert effects.loc[("dropout", name), "multiplier"] == pytest.approx(
            np.exp(fit.coefficients_[f"dropout.{name}"]), rel=1e-9
        )
    assert set(effects["measure"]) == {"purchase rate", "dropout rate"}


def test_bg_nbd_dropout_multiplier_is_the_ratio_of_mean_dropout_probabilities(apparel):
    fit = segml.ModifiedBetaGeo(purchase_covariates=["Channel"], dropout_covariates=["Channel"])
    fit.fit(apparel)
    a, b = fit.params_["a"], fit.params_["b"]
    a1 = a * np.exp(fit.coefficients_["dropout_a.Channel"])
    b1 = b * np.exp(fit.coefficients_["dropout_b.Channel"])
    row = covariate_effects(fit).set_index("process").loc["dropout"]
    assert row["measure"] == "dropout probability"
    assert row["multiplier"] == pytest.approx((a1 / (a1 + b1)) / (a / (a + b)), rel=1e-9)
    assert row["lower"] < row["multiplier"] < row["upper"]


def test_models_without_covariates_have_no_effects(apparel):
    assert covariate_effects(segml.ParetoNBD().fit(apparel)).empty


def test_rows_a_design_cannot_encode_say_why():
    table = pd.DataFrame({"plan": ["basic", "pro", "basic"], "size": [1.0, 2.0, 3.0]})
    design = CovariateDesign.fit(table, ["plan", "size"])
    batch = pd.DataFrame(
        {"plan": ["pro", "gold", None, "basic"], "size": [1.0, 2.0, 3.0, float("inf")]}
    )
    assert design.row_problems(batch).tolist() == [
        "",
        "attribute plan = 'gold' not seen in fitting",
        "missing attribute plan",
        "attribute size is not a finite number",
    ]
    assert (design.row_problems(batch.drop(columns="size")) != "").all()


def test_a_clv_models_problems_cover_both_of_its_models(apparel):
    data = apparel.assign(tier=np.where(apparel["frequency"] % 2 == 0, "a", "b"))
    clv = segml.CLVModel(
        frequency=segml.ParetoNBD(purchase_covariates=["Channel"]),
        spend=segml.GammaGamma(covariates=["tier"]),
    ).fit(data)
    batch = data.head(3).assign(tier=["a", "c", "b"])
    batch.loc[batch.index[2], "Channel"] = np.nan
    assert covariate_problems(clv, batch).tolist() == [
        "",
        "attribute tier = 'c' not seen in fitting",
        "missing attribute Channel",
    ]
