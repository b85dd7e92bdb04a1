"""`segml score`: one row per customer, ids as strings, atomic output, clear errors."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO

import segml
from segml.cli import main
from segml.tracking.export import save_model


@pytest.fixture(scope="module")
def cdnow_model(tmp_path_factory) -> tuple[Path, segml.ExperimentResult]:
    result = segml.run_experiment(REPO / "experiments" / "cdnow.toml")
    return save_model(result, tmp_path_factory.mktemp("m") / "cdnow"), result


def cdnow_csv(path: Path) -> Path:
    tx = segml.load_cdnow()
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scored_file(cdnow_model, tmp_path_factory) -> tuple[pd.DataFrame, str]:
    """segml score of CDNOW plus two customers it cannot score, in chunks of 500."""
    model, _ = cdnow_model
    tmp_path = tmp_path_factory.mktemp("scored")
    tx = pd.read_csv(cdnow_csv(tmp_path / "tx.csv"), dtype={"customer_id": str})
    extra = pd.DataFrame(
        {
            "customer_id": ["9990001", "9990002", "9990002"],
            "date": ["not a date", "1998-01-05", "1998-02-01"],
            "amount": [10.0, 20.0, 30.0],
        }
    )
    pd.concat([tx, extra]).to_csv(tmp_path / "tx2.csv", index=False)
    out = tmp_path / "scores.csv"
    run = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            str(model),
            "--transactions",
            str(tmp_path / "tx2.csv"),
            "--as-of",
            "1997-09-30",
            "--output",
            str(out),
            "--chunk-size",
            "500",
        ],
    )
    assert run.exit_code == 0, run.output
    scores = pd.read_csv(out, dtype={"customer_id": str, "reason": str}, keep_default_na=False)
    return scores, run.output


def test_every_customer_of_the_file_gets_a_row(scored_file) -> None:
    scores, _ = scored_file
    assert len(scores) == 2357 + 2 == scores["customer_id"].nunique()
    assert scores["customer_id"].iloc[0] == "0001"  # zero-padded ids survive


def test_a_customer_that_cannot_be_scored_gets_the_reason(scored_file) -> None:
    scores, _ = scored_file
    why = scores.set_index("customer_id")["reason"]
    assert why["9990001"] == "no valid transaction"
    assert why["9990002"] == "first purchase after as_of"


def _scored(scores: pd.DataFrame, result: segml.ExperimentResult) -> pd.DataFrame:
    return scores[scores["reason"] == ""].set_index("customer_id").loc[result.table.index]


def test_scores_equal_the_experiments(scored_file, cdnow_model) -> None:
    _, result = cdnow_model
    scored = _scored(scored_file[0], result)
    np.testing.assert_allclose(scored["clv"].astype(float), result.table["clv"], rtol=1e-9)
    np.testing.assert_array_equal(
        scored["segment"].astype(int), result.table[f"segment_{result.champion}"]
    )
    # scored on the training window: nobody out of range, and the two percentiles agree
    assert (scored["out_of_range"] == "").all()
    np.testing.assert_allclose(
        scored["value_percentile"].astype(float), result.table["value_percentile"], atol=0.1
    )


def test_the_batch_percentile_ranks_in_the_whole_file_not_the_chunk(
    scored_file, cdnow_model
) -> None:
    scored = _scored(scored_file[0], cdnow_model[1])
    clv = scored["clv"].astype(float).to_numpy()
    below = (clv[:, None] > clv[None, :]).sum(axis=1)
    np.testing.assert_allclose(
        scored["batch_percentile"].astype(float), 100 * below / (len(clv) - 1)
    )


def test_segml_score_says_what_it_scored(scored_file) -> None:
    _, output = scored_file
    assert "scored 2,357 of 2,359 customers as of 1997-09-30" in output
    assert "first purchase after as_of: 1" in output
    assert "customers per segment:" in output
    assert "outside the ranges the model was trained on: 0 (0.0%)" in output


def test_scoring_past_the_training_range_says_so(cdnow_model, tmp_path) -> None:
    model, _ = cdnow_model
    out = tmp_path / "scores.parquet"
    args = ["score", "--model", str(model), "--transactions", str(cdnow_csv(tmp_path / "tx.csv"))]
    with pytest.warns(UserWarning, match="outside the ranges the model was trained on"):
        run = CliRunner().invoke(main, [*args, "--as-of", "1998-06-30", "--output", str(out)])
    assert run.exit_code == 0, run.output
    scores = pd.read_parquet(out)
    # trained to 1997-09-30 (T 27-39 weeks), scored 39 weeks later: every T is past the range
    assert (scores["out_of_range"].str.split(", ").map(lambda cols: "T" in cols)).all()
    assert "outside the ranges the model was trained on: 2,357 (100.0%)" in run.output
    assert "T 2,357" in run.output
    # the fitted population's percentile drops (the batch is older); the batch's own is flat
    assert scores["value_percentile"].median() < 5
    assert scores["batch_percentile"].median() == pytest.approx(50, abs=1)
    assert scores["value_percentile"].notna().all()


def test_scores_go_to_parquet_as_of_the_last_transaction(cdnow_model, tmp_path) -> None:
    model, _ = cdnow_model
    out = tmp_path / "scores.parquet"
    run = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            str(model),
            "--transactions",
            str(cdnow_csv(tmp_path / "tx.csv")),
            "--output",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    scores = pd.read_parquet(out)
    assert len(scores) == 2357 and scores["customer_id"].dtype != np.int64
    assert "as of 1998-06-30" in run.output  # the last transaction date
    assert not list(tmp_path.glob("*.partial"))


def test_missing_attributes(b2b_tree_model, tmp_path) -> None:
    model, tx, customers = b2b_tree_model
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        tmp_path / "tx.csv", index=False
    )
    partial = customers.copy()
    partial.loc[:4, "annual_revenue"] = np.nan
    partial.to_csv(tmp_path / "crm.csv", index=False)
    out = tmp_path / "s.csv"
    run = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            str(model),
            "--transactions",
            str(tmp_path / "tx.csv"),
            "--customers",
            str(tmp_path / "crm.csv"),
            "--output",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    scores = pd.read_csv(out, dtype={"customer_id": str, "reason": str}, keep_default_na=False)
    assert len(scores) == 300
    assert (scores["reason"] == "missing attribute annual_revenue").sum() == 5
    listed = run.output.split("customers per segment:")[1].split("\n")
    assert not [line for line in listed if line.strip().startswith("nan")]  # unscored: by reason
    customers.drop(columns="industry").to_csv(tmp_path / "crm2.csv", index=False)
    run = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            str(model),
            "--transactions",
            str(tmp_path / "tx.csv"),
            "--customers",
            str(tmp_path / "crm2.csv"),
            "--output",
            str(tmp_path / "s2.csv"),
        ],
    )
    assert run.exit_code == 4  # DataError
    assert "lacks required columns ['industry']" in run.output
    assert not (tmp_path / "s2.csv").exists()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_score_leaves_no_output(cdnow_model, tmp_path, sig, code) -> None:
    """Ctrl-C, or SIGTERM as schedulers, systemd and Kubernetes send it."""
    model, _ = cdnow_model
    tx = segml.simulate_transactions(40_000, random_state=5)
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        tmp_path / "big.csv", index=False
    )
    out = tmp_path / "scores.parquet"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segml.cli",
            "score",
            "--model",
            str(model),
            "--transactions",
            str(tmp_path / "big.csv"),
            "--output",
            str(out),
            "--chunk-size",
            "1",  # thousands of chunks: still scoring when the signal arrives, under load too
        ],
        stderr=subprocess.PIPE,
        text=True,
        # a test worker may run with SIGINT ignored, which the child would inherit
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("scored "):  # scoring is under way: interrupt it
            proc.send_signal(sig)
            break
    proc.communicate(timeout=120)  # drains stderr: a full pipe would block the child's exit
    assert proc.returncode == code
    assert not out.exists()
    assert not list(tmp_path.glob("*.partial")), "the temporary file is removed too"


def test_unknown_model_is_a_clear_error(tmp_path) -> None:
    run = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            str(tmp_path / "nope"),
            "--transactions",
            str(cdnow_csv(tmp_path / "t.csv")),
            "--output",
            str(tmp_path / "o.csv"),
        ],
    )
    assert run.exit_code == 6  # ModelError
    assert "cannot load model" in run.output


@pytest.mark.parametrize("chunk", ["0", "-1", "-100"])
def test_chunk_size_must_be_positive(cdnow_model, tmp_path, chunk) -> None:
    model, _ = cdnow_model
    args = ["score", "--model", str(model), "--transactions", str(cdnow_csv(tmp_path / "t.csv"))]
    run = CliRunner().invoke(
        main, [*args, "--output", str(tmp_path / "o.csv"), "--chunk-size", chunk]
    )
    assert run.exit_code == 2, run.output
    assert "chunk-size" in run.output
    assert not (tmp_path / "o.csv").exists()


def test_output_equal_to_the_input_is_refused(cdnow_model, tmp_path) -> None:
    model, _ = cdnow_model
    tx = cdnow_csv(tmp_path / "t.csv")
    before = tx.read_bytes()
    args = ["score", "--model", str(model), "--transactions", str(tx), "--output", str(tx)]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 8, run.output
    assert "overwrite its input" in run.output
    assert tx.read_bytes() == before


def test_a_float_id_column_scores_each_customer_once(cdnow_model, tmp_path) -> None:
    """A Parquet log whose id column is float64 (it has a missing id): '2.0' is customer 2."""
    model, _ = cdnow_model
    tx = segml.load_cdnow().head(300)
    ids = tx["customer_id"].astype(float)
    ids.iloc[0] = np.nan
    path = tmp_path / "tx.parquet"
    tx.assign(customer_id=ids).to_parquet(path)
    out = tmp_path / "scores.csv"
    args = ["score", "--model", str(model), "--transactions", str(path), "--output", str(out)]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 0, run.output
    scores = pd.read_csv(out, dtype={"customer_id": str})
    assert scores["customer_id"].is_unique
    assert not scores["customer_id"].str.endswith(".0").any()
    assert set(scores["customer_id"]) == {str(int(i)) for i in ids.dropna()}


@pytest.mark.parametrize("as_of", ["garbage", "1998-13-45"])
def test_an_as_of_that_is_not_a_date(cdnow_model, tmp_path, as_of) -> None:
    model, _ = cdnow_model
    args = ["score", "--model", str(model), "--transactions", str(cdnow_csv(tmp_path / "t.csv"))]
    run = CliRunner().invoke(main, [*args, "--output", str(tmp_path / "o.csv"), "--as-of", as_of])
    assert run.exit_code == 4, run.output  # DataError
    assert f"as_of={as_of!r} is not a date" in run.output
    assert not (tmp_path / "o.csv").exists()
