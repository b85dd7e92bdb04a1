"""CLV estimators: compression, persistence, selection, discounting and failures."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import segml

MODELS = [segml.BetaGeo, segml.ParetoNBD, segml.ModifiedBetaGeo]


@pytest.mark.parametrize("model_cls", MODELS)
def test_compressed_fit_equals_raw_fit(model_cls, cdnow) -> None:
    compressed = model_cls().fit(cdnow)
    raw = model_cls(compress=False).fit(cdnow)
    assert compressed.n_unique_rows_ < raw.n_unique_rows_ == len(cdnow)
    for name in compressed.params_:
        assert compressed.params_[name] == pytest.approx(raw.params_[name], rel=1e-5), name
    assert compressed.log_likelihood_ == pytest.approx(raw.log_likelihood_, abs=1e-6)


def test_compressed_gamma_gamma_equals_raw(cdnow) -> None:
    a = segml.GammaGamma().fit(cdnow)
    b = segml.GammaGamma(compress=False).fit(cdnow)
    for name in a.params_:
        assert a.params_[name] == pytest.approx(b.params_[name], rel=1e-5)


def test_fit_matches_lifetimes_called_directly(cdnow) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter

        ref = BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
        ref_pred = ref.conditional_expected_number_of_purchases_up_to_time(
            39, cdnow["frequency"], cdnow["recency"], cdnow["T"]
        )
    ours = segml.BetaGeo().fit(cdnow)
    for name in ("r", "alpha", "a", "b"):
        assert ours.params_[name] == pytest.approx(ref.params_[name], rel=1e-4)
    np.testing.assert_allclose(ours.expected_purchases(cdnow, 39), ref_pred, rtol=1e-4)


@pytest.mark.parametrize("model_cls", MODELS)
def test_json_round_trip_gives_identical_predictions(model_cls, cdnow, tmp_path) -> None:
    model = model_cls().fit(cdnow)
    path = tmp_path / "m.json"
    model.to_json(str(path))
    again = model_cls.from_json(str(path))
    assert again.params_ == model.params_
    pd.testing.assert_series_equal(
        again.expected_purchases(cdnow, 10), model.expected_purchases(cdnow, 10)
    )
    pd.testing.assert_series_equal(again.p_alive(cdnow), model.p_alive(cdnow))
    json.loads(path.read_text())  # plain JSON, no pickles


def test_clv_model_json_round_trip(clv, cdnow) -> None:
    again = segml.CLVModel.from_json(clv.to_json())
    pd.testing.assert_frame_equal(
        again.predict(cdnow, horizon=52, discount_rate=0.1),
        clv.predict(cdnow, horizon=52, discount_rate=0.1),
    )


def test_wrong_json_is_a_clear_error() -> None:
    with pytest.raises(segml.DataError, match="not valid JSON"):
        segml.BetaGeo.from_json("{not json")
    with pytest.raises(segml.DataError, match="is not a frequency model"):
        segml.BetaGeo.from_json(json.dumps({"model": "gamma_gamma"}))


def test_predict_before_fit_raises_not_fitted(cdnow) -> None:
    with pytest.raises(segml.NotFittedError):
        segml.BetaGeo().p_alive(cdnow)
    with pytest.raises(segml.NotFittedError):
        segml.CLVModel().predict(cdnow)


def test_predicted_clv_is_expected_purchases_times_expected_spend(clv, cdnow, gamma_gamma) -> None:
    out = clv.predict(cdnow, horizon=39)
    assert list(out.columns) == ["expected_purchases", "p_alive", "expected_spend", "clv"]
    assert out.index.equals(cdnow.index)
    np.testing.assert_allclose(out["clv"], out["expected_purchases"] * out["expected_spend"])
    np.testing.assert_allclose(out["expected_spend"], gamma_gamma.expected_spend(cdnow))


def test_margin_scales_clv(cdnow) -> None:
    full = segml.CLVModel().fit(cdnow).predict(cdnow, horizon=52)
    half = segml.CLVModel(margin=0.3).fit(cdnow).predict(cdnow, horizon=52)
    np.testing.assert_allclose(half["clv"], 0.3 * full["clv"])
    with pytest.raises(segml.DataError, match=r"margin must be a rate in \(0, 1\]"):
        segml.CLVModel(margin=1.5).fit(cdnow)


def test_discounting_matches_a_fine_riemann_sum(clv, cdnow) -> None:
    rows = cdnow.iloc[:50]
    got = clv.discounted_purchases(rows, horizon=52, discount_rate=0.15).to_numpy()
    delta = np.log(1.15) * 7 / 365.2425
    grid = np.linspace(0, 52, 5201)
    e = np.array([clv.frequency_model_.expected_purchases(rows, t).to_numpy() for t in grid])
    mid = 0.5 * (grid[1:] + grid[:-1])
    brute = (np.exp(-delta * mid)[:, None] * np.diff(e, axis=0)).sum(axis=0)
    np.testing.assert_allclose(got, brute, rtol=1e-6)


def test_discount_rate_conversion_is_exact_per_unit() -> None:
    from segml.clv import discount_rate_per_unit

    weekly = discount_rate_per_unit(0.1, "W")
    daily = discount_rate_per_unit(0.1, "D")
    assert np.exp(weekly * 365.2425 / 7) == pytest.approx(1.1)
    assert weekly == pytest.approx(7 * daily)
    with pytest.raises(segml.DataError, match="discount_rate must be"):
        discount_rate_per_unit(-0.5, "W")


def test_default_horizon_is_one_year(clv, cdnow) -> None:
    assert clv.default_horizon() == pytest.approx(365.2425 / 7)
    unknown = segml.CLVModel().fit(segml.simulate_customers(2000, random_state=0))
    with pytest.raises(segml.DataError, match="time unit is unknown"):
        unknown.predict(unknown_table := segml.simulate_customers(10, random_state=1))
    assert len(unknown.predict(unknown_table, horizon=10)) == 10
    with pytest.raises(segml.DataError, match="discounting needs the table's time unit"):
        unknown.predict(unknown_table, horizon=10, discount_rate=0.1)


def test_auto_selection_records_why(cdnow) -> None:
    model = segml.CLVModel(frequency="auto").fit(cdnow)
    sel = model.selection_
    assert sel["criterion"] == "holdout_mae"
    assert set(sel["scores"]) == {"bgnbd", "pnbd", "mbgnbd", "nbd"}
    assert sel["chosen"] == min(sel["scores"], key=sel["scores"].get)
    # CDNOW's dropout is clear: the test against the NBD rejects
    assert sel["dropout_test"]["p_value"] < 1e-10 and sel["no_dropout"] == ""
    assert model.frequency_model_._model == sel["chosen"]
    no_holdout = cdnow.drop(columns=["holdout_frequency", "holdout_revenue", "holdout_duration"])
    sel2 = segml.CLVModel(frequency="auto").fit(no_holdout).selection_
    assert sel2["criterion"] == "bic"
    assert "no holdout" in sel2["reason"]


def test_an_unknown_frequency_model_is_named(cdnow) -> None:
    with pytest.raises(segml.DataError, match="frequency='bg' is not a frequency model"):
        segml.CLVModel(frequency="bg").fit(cdnow)


def test_missing_columns_are_named(cdnow) -> None:
    with pytest.raises(segml.DataError, match=r"lacks \['monetary_value'\]"):
        segml.CLVModel().fit(cdnow[["frequency", "recency", "T"]])
    with pytest.raises(segml.DataError, match=r"lacks \['T'\]"):
        segml.BetaGeo().fit(cdnow[["frequency", "recency"]])


def test_invalid_table_values_are_named(cdnow) -> None:
    bad = cdnow[["frequency", "recency", "T"]].copy()
    bad.loc["0001", "recency"] = 99.0
    with pytest.raises(
        segml.DataError,
        match=r"1 customers have 'recency' greater than 'T', e.g. customer ids '0001'",
    ):
        segml.BetaGeo().fit(bad)
    bad = cdnow[["frequency", "recency", "T"]].astype({"frequency": float})
    bad.loc["0002", "frequency"] = 1.5
    with pytest.raises(segml.DataError, match="not a whole number"):
        segml.BetaGeo().fit(bad)
    bad.loc["0002", "frequency"] = np.nan
    with pytest.raises(segml.DataError, match="missing or non-numeric 'frequency'"):
        segml.BetaGeo().fit(bad)


def test_spend_model_needs_repeat_buyers(cdnow) -> None:
    one_timers = cdnow[cdnow["frequency"] == 0]
    with pytest.raises(
        segml.DataError, match="no customer has a repeat purchase with positive spend"
    ):
        segml.GammaGamma().fit(one_timers)


def test_non_positive_spend_excluded_and_counted(cdnow) -> None:
    table = cdnow.copy()
    repeaters = table.index[table["frequency"] > 0][:5]
    table.loc[repeaters, "monetary_value"] = 0.0
    with pytest.warns(UserWarning, match="5 repeat buyers with zero or negative mean spend"):
        model = segml.GammaGamma().fit(table)
    assert model.n_excluded_ == {"no_repeat_purchase": 1411, "non_positive_spend": 5}
    assert model.n_fitted_ == 941
    assert (model.expected_spend(table.loc[repeaters]) > 0).all()


def test_no_nan_or_negative_clv_passes_silently(clv, cdnow) -> None:
    weird = cdnow.iloc[:3].copy()
    weird["monetary_value"] = [-50.0, 10.0, 10.0]
    weird.loc[weird.index[0], "frequency"] = 5
    weird.loc[weird.index[0], "recency"] = 10.0
    with pytest.raises(segml.ModelError, match="NaN, infinite or negative values for 1 customers"):
        clv.predict(weird, horizon=52)


def test_convergence_failure_is_a_clear_error() -> None:
    # Nobody ever buys again: the likelihood has no interior maximum (the purchase rate is
    # driven to zero and the dropout parameters are not identified).
    table = pd.DataFrame(
        {"frequency": [0] * 50, "recency": [0.0] * 50, "T": np.linspace(1, 30, 50)}
    )
    with pytest.raises(
        segml.ConvergenceError,
        match=r"BG/NBD did not converge on 50 unique customer rows \(50 customers\)",
    ):
        segml.BetaGeo().fit(table)


def test_parameters_recovered_from_simulation() -> None:
    truth = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 3.0}
    table = segml.simulate_customers(60_000, frequency_params=truth, random_state=11)
    fitted = segml.BetaGeo().fit(table)
    for name, value in truth.items():
        se = fitted.standard_errors_[name]
        assert abs(fitted.params_[name] - value) < 4 * se, (name, fitted.params_[name], se)


def test_sample_weight_equals_the_expanded_table(cdnow) -> None:
    stats = cdnow.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()
    weighted = segml.BetaGeo().fit(stats, sample_weight=stats["count"])
    full = segml.BetaGeo().fit(cdnow)
    assert weighted.n_customers_ == full.n_customers_ == 2357
    for name in full.params_:
        assert weighted.params_[name] == pytest.approx(full.params_[name], rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, abs=1e-6)
    with pytest.raises(segml.DataError, match="sample_weight has 3 entries"):
        segml.BetaGeo().fit(stats, sample_weight=[1, 2, 3])
    with pytest.raises(segml.DataError, match="finite and >= 0"):
        segml.BetaGeo().fit(stats, sample_weight=-stats["count"])


def test_expected_purchases_never_round_below_zero(bgnbd) -> None:
    # A history that made lifetimes' closed form round to -2.7e-49 (found by hypothesis).
    table = pd.DataFrame({"frequency": [34], "recency": [0.0], "T": [47.0]})
    # (raw lifetimes value at this horizon: -2.67e-49)
    assert (bgnbd.expected_purchases(table, 1.2742749857031425e-14) >= 0).all()


def test_cumulative_tracking_counts_every_repeat_purchase(bgnbd, cdnow, cdnow_tx) -> None:
    from segml.clv.holdout import cumulative_tracking

    curve = cumulative_tracking(bgnbd, cdnow_tx, cdnow, "1998-06-30", "W")
    # At the holdout end the curve has every repeat day of the cohort: calibration + holdout.
    assert curve["actual"].iloc[-1] == cdnow["frequency"].sum() + cdnow["holdout_frequency"].sum()
    assert curve["actual"].iloc[-1] == 4339
    assert np.all(np.diff(curve["actual"]) >= 0) and np.all(np.diff(curve["expected"]) >= 0)
    # The same curve from a plain pandas computation.
    events = (
        cdnow_tx.assign(day=cdnow_tx["date"].dt.floor("D"))[["customer_id", "day"]]
        .drop_duplicates()
        .sort_values(["customer_id", "day"])
    )
    repeat_days = events[events.duplicated("customer_id")]["day"]
    expected_actual = [int((repeat_days <= d).sum()) for d in curve["date"]]
    np.testing.assert_array_equal(curve["actual"], expected_actual)
