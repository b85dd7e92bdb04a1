"""The bad-input catalogue (docs/bad-input.md), continued: settings, rules and files at
their edges. One test per entry."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import segml
from segml.segment.rules import Rule, RuleError

LOG = pd.DataFrame(
    {
        "customer_id": ["a", "b", "a"],
        "date": ["2024-01-01", "2024-01-05", "2024-02-01"],
        "amount": [1.0, 2.0, 3.0],
    }
)
EXPERIMENT = """
[experiment]
name = "edges"

[data]
dataset = "cdnow"
calibration_end = "1997-09-30"
{data}

[[segmenters]]
name = "tiers"
method = "value_tiers"
"""


@pytest.mark.parametrize(
    ("setting", "pattern"),
    [
        ({"time_format": "%Q-%m"}, r"time_format: 'Q' is a bad directive"),
        ({"time_format": "%Y-%m-%d %"}, r"time_format: stray %"),
        ({"time_format": "YYYY-MM-DD"}, r"has no strftime directive"),
        ({"timezone": "Mars/Olympus"}, r"timezone: 'Mars/Olympus' is not a time zone"),
    ],
)
def test_invalid_strftime_directives_or_time_zones(setting, pattern) -> None:
    with pytest.raises(segml.DataError, match=pattern):
        segml.read_transactions(LOG, **setting)


def test_invalid_strftime_directives_in_an_experiment_file(tmp_path) -> None:
    path = tmp_path / "e.toml"
    path.write_text(EXPERIMENT.format(data='time_format = "%d/%q/%Y"'))
    with pytest.raises(segml.ConfigError, match=r"\[data\] time_format: 'q' is a bad directive"):
        segml.load_config(path)


def test_invalid_strftime_directives_in_segml_score(tmp_path) -> None:
    """Refused as bad data (exit 4) before the model is even looked for."""
    LOG.to_csv(tmp_path / "tx.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "segml.cli", "score", "--model", str(tmp_path / "none"),
         "--transactions", str(tmp_path / "tx.csv"), "--output", str(tmp_path / "s.csv"),
         "--time-format", "%Y-%m-%d %Q"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert "time_format: 'Q' is a bad directive" in proc.stderr
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("(" * 5000 + "x > 1" + ")" * 5000, "more than 100 levels deep"),
        ("not " * 5000 + "x > 1", "more than 100 levels deep"),
        ("x > " + "9" * 5000, "has 5000 digits; at most 400"),
        ("x > 1e99999", "beyond the range of a 64-bit float"),
    ],
)
def test_very_long_numbers_or_deep_nesting_in_rules(text, pattern) -> None:
    with pytest.raises(RuleError, match=pattern):
        Rule(text)


def test_nesting_a_person_writes_still_parses() -> None:
    table = pd.DataFrame({"x": [1, 5]})
    deep = "(" * 100 + "x > 1" + ")" * 100
    np.testing.assert_array_equal(Rule(deep).evaluate(table), [False, True])
    np.testing.assert_array_equal(Rule("x < " + "9" * 30).evaluate(table), [True, True])


def test_a_date_compared_with_a_time_zone_aware_string() -> None:
    """Aware instants compare in UTC; a plain date string means the column's own zone."""
    naive = pd.to_datetime(["2024-01-14 21:00", "2024-01-14 23:00", "2024-01-15 01:00"])
    table = pd.DataFrame({"d": naive, "berlin": naive.tz_localize("Europe/Berlin")})
    # 2024-01-15T00:00+02:00 is 2024-01-14 22:00 UTC
    np.testing.assert_array_equal(
        Rule("d > '2024-01-15T00:00:00+02:00'").evaluate(table), [False, True, True]
    )
    # midnight in Berlin, for a Berlin column
    np.testing.assert_array_equal(
        Rule("berlin >= '2024-01-15'").evaluate(table), [False, False, True]
    )
    np.testing.assert_array_equal(
        Rule("berlin between '2024-01-14T20:30:00Z' and '2024-01-15'").evaluate(table),
        [False, True, False],  # 20:00 and 00:00 UTC fall outside 20:30 to 23:00 UTC
    )


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("csv", "is not a Parquet file: it starts with 'customer_id,date"),
        ("truncated", "is a truncated or damaged Parquet file"),
        ("binary", "does not start with Parquet's 'PAR1' marker"),
    ],
)
def test_a_truncated_file_or_a_csv_named_parquet(tmp_path, content, pattern) -> None:
    path = tmp_path / "tx.parquet"
    if content == "csv":
        LOG.to_csv(path, index=False)
    elif content == "truncated":
        LOG.to_parquet(path)
        path.write_bytes(path.read_bytes()[:-40])
    else:
        path.write_bytes(bytes(range(256)))
    with pytest.raises(segml.DataError, match=pattern):
        segml.read_transactions(path)
    with pytest.raises(segml.DataError, match=pattern):
        segml.summarize(path, calibration_end="2024-03-01")
    table = segml.summarize(LOG, calibration_end="2024-03-01")
    with pytest.raises(segml.DataError, match=pattern):
        segml.summarize(LOG, calibration_end="2024-03-01", customers=path)
    assert len(table) == 2


@pytest.mark.parametrize("home", ["file", "file/sub"])
def test_segml_home_pointing_at_a_file(tmp_path, home) -> None:
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "e.toml").write_text(EXPERIMENT.format(data=""))
    env = {**os.environ, "SEGML_HOME": str(tmp_path / home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [sys.executable, "-m", "segml.cli", "run", str(tmp_path / "e.toml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 8, proc.stderr
    assert "SEGML_HOME" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "file").read_text() == "not a folder"


def test_an_id_like_numeric_column_summed_into_first_col() -> None:
    """first_<col> sums the first day's rows (right for quantities); a day with different
    values is counted in a note, so a summed store id or zip code does not pass unseen."""
    log = LOG.assign(store=[1234, 5678, 1234])
    log = pd.concat([log, log.iloc[[0]].assign(store=999, amount=4.0)], ignore_index=True)
    table = segml.summarize(
        segml.read_transactions(log, keep=["store"]), calibration_end="2024-03-01"
    )
    assert table.loc["a", "first_store"] == 1234 + 999
    notes = segml.quality_report(table).notes
    assert any("first_store sums" in n and "1 customer had different values" in n for n in notes)
    quiet = segml.summarize(
        segml.read_transactions(LOG.assign(store=[1, 2, 1]), keep=["store"]),
        calibration_end="2024-03-01",
    )
    assert not any("first_store" in n for n in segml.quality_report(quiet).notes)


def test_a_value_column_that_is_not_numeric(tmp_path) -> None:
    path = tmp_path / "e.toml"
    text = EXPERIMENT.replace('dataset = "cdnow"', 'dataset = "b2b"\nn_customers = 300')
    text = text.replace('calibration_end = "1997-09-30"', 'calibration_end = "2023-12-31"')
    path.write_text(text.format(data="") + '\n[evaluation]\nvalue = "industry"\n')
    with pytest.raises(segml.DataError, match=r"\[evaluation\] value = 'industry' names a column"):
        segml.run_experiment(path)


def test_the_readme_states_the_catalogue_count() -> None:
    from conftest import REPO

    rows = [
        line
        for line in (REPO / "docs" / "bad-input.md").read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| input |")
    ]
    assert (
        f"[docs/bad-input.md](docs/bad-input.md): {len(rows)} cases"
        in (REPO / "README.md").read_text()
    )


@pytest.mark.parametrize(
    ("customers", "pattern"),
    [
        ('""', "is a directory, not a regular file"),  # the experiment's own folder
        ('"crm.parquet"', "is not a Parquet file: it starts with 'customer_id"),
    ],
)
def test_a_customers_file_that_is_a_folder_or_unreadable(tmp_path, customers, pattern) -> None:
    """Found by the experiment-file fuzzer: ``customers = ""`` named the folder itself."""
    LOG.to_csv(tmp_path / "crm.parquet", index=False)
    path = tmp_path / "e.toml"
    path.write_text(EXPERIMENT.format(data=f"customers = {customers}"))
    with pytest.raises(segml.ConfigError, match=pattern):
        segml.load_config(path)
