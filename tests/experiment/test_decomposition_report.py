"""An experiment file asks for the hypotheses' decomposition; the outputs and report show it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import segml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result():
    config = segml.load_config(REPO / "experiments" / "b2b.toml")
    rfm = [s for s in config.segmenters if s.name == "rfm"]
    return segml.run_experiment(
        replace(
            config,
            data=replace(config.data, n_customers=3000),
            segmenters=tuple(rfm),
            evaluation=replace(config.evaluation, n_bootstrap=0, decompose_hypotheses=True),
        )
    )


@pytest.mark.slow
def test_a_complement_shares_the_fitted_hypothesis_decomposition(result):
    out = result.decomposition
    # b2b.toml states revenue >= 10M and its complement: one is fitted, the other shares it
    assert out.loc["revenue_below_10m", "verdict"] == "complement"
    assert "purchase" in out.loc["revenue_10m_plus", "acts_on"]


def test_the_decomposition_reaches_the_output_files(result, tmp_path):
    out = result.decomposition
    paths = result.write(tmp_path)
    written = pd.read_csv(paths["decomposition"], index_col=0)
    assert list(written.index) == list(out.index)
    html = paths["report"].read_text()
    assert "Through which process each hypothesis moves value" in html
    assert "revenue_10m_plus acts on purchase rate" in html


B2B = REPO / "experiments" / "b2b.toml"


def _without_decompose(text: str, replacement: str = "") -> str:
    line = next(x for x in text.splitlines() if x.startswith("decompose_hypotheses"))
    return text.replace(line, replacement)


def test_the_b2b_experiment_decomposes_its_hypotheses():
    assert segml.load_config(B2B).evaluation.decompose_hypotheses


def test_decomposing_is_off_by_default(tmp_path):
    off = tmp_path / "off.toml"
    off.write_text(_without_decompose(B2B.read_text()))
    assert segml.load_config(off).evaluation.decompose_hypotheses is False


def test_decompose_hypotheses_must_be_a_boolean(tmp_path):
    bad = tmp_path / "b.toml"
    bad.write_text(_without_decompose(B2B.read_text(), 'decompose_hypotheses = "yes"'))
    with pytest.raises(segml.ConfigError, match="decompose_hypotheses"):
        segml.load_config(bad)
