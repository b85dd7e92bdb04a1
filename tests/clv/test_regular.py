"""BG/CNBD-k and MBG/CNBD-k: published CDNOW figures, k = 1 equal to BG/NBD and MBG/NBD,
recovery of simulated regularity, and predictions that depend on the customer only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import segml
from segml.clv.cnbd import CNBDPredictor, cnbd_objective, simulate_histories

#: BTYDplus's own test of MBG/CNBD-k (k = 3).
TRUTH = {"r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42}


@pytest.fixture(scope="module")
def weekly(cdnow_tx) -> pd.DataFrame:
    return segml.summarize(
        cdnow_tx, calibration_end="1997-09-30", holdout_end="1998-06-30", unit="W"
    )


@pytest.fixture(scope="module")
def regular() -> pd.DataFrame:
    """8,000 MBG/CNBD-3 customers, ages 12-96 weeks in steps of 12, 32 weeks of holdout."""
    rng = np.random.default_rng(1)
    ages = np.round(rng.uniform(12, 96, 8000) / 12) * 12
    return simulate_histories(8000, TRUTH, 3, 1, ages, horizon=32, random_state=2)


@pytest.mark.parametrize(
    ("model", "published", "loglik"),
    [
        (segml.BetaGeoCNBD, {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}, -9582.429),
        (
            segml.ModifiedBetaGeoCNBD,
            {"r": 0.5248, "alpha": 6.1831, "a": 0.8914, "b": 1.6140},
            -9582.136,
        ),
    ],
)
def test_cdnow_selects_k_1_with_the_poisson_models_estimates(
    weekly, model, published, loglik
) -> None:
    fitted = model().fit(weekly)
    assert fitted.k_ == 1
    for name, value in published.items():
        assert fitted.params_[name] == pytest.approx(value, abs=1e-4), name
    assert fitted.log_likelihood_ == pytest.approx(loglik, abs=1e-3)


@pytest.mark.parametrize(
    ("model", "loglik"), [(segml.BetaGeoCNBD, -9855.33), (segml.ModifiedBetaGeoCNBD, -9853.25)]
)
def test_cdnow_k_2_has_the_published_log_likelihood(weekly, model, loglik) -> None:
    chosen = model().fit(weekly)
    assert chosen.k_log_likelihoods_[2] == pytest.approx(loglik, abs=0.01)
    assert model(k=2).fit(weekly).log_likelihood_ == pytest.approx(loglik, abs=0.01)


@pytest.mark.parametrize(
    ("cnbd", "poisson"),
    [(segml.BetaGeoCNBD, segml.BetaGeo), (segml.ModifiedBetaGeoCNBD, segml.ModifiedBetaGeo)],
)
def test_k_1_predicts_what_the_poisson_model_predicts(weekly, cnbd, poisson) -> None:
    ours, theirs = cnbd(k=1).fit(weekly), poisson().fit(weekly)
    np.testing.assert_allclose(
        ours.expected_purchases(weekly, 39), theirs.expected_purchases(weekly, 39), rtol=1e-6
    )
    np.testing.assert_allclose(ours.p_alive(weekly), theirs.p_alive(weekly), rtol=1e-6)
    np.testing.assert_allclose(
        ours.probability_of_purchases(weekly.head(20), [0, 1, 3], 39),
        theirs.probability_of_purchases(weekly.head(20), [0, 1, 3], 39),
        rtol=1e-5,
        atol=1e-12,
    )


def test_simulated_regularity_is_recovered(regular) -> None:
    fitted = segml.ModifiedBetaGeoCNBD().fit(regular)
    assert fitted.k_ == 3
    # BTYDplus's tolerance is relative (all.equal); here it holds for each parameter, and
    # each true value lies in the estimate's 99 % interval.
    bands = fitted.conf_int(0.99)
    for name, value in TRUTH.items():
        assert abs(fitted.params_[name] - value) / value < 0.1, (name, fitted.params_[name])
        assert bands.loc[name, "lower"] < value < bands.loc[name, "upper"], name
    assert "every third tick" in fitted.regularity()


def _true_predictor(regular) -> CNBDPredictor:
    x, t_x, T = (regular[c].to_numpy() for c in ("frequency", "recency", "T"))
    return CNBDPredictor(TRUTH, x, t_x, T, 3, 1)


def test_expected_purchases_sum_to_the_simulated_holdout(regular) -> None:
    actual = regular["holdout_frequency"].sum()
    assert abs(_true_predictor(regular).expected(32.0).sum() - actual) / actual < 0.05


def test_p_alive_sums_to_the_simulated_number_alive(regular) -> None:
    alive = regular["alive"].sum()
    assert abs(_true_predictor(regular).p_alive.sum() - alive) / alive < 0.05


def test_the_regular_model_forecasts_regular_buyers_closer_than_the_poisson_one(regular) -> None:
    actual = regular["holdout_frequency"].sum()
    poisson = segml.ModifiedBetaGeo().fit(regular).expected_purchases(regular, 32.0).sum()
    regular_fit = segml.ModifiedBetaGeoCNBD().fit(regular).expected_purchases(regular, 32.0)
    assert abs(regular_fit.sum() - actual) < abs(poisson - actual)


def test_a_prediction_depends_on_the_customer_only(weekly) -> None:
    model = segml.BetaGeoCNBD(k=2).fit(weekly)
    alone = model.expected_purchases(weekly.iloc[[5]], 39).iloc[0]
    in_batch = model.expected_purchases(weekly, 39).iloc[5]
    assert alone == pytest.approx(in_batch, rel=1e-12)


def test_the_purchase_distribution_sums_to_one_with_the_expected_mean(weekly) -> None:
    model = segml.ModifiedBetaGeoCNBD(k=2).fit(weekly)
    head = weekly.head(40)
    pmf = model.probability_of_purchases(head, list(range(80)), 39)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    mean = (pmf * np.arange(80)).sum(axis=1)
    np.testing.assert_allclose(mean, model.expected_purchases(head, 39), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("d", [0, 1])
def test_the_gradient_is_the_likelihoods(weekly, d) -> None:
    x, t_x, T = (weekly[c].to_numpy("float64") for c in ("frequency", "recency", "T"))
    objective = cnbd_objective(x, t_x, T, np.ones(len(x)), 3, d)
    theta = np.log([0.4, 2.0, 0.9, 2.0])
    _, grad = objective(theta)
    step = 1e-6
    numeric = [
        (objective(theta + step * e)[0] - objective(theta - step * e)[0]) / (2 * step)
        for e in np.eye(4)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_litt_sums_the_logs_of_the_weeks_between_purchase_days(weekly, cdnow_tx) -> None:
    days = cdnow_tx.assign(day=cdnow_tx["date"].dt.floor("D"))
    days = days[days["day"] <= "1997-09-30"].drop_duplicates(["customer_id", "day"])
    days = days.sort_values(["customer_id", "day"])
    gaps = days.groupby("customer_id")["day"].diff().dt.total_seconds() / (7 * 86_400)
    want = np.log(gaps).groupby(days["customer_id"]).sum()
    np.testing.assert_allclose(weekly["litt"], want.reindex(weekly.index), atol=1e-9)


def test_choosing_k_needs_litt(weekly) -> None:
    with pytest.raises(segml.DataError, match="litt"):
        segml.BetaGeoCNBD().fit(weekly.drop(columns="litt"))
    assert segml.BetaGeoCNBD(k=2).fit(weekly.drop(columns="litt")).k_ == 2


def test_k_must_be_a_whole_number(weekly) -> None:
    with pytest.raises(segml.DataError, match="k must be a whole number"):
        segml.BetaGeoCNBD(k=0).fit(weekly)


def test_a_cnbd_clv_model_round_trips_through_json(weekly) -> None:
    clv = segml.CLVModel(frequency=segml.ModifiedBetaGeoCNBD(k=2)).fit(weekly)
    again = segml.CLVModel.from_json(clv.to_json())
    assert again.frequency_model_.k_ == 2
    np.testing.assert_allclose(
        again.predict(weekly, horizon=39)["clv"], clv.predict(weekly, horizon=39)["clv"]
    )


def test_a_clv_model_names_the_regularity_it_chose(weekly) -> None:
    named = segml.CLVModel(frequency="bgcnbd").fit(weekly)
    assert "k = 1: no regularity" in named.selection_["reason"]


def test_auto_names_the_regularity_it_found(regular) -> None:
    table = regular.assign(
        monetary_value=np.where(regular["frequency"] > 0, 20.0, 0.0)
        + np.random.default_rng(3).gamma(5.0, 1.0, len(regular)),
        holdout_duration=32.0,
    )
    clv = segml.CLVModel(frequency="auto").fit(table)
    assert clv.selection_["chosen"] in ("bgcnbd", "mbgcnbd")
    assert "every third tick" in clv.selection_["reason"]


def test_predictive_intervals_hold_the_holdout_purchases(weekly) -> None:
    clv = segml.CLVModel(frequency=segml.BetaGeoCNBD(k=2)).fit(weekly)
    out = clv.bootstrap(weekly, n_draws=20).predict(weekly, horizon=39, interval=0.9)
    actual = weekly["holdout_frequency"]  # the holdout is the 39 weeks predicted
    inside = (actual >= out["expected_purchases_lower"]) & (
        actual <= out["expected_purchases_upper"]
    )
    assert inside.mean() > 0.85


def test_aged_histories_gain_the_expected_purchases_on_average(weekly) -> None:
    from segml.clv.forward import age_histories

    clv = segml.CLVModel(frequency=segml.ModifiedBetaGeoCNBD(k=2)).fit(weekly)
    rng = np.random.default_rng(0)
    gained = [
        (age_histories(clv, weekly, 39.0, rng)["frequency"] - weekly["frequency"]).sum()
        for _ in range(30)
    ]
    expected = clv.frequency_model_.expected_purchases(weekly, 39).sum()
    assert abs(np.mean(gained) - expected) < 4 * np.std(gained) / np.sqrt(len(gained))


@pytest.fixture(scope="module")
def cnbd2(weekly) -> segml.BetaGeoCNBD:
    return segml.BetaGeoCNBD(k=2).fit(weekly)


def test_profile_intervals_hold_the_estimate(cnbd2) -> None:
    profile = cnbd2.conf_int(0.9, method="profile")
    assert (
        (profile["lower"] < profile["estimate"]) & (profile["estimate"] < profile["upper"])
    ).all()


def test_profile_intervals_are_near_the_wald_ones(cnbd2) -> None:
    wald, profile = cnbd2.conf_int(0.9), cnbd2.conf_int(0.9, method="profile")
    np.testing.assert_allclose(profile[["lower", "upper"]], wald[["lower", "upper"]], rtol=0.15)


@pytest.mark.parametrize("model", [segml.BetaGeoCNBD, segml.ModifiedBetaGeoCNBD])
def test_an_estimate_at_the_no_dropout_edge_is_named_as_one(model) -> None:
    """Poisson buyers who never leave: the dropout chance runs to zero, a boundary."""
    rng = np.random.default_rng(0)
    lam, T = rng.gamma(0.5, 1 / 10.0, 3000), rng.uniform(20, 60, 3000)
    x = rng.poisson(lam * T)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    table = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
    with pytest.raises(segml.BoundaryError, match="no dropout identified") as info:
        model(k=1).fit(table)
    assert "frequency='nbd'" in str(info.value)
