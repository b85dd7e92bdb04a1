"""The stakeholder report: one self-contained HTML file telling the study's story in order.

1. the question and the hypotheses; 2. the customer quality score (CLV model, parameters,
holdout accuracy, the diagnostic plots); 3. each hypothesis with its verdict, effect size and
interval; 4. the comparison of all segmentations (table and gain curves of holdout value);
5. the champion's segments; 6. the segments to target, for each audience (prospects, new
customers at their first order, existing customers).

Plots are drawn with matplotlib's object API (no pyplot, no interactive backend, no change
to the caller's matplotlib state) and embedded as PNG.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segml._units import UNIT_WORDS, unit_key
from segml._version import segml_version
from segml.experiment.covariate_report import covariate_section
from segml.experiment.decomposition_report import decomposition_section
from segml.experiment.recommend import AUDIENCE, recommendations

if TYPE_CHECKING:
    from segml.experiment.result import ExperimentResult

__all__ = ["SECTIONS", "figures", "render_report", "write_report"]

#: Section ids of the report, in order.
SECTIONS = (
    "question",
    "data",
    "clv",
    "hypotheses",
    "comparison",
    "champion",
    "recommendations",
)
_DEFAULT_QUESTION = "Which customers are worth most, and how do we find them?"
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:2px solid #2b6cb0;padding-bottom:.2rem;
margin-top:2.4rem}table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0;width:100%}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:right}th{background:#f2f5f9}
td:first-child,th:first-child{text-align:left}.muted{color:#666;font-size:.9rem}
.verdict-validated{color:#276749;font-weight:600}.verdict-rejected{color:#9b2c2c}
.verdict-too_small,.verdict-negligible,.verdict-proxy,.verdict-no_match{color:#975a16}
.champion{background:#fefcbf}figure{margin:1rem 0}
figcaption{font-size:.85rem;color:#555}img{max-width:100%}.callout{background:#ebf8ff;
border-left:4px solid #2b6cb0;padding:.6rem 1rem;margin:1rem 0}.scroll{overflow-x:auto}
code{font-size:.85em}td,th{white-space:nowrap}.warn{background:#fffaf0;
border-left:4px solid #dd6b20;padding:.4rem .8rem}details{margin:.6rem 0}
.wrap td,.wrap th{white-space:normal}
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fig(width: float = 8.0, height: float = 3.6) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def figures(result: ExperimentResult) -> dict[str, Figure]:
    """Every plot of the report, by name (also logged to MLflow as images)."""
    out: dict[str, Figure] = {}
    table = result.table
    value = result.config.evaluation.value
    if result.holdout is not None:
        bins = result.holdout.bins
        fig = _fig(6.5, 3.4)
        ax = fig.subplots()
        xs = np.arange(len(bins))
        ax.plot(xs, bins["actual"], marker="o", label="actual")
        ax.plot(xs, bins["expected"], marker="s", linestyle="--", label="expected")
        ax.set_xticks(xs, list(bins.index))
        ax.set_xlabel("repeat purchases in calibration")
        ax.set_ylabel("mean purchases in holdout")
        ax.set_title("Holdout purchases by calibration frequency")
        ax.legend()
        out["holdout_by_frequency"] = fig
    if result.timeline is not None and len(result.timeline):
        tl = result.timeline
        fig = _fig(7.5, 3.4)
        ax = fig.subplots()
        ax.plot(tl["date"], tl["actual"], label="actual")
        ax.plot(tl["date"], tl["expected"], linestyle="--", label="expected")
        cal = pd.Timestamp(result.config.data.calibration_end)
        ax.axvline(cal, color="grey", linewidth=0.8)  # type: ignore[arg-type]
        ax.annotate(
            "end of calibration",
            (cal, 0),
            xytext=(4, 8),
            textcoords="offset points",
            fontsize=8,
            color="grey",
        )
        ax.set_ylabel("cumulative repeat transactions")
        ax.set_title("Cumulative repeat transactions, actual vs expected")
        ax.legend()
        out["cumulative_transactions"] = fig
    freq_model = result.clv_model.frequency_model_
    max_x = int(np.clip(float(table["frequency"].quantile(0.99)), 5, 40))
    T = float(table["T"].max())
    recency = np.linspace(0, T, 40)
    grid = pd.DataFrame(
        [(x, r if x > 0 else 0.0, T) for x in range(max_x + 1) for r in recency],
        columns=["frequency", "recency", "T"],
    )
    who = f"T = {T:.1f}"
    if hasattr(freq_model, "design_"):  # covariates: the most common attributes' customers
        names = list(freq_model.design_.names)
        common = table[names].value_counts().idxmax()
        common = common if isinstance(common, tuple) else (common,)
        grid = grid.assign(**dict(zip(names, common, strict=True)))
        who += ", " + ", ".join(f"{n} = {v}" for n, v in zip(names, common, strict=True))
    p = freq_model.p_alive(grid).to_numpy().reshape(max_x + 1, len(recency)).copy()
    p[0, 1:] = np.nan  # no repeat purchase: recency is 0 by definition
    fig = _fig(6.0, 4.2)
    ax = fig.subplots()
    im = ax.imshow(
        p,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=(0, T, -0.5, max_x + 0.5),
    )
    fig.colorbar(im, ax=ax, label="P(alive)")
    ax.set_xlabel("recency (time of last repeat purchase)")
    ax.set_ylabel("repeat purchases (frequency)")
    ax.set_title(f"P(alive) for a customer with {who}", fontsize=9)
    out["p_alive_matrix"] = fig
    if len(result.validation):
        v = result.validation
        fig = _fig(7.0, 0.6 + 0.45 * len(v))
        ax = fig.subplots()
        y = np.arange(len(v))[::-1]
        colors = [
            "#276749" if s == "validated" else "#9b2c2c" if s == "rejected" else "#975a16"
            for s in v["verdict"]
        ]
        lo = (v["ratio"] - v["ratio_low"]).clip(lower=0).fillna(0)
        hi = (v["ratio_high"] - v["ratio"]).clip(lower=0).fillna(0)
        ax.errorbar(v["ratio"], y, xerr=[lo, hi], fmt="none", ecolor="grey", capsize=3)
        ax.scatter(v["ratio"], y, c=colors, zorder=3)
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_yticks(y, list(v.index))
        tested = str(v["tested_on"].iloc[0]) if "tested_on" in v.columns else str(value)
        sample = "out of sample" if "holdout" in tested else "in sample"
        ax.set_xlabel(f"ratio of mean {tested}, {sample}, group / rest (95 % interval)")
        ax.set_title("Hypotheses")
        out["hypotheses"] = fig
    comp = result.comparison
    score = comp.attrs.get("score", "oos_normalised_gini")
    if len(comp) and f"{score}_low" in comp.columns:
        fig = _fig(7.0, max(2.2, 0.8 + 0.45 * len(comp)))  # room for the title and axis
        ax = fig.subplots()
        y = np.arange(len(comp))[::-1]
        lo = (comp[score] - comp[f"{score}_low"]).clip(lower=0).fillna(0)
        hi = (comp[f"{score}_high"] - comp[score]).clip(lower=0).fillna(0)
        colors = [
            "#276749" if c else "#2b6cb0" if t else "#a0aec0"
            for c, t in zip(comp["champion"], comp["tied_with_best"], strict=True)
        ]
        ax.errorbar(comp[score], y, xerr=[lo, hi], fmt="none", ecolor="grey", capsize=3)
        ax.scatter(comp[score], y, c=colors, zorder=3)
        ax.set_yticks(y, list(comp.index))
        where = "out of sample" if score.startswith("oos") else "in sample"
        ax.set_xlabel(f"normalised Gini, {where} (95 % bootstrap interval)")
        ax.set_title("Segmentations: champion green, tied with the best blue")
        out["comparison_intervals"] = fig
    if "holdout_revenue" in table.columns:
        actual = table["holdout_revenue"].to_numpy()
        predicted = table[value].to_numpy()
        fig = _fig(7.0, 4.2)
        ax = fig.subplots()
        # Each curve drawn through at most 2,001 of its points (the first and the last
        # among them): far more than the plot's pixels, while drawing a million points a
        # curve took seconds.
        at = np.unique(np.linspace(0, len(actual) - 1, min(len(actual), 2001)).round())
        at = at.astype(np.int64)
        share = (at + 1) / len(actual)
        for name in result.segmenters:
            labels = table[f"segment_{name}"].to_numpy()
            means = pd.Series(predicted).groupby(labels).mean()
            keys = means.reindex(labels).to_numpy()
            order = np.argsort(-keys, kind="stable")
            gains = np.cumsum(actual[order])
            width = 2.4 if name == result.champion else 1.2
            ax.plot(share, gains[at] / gains[-1], linewidth=width, label=name)
        oracle = np.cumsum(np.sort(actual)[::-1])
        ax.plot(share, oracle[at] / oracle[-1], color="black", linestyle=":", label="oracle")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="random")
        ax.set_xlabel("share of customers, taken by segment's predicted value")
        ax.set_ylabel("share of holdout revenue")
        ax.set_title("Gain curves of holdout value")
        ax.legend(fontsize=8)
        out["gain_curves"] = fig
    if result.champion is not None:
        prof = result.profiles[result.profiles["segmentation"] == result.champion]
        fig = _fig(7.0, 3.6)
        ax = fig.subplots()
        x = np.arange(len(prof))
        ax.bar(x - 0.2, prof["share"], width=0.4, label="share of customers")
        ax.bar(x + 0.2, prof["value_share"], width=0.4, label="share of predicted value")
        ax.set_xticks(x, [str(n)[:26] for n in prof["name"]], rotation=25, ha="right", fontsize=8)
        ax.set_title(f"Champion ({result.champion}): customers vs value")
        ax.legend()
        out["champion_segments"] = fig
    return out


def _table(frame: pd.DataFrame, digits: int = 3, index: bool = True) -> str:
    inner = frame.round(digits).to_html(index=index, border=0, na_rep="", escape=True)
    return f"<div class='scroll'>{inner}</div>"


def _img(images: dict[str, str], name: str, caption: str) -> str:
    if name not in images:
        return ""
    return (
        f'<figure><img alt="{html.escape(caption)}" data-plot="{name}" '
        f'src="data:image/png;base64,{images[name]}"><figcaption>{html.escape(caption)}'
        "</figcaption></figure>"
    )


def render_report(result: ExperimentResult) -> str:
    """The report as an HTML string (self-contained: styles and images inline)."""
    cfg = result.config
    images = {name: _png(fig) for name, fig in figures(result).items()}
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>segml report: {esc(cfg.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Customer value segmentation: {esc(cfg.name)}</h1>",
        f"<p class='muted'>segml {esc(segml_version())}; data hash {esc(result.data_hash[:12])}; "
        f"calibration to {esc(cfg.data.calibration_end)}"
        + (f", holdout to {esc(cfg.data.holdout_end)}" if cfg.data.holdout_end else "")
        + f", time unit {esc(cfg.data.unit)}.</p>",
    ]
    # 1. question
    parts.append("<section id='question'><h2>1. The question and the hypotheses</h2>")
    parts.append(f"<p>{esc(cfg.description or _DEFAULT_QUESTION)}</p>")
    if cfg.hypotheses:
        rows = "".join(
            f"<tr><td>{esc(h.name)}</td><td><code>{esc(h.rule)}</code></td><td>{esc(h.expect)}</td></tr>"
            for h in cfg.hypotheses
        )
        parts.append(
            f"<table><tr><th>hypothesis</th><th>rule</th><th>expected value</th></tr>{rows}</table>"
        )
    parts.append("</section>")
    # data
    q = result.quality
    parts.append("<section id='data'><h2>Data</h2>")
    excluded = {k: v for k, v in q.customers.items() if k != "in_table" and v}
    parts.append(
        f"<p>{q.rows_read:,} transactions read, {q.rows_kept:,} kept; "
        f"{len(result.table):,} customers in the calibration cohort"
        + (
            "; excluded: "
            + ", ".join(
                f"{v:,} {esc(k.replace('excluded_', '').replace('_', ' '))}"
                for k, v in excluded.items()
            )
            if excluded
            else ""
        )
        + ".</p>"
    )
    parts.append(_table(q.to_frame(), index=False))
    if q.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in q.notes) + "</ul>")
    parts.append("</section>")
    # 2. clv
    clv = result.clv_summary()
    params = pd.DataFrame({"estimate": clv["params"], "standard error": clv["standard_errors"]})
    parts.append("<section id='clv'><h2>2. The customer quality score</h2>")
    # Words follow the numbers: with a margin of 1 the value is revenue, not profit.
    what = (
        "revenue"
        if cfg.clv.margin == 1
        else f"profit (revenue times a margin of {cfg.clv.margin:g})"
    )
    horizon = result.clv_model.default_horizon() if cfg.clv.horizon is None else cfg.clv.horizon
    unit = UNIT_WORDS[unit_key(cfg.data.unit)]
    parts.append(
        f"<p>Customer value is the discounted expected {what} of each customer: expected "
        f"purchases from the <b>{esc(clv['frequency_model'])}</b> model times expected spend "
        f"from the Gamma-Gamma model, over {horizon:g} {unit} at {cfg.clv.discount_rate:.0%} "
        f"a year. {esc(result.clv_model.selection_['reason'])}.</p>"
    )
    no_dropout = str(result.clv_model.selection_.get("no_dropout", ""))
    if no_dropout:
        parts.append(f"<p class='warn'>{esc(no_dropout[0].upper() + no_dropout[1:])}.</p>")
    parts.append(_table(params, 4))
    basis = result.clv_model.frequency_model_.fit_info_.get("standard_errors", "")
    parts.extend(covariate_section(pd.DataFrame(clv.get("covariate_effects", [])), str(basis)))
    parts.append(
        f"<p class='muted'>log-likelihood {clv['log_likelihood']:.2f}; spend model "
        + ", ".join(f"{k} = {v:.3f}" for k, v in clv["spend_params"].items())
        + "</p>"
    )
    if clv["holdout"]:
        h = clv["holdout"]
        parts.append(
            f"<div class='callout'>Holdout accuracy: {h['actual_purchases']:,.0f} repeat purchases "
            f"happened, {h['expected_purchases']:,.1f} were expected; the correlation of expected "
            f"and actual purchases per customer is {h['correlation']:.3f} (mean absolute error "
            f"{h['mae']:.3f}).</div>"
        )
    parts.append(
        _img(
            images,
            "holdout_by_frequency",
            "Expected vs actual holdout purchases by calibration frequency",
        )
    )
    parts.append(
        _img(
            images,
            "cumulative_transactions",
            "Cumulative repeat transactions over time, actual vs expected",
        )
    )
    model = str(clv["frequency_model"])
    alive_note = {
        "bgnbd": " BG/NBD gives P(alive) = 1 to every customer without a repeat purchase (the "
        "bottom row): its customers can drop out only after a purchase (MBG/NBD lifts that).",
        "nbd": " The NBD has no dropout: P(alive) is 1 for everyone.",
    }.get(model, "")
    parts.append(
        _img(
            images,
            "p_alive_matrix",
            "Probability that a customer is still active, by frequency and recency." + alive_note,
        )
    )
    parts.append("</section>")
    # 3. hypotheses
    parts.append("<section id='hypotheses'><h2>3. The hypotheses, tested</h2>")
    if len(result.validation):
        v = result.validation
        hyp_rows: list[str] = []
        for name, r in v.iterrows():
            ratio = (
                f"{r['ratio']:.2f} [{r['ratio_low']:.2f}, {r['ratio_high']:.2f}]"
                if np.isfinite(r["ratio_low"])
                else f"{r['ratio']:.2f}"
            )
            adjusted = (
                f"{r['adjusted_ratio']:.2f} [{r['adjusted_low']:.2f}, {r['adjusted_high']:.2f}]"
                if np.isfinite(r.get("adjusted_ratio", np.nan))
                else ""
            )
            hyp_rows.append(
                f"<tr><td>{esc(str(name))}</td><td><code>{esc(r['rule'])}</code></td>"
                f"<td>{esc(str(r.get('targetability', '')))}</td><td>{r['share_in']:.1%}</td>"
                f"<td>{ratio}</td><td>{adjusted}</td>"
                f"<td>{r['cliffs_delta']:.2f}</td><td>{r['p_holm']:.2g}</td>"
                f"<td class='verdict-{esc(r['verdict'])}'>{esc(r['verdict'])}</td></tr>"
            )
            if r.get("note"):
                hyp_rows.append(
                    f"<tr><td></td><td colspan='8' class='muted'>{esc(str(r['note']))}</td></tr>"
                )
        on = esc(str(v["tested_on"].iloc[0])) if "tested_on" in v.columns else "value"
        sample = "out of sample" if "holdout" in on else "in sample"
        parts.append(
            "<div class='scroll'><table class='wrap'><tr><th>hypothesis</th><th>rule</th>"
            "<th>audience</th>"
            f"<th>share</th><th>ratio of mean {on}, {sample} [95 %]</th>"
            "<th>adjusted for the others</th>"
            "<th>Cliff's delta</th><th>Holm p</th><th>verdict</th></tr>"
            + "".join(hyp_rows)
            + "</table></div>"
        )
        parts.append(
            "<p class='muted'>Each verdict rests on the ratio of mean value, group / rest "
            f"({on}, {sample}): a studentized "
            "permutation test in the stated direction, Holm-adjusted at alpha = "
            f"{cfg.evaluation.alpha:g}; validated needs the interval to exclude 1 on the claimed "
            f"side and a ratio of at least {cfg.evaluation.min_lift:g} (smaller significant "
            "effects are negligible). The adjusted ratio holds the other hypotheses fixed (a "
            "log-link model on all of them); a hypothesis whose effect vanishes given another "
            "is its proxy. Cliff's delta (ranks) is shown for support. The audience says who a "
            "rule applies to: prospects (attributes known before any purchase), acquisition "
            "(first-order facts too) or behavioural (purchase history).</p>"
        )
        parts.append(
            _img(images, "hypotheses", "Ratio of mean value, group vs rest, with 95 % intervals")
        )
    else:
        parts.append("<p>No hypotheses were stated.</p>")
    parts.extend(decomposition_section(result.decomposition))
    parts.append("</section>")
    # 4. comparison
    comp = result.comparison
    parts.append("<section id='comparison'><h2>4. All segmentations on one yardstick</h2>")
    parts.append(
        "<p>Every segmentation is measured by how well it separates value. The headline is out of "
        "sample: segments are ranked by their mean predicted value and scored against the revenue "
        "customers actually brought in the holdout window.</p>"
    )
    status = comp.attrs.get("champion_status", "")
    if result.champion is not None:
        parts.append(
            f"<p>Champion: <b>{esc(result.champion)}</b>, {esc(status)}"
            + (
                " (their paired bootstrap differences to the best cover 0: the data do not "
                "tell them apart)"
                if status.startswith("tied")
                else ""
            )
            + ".</p>"
        )
    for text in comp.attrs.get("warnings", []):
        parts.append(f"<p class='warn'>{esc(text)}</p>")
    parts.append(_table(_comparison_summary(comp), index=True))
    parts.append(
        "<details><summary>Every metric, in sample (is_) and out of sample (oos_)</summary>"
        + _table(comp)
        + "</details>"
    )
    parts.append(
        _img(images, "comparison_intervals", "Headline score of every segmentation, 95 % intervals")
    )
    parts.append(f"<p class='muted'>Champion rule: {esc(comp.attrs.get('champion_rule', ''))}.</p>")
    parts.append(_img(images, "gain_curves", "Gain curves of holdout value, one per segmentation"))
    parts.append("</section>")
    # 5. champion
    parts.append("<section id='champion'><h2>5. The champion's segments</h2>")
    if result.champion is not None:
        prof = result.profiles[result.profiles["segmentation"] == result.champion].drop(
            columns="segmentation"
        )
        audience, uses = AUDIENCE[str(comp.loc[result.champion, "targetability"])]
        parts.append(
            f"<p>Champion: <b>{esc(result.champion)}</b> "
            f"({esc(str(comp.loc[result.champion, 'kind']))}; it uses {uses}, so it serves "
            f"{audience.lower()}).</p>"
        )
        parts.append(_table(_profile_summary(prof), index=False))
        if "total_value_low" in prof.columns:
            parts.append(
                "<p class='muted'>Total value intervals: the CLV model's parameter "
                f"uncertainty, {cfg.clv.intervals} bootstrap refits over customers, each "
                "segment's total summed draw by draw.</p>"
            )
        parts.append(
            "<details><summary>Every column of the profile</summary>"
            + _table(prof, index=False)
            + "</details>"
        )
        parts.append(
            _img(
                images,
                "champion_segments",
                "Share of customers vs share of predicted value per segment",
            )
        )
    else:
        parts.append("<p>No segmentation met the champion rule.</p>")
    parts.append("</section>")
    # 6. recommendations
    parts.append("<section id='recommendations'><h2>6. Segments to target</h2>")
    parts.append(recommendations(result))
    parts.append("</section></body></html>")
    return "\n".join(p for p in parts if p)


def _profile_summary(prof: pd.DataFrame) -> pd.DataFrame:
    """A segment profile in the columns that fit the page, every lift labelled."""

    def lift(key: str) -> list[str]:
        low = prof.get(f"{key}_low", prof[key] * np.nan)
        high = prof.get(f"{key}_high", prof[key] * np.nan)
        return [
            f"{v:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{v:.2f}"
            for v, lo, hi in zip(prof[key], low, high, strict=True)
        ]

    out = pd.DataFrame({"segment": prof["name"], "customers": prof["customers"]})
    out["share"] = prof["share"].map("{:.1%}".format)
    out["share of predicted value"] = prof["value_share"].map("{:.1%}".format)
    if "total_value_low" in prof.columns:
        out["total value [95 %]"] = [
            f"{v:,.0f} [{lo:,.0f}, {hi:,.0f}]"
            for v, lo, hi in zip(
                prof["total_value"], prof["total_value_low"], prof["total_value_high"], strict=True
            )
        ]
    out["lift in sample [95 %]"] = lift("lift")
    if "oos_lift" in prof.columns:
        out["lift out of sample [95 %]"] = lift("oos_lift")
    return out


def _comparison_summary(comp: pd.DataFrame) -> pd.DataFrame:
    """The headline of the comparison in a few columns that fit the page."""
    score = comp.attrs.get("score", "oos_normalised_gini")
    where = "out of sample" if score.startswith("oos") else "in sample"

    def span(low: float, high: float) -> str:
        return f"[{low:+.3f}, {high:+.3f}]" if np.isfinite(low) else ""

    out = pd.DataFrame(index=comp.index)
    out["kind"] = comp["kind"]
    out["audience"] = comp["targetability"]
    out["k"] = comp["k"]
    out["smallest group"] = comp["min_share"].map("{:.1%}".format)
    out[f"Gini {where} [95 %]"] = [
        f"{g:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{g:.3f}"
        for g, lo, hi in zip(
            comp[score],
            comp.get(f"{score}_low", comp[score] * np.nan),
            comp.get(f"{score}_high", comp[score] * np.nan),
            strict=True,
        )
    ]
    out["minus best [95 %]"] = [
        span(lo, hi)
        for lo, hi in zip(
            comp.get("diff_to_best_low", comp[score] * np.nan),
            comp.get("diff_to_best_high", comp[score] * np.nan),
            strict=True,
        )
    ]
    if "stability_ari" in comp.columns:
        out["stability (ARI)"] = comp["stability_ari"].round(2)
    out["status"] = [
        "champion" if c else "tied with best" if t else "eligible" if e else "not eligible"
        for c, t, e in zip(comp["champion"], comp["tied_with_best"], comp["eligible"], strict=True)
    ]
    return out


def write_report(result: ExperimentResult, path: str | Path) -> Path:
    """Write ``report.html`` for ``result`` and return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(result), encoding="utf-8")
    return out
