"""The report's section on which process each hypothesis acts on (purchase, dropout, spend)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

__all__ = ["decomposition_section"]

_WHAT = {"purchase": "purchase rate", "spend": "spend per order"}


def _cell(row: pd.Series, process: str) -> str:
    value, low, high = (row[f"{process}_{k}"] for k in ("multiplier", "low", "high"))
    if not np.isfinite(value):
        return "<td></td>"
    strong = " class='verdict-validated'" if process in str(row["acts_on"]) else ""
    p = row[f"{process}_p_holm"]
    return f"<td{strong}>x{value:.2f} [{low:.2f}, {high:.2f}]<br>Holm p {p:.2g}</td>"


def decomposition_section(frame: pd.DataFrame) -> list[str]:
    """HTML parts: one sentence per hypothesis, then the multipliers table (none when the
    experiment did not ask for the decomposition)."""
    esc = html.escape
    if not len(frame):
        error = frame.attrs.get("error")
        if not error:
            return []
        return [
            "<h3>Through which process each hypothesis moves value</h3>",
            f"<p>The hypotheses could not be put into the models together: {esc(error)}</p>",
        ]
    measure = str(frame["dropout_measure"].iloc[0])
    parts = [
        "<h3>Through which process each hypothesis moves value</h3>",
        "<ul>" + "".join(f"<li>{esc(str(s))}</li>" for s in frame["summary"]) + "</ul>",
    ]
    rows = []
    for name, row in frame.iterrows():
        if row["verdict"] not in ("acts", "no_effect"):
            continue
        ratio = f"x{row['clv_ratio']:.2f} [{row['clv_low']:.2f}, {row['clv_high']:.2f}]"
        rows.append(
            f"<tr><td>{esc(str(name))}</td>"
            + "".join(_cell(row, p) for p in ("purchase", "dropout", "spend"))
            + f"<td>{ratio}</td></tr>"
        )
    parts.append(
        "<div class='scroll'><table class='wrap'><tr><th>hypothesis</th>"
        f"<th>{_WHAT['purchase']}</th><th>{esc(measure)}</th><th>{_WHAT['spend']}</th>"
        "<th>a new customer's value</th></tr>" + "".join(rows) + "</table></div>"
    )
    parts.append(
        "<p class='muted'>Every hypothesis enters the purchase, dropout and spend models "
        "together, so each multiplier holds the other hypotheses fixed; intervals are 95 % "
        "(Wald), p-values likelihood-ratio tests of each hypothesis in each process, "
        "Holm-adjusted over all of them (marked where at most alpha). The last column is the "
        "expected value of a new customer with the hypothesis true against false (the others "
        "false), with an interval from the models' parameter draws. Fitted in sample, on the "
        "calibration period.</p>"
    )
    return parts
