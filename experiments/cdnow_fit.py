"""CDNOW with the papers' conventions: customer table, CLV models and holdout accuracy.

Run with ``make demo``. Calibration 1997-01-01..1997-09-30, holdout to 1998-06-30, weeks.
Prints the data-quality report, every model's parameters, log-likelihood and standard
errors, and the holdout table of Fader, Hardie & Lee (2005).
"""

from __future__ import annotations

import segml


def main() -> None:
    transactions = segml.load_cdnow("sample")
    table = segml.summarize(
        transactions, calibration_end="1997-09-30", holdout_end="1998-06-30", unit="W"
    )
    print("CDNOW 1/10th sample: data quality")
    print(segml.quality_report(table))
    print(
        f"\ncustomers: {len(table):,}; repeat transactions in calibration: "
        f"{int(table['frequency'].sum()):,}; in holdout: {int(table['holdout_frequency'].sum()):,}"
    )

    for model in (segml.BetaGeo(), segml.ParetoNBD(), segml.ModifiedBetaGeo()):
        model.fit(table)
        params = ", ".join(
            f"{k} = {v:.4f} (se {model.standard_errors_[k]:.4f})" for k, v in model.params_.items()
        )
        print(f"\n{type(model).__name__}: {params}")
        print(
            f"  log-likelihood {model.log_likelihood_:.3f}; BIC {model.bic_:.1f}; "
            f"{model.n_customers_:,} customers fitted on {model.n_unique_rows_:,} unique rows"
        )
        ev = segml.evaluate_holdout(model, table)
        print(
            f"  holdout purchases: actual {ev.actual_total:,.0f}, "
            f"expected {ev.expected_total:,.1f}; "
            f"correlation {ev.correlation:.3f}; MAE {ev.mae:.3f}"
        )
        print(ev.bins.round(4).T.to_string())

    spend = segml.GammaGamma().fit(table)
    params = ", ".join(f"{k} = {v:.3f}" for k, v in spend.params_.items())
    print(
        f"\nGammaGamma: {params}; log-likelihood {spend.log_likelihood_:.2f}; "
        f"population mean spend {spend.population_mean_spend_:.2f}"
    )

    clv = segml.CLVModel(frequency="auto").fit(table)
    print(
        f"\nCLVModel(frequency='auto') chose {clv.selection_['chosen']}: {clv.selection_['reason']}"
    )
    scores = clv.predict(table, horizon=52, discount_rate=0.10)
    print("one-year CLV at a 10% annual discount rate, top five customers:")
    print(scores.sort_values("clv", ascending=False).head().round(3).to_string())


if __name__ == "__main__":
    main()
