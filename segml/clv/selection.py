"""How ``CLVModel`` chooses its frequency model, and what the choice says about dropout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from segml.clv.frequency import FREQUENCY_MODELS, FrequencyModel
from segml.errors import BoundaryError, ConvergenceError

__all__ = ["dropout_test", "fit_nbd", "no_dropout_words", "select_frequency"]

_DROPOUT_ALPHA = 0.05


def fit_nbd(table: pd.DataFrame, compress: bool) -> dict[str, FrequencyModel]:
    """The NBD fitted on ``table`` (empty when it cannot be estimated)."""
    try:
        return {"nbd": FREQUENCY_MODELS["nbd"](compress=compress).fit(table)}
    except ConvergenceError:
        return {}


def no_dropout_words(selection: dict[str, Any], window: str, requested: str) -> str:
    """What the chosen model assumes about dropout, in a sentence ("" when dropout is
    identified)."""
    test = selection.get("dropout_test")
    if selection["chosen"] == "nbd":
        if requested != "auto":
            return "the NBD model has no dropout: CLV assumes every customer stays for the horizon"
        return (
            f"no dropout identified in {window}: CLV assumes every customer stays for the "
            "horizon; a longer calibration window may show churn"
        )
    if test is not None and test["p_value"] > _DROPOUT_ALPHA:
        return (
            f"no dropout identified in {window}: {selection['chosen']} fits no better than the "
            f"NBD, which has none (likelihood-ratio p = {test['p_value']:.2f}), so its P(alive) "
            "rests on its prior, not on the data; frequency='nbd' or 'auto' says so openly"
        )
    return ""


def dropout_test(fitted: dict[str, FrequencyModel]) -> dict[str, Any] | None:
    """The likelihood-ratio test of the best-fitting dropout model against the NBD.

    The NBD is the dropout models' limit at the edge of their parameter space, so the
    chi-squared reference with two degrees of freedom is conservative.
    """
    if "nbd" not in fitted:
        return None
    # The NBD is the limit of the Poisson models only (a CNBD-k likelihood with k > 1 also
    # holds the regularity term): those are the ones tested.
    others = {k: m for k, m in fitted.items() if k in ("bgnbd", "pnbd", "mbgnbd")}
    if not others:
        return None
    best = max(others, key=lambda k: others[k].log_likelihood_)
    lr = max(2.0 * (others[best].log_likelihood_ - fitted["nbd"].log_likelihood_), 0.0)
    return {"model": best, "lr": lr, "df": 2, "p_value": float(chi2.sf(lr, 2))}


def _fit_candidates(
    table: pd.DataFrame, compress: bool
) -> tuple[dict[str, FrequencyModel], dict[str, str], dict[str, str], dict[str, str]]:
    """The frequency models ``auto`` compares, fitted: (fitted, at the boundary, not
    converged, regularity found by the CNBD-k models). A CNBD-k fit with k = 1 is BG/NBD or
    MBG/NBD again and is not compared twice; without ``litt`` they are not fitted."""
    fitted: dict[str, FrequencyModel] = {}
    failed: dict[str, str] = {}
    boundary: dict[str, str] = {}
    regular: dict[str, str] = {}
    for name in ("bgnbd", "pnbd", "mbgnbd", "nbd", "bgcnbd", "mbgcnbd"):
        if name.endswith("cnbd") and "litt" not in table.columns:
            continue
        try:
            model = FREQUENCY_MODELS[name](compress=compress).fit(table)
        except BoundaryError as exc:
            boundary[name] = str(exc)
            continue
        except ConvergenceError as exc:
            failed[name] = str(exc)
            continue
        if hasattr(model, "regularity"):
            regular[name] = model.regularity()
            if model.k_ == 1:
                continue
        fitted[name] = model
    return fitted, boundary, failed, regular


def select_frequency(table: pd.DataFrame, compress: bool) -> tuple[FrequencyModel, dict[str, Any]]:
    """Fit every frequency model and keep the best (``CLVModel(frequency="auto")``)."""
    fitted, boundary, failed, regular = _fit_candidates(table, compress)
    if not fitted:
        raise ConvergenceError(
            "no frequency model converged: "
            + "; ".join(f"{k}: {v}" for k, v in {**boundary, **failed}.items())
        )
    if {"holdout_frequency", "holdout_duration"} <= set(table.columns):
        actual = table["holdout_frequency"].to_numpy("float64")
        scores = {
            name: float(
                np.mean(np.abs(m.expected_purchases(table, table["holdout_duration"]) - actual))
            )
            for name, m in fitted.items()
        }
        criterion = "holdout_mae"
        what = "mean absolute error of holdout purchases per customer"
    else:
        scores = {name: float(m.bic_) for name, m in fitted.items()}
        criterion = "bic"
        what = "BIC (no holdout window in the table)"
    chosen = min(scores, key=lambda k: scores[k])
    ranked = ", ".join(f"{k} {v:.4f}" for k, v in sorted(scores.items(), key=lambda kv: kv[1]))
    reason = f"lowest {what}: {ranked}"
    test = dropout_test(fitted)
    if test is not None and test["p_value"] > _DROPOUT_ALPHA:
        # The data do not tell dropout from none: the simpler model, whatever the noise
        # in the scores says.
        chosen = "nbd"
        reason = (
            f"no dropout identified: the best-fitting dropout model ({test['model']}) "
            f"fits no better than the NBD (likelihood-ratio p = {test['p_value']:.2f}); "
            f"{what}: {ranked}"
        )
    if regular:
        reason += "; regularity: " + ", ".join(f"{k} {v}" for k, v in regular.items())
    if boundary:
        reason += "; at the edge of the parameter space (left out): " + ", ".join(boundary)
    if failed:
        reason += "; not converged (left out): " + ", ".join(failed)
    selection = {
        "criterion": criterion,
        "scores": scores,
        "chosen": chosen,
        "reason": reason,
        "boundary": boundary,
        "not_converged": failed,
        "dropout_test": test,
        "regularity": regular,
    }
    return fitted[chosen], selection
