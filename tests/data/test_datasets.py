"""Data sets: CDNOW from the lifetimes wheel and the synthetic generator."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import segml


def test_cdnow_sample_has_its_published_size() -> None:
    sample = segml.load_cdnow("sample")
    assert list(sample.columns) == ["customer_id", "date", "amount", "n_items"]
    assert (len(sample), sample["customer_id"].nunique()) == (6919, 2357)
    assert sample["customer_id"].iloc[0] == "0001"


def test_cdnow_master_has_its_published_size() -> None:
    master = segml.load_cdnow("master")
    assert (len(master), master["customer_id"].nunique()) == (69659, 23570)
    assert master["customer_id"].iloc[0] == "00001"


def test_an_unknown_cdnow_variant_is_refused() -> None:
    with pytest.raises(segml.DataError, match="'sample' or 'master'"):
        segml.load_cdnow("full")  # type: ignore[arg-type]


def test_cdnow_loader_does_not_import_lifetimes_datasets() -> None:
    segml.load_cdnow()
    assert "lifetimes.datasets" not in sys.modules


def test_a_seed_reproduces_its_simulation() -> None:
    a = segml.simulate_transactions(200, random_state=5)
    assert a.equals(segml.simulate_transactions(200, random_state=5))
    assert not a.equals(segml.simulate_transactions(200, random_state=6))


def test_a_generator_simulates_like_its_seed() -> None:
    assert segml.simulate_customers(50, random_state=np.random.default_rng(3)).equals(
        segml.simulate_customers(50, random_state=3)
    )


def test_simulated_transaction_log_recovers_parameters() -> None:
    tx = segml.simulate_transactions(40_000, random_state=2, acquisition_length=8.0)
    table = segml.summarize(tx, calibration_end="2024-09-29", unit="W")
    fitted = segml.BetaGeo().fit(table)
    truth = {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}
    for name, value in truth.items():
        assert (
            abs(fitted.params_[name] - value) < 4 * fitted.standard_errors_[name] + 0.02 * value
        ), name
    spend = segml.GammaGamma().fit(table)
    assert spend.population_mean_spend_ == pytest.approx(6.25 * 15.44 / 2.74, rel=0.1)


def test_generator_rejects_bad_parameters() -> None:
    with pytest.raises(segml.DataError, match="missing"):
        segml.simulate_customers(10, frequency_params={"r": 1.0})
    with pytest.raises(segml.DataError, match="positive and finite"):
        segml.simulate_customers(10, spend_params={"p": -1, "q": 2, "gamma": 3})
    with pytest.raises(segml.DataError, match="at least 1"):
        segml.simulate_transactions(0)
