"""The drift report of one scoring: ``drift.json``, a self-contained ``drift.html`` and the
lines ``segml score`` prints (see :mod:`segml.segment.drift` for the measures)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from segml.experiment.outputs import atomic_file
from segml.segment.drift import Shares, baseline_of, drift, migration, segment_shares
from segml.segment.names import calendar_flags, name_checks

__all__ = ["drift_paths", "drift_summary", "name_report", "summary_lines", "write_drift"]


def drift_paths(output: str | Path) -> tuple[Path, Path]:
    """``<scores>-drift.json`` and ``-drift.html`` beside the scores: weekly scorings into
    one folder keep a report each."""
    out = Path(output)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(f"{stem}-drift.json"), out.with_name(f"{stem}-drift.html")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def drift_summary(
    baseline: Mapping[str, Any] | pd.DataFrame,
    current: pd.DataFrame | Shares,
    against: str,
    previous: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """PSI per quantity, segment shares and, against a previous scoring, the migration.

    Parameters
    ----------
    baseline : dict or pandas.DataFrame
        The model's training population, or a previous scoring.
    current : pandas.DataFrame or Shares
        This scoring (``segment``, ``clv``, and the features when known), or its shares.
    against : str
        What the baseline is, for the report ("the training population", a file name).
    previous : pandas.DataFrame, optional
        A previous scoring with ``customer_id``: adds the migration matrix.
    """
    if isinstance(baseline, pd.DataFrame):
        watched = [c for c in ("clv", "p_alive", "expected_purchases") if c in baseline.columns]
        baseline = baseline_of(baseline, watched)
    measures = drift(baseline, current)
    shares = segment_shares(baseline, current)
    out: dict[str, Any] = {
        "against": against,
        "bands": {"stable": "< 0.1", "shifting": "0.1 - 0.25", "shifted": "> 0.25"},
        "psi": {
            q: {"kind": r.kind, "psi": _clean(float(r.psi)), "band": r.band}
            for q, r in measures.iterrows()
        },
        "n_baseline": int(measures["n_baseline"].iloc[0]),
        "n_current": int(measures["n_current"].iloc[0]),
        "segments": [
            {
                "segment": int(str(s)),
                "name": r["name"],
                "baseline_share": float(r["baseline_share"]),
                "current_share": float(r["current_share"]),
            }
            for s, r in shares.iterrows()
        ],
    }
    if previous is not None and isinstance(current, pd.DataFrame):
        moves = migration(previous, current)
        out["migration"] = {
            "previous": [str(i) for i in moves.index],
            "current": [str(c) for c in moves.columns],
            "customers": moves.to_numpy().astype(int).tolist(),
        }
    return out


def _cohort(expected: Mapping[str, Any]) -> str:
    n, size = expected["n_customers"], expected.get("cohort_size", expected["n_customers"])
    if n < size:
        return f"a random {n:,} of the {size:,} customers of the calibration cohort"
    return f"{n:,} customers of the calibration cohort"


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The few lines ``segml score`` prints: the bands, then every quantity not stable."""
    psi = summary["psi"]
    moved = {q: v for q, v in psi.items() if v["band"] != "stable"}
    head = (
        f"drift against {summary['against']}: "
        f"{len(psi) - len(moved)} of {len(psi)} quantities stable (PSI < 0.1)"
    )
    lines = [head]
    for q, v in sorted(moved.items(), key=lambda kv: -(kv[1]["psi"] or 0)):
        lines.append(f"  {q}: PSI {v['psi']:.3f} ({v['band']})")
    expected = summary.get("expected")
    if expected:
        outside = {k: v for k, v in expected["segments"].items() if v["outside"]}
        lines.append(
            f"expected by the model after {expected.get('span', expected['elapsed'])} of ageing "
            f"({_cohort(expected)}): segment PSI "
            f"{expected['psi_raw']:.3f} observed, {expected['psi_expected']:.3f} expected, "
            f"{expected['psi_expected_observed']:.3f} between the two"
        )
        if not expected["alarm"]:
            lines.append(
                f"  every segment's share and every move is inside its band (jointly "
                f"{expected['interval']:.0%}): the drift is the ageing the model expects "
                "(no alarm)"
            )
        for v in outside.values():
            lines.append(
                f"  ALARM {v['name']}: share {v['observed']:.3f}, expected {v['expected']:.3f} "
                f"(band {v['low']:.3f}-{v['high']:.3f}; bands jointly {expected['interval']:.0%})"
            )
        names = {k: v["name"] for k, v in expected["segments"].items()}
        for t in expected.get("transitions", []):
            if t["outside"]:
                lines.append(
                    f"  MOVE {names.get(t['from'], t['from'])} -> {names.get(t['to'], t['to'])}: "
                    f"{t['observed']:.3f} of the cohort, expected {t['expected']:.3f} "
                    f"(band {t['low']:.3f}-{t['high']:.3f}): ALARM"
                )
    lines += [f"  NAME {c['message']}" for c in summary.get("names", [])]
    lines += [f"  CALENDAR {_calendar_words(f)}" for f in summary.get("calendar", [])]
    return lines


def _calendar_words(flag: Mapping[str, Any]) -> str:
    return (
        f"{flag['feature']} grows with the calendar: {flag['share_beyond']:.0%} of the customers "
        f"are beyond its training maximum ({flag['training_max']:.3g}); time-relative features "
        "(a clustering's time_relative = true: purchases per unit of tenure, time since the "
        "last purchase) or retraining keep segments comparable"
    )


def name_report(
    meta: Mapping[str, Any], current: pd.DataFrame, used: Sequence[str]
) -> dict[str, Any]:
    """``names`` (the words of segment names the scored customers contradict) and
    ``calendar`` (calendar-bound features of the segmentation beyond their training range)."""
    names = (meta.get("baseline") or {}).get("names", {})
    stored = meta.get("names_baseline")
    return {
        "names": name_checks(stored, current, names) if stored else [],
        "calendar": calendar_flags(meta.get("training_ranges", {}), current, used),
    }


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _html(summary: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(q)}</td><td>{v['kind']}</td><td>{_number(v['psi'])}</td>"
        f"<td class='{v['band']}'>{v['band']}</td></tr>"
        for q, v in summary["psi"].items()
    )
    parts = [
        "<!doctype html><meta charset='utf-8'><title>segml drift</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;"
        "border-bottom:1px solid #ddd}.shifting{color:#b60}.shifted{color:#c00;"
        "font-weight:bold}</style>",
        f"<h1>Drift against {html.escape(str(summary['against']))}</h1>",
        f"<p>{summary['n_current']:,} customers now, {summary['n_baseline']:,} in the "
        "baseline. Population stability index (PSI) on bins frozen on the baseline: "
        "below 0.1 stable, 0.1 to 0.25 shifting, above 0.25 shifted.</p>",
        f"<table><tr><th>quantity</th><th>kind</th><th>PSI</th><th>band</th></tr>{rows}</table>",
    ]
    if summary.get("segments"):
        seg_rows = "".join(
            f"<tr><td>{s['segment']}</td><td>{html.escape(s['name'])}</td>"
            f"<td>{s['baseline_share']:.1%}</td><td>{s['current_share']:.1%}</td></tr>"
            for s in summary["segments"]
        )
        parts.append(
            "<h2>Segment shares</h2><table><tr><th>segment</th><th>name</th>"
            f"<th>baseline</th><th>now</th></tr>{seg_rows}</table>"
        )
    expected = summary.get("expected")
    if expected:
        exp_rows = "".join(
            f"<tr><td>{html.escape(v['name'])}</td><td>{v['expected']:.1%}</td>"
            f"<td>{v['low']:.1%} - {v['high']:.1%}</td><td>{v['observed']:.1%}</td>"
            f"<td class='{'shifted' if v['outside'] else 'stable'}'>"
            f"{'outside: alarm' if v['outside'] else 'inside'}</td></tr>"
            for v in expected["segments"].values()
        )
        parts.append(
            f"<h2>What the model expects after {expected.get('span', expected['elapsed'])}</h2>"
            f"<p>The {_cohort(expected)}, aged "
            f"{expected['n_draws']} times by the fitted model and re-scored: segment PSI "
            f"{expected['psi_raw']:.3f} observed, {expected['psi_expected']:.3f} expected by "
            f"the model, {expected['psi_expected_observed']:.3f} between expected and "
            "observed. Only a share or a move outside its band is an alarm; the bands hold "
            f"jointly {expected['interval']:.0%} when the model is right. Parameter uncertainty "
            f"{'included' if expected['parameter_uncertainty'] else 'not included'}.</p>"
            "<table><tr><th>segment</th><th>expected</th><th>band</th><th>observed</th>"
            f"<th></th></tr>{exp_rows}</table>"
        )
        parts.append(_transition_table(expected))
    if summary.get("names") or summary.get("calendar"):
        items = [html.escape(c["message"]) for c in summary.get("names", [])]
        items += [html.escape(_calendar_words(f)) for f in summary.get("calendar", [])]
        parts.append(
            "<h2>Do the segments still mean what their names say?</h2><ul>"
            + "".join(f"<li>{i}</li>" for i in items)
            + "</ul>"
        )
    if "migration" in summary:
        m = summary["migration"]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in m["current"])
        body = "".join(
            f"<tr><th>{html.escape(r)}</th>" + "".join(f"<td>{v:,}</td>" for v in row) + "</tr>"
            for r, row in zip(m["previous"], m["customers"], strict=True)
        )
        parts.append(
            "<h2>Migration (customers; rows: previous segment, columns: now)</h2>"
            f"<table><tr><th></th>{head}</tr>{body}</table>"
        )
    return "\n".join(parts) + "\n"


def _transition_table(expected: Mapping[str, Any]) -> str:
    """Moves between segments: the share of the cohort the model expects, its band (jointly
    over every cell), and the share observed."""
    names = {k: v["name"] for k, v in expected["segments"].items()}
    rows = "".join(
        f"<tr><td>{html.escape(names.get(t['from'], t['from']))}</td>"
        f"<td>{html.escape(names.get(t['to'], t['to']))}</td><td>{t['expected']:.1%}</td>"
        f"<td>{t['low']:.1%} - {t['high']:.1%}</td><td>{t['observed']:.1%}</td>"
        f"<td class='{'shifted' if t['outside'] else 'stable'}'>"
        f"{'outside: alarm' if t['outside'] else 'inside'}</td></tr>"
        for t in expected.get("transitions", [])
    )
    return (
        "<h3>Moves between segments since the calibration end</h3><p>Share of the cohort "
        "moving from each segment to each, as the model expects it (bands jointly with the "
        "shares') and as observed; a move outside its band is an alarm.</p>"
        "<table><tr><th>from</th><th>to</th><th>expected</th><th>band</th><th>observed</th>"
        f"<th></th></tr>{rows}</table>"
    )


def write_drift(summary: Mapping[str, Any], json_path: Path, html_path: Path) -> None:
    """Write both files, each renamed into place when complete."""
    with atomic_file(json_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    with atomic_file(html_path) as tmp:
        tmp.write_text(_html(summary))
