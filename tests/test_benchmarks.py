"""The benchmarks keep working (quick sizes); no speed threshold is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_quick_benchmarks_run_and_report_every_case(tmp_path, segml_home) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "benchmarks" / "run.py"),
            "--quick",
            "--repeats",
            "3",
            "--workdir",
            str(tmp_path / "work"),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    cases = {r["case"] for r in result["cases"]}
    assert cases == {
        "customer table",
        "customer table, log in time order",
        "customer table from the file",
        "customer table from the file, time order",
        "customer table, 2 % returns netted",
        "customer table, 2 % returns dropped",
        "customer table on Spark local[2] (vs pandas)",
        "BG/NBD + Gamma-Gamma fit",
        "Pareto/NBD fit",
        "MBG/CNBD-3 fit",
        "BG/NBD fit, 5 covariates (vs none)",
        "Pareto/NBD fit, 5 covariates (vs none)",
        "12-month discounted CLV",
        "comparison intervals, 7 segmentations",
        "CLV predictive intervals",
        "k-means fit + assign",
        "HDBSCAN sample fit + assign",
        "segml run end to end",
        "scoring in process",
    }
    for row in result["cases"]:
        assert row["segml_seconds"] > 0 and row["segml_peak_mb"] > 0
        if "ratio" in row:
            assert row["reference_seconds"] > 0 and row["reference_peak_mb"] > 0
        for side in ("segml", "reference") if "ratio" in row else ("segml",):
            # The operation's peak starts from the memory it started with (input loaded; a
            # few MB of slack: the kernel's per-thread counters lag) and is part of the
            # whole process's peak.
            start, peak = row[f"{side}_start_mb"], row[f"{side}_peak_mb"]
            assert 0 < start <= peak + 5 and peak <= row[f"{side}_process_peak_mb"], row
    by_name = {r["case"]: r for r in result["cases"]}
    spark = by_name["customer table on Spark local[2] (vs pandas)"]
    time_order = by_name["customer table, log in time order"]  # the same log
    assert spark["segml_extra"]["transactions"] == time_order["transactions"]
    assert spark["reference_extra"]["customers"] == time_order["segml_extra"]["customers"]
    fit = next(r for r in result["cases"] if r["case"] == "BG/NBD + Gamma-Gamma fit")
    for name, value in fit["reference_extra"]["bgnbd"].items():
        assert abs(fit["segml_extra"]["bgnbd"][name] / value - 1) < 1e-3, name
    assert fit["max_relative_difference"] < 1e-3
    assert result["machine"]["cores"] >= 1
    assert "| case | size |" in proc.stdout
