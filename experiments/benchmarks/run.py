"""segml benchmarks, side by side with the reference (lifetimes, scikit-learn, hdbscan).

    python experiments/benchmarks/run.py [--quick] [--repeats 3] [--workdir DIR]
                                         [--output results.json] [--tracking-uri URI]

Synthetic data come from segml's BG/NBD + Gamma-Gamma generator (about 9 transactions per
customer over 78 weeks); the Pareto/NBD case uses a Pareto/NBD customer table (times in whole
days). Every case runs segml and the reference alternately, each
measurement in a fresh subprocess (so each side's peak resident memory is its own), at least
three times; the table reports medians, the ratio reference/segml and the peak resident
memory of the operation (the process's peak reset once the input is loaded; the resident
memory it started from in brackets; the whole process's peak is in the JSON). Results go
to a JSON file and to MLflow (experiment "segml-benchmarks"). Benchmark data and results are
generated output under the work directory (default outputs/benchmarks), never committed.
``--quick`` uses small sizes and runs in the test suite to keep the benchmarks working; no
threshold is asserted anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FREQ = {"r": 1.2, "alpha": 8.0, "a": 0.4, "b": 8.0}
# Pareto/NBD data for the Pareto/NBD case (CDNOW's estimates): on BG/NBD data its maximum
# likelihood runs to the edge of the parameter space, which segml reports as an error.
PNBD = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
# MBG/CNBD-3 buyers for the regular-buyer case (BTYDplus's own test of the model).
CNBD = {"r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42}
CAL, HOLD = "2024-09-29", "2025-06-29"

EXPERIMENT = """
[experiment]
name = "bench"
[data]
transactions = "{tx}"
calibration_end = "{cal}"
holdout_end = "{hold}"
unit = "W"
[clv]
discount_rate = 0.1
intervals = 0
[[segmenters]]
name = "kmeans"
method = "kmeans"
k = [3, 4, 5]
[[segmenters]]
name = "gmm"
method = "gmm"
k = [3, 4]
[[segmenters]]
name = "hdbscan"
method = "hdbscan"
[[segmenters]]
name = "rfm"
method = "rfm"
[[segmenters]]
name = "value_tiers"
method = "value_tiers"
[evaluation]
min_share = 0.02
"""


def machine() -> dict[str, object]:
    import os

    mem = None
    with contextlib.suppress(ValueError, OSError):
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cores": os.cpu_count(),
        "memory_gb": mem,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": platform.system(),
    }


#: the covariates of the covariate benchmark: 3 x 4 x 3 x 3 x 2 = 216 patterns
COVARIATES = {
    "plan": (["basic", "pro", "enterprise"], [0.5, 0.35, 0.15]),
    "region": (["north", "south", "east", "west"], None),
    "channel": (["web", "sales", "partner"], [0.5, 0.3, 0.2]),
    "size": (["small", "medium", "large"], [0.6, 0.3, 0.1]),
    "new": (["yes", "no"], None),
}


def covariate_table(n: int, model: str, seed: int) -> pd.DataFrame:
    """A customer table with five categorical covariates: enterprise plans and large firms
    buy 1.5x and 1.3x as often; under Pareto/NBD partners' dropout rate is 0.6x. Times in
    weeks, whole days, as in a table from a log."""
    rng = np.random.default_rng(seed)
    cov = pd.DataFrame({k: rng.choice(levels, n, p=p) for k, (levels, p) in COVARIATES.items()})
    mult = np.where(cov["plan"] == "enterprise", 1.5, 1.0)
    mult = mult * np.where(cov["size"] == "large", 1.3, 1.0)
    params = PNBD if model == "pnbd" else FREQ
    lam = rng.gamma(params["r"], 1 / params["alpha"], n) * mult
    T = np.floor((78.0 - rng.uniform(0, 26, n)) * 7) / 7  # 18 months: dropout identified
    if model == "pnbd":
        mu = rng.gamma(PNBD["s"], 1 / PNBD["beta"], n) * np.where(
            cov["channel"] == "partner", 0.6, 1
        )
        active = np.minimum(rng.exponential(1 / mu), T)
        x = rng.poisson(lam * active)
        t_x = np.where(x > 0, active * rng.uniform(size=n) ** (1 / np.maximum(x, 1)), 0.0)
    else:
        drop = rng.geometric(np.clip(rng.beta(FREQ["a"], FREQ["b"], n), 1e-12, 1))
        arrivals = rng.poisson(lam * T)
        x = np.minimum(arrivals, drop)
        t_x = np.zeros(n)
        pos = x > 0
        t_x[pos] = T[pos] * rng.beta(x[pos], arrivals[pos] - x[pos] + 1)
    t_x = np.minimum(np.floor(t_x * 7) / 7, T)
    return cov.assign(frequency=x, recency=np.where(x > 0, t_x, 0.0), T=T)


def prepare_covariates(workdir: Path, n: int) -> None:
    """The customer tables with covariates, of both models."""
    workdir.mkdir(parents=True, exist_ok=True)
    for model in ("bgnbd", "pnbd"):
        cov_path = workdir / f"cov_{model}_{n}.parquet"
        if not cov_path.exists():
            covariate_table(n, model, seed=n).to_parquet(cov_path)


def prepare(workdir: Path, sizes: dict[str, int]) -> None:
    """Transaction logs, customer tables, a fitted CLV model, the experiment file."""
    import segml

    workdir.mkdir(parents=True, exist_ok=True)
    wanted = sorted(set(sizes.values()))
    for n in wanted:
        tx_path = workdir / f"tx_{n}.parquet"
        if not tx_path.exists():
            tx = segml.simulate_transactions(n, frequency_params=FREQ, random_state=n)
            tx.attrs = {}
            tx.to_parquet(tx_path)
        table_path = workdir / f"table_{n}.parquet"
        if not table_path.exists():
            tx = pd.read_parquet(tx_path)
            table = segml.summarize(tx, calibration_end=CAL, unit="W")
            table.attrs = {}
            table[["frequency", "recency", "T", "monetary_value"]].to_parquet(table_path)
            clv = segml.CLVModel(unit="W").fit(table)
            (workdir / f"clv_{n}.json").write_text(clv.to_json())
        by_date = workdir / f"txdate_{n}.parquet"
        if n == sizes["s3"] and not by_date.exists():
            # The same log in time order, as most exports come: no help from customer grouping.
            tx = pd.read_parquet(tx_path)
            tx.sort_values("date", kind="stable").reset_index(drop=True).to_parquet(by_date)
        spark_path = workdir / f"txspark_{n}.parquet"
        if n == sizes["s3"] and not spark_path.exists():
            # Spark reads microsecond timestamps only; pandas writes nanoseconds.
            partial = spark_path.with_suffix(".partial")
            pd.read_parquet(tx_path).to_parquet(
                partial, coerce_timestamps="us", allow_truncated_timestamps=True
            )
            partial.rename(spark_path)
        returns_path = workdir / f"txreturns_{n}.parquet"
        if n == sizes["s3"] and not returns_path.exists():
            write_returns_log(tx_path, returns_path, seed=n)
        pnbd_path = workdir / f"pnbd_{n}.parquet"
        if n in (sizes["pareto"], sizes["pareto_ref"]) and not pnbd_path.exists():
            from segml.data.datasets import _simulate_pnbd

            _simulate_pnbd(n, PNBD, random_state=n).to_parquet(pnbd_path)
        if n == sizes["covariates"]:
            prepare_covariates(workdir, n)
        cnbd_path = workdir / f"cnbd_{n}.parquet"
        if n == sizes["big"] and not cnbd_path.exists():
            write_regular_table(cnbd_path, n, seed=n)
        toml = workdir / f"bench_{n}.toml"
        # The log sits beside the experiment file; paths there are relative to the file.
        toml.write_text(EXPERIMENT.format(tx=tx_path.name, cal=CAL, hold=HOLD))


def write_regular_table(target: Path, n: int, seed: int) -> None:
    """A customer table of MBG/CNBD-3 buyers (BTYDplus's test parameters), ages 12-96 weeks
    in steps of 12, recency in whole days as summarize makes it."""
    from segml.clv.cnbd import simulate_histories

    rng = np.random.default_rng(seed)
    ages = np.round(rng.uniform(12, 96, n) / 12) * 12
    table = simulate_histories(n, CNBD, 3, 1, ages, random_state=seed)
    table["recency"] = np.floor(table["recency"] * 7) / 7
    table.to_parquet(target)


def write_returns_log(source: Path, target: Path, seed: int, share: float = 0.02) -> None:
    """The log of ``source`` plus returns, ``share`` of its rows: each returns part of a
    purchase (20-100 %) of the same customer 0-60 days after it, as real retail logs book
    cancellations and credit notes."""
    tx = pd.read_parquet(source)
    rng = np.random.default_rng(seed)
    picked = tx.sample(frac=share, random_state=seed)
    back = pd.DataFrame(
        {
            "customer_id": picked["customer_id"].to_numpy(),
            "date": picked["date"].to_numpy()
            + pd.to_timedelta(rng.integers(0, 61, len(picked)), unit="D").to_numpy(),
            "amount": -np.round(
                picked["amount"].to_numpy() * rng.uniform(0.2, 1.0, len(picked)), 2
            ),
        }
    )
    out = pd.concat([tx, back], ignore_index=True).sort_values(
        ["customer_id", "date"], kind="stable"
    )
    out.reset_index(drop=True).to_parquet(target)


TIMEOUT = 900.0


#: memory figures of each measurement (see cases.py): the operation's peak resident memory,
#: the resident memory it started from (input loaded), the whole process's peak
MEMORY_KEYS = ("peak_mb", "start_mb", "process_peak_mb")


def measure(case: str, side: str, workdir: Path, size: int) -> dict[str, float]:
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / "cases.py"), case, side, str(workdir), str(size)],
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"seconds": float("inf"), "peak_mb": float("nan"), "timed_out": TIMEOUT}
    if proc.returncode != 0:
        raise RuntimeError(f"{case}/{side} at {size} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_case(
    name: str,
    case: str,
    workdir: Path,
    size: int,
    repeats: int,
    reference: bool = True,
    ref_size: int | None = None,
) -> dict[str, object]:
    sides = ["segml", "reference"] if reference else ["segml"]
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
    for rep in range(repeats):
        order = sides if rep % 2 == 0 else sides[::-1]  # alternate who goes first
        for side in order:
            if runs[side] and runs[side][-1].get("timed_out"):
                continue  # one timeout is the answer; do not spend it three times
            runs[side].append(
                measure(case, side, workdir, ref_size if side == "reference" and ref_size else size)
            )
    row: dict[str, object] = {"case": name, "size": size}
    for side in sides:
        times = [r["seconds"] for r in runs[side]]
        row[f"{side}_seconds"] = statistics.median(times)
        for key in MEMORY_KEYS:  # the worst of the runs
            row[f"{side}_{key}"] = max(r.get(key, float("nan")) for r in runs[side])
        row[f"{side}_extra"] = {
            k: v for k, v in runs[side][-1].items() if k not in ("seconds", *MEMORY_KEYS)
        }
    if reference:
        row["reference_size"] = ref_size or size
        row["ratio"] = float(row["reference_seconds"]) / float(row["segml_seconds"])  # type: ignore[arg-type]
        if ref_size:  # compare per customer when the reference ran on fewer customers
            row["ratio"] = (float(row["reference_seconds"]) / ref_size) / (
                float(row["segml_seconds"]) / size
            )  # type: ignore[arg-type]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("outputs/benchmarks"))
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--no-tracking", action="store_true")
    parser.add_argument(
        "--only", default=None, help="run only the cases whose key contains this (e.g. summary)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    args = parser.parse_args()
    if args.quick:
        sizes = {
            "s1": 1_000,
            "s2": 2_000,
            "s3": 3_000,
            "big": 3_000,
            "pareto": 10_000,
            "pareto_ref": 300,
            "hdb_ref": 2_000,
            "covariates": 20_000,  # fewer leave some of the 216 patterns at the boundary
        }
    else:
        sizes = {
            "s1": 110_000,
            "s2": 550_000,
            "s3": 1_100_000,
            "big": 1_000_000,
            "pareto": 1_000_000,
            "pareto_ref": 100_000,
            "hdb_ref": 100_000,
            "covariates": 1_000_000,
        }
    global TIMEOUT
    TIMEOUT = args.timeout
    workdir = args.workdir
    only_covariates = args.only is not None and args.only.startswith("covariates")
    if only_covariates:  # the covariate cases read their own tables only
        prepare_covariates(workdir, sizes["covariates"])
    else:
        prepare(workdir, sizes)
    cases = [
        ("customer table", "summary", sizes["s1"], {}),
        ("customer table", "summary", sizes["s2"], {}),
        ("customer table", "summary", sizes["s3"], {}),
        ("customer table, log in time order", "summary_by_date", sizes["s3"], {}),
        # From the Parquet file, reading included on both sides: segml.summarize(path)
        # against pandas.read_parquet + lifetimes (lifetimes takes only a DataFrame).
        ("customer table from the file", "summary_file", sizes["s3"], {}),
        ("customer table from the file, time order", "summary_file_by_date", sizes["s3"], {}),
        # 2 % of the rows are returns booked up to 60 days later: netted across days by
        # segml (returns="net"), summed as they come by lifetimes; the drop case is the
        # same log with returns="drop", the netting's cost read against it.
        ("customer table, 2 % returns netted", "summary_returns", sizes["s3"], {}),
        (
            "customer table, 2 % returns dropped",
            "summary_returns_drop",
            sizes["s3"],
            {"reference": False},
        ),
        # segml.spark.summarize on local[2] against segml.summarize, the same Parquet file.
        ("customer table on Spark local[2] (vs pandas)", "spark_summary", sizes["s3"], {}),
        ("BG/NBD + Gamma-Gamma fit", "fit", sizes["big"], {}),
        ("Pareto/NBD fit", "pareto", sizes["pareto"], {"ref_size": sizes["pareto_ref"]}),
        # MBG/CNBD-k at a fixed k = 3: no Python library has the model (BTYDplus is R).
        ("MBG/CNBD-3 fit", "cnbd", sizes["big"], {"reference": False}),
        # Five categorical covariates (216 patterns) in both processes, against the same
        # model without covariates on the same table (the reference side).
        ("BG/NBD fit, 5 covariates (vs none)", "covariates_bgnbd", sizes["covariates"], {}),
        ("Pareto/NBD fit, 5 covariates (vs none)", "covariates_pnbd", sizes["covariates"], {}),
        ("12-month discounted CLV", "clv", sizes["big"], {}),
        # 200 paired bootstrap resamples of the comparison's headline score, 7 segmentations.
        ("comparison intervals, 7 segmentations", "intervals", sizes["big"], {"reference": False}),
        # 200 parameter draws, then 90 % predictive intervals of every customer's purchases and
        # CLV; the point prediction's time is in the JSON beside it.
        ("CLV predictive intervals", "clv_intervals", sizes["big"], {"reference": False}),
        ("k-means fit + assign", "kmeans", sizes["big"], {}),
        # hdbscan's approximate_predict takes minutes at 1M: the reference runs on fewer
        # customers and the ratio is per customer.
        ("HDBSCAN sample fit + assign", "hdbscan", sizes["big"], {"ref_size": sizes["hdb_ref"]}),
        ("segml run end to end", "run", sizes["big"], {"reference": False}),
        ("scoring in process", "scoring", sizes["big"], {"reference": False}),
    ]
    if args.only:
        cases = [c for c in cases if args.only in c[1]]
    rows = []
    started = time.perf_counter()
    for name, case, size, kw in cases:
        repeats = 1 if case == "run" else args.repeats
        if case == "scoring":
            src = workdir / "models" / "bench"
            dst = workdir / f"model_{size}"
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        print(f"running {name} at {size:,} ...", file=sys.stderr, flush=True)
        rows.append(run_case(name, case, workdir, size, repeats, **kw))
        partial = workdir / ("partial-quick.json" if args.quick else "partial.json")
        partial.write_text(
            json.dumps({"machine": machine(), "cases": rows}, indent=2, default=float)
        )
    result = {
        "machine": machine(),
        "quick": args.quick,
        "repeats": args.repeats,
        "seconds_total": time.perf_counter() - started,
        "cases": rows,
    }
    for row in rows:
        if str(row["case"]).startswith("customer table"):
            row["transactions"] = row["segml_extra"].get("transactions")  # type: ignore[union-attr]
        if row["case"] == "BG/NBD + Gamma-Gamma fit":
            row["max_relative_difference"] = estimate_difference(row)

    out = args.output or workdir / ("results-quick.json" if args.quick else "results.json")
    out.write_text(json.dumps(result, indent=2, default=float))
    print(format_table(result))
    if not args.no_tracking:
        log_to_mlflow(result, args.tracking_uri)


def estimate_difference(row: dict) -> float:
    """Largest relative difference between segml's and the reference's estimates."""
    ours, ref = row["segml_extra"], row["reference_extra"]
    return max(
        abs(ours[model][name] - ref[model][name]) / abs(ref[model][name])
        for model in ("bgnbd", "gamma_gamma")
        for name in ref[model]
    )


def format_table(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"machine: {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}",
        "| case | size | segml s | reference s | ratio | segml peak MB | reference peak MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["cases"]:
        size = f"{r['transactions']:,} tx" if r.get("transactions") else f"{r['size']:,} customers"
        ref = f"{r['reference_seconds']:.2f}" if "reference_seconds" in r else "-"
        ratio = f"{r['ratio']:.1f}x" if "ratio" in r else "-"
        if r["case"] == "scoring in process":
            ratio = f"{r['segml_extra']['customers_per_second']:,.0f} customers/s"
        if "max_relative_difference" in r:
            ratio += f" (estimates within {r['max_relative_difference']:.0e})"
        if r.get("reference_size") and r["reference_size"] != r["size"]:
            ref += f" (at {r['reference_size']:,})"
        ref_mb = _memory(r, "reference")
        if r["segml_extra"].get("timed_out"):  # type: ignore[union-attr]
            r = {**r, "segml_seconds": float("nan"), "segml_peak_mb": float("nan")}
            ratio = f"segml timed out after {r['segml_extra']['timed_out']:.0f} s"
        lines.append(
            f"| {r['case']} | {size} | {r['segml_seconds']:.2f} | {ref} | {ratio} | "
            f"{_memory(r, 'segml')} | {ref_mb} |"
        )
    return "\n".join(lines)


def _memory(row: dict, side: str) -> str:
    """Peak MB of the operation and, in brackets, the resident MB it started from."""
    if f"{side}_peak_mb" not in row:
        return "-"
    peak, start = row[f"{side}_peak_mb"], row.get(f"{side}_start_mb", float("nan"))
    return f"{peak:,.0f}" + ("" if start != start else f" (from {start:,.0f})")


def log_to_mlflow(result: dict, uri: str | None) -> None:
    from mlflow.tracking import MlflowClient

    from segml.tracking.log import resolve_tracking_uri

    uri = resolve_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("segml-benchmarks")
    exp_id = exp.experiment_id if exp else client.create_experiment("segml-benchmarks")
    run = client.create_run(exp_id, run_name="quick" if result["quick"] else "full")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in result["cases"]:
            name = f"{r['case']}_at_{r.get('transactions') or r['size']}".replace("+", "and")
            key = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)  # MLflow metric names
            client.log_metric(run.info.run_id, f"{key}.segml_seconds", float(r["segml_seconds"]))
            client.log_metric(run.info.run_id, f"{key}.segml_peak_mb", float(r["segml_peak_mb"]))
            if "ratio" in r:
                client.log_metric(run.info.run_id, f"{key}.ratio", float(r["ratio"]))
        client.log_dict(run.info.run_id, result, "results.json")
    client.set_terminated(run.info.run_id)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
