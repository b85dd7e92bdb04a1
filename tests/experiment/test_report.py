"""report.html: every section and image, valid HTML, rendered by headless Chromium."""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import REPO
from PIL import Image

import segml
from segml.experiment.recommend import recommendations as _recommendations
from segml.experiment.report import SECTIONS, write_report

PLOTS = {
    "holdout_by_frequency",
    "cumulative_transactions",
    "p_alive_matrix",
    "comparison_intervals",
    "hypotheses",
    "gain_curves",
    "champion_segments",
}


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: dict[str, str] = {}
        self.open_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag == "img":
            self.images[a.get("data-plot", "")] = a.get("src", "")


@pytest.fixture(scope="module", params=["cdnow", "b2b"])
def experiment(request) -> segml.ExperimentResult:
    config = segml.load_config(REPO / "experiments" / f"{request.param}.toml")
    config = replace(config, evaluation=replace(config.evaluation, n_bootstrap=0))
    return segml.run_experiment(config)


@pytest.fixture(scope="module")
def report(experiment, tmp_path_factory) -> Path:
    return write_report(experiment, tmp_path_factory.mktemp("report") / "report.html")


def test_recommends_only_segments_above_average_with_confidence(experiment) -> None:
    section = _recommendations(experiment)
    comp, prof = experiment.comparison, experiment.profiles
    named = set(re.findall(r"target (.*?)\.</li>", section))
    assert named, section
    recommended = set(re.findall(r"<b>(.*?)</b> \(\d", section))
    for seg_name, row in prof.set_index("name").iterrows():
        sure = row["oos_lift_low"] > 1 and row["oos_lift"] >= 1.1 and row["segment"] != -1
        best_of_class = row["segmentation"] in section
        if html.escape(str(seg_name)) in recommended and best_of_class:
            assert sure, seg_name
    # every audience with an eligible segmentation is named, with its own words
    for cls in set(comp.loc[comp["eligible"], "targetability"]):
        word = {"prospect": "Prospects", "acquisition": "first order", "behavioural": "Existing"}
        assert word[cls] in section
    assert "lift out of sample" in section and "lift in sample" in section
    if (comp["targetability"] == "acquisition").any():
        assert "usable on prospects" not in section


def test_the_report_has_every_section_and_image(report: Path) -> None:
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    parser = Collector()
    parser.feed(text)
    assert parser.sections == list(SECTIONS)
    assert set(parser.images) == PLOTS
    for name, src in parser.images.items():
        assert src.startswith("data:image/png;base64,"), name
        png = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert png.size[0] > 300 and png.size[1] > 150, name
    assert "http://" not in text and "https://" not in text, "self-contained: nothing fetched"
    for phrase in ("Holdout accuracy", "Champion rule", "verdict", "Segments to target"):
        assert phrase in text


def test_the_reports_words_follow_the_numbers(report: Path) -> None:
    text = report.read_text()
    # A margin of 1 values revenue, and the unit is named.
    assert "discounted expected revenue of each customer" in text and "profit" not in text
    assert " weeks at " in text and "time units" not in text


def test_renders_in_headless_chromium_without_broken_images(report: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (make test installs it)"
    probe = tmp_path / "probe.html"
    script = (
        "<script>window.addEventListener('load', () => {"
        "const imgs = [...document.images];"
        "const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;"
        "document.body.setAttribute('data-images', imgs.length);"
        "document.body.setAttribute('data-broken', broken);"
        # a table wider than the page (closed <details> have no width and do not count)
        "const page = document.documentElement.clientWidth;"
        "const wide = [...document.querySelectorAll('table')]"
        ".filter(t => !t.closest('details:not([open])'))"
        ".filter(t => t.getBoundingClientRect().width > page).length;"
        "document.body.setAttribute('data-wide', wide);});</script>"
    )
    probe.write_text(report.read_text().replace("</body>", script + "</body>"))
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--window-size=1280,900",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", proc.stdout)
    assert body, proc.stdout[:500]
    assert f'data-images="{len(PLOTS)}"' in body.group(0)
    assert 'data-broken="0"' in body.group(0)
    assert 'data-wide="0"' in body.group(0)
