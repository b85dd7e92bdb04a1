"""The report's paragraph on the customer attributes the CLV model was fitted with."""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["covariate_section"]


def _level(row: pd.Series) -> str:
    column, attribute = str(row["column"]), str(row["attribute"])
    if column.startswith(f"{attribute}["):
        return f"{attribute} = {column[len(attribute) + 1 : -1]} (against {row['against']})"
    if row["against"] == "one unit less":
        return f"{attribute}, one unit more"
    return f"{attribute} (against {row['against']})"


def covariate_section(effects: pd.DataFrame, basis: str, alpha: float = 0.05) -> list[str]:
    """HTML parts: the attributes whose multiplier's Wald p is below ``alpha`` in words,
    then every multiplier (none when the CLV model has no covariates). ``basis`` says what
    the standard errors rest on."""
    if not len(effects):
        return []
    esc = html.escape
    basis = basis or "observed information (inverse Hessian of the log-likelihood)"
    clear = effects[effects["p_value"] < alpha]
    words = [
        f"{esc(_level(r))}: {esc(str(r['measure']))} x{r['multiplier']:.2f} "
        f"[{r['lower']:.2f}, {r['upper']:.2f}]"
        for _, r in clear.iterrows()
    ]
    rows = "".join(
        f"<tr><td>{esc(str(r['process']))}</td><td>{esc(_level(r))}</td>"
        f"<td>{esc(str(r['measure']))}</td><td>x{r['multiplier']:.3f}</td>"
        f"<td>[{r['lower']:.3f}, {r['upper']:.3f}]</td><td>{r['p_value']:.2g}</td></tr>"
        for _, r in effects.iterrows()
    )
    return [
        "<h3>Customer attributes in the model</h3>",
        "<p>The purchase, dropout and spend models were fitted with customer attributes, so "
        "each customer's value follows from their own attributes as well as their history. "
        + (
            f"Multipliers with a Wald p below {alpha:g} (95 % intervals; each against the "
            "reference level, the other attributes held):</p><ul>"
            + "".join(f"<li>{w}</li>" for w in words)
            + "</ul>"
            if words
            else f"No attribute's multiplier has a Wald p below {alpha:g}.</p>"
        ),
        "<table><tr><th>process</th><th>attribute</th><th>multiplies</th><th>multiplier</th>"
        f"<th>95 % interval</th><th>p</th></tr>{rows}</table>",
        f"<p class='muted'>Standard errors: {esc(basis)}. The p-values are not adjusted for "
        "the number of attributes.</p>",
    ]
