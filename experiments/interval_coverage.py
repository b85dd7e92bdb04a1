"""Coverage of the parameter intervals by simulation, for every frequency model.

For each model: draw ``--reps`` customer tables of ``--customers`` customers from known
parameters (the CDNOW estimates), fit, and count how often ``conf_int(level, method)``
holds each true parameter. Histories are drawn exactly, not event by event: with ``K`` Poisson
purchases in ``[0, T]`` the ``x``-th purchase time is ``T`` times a Beta(x, K - x + 1) draw.

    python experiments/interval_coverage.py --reps 400 --method wald --out coverage.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

import segml

TRUTH = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "pnbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
}


def simulate(
    model: str, params: dict[str, float], n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """(frequency, recency, T) of ``n`` customers acquired uniformly over 12 of 39 weeks."""
    T = 39.0 - rng.uniform(0.0, 12.0, n)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    if model == "pnbd":
        life = rng.exponential(1.0 / rng.gamma(params["s"], 1.0 / params["beta"], n))
        span = np.minimum(life, T)
        x = rng.poisson(lam * span)
        t_x = np.where(x > 0, span * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    else:
        p = rng.beta(params["a"], params["b"], n)
        allowed = rng.geometric(p) - (1 if model == "mbgnbd" else 0)  # repeat purchases
        k = rng.poisson(lam * T)
        x = np.minimum(k, allowed)
        t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(k - x + 1, 1)), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--level", type=float, default=0.9)
    parser.add_argument("--models", default="bgnbd,mbgnbd,pnbd")
    parser.add_argument("--method", default="wald", choices=["wald", "profile"])
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    args = parser.parse_args()
    results = {}
    for model in args.models.split(","):
        truth = TRUTH[model]
        hits = dict.fromkeys(truth, 0)
        failed, start = 0, time.perf_counter()
        for seed in range(args.reps):
            table = simulate(model, truth, args.customers, np.random.default_rng(seed))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fitted = segml.clv.FREQUENCY_MODELS[model]().fit(table)
            except segml.FitError:
                failed += 1
                continue
            ci = fitted.conf_int(args.level, method=args.method)
            for name, value in truth.items():
                hits[name] += bool(ci.loc[name, "lower"] <= value <= ci.loc[name, "upper"])
        done = args.reps - failed
        results[model] = {
            "truth": truth,
            "data_sets": args.reps,
            "fits_failed": failed,
            "coverage": {k: v / done for k, v in hits.items()},
            "seconds": time.perf_counter() - start,
        }
        print(model, json.dumps(results[model]), flush=True)
    summary = {
        "customers": args.customers,
        "level": args.level,
        "method": args.method,
        "models": results,
    }
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
