"""Covariates in an experiment file's CLV model: checked before any work, fitted, reported,
logged, exported, and used when the exported model scores customers and prospects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import B2B_COVARIATES, B2B_COVARIATES_CONFIG

import segml
from segml.experiment.config import ConfigError, load_config
from segml.tracking.export import load_model

CONFIG, COVARIATES = B2B_COVARIATES_CONFIG, B2B_COVARIATES


def write(tmp_path: Path, frequency: str = "bgnbd", covariates: str = COVARIATES) -> Path:
    path = tmp_path / "cov.toml"
    path.write_text(CONFIG.format(frequency=frequency, covariates=covariates))
    return path


@pytest.mark.parametrize(
    ("frequency", "covariates", "message"),
    [
        ("auto", 'purchase_covariates = ["plan"]', "need frequency bgnbd"),
        ("nbd", 'dropout_covariates = ["plan"]', "need frequency bgnbd"),
        ("bgnbd", 'purchase_covariates = ["plna"]', "did you mean 'plan'"),
        ("bgnbd", 'spend_covariates = ["monetary_value"]', "purchase history or value"),
        ("bgnbd", 'purchase_covariates = ["plan", "plan"]', "distinct column names"),
        ("bgnbd", "purchase_covariates = [1]", "distinct column names"),
    ],
)
def test_covariates_are_checked_before_any_work(tmp_path, frequency, covariates, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, frequency, covariates))


@pytest.fixture(scope="module")
def run(b2b_covariate_model):
    return b2b_covariate_model


@pytest.mark.slow
def test_the_clv_model_recovers_the_planted_attribute_effects(run):
    result, _ = run
    clv = result.clv_summary()
    assert clv["covariates"] == ["plan", "industry"]
    effects = pd.DataFrame(clv["covariate_effects"]).set_index(["process", "column"])
    # make_b2b plants healthcare's dropout probability at 0.4 of the others'
    healthcare = effects.loc[("dropout", "industry[healthcare]")]
    assert healthcare["lower"] < 0.4 < healthcare["upper"] < 1.0
    assert healthcare["measure"] == "dropout probability"
    enterprise = effects.loc[("spend", "plan[enterprise]")]  # planted x1.4, revenue left out
    assert enterprise["lower"] > 1.0 and enterprise["p_value"] < 0.001
    assert set(effects.index.get_level_values("process")) == {"purchase", "dropout", "spend"}


def test_the_report_states_the_attribute_effects(run):
    result, _ = run
    html = (result.write(Path(run[1]).parent / "out")["report"]).read_text()
    assert "Customer attributes in the model" in html
    assert "industry = healthcare (against retail): dropout probability x" in html


@pytest.mark.slow
def test_the_exported_model_values_customers_by_their_attributes(run):
    result, path = run
    model = load_model(str(path))
    table = result.table.reset_index()
    customer = table[table["frequency"] > 2].iloc[[0]]
    twins = pd.concat([customer] * 2, ignore_index=True)
    twins["customer_id"] = ["a", "b"]
    twins["industry"] = ["healthcare", "retail"]
    out = model.predict(None, twins)
    assert (out["reason"] == "").all()
    # one history, two industries: healthcare's lower dropout keeps it likelier alive
    assert out.loc[0, "p_alive"] > out.loc[1, "p_alive"]
    expected = result.clv_model.predict(twins.set_index("customer_id"), horizon=52)
    np.testing.assert_allclose(out["clv"], expected["clv"], rtol=1e-10)


@pytest.mark.slow
def test_only_rows_with_unusable_attributes_go_unscored_with_a_reason(run):
    result, path = run
    model = load_model(str(path))
    batch = result.table.reset_index().head(4).copy()
    batch.loc[0, "plan"] = "platinum"
    batch.loc[1, "industry"] = None
    out = model.predict(None, batch)
    assert out.loc[0, "reason"] == "attribute plan = 'platinum' not seen in fitting"
    assert out.loc[1, "reason"] == "missing attribute industry"
    assert np.isnan(out.loc[:1, "clv"]).all() and (out.loc[2:, "reason"] == "").all()
    with pytest.raises(segml.DataError, match="industry"):
        model.predict(None, batch.drop(columns="industry"))


@pytest.mark.slow
def test_prospects_are_valued_from_their_attributes(run):
    result, path = run
    model = load_model(str(path))
    _, customers = segml.make_b2b(50, random_state=5)
    rows = customers.assign(frequency=np.nan, recency=np.nan, T=np.nan, monetary_value=np.nan)
    out = model.predict(None, rows)
    assert (out["reason"] == "prospect").all()
    expected = result.clv_model.predict_new(rows, 52.0, 0.0)
    np.testing.assert_allclose(out["clv"], expected["clv"], rtol=1e-10)
    by_plan = out.groupby(rows["plan"].to_numpy())["clv"].mean()
    assert by_plan["enterprise"] > by_plan["basic"]  # enterprise spends more per order
