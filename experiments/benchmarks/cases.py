"""One benchmark measurement in a fresh process: ``python cases.py CASE SIDE WORKDIR SIZE``.

Prints one JSON line: seconds (the operation only, not imports or loading), the peak
resident memory of the operation in MB (``peak_mb``: the process's high-water mark, reset
just before the operation starts, so the input is counted but the transient memory of
loading it is not), the resident memory it started from (``start_mb``: interpreter,
imports and input), the whole process's peak (``process_peak_mb``), and case-specific
extras (estimates, counts).
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")
CAL = "2024-09-29"  # calibration end of the synthetic logs (start 2024-01-01 + 39 weeks)


def peak_mb() -> float:
    """Peak resident memory of this process since exec (VmHWM; ru_maxrss would include the
    parent's memory at fork time on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


#: memory figures of the timed operation, printed with the result
MEMORY: dict[str, float] = {}


def start_operation() -> None:
    """Free what loading the input left behind and restart the peak from here.

    The same for both sides: Arrow's pool returns the pages it keeps after reading the
    input (pandas.read_parquet leaves several hundred MB in it), then the kernel's peak
    resident set (VmHWM) is reset to the current resident set (``/proc/self/clear_refs``).
    """
    MEMORY["process_peak_mb"] = peak_mb()
    with contextlib.suppress(ImportError):
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        MEMORY["start_mb"] = resident_mb()
    except OSError:  # not Linux: the peak stays the whole process's, loading included
        MEMORY["start_mb"] = float("nan")


def timed(fn):
    start_operation()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    MEMORY["peak_mb"] = peak_mb()
    MEMORY["process_peak_mb"] = max(MEMORY["process_peak_mb"], MEMORY["peak_mb"])
    return seconds, out


def spark_summary(side: str, path: Path) -> dict:
    """segml.spark.summarize on local[2] (the session started before timing; the JVM's
    memory is not in the Python process's peak), or segml.summarize of the same file."""
    if side == "reference":
        from segml import summarize

        seconds, table = timed(lambda: summarize(path, calibration_end=CAL, unit="W"))
        return {"seconds": seconds, "customers": len(table)}
    import os

    from pyspark.sql import SparkSession

    from segml import spark as segml_spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "8g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    log = session.read.parquet(str(path))

    def run() -> None:
        table = segml_spark.summarize(log, calibration_end=CAL, unit="W")
        table.write.format("noop").mode("overwrite").save()  # every column computed

    seconds, _ = timed(run)
    rows = log.count()
    session.stop()
    return {"seconds": seconds, "transactions": rows}


def main() -> None:
    case, side, workdir, size = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    extra: dict = {}
    if case == "run":
        from segml.cli import main as cli

        toml = workdir / f"bench_{size}.toml"
        out = [str(workdir / f"run_{size}"), str(workdir / "models")]
        seconds, code = timed(
            lambda: cli(
                ["run", str(toml), "--no-tracking", "--output-dir", out[0], "--models-dir", out[1]],
                standalone_mode=False,
            )
        )
        if code not in (None, 0):
            raise SystemExit(f"segml run failed with exit code {code}")
        print(json.dumps({"seconds": seconds, **MEMORY}))
        return
    if case == "spark_summary":
        extra = spark_summary(side, workdir / f"txspark_{size}.parquet")
        print(json.dumps({**extra, **MEMORY}, default=float))
        return
    if case.startswith("summary_returns"):
        path = workdir / f"txreturns_{size}.parquet"
        tx = pd.read_parquet(path)
        if side == "segml":
            from segml import read_transactions, summarize

            policy = "drop" if case.endswith("drop") else "net"
            seconds, table = timed(
                lambda: summarize(
                    read_transactions(tx, amount="amount", returns=policy),
                    calibration_end=CAL,
                    unit="W",
                )
            )
        else:
            from lifetimes.utils import summary_data_from_transaction_data

            seconds, table = timed(
                lambda: summary_data_from_transaction_data(
                    tx,
                    "customer_id",
                    "date",
                    monetary_value_col="amount",
                    observation_period_end=CAL,
                    freq="D",
                    freq_multiplier=7,
                )
            )
        extra = {"customers": len(table), "transactions": len(tx)}
        print(json.dumps({"seconds": seconds, **MEMORY, **extra}, default=float))
        return
    if case.startswith("summary"):
        path = workdir / f"{'txdate' if case.endswith('by_date') else 'tx'}_{size}.parquet"
        from_file = case.startswith("summary_file")  # reading is part of the measurement
        tx = None if from_file else pd.read_parquet(path)
        if side == "segml":
            from segml import read_transactions, summarize  # imported before timing

            # The documented routes: a file straight in, a frame read then summarised.
            seconds, table = timed(
                lambda: summarize(
                    path if from_file else read_transactions(tx, amount="amount"),
                    calibration_end=CAL,
                    unit="W",
                )
            )
        else:
            from lifetimes.utils import summary_data_from_transaction_data

            seconds, table = timed(
                lambda: summary_data_from_transaction_data(
                    pd.read_parquet(path) if from_file else tx,
                    "customer_id",
                    "date",
                    monetary_value_col="amount",
                    observation_period_end=CAL,
                    freq="D",
                    freq_multiplier=7,
                )
            )
        import pyarrow.parquet as pq

        extra = {"customers": len(table), "transactions": pq.ParquetFile(path).metadata.num_rows}
    else:
        name = {"pareto": "pnbd", "cnbd": "cnbd"}.get(case, "table")
        if case.startswith("covariates_"):  # a table with five categorical covariates
            name = f"cov_{case.split('_')[1]}"
        table = pd.read_parquet(workdir / f"{name}_{size}.parquet")
        if case == "fit":
            if side == "segml":
                from segml import BetaGeo, GammaGamma

                def run():
                    return BetaGeo().fit(table).params_, GammaGamma().fit(table).params_
            else:
                from lifetimes import BetaGeoFitter, GammaGammaFitter

                rep = table[(table["frequency"] > 0) & (table["monetary_value"] > 0)]

                def run():
                    bg = BetaGeoFitter().fit(table["frequency"], table["recency"], table["T"])
                    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
                    return dict(bg.params_), {
                        "p": gg.params_["p"],
                        "q": gg.params_["q"],
                        "gamma": gg.params_["v"],
                    }

            seconds, (bg, gg) = timed(run)
            extra = {
                "bgnbd": {k: float(v) for k, v in bg.items()},
                "gamma_gamma": {k: float(v) for k, v in gg.items()},
            }
        elif case.startswith("covariates_"):
            import segml

            cls = segml.BetaGeo if case.endswith("bgnbd") else segml.ParetoNBD
            names = ["plan", "region", "channel", "size", "new"]
            if side == "segml":
                seconds, model = timed(
                    lambda: cls(purchase_covariates=names, dropout_covariates=names).fit(table)
                )
                extra = {"coefficients": model.coefficients_, "rows": model.n_unique_rows_}
            else:
                seconds, model = timed(lambda: cls().fit(table))
                extra = {"params": model.params_, "rows": model.n_unique_rows_}
        elif case == "cnbd":
            from segml import ModifiedBetaGeoCNBD

            seconds, model = timed(lambda: ModifiedBetaGeoCNBD(k=3).fit(table))
            extra = {"params": model.params_, "rows": model.n_unique_rows_}
        elif case == "pareto":
            if side == "segml":
                from segml import ParetoNBD

                seconds, model = timed(lambda: ParetoNBD().fit(table))
                extra = {"params": model.params_}
            else:
                from lifetimes import ParetoNBDFitter

                seconds, model = timed(
                    lambda: ParetoNBDFitter().fit(
                        table["frequency"], table["recency"], table["T"], initial_params=np.ones(4)
                    )
                )
                extra = {"params": {k: float(v) for k, v in model.params_.items()}}
        elif case == "clv":
            state = json.loads((workdir / f"clv_{size}.json").read_text())
            if side == "segml":
                import segml

                model = segml.CLVModel.from_dict(state)
                # 12 months at 1 % a month, as lifetimes' loop below (12.68 % a year)
                seconds, out = timed(
                    lambda: model.predict(table, horizon=52.1775, discount_rate=1.01**12 - 1)
                )
                extra = {"total_clv": float(out["clv"].sum())}
            else:
                from lifetimes import BetaGeoFitter, GammaGammaFitter

                bg = BetaGeoFitter()
                bg.params_ = pd.Series(state["frequency_model"]["params"])
                bg.predict = bg.conditional_expected_number_of_purchases_up_to_time
                gg = GammaGammaFitter()
                p = state["spend_model"]["params"]
                gg.params_ = pd.Series({"p": p["p"], "q": p["q"], "v": p["gamma"]})
                seconds, out = timed(
                    lambda: gg.customer_lifetime_value(
                        bg,
                        table["frequency"],
                        table["recency"],
                        table["T"],
                        table["monetary_value"],
                        time=12,
                        discount_rate=0.01,
                        freq="W",
                    )
                )
                extra = {"total_clv": float(np.sum(out))}
        elif case == "kmeans":
            if side == "segml":
                from segml import ClusterSegmenter

                seconds, labels = timed(
                    lambda: ClusterSegmenter("kmeans", k=4, random_state=0).fit_predict(table)
                )
            else:
                from sklearn.cluster import KMeans
                from sklearn.preprocessing import StandardScaler

                X = table[["frequency", "recency", "T", "monetary_value"]].to_numpy()
                seconds, labels = timed(
                    lambda: KMeans(n_clusters=4, random_state=0).fit_predict(
                        StandardScaler().fit_transform(X)
                    )
                )
            extra = {"clusters": len(set(labels))}
        elif case == "hdbscan":
            if side == "segml":
                import hdbscan  # (imported before timing, as on the reference side)

                from segml import ClusterSegmenter

                seconds, labels = timed(
                    lambda: ClusterSegmenter(
                        "hdbscan", sample_size=20_000, random_state=0
                    ).fit_predict(table)
                )
            else:
                import hdbscan
                from sklearn.preprocessing import StandardScaler

                X = StandardScaler().fit_transform(
                    np.log1p(table[["frequency", "T", "monetary_value"]].to_numpy())
                )

                def run():
                    idx = np.random.default_rng(0).choice(
                        len(X), size=min(20_000, len(X)), replace=False
                    )
                    model = hdbscan.HDBSCAN(min_cluster_size=400, prediction_data=True).fit(X[idx])
                    return hdbscan.approximate_predict(model, X)[0]

                seconds, labels = timed(run)
            extra = {"clusters": int(len(set(labels)) - (1 if -1 in set(labels) else 0))}
        elif case == "intervals":
            import segml
            from segml.segment.intervals import normalised_gini_draws

            model = segml.CLVModel.from_dict(json.loads((workdir / f"clv_{size}.json").read_text()))
            predicted = model.predict(table, horizon=52)["clv"].to_numpy()
            actual = (table["frequency"] * table["monetary_value"]).to_numpy()
            # Seven labellings of 2-10 segments, as a comparison has.
            labellings = {
                f"{col}_{q}": pd.qcut(table[col].rank(method="first"), q, labels=False).to_numpy()
                for col, q in [
                    ("T", 4), ("recency", 5), ("frequency", 3), ("monetary_value", 6),
                    ("T", 10), ("recency", 2), ("monetary_value", 8),
                ]
            }  # fmt: skip
            seconds, draws = timed(
                lambda: normalised_gini_draws(labellings, actual, predicted, n_resamples=200)
            )
            extra = {"segmentations": len(draws), "resamples": len(next(iter(draws.values())))}
        elif case == "clv_intervals":
            import segml

            model = segml.CLVModel(unit="W").fit(table)  # fitted outside the timing
            kw = {"horizon": 52.1775, "discount_rate": 0.1268}
            point, _ = timed(lambda: model.predict(table, **kw))

            def run():
                model.bootstrap(table, n_draws=200)  # normal draws above 100,000 customers
                return model.predict(table, interval=0.9, **kw)

            seconds, out = timed(run)
            extra = {
                "point_prediction_seconds": point,
                "draws": out.attrs["interval"]["draws"],
                "total_clv_interval": out.attrs["interval"]["totals"]["clv"],
            }
        elif case == "scoring":
            import segml
            from segml.tracking.export import load_model

            model = load_model(str(workdir / f"model_{size}"))
            frame = table[["frequency", "recency", "T", "monetary_value"]].reset_index()
            seconds, out = timed(lambda: model.predict(None, frame))
            extra = {"customers_per_second": len(frame) / seconds, "rows": len(out)}
        else:
            raise SystemExit(f"unknown case {case}")
    print(json.dumps({"seconds": seconds, **MEMORY, **extra}, default=float))


if __name__ == "__main__":
    main()
