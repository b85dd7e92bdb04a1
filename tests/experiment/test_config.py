"""Experiment files: a closed, typed schema, checked before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

import segml
from segml.experiment.config import ConfigError, load_config

BASE = """
[experiment]
name = "t"

[data]
dataset = "cdnow"
calibration_end = "1997-09-30"
holdout_end = "1998-06-30"

[[hypotheses]]
name = "big"
rule = "first_amount >= 30"

[[segmenters]]
name = "km"
method = "kmeans"
k = 3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_shipped_experiments_are_valid() -> None:
    for name in ("cdnow.toml", "b2b.toml"):
        config = load_config(REPO / "experiments" / name)
        assert config.segmenters and config.hypotheses
        assert config.tracking.registered_model == f"segml-{config.name}"


def test_a_minimal_file_takes_the_defaults(tmp_path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert config.clv.frequency == "bgnbd" and config.evaluation.value == "clv"
    assert config.tracking.experiment == "segml-t"
    assert config.segmenters[0].kwargs == {"k": 3}
    assert config.source == (tmp_path / "exp.toml").resolve()


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (
            ("[data]", "[data]\ncalibraton_end = 1"),
            r"unknown key 'calibraton_end' in \[data\] \(did you mean 'calibration_end'\?\)",
        ),
        (
            ("[experiment]", "[experimnt]"),
            r"unknown key 'experimnt' in \[top level\] \(did you mean 'experiment'\?\)",
        ),
        (
            ("k = 3", "k = 3\nn_clusters = 4"),
            r"unknown key 'n_clusters' in \[segmenters\[0\] \(kmeans\)\]",
        ),
        (
            ('method = "kmeans"', 'method = "kmean"'),
            r"method 'kmean' is not a segmenter \(did you mean 'kmeans'\?\)",
        ),
        (('method = "kmeans"', 'method = "sklearn.cluster.KMeans"'), "is not a segmenter"),
        (("k = 3", 'k = "three"'), r"\[segmenters\[0\]\] k must be int or list, got str"),
        (
            ('holdout_end = "1998-06-30"', 'holdout_end = "1998-06-30"\n[clv]\nintervals = 1'),
            r"\[clv\] intervals = 1 must be 0 \(no value intervals\) or the number",
        ),
        (
            ('holdout_end = "1998-06-30"', 'holdout_end = "1998-06-30"\n[clv]\nfrequency = "nbdd"'),
            r"\[clv\] frequency 'nbdd' is not one of bgnbd, pnbd, mbgnbd, nbd, bgcnbd, mbgcnbd",
        ),
        (
            ('dataset = "cdnow"', 'dataset = "cdnw"'),
            r"dataset 'cdnw' is not built in \(did you mean 'cdnow'\?\)",
        ),
        (
            ('dataset = "cdnow"', 'transactions = "missing.csv"'),
            r"transactions file 'missing.csv' not found",
        ),
        (
            ('rule = "first_amount >= 30"', 'rule = "first_amont >= 30"'),
            r"hypothesis 'big' names column 'first_amont' \(did you mean 'first_amount'\?\)",
        ),
        (
            ('rule = "first_amount >= 30"', 'rule = "first_amount >= "'),
            r"rule is invalid: expected a column name",
        ),
        (
            ('rule = "first_amount >= 30"', 'rule = "__import__(1)"'),
            "rule is invalid: function calls",
        ),
        (
            ('calibration_end = "1997-09-30"', 'calibration_end = "soon"'),
            "calibration_end 'soon' is not a date",
        ),
        (('name = "t"', "name = 5"), r"\[experiment\] name must be str, got int"),
        (
            ("k = 3", 'k = 3\nfeatures = ["frequncy"]'),
            r"segmenter 'km' names column 'frequncy' \(did you mean 'frequency'\?\)",
        ),
    ],
)
def test_errors_name_the_key(tmp_path, edit, pattern) -> None:
    old, new = edit
    assert old in BASE
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path, BASE.replace(old, new, 1)))


def test_files_are_resolved_relative_to_the_experiment(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tx.csv").write_text(
        "cust,when,value\nA,2024-01-01,10\nA,2024-02-01,5\nB,2024-01-15,7\n"
    )
    (data / "crm.csv").write_text("cust,segment_hint\nA,x\nB,y\n")
    text = BASE.replace(
        'dataset = "cdnow"',
        'transactions = "data/tx.csv"\ncustomers = "data/crm.csv"\n'
        'customer = "cust"\ntime = "when"\namount = "value"\ncustomer_key = "cust"',
    )
    text = text.replace('rule = "first_amount >= 30"', "rule = \"segment_hint == 'x'\"")
    config = load_config(write(tmp_path, text))
    assert config.data.transactions == (data / "tx.csv").resolve()
    bad = text.replace("rule = \"segment_hint == 'x'\"", "rule = \"segment == 'x'\"")
    with pytest.raises(ConfigError, match="names column 'segment'"):
        load_config(write(tmp_path, bad))


def test_a_missing_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    assert issubclass(ConfigError, segml.DataError)


def test_invalid_toml_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[experiment\nname="))


def test_names_must_be_unique(tmp_path) -> None:
    twice = BASE + '\n[[hypotheses]]\nname = "big"\nrule = "frequency > 1"\n'
    with pytest.raises(ConfigError, match="hypothesis name 'big' is used twice"):
        load_config(write(tmp_path, twice))
    twice = BASE + '\n[[segmenters]]\nname = "km"\nmethod = "rfm"\n'
    with pytest.raises(ConfigError, match="segmenter name 'km' is used twice"):
        load_config(write(tmp_path, twice))
