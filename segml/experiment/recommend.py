"""The report's recommendations: for each audience, the segments worth targeting.

A segment is recommended only when its value is above the average with confidence: its lift
(out of sample where there is a holdout) reaches ``min_lift`` and its 95 % bootstrap interval
lies above 1. Each audience (prospects, new customers at their first order, existing
customers) gets the best eligible segmentation of its targetability class.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from segml._columns import TARGETABILITY

if TYPE_CHECKING:
    from segml.experiment.result import ExperimentResult

__all__ = ["AUDIENCE", "recommendations"]


#: Who each targetability class serves, and what its segmentations use.
AUDIENCE = {
    "prospect": ("Prospects", "only attributes known before any purchase"),
    "acquisition": ("New customers at their first order", "first-order facts as well"),
    "behavioural": ("Existing customers", "purchase history"),
}


def _lift_text(row: pd.Series, key: str, where: str) -> str:
    low, high = row.get(f"{key}_low", np.nan), row.get(f"{key}_high", np.nan)
    span = f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) else ""
    return f"lift {where} {row[key]:.2f}{span}"


def recommendations(result: ExperimentResult) -> str:
    """For each audience, the segments whose value is above average with an interval above 1."""
    comp, esc = result.comparison, html.escape
    score = comp.attrs.get("score", "oos_normalised_gini")
    where = "out of sample" if score.startswith("oos") else "in sample"
    min_lift = result.config.evaluation.min_lift
    profiles = result.profiles
    key = "oos_lift" if "oos_lift" in profiles.columns else "lift"
    key_where = "out of sample" if key == "oos_lift" else "in sample"
    items = []
    for cls in TARGETABILITY:
        pool = comp[(comp["targetability"] == cls) & comp["eligible"]]
        if not len(pool):
            continue
        audience, uses = AUDIENCE[cls]
        champion = result.champion if result.champion in pool.index else None
        best = str(champion if champion is not None else pool[score].idxmax())
        why = (
            "the champion"
            if best == result.champion
            else f"the best {cls} segmentation, Gini {where} {pool.loc[best, score]:.3f}"
        )
        prof = profiles[(profiles["segmentation"] == best) & (profiles["segment"] != -1)]
        good = prof[(prof[f"{key}_low"] > 1.0) & (prof[key] >= min_lift)] if len(prof) else prof
        head = f"<b>{esc(audience)}</b> (segmentations using {uses}): <i>{esc(best)}</i> ({why})"
        if not len(good):
            items.append(
                f"<li>{head}: none of its segments has a {key_where} value above the average "
                f"with a 95 % interval excluding it and a lift of at least {min_lift:g}; "
                "nothing to target on it alone.</li>"
            )
            continue
        listed = []
        for _, row in good.sort_values(key, ascending=False).head(3).iterrows():
            text = (
                f"<b>{esc(str(row['name']))}</b> ({row['share']:.1%} of customers, "
                f"{_lift_text(row, key, key_where)}"
            )
            if key != "lift":
                text += f"; {_lift_text(row, 'lift', 'in sample')} on predicted value"
            listed.append(text + ")")
        items.append(f"<li>{head}: target " + "; ".join(listed) + ".</li>")
    if not items:
        return "<p>No recommendation: no segmentation is eligible.</p>"
    return (
        "<p>A segment is recommended when its value is above the average with a 95 % bootstrap "
        f"interval of its lift above 1 and a lift of at least {min_lift:g} ({key_where}, "
        "realised value in the holdout window where there is one).</p><ul>"
        + "".join(items)
        + "</ul>"
    )
