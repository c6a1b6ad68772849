"""The paper-vs-measured report, rendered from the synthetic fixture (tests/fixtures: invented numbers)."""

from __future__ import annotations

import json
import re
from collections import Counter
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.report import (
    STATUS_STYLES,
    build_table,
    derive_columns,
    own_printed,
    render_reports,
    reproduced,
    shown_values,
)
from harness.suite import SuiteError, load_suite

FIXTURES = Path(__file__).parent / "fixtures"
SUITES = FIXTURES / "suites"
RESULTS = FIXTURES / "results"
SUITE_ID = "synthetic_table"


def fixture_doc() -> dict:
    return json.loads((RESULTS / f"{SUITE_ID}.json").read_text())


def fixture_suite():
    return load_suite(SUITES / f"{SUITE_ID}.toml", check_models=False)


class _Cells(HTMLParser):
    """Collects the table's <td class="cell ..."> elements: classes, data attributes, the popover's text
    ("title") and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []
        self._depth = 0
        self._pop = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "cell" in (a.get("class") or "").split():
            self.cells.append({"class": a["class"], "title": "", "text": "", "attrs": a})
            self._depth = 1
        elif self._depth and tag == "td":
            self._depth += 1
        elif self._depth and tag == "span" and a.get("class") == "pop":
            self._pop = True

    def handle_endtag(self, tag):
        if self._depth and tag == "td":
            self._depth -= 1
        if self._pop and tag == "span":
            self._pop = False

    def handle_data(self, data):
        if self._depth:
            self.cells[-1]["title" if self._pop else "text"] += data


def parse_cells(html: str) -> list[dict]:
    parser = _Cells()
    parser.feed(html)
    for c in parser.cells:
        c["text"] = " ".join(c["text"].split())
    return parser.cells


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    render_reports(None, RESULTS, out, suites_dir=SUITES)
    return out


def test_fixture_holds_every_status():
    assert {c["status"] for c in fixture_doc()["cells"]} == set(STATUS_STYLES)


def test_pages_written(rendered: Path):
    assert (rendered / "index.html").exists()
    assert (rendered / f"{SUITE_ID}.html").exists()
    assert (rendered / "synthetic_unrun.html").exists()


def test_every_cell_is_in_the_table_with_its_status(rendered: Path):
    html = (rendered / f"{SUITE_ID}.html").read_text()
    cells = parse_cells(html)
    shown = Counter(re.search(r"st-([\w-]+)", c["class"]).group(1) for c in cells)
    assert shown == Counter(c["status"] for c in fixture_doc()["cells"])


def test_measured_values_and_deltas_in_html(rendered: Path):
    cells = parse_cells((rendered / f"{SUITE_ID}.html").read_text())
    texts = [c["text"] for c in cells]
    for cell in fixture_doc()["cells"]:
        _paper, value, delta = shown_values(cell)
        if cell["status"] in ("match", "close", "deviates", "under-budget", "measured", "stale"):
            assert value, cell  # every measured value is shown, under-budget and stale ones included
            assert any(value in t for t in texts), (cell["entry"], cell["metric"], value)
        if cell.get("delta") is not None:
            assert any(f"Δ {delta}" in t for t in texts), (cell["entry"], cell["metric"], delta)


def test_counts_are_shown_in_the_papers_unit():
    cell = {"metric": "params", "paper": 57000.0, "paper_printed": "57.00", "measured": 57184.0, "delta": 184.0,
            "status": "close"}
    assert shown_values(cell) == ("57.00", "57.184", "+0.1840")
    cell = {**cell, "paper": 412000.0, "paper_printed": "412K", "measured": 412050.0, "delta": 50.0}
    assert shown_values(cell) == ("412K", "412.1K", "+0.05K")
    cell = {**cell, "paper": 665000.0, "paper_printed": "665,000", "measured": 665921.0, "delta": 921.0}
    assert shown_values(cell)[1:] == ("665,921", "+921")


def test_paired_printed_string_shows_the_cells_own_number(rendered: Path):
    cells = parse_cells((rendered / f"{SUITE_ID}.html").read_text())
    alpha_set5 = [c for c in cells if c["title"].startswith("AlphaNet [3] ×2 Set5")]
    texts = {c["title"].split("\n")[0]: c["text"] for c in alpha_set5}
    assert texts["AlphaNet [3] ×2 Set5 PSNR (Y)"].startswith("33.33 33.251")
    assert texts["AlphaNet [3] ×2 Set5 SSIM (Y)"].startswith("0.9333 0.9330")
    assert not any("33.33/0.9333" in c["text"] for c in cells)  # the pair stays in the tooltip only
    assert any("paper: 33.33/0.9333" in c["title"] for c in alpha_set5)


def test_own_printed():
    assert own_printed("31.92/0.8903", 31.92) == "31.92"
    assert own_printed("31.92/0.8903", 0.8903) == "0.8903"
    assert own_printed("412K", 412000) == "412K"
    assert own_printed("-", None) == "-"
    assert own_printed(None, 1.0) == ""


def test_reasons_and_notes_are_numbered_footnotes_and_tooltips(rendered: Path):
    html = (rendered / f"{SUITE_ID}.html").read_text()
    footnotes = re.findall(r'<li id="fn(\d+)" value="\d+">(.*?)</li>', html, flags=re.DOTALL)
    numbers = [int(n) for n, _ in footnotes]
    assert numbers == list(range(1, len(numbers) + 1))
    text = unescape(re.sub(r"</?code>", "", " ".join(t for _, t in footnotes)))  # `commands` become <code>
    for cell in fixture_doc()["cells"]:
        assert cell["reason"].replace("`", "") in text, cell["reason"]
        if cell.get("note"):
            assert cell["note"] in text
    # every footnote mark links to an existing footnote
    marks = {int(n) for n in re.findall(r'<sup><a href="#fn(\d+)"', html)}
    assert marks == set(numbers)
    # ... and every footnote links back to the cells that cite it (existing cell ids)
    ids = set(re.findall(r'<td id="(c[\d-]+)"', html))
    for _n, body in footnotes:
        back = re.findall(r'<a href="#(c[\d-]+)" class="back">', body)
        assert back and set(back) <= ids, body[:200]
    cells = parse_cells(html)
    note_cell = next(c for c in cells if "fixture note: printed in bold" in c["title"])
    assert "status: match" in note_cell["title"] and "reason: fixture: published weights" in note_cell["title"]


def test_scale_blocks_and_column_groups(rendered: Path):
    html = (rendered / f"{SUITE_ID}.html").read_text()
    blocks = re.findall(r'<tbody class="block">(.*?)</tbody>', html, flags=re.DOTALL)
    heads = [re.search(r'class="scale"[^>]*>(.*?)</th>', b).group(1) for b in blocks]
    assert heads == ["×2", "×4"]
    assert [b.count('class="data-row"') for b in blocks] == [3, 5]
    assert '<th colspan="3" class="group">Set5</th>' in html
    assert '<th colspan="3" class="group">Set14</th>' in html


def test_derived_column_order():
    cols = derive_columns(fixture_suite(), fixture_doc()["cells"])
    assert [(c.dataset, c.metric) for c in cols] == [
        (None, "params"), (None, "multadds"), (None, "throughput"), (None, "infer_time"),
        ("Set5", "psnr_y"), ("Set5", "ssim_y"), ("Set5", "lpips"),
        ("Set14", "psnr_y"), ("Set14", "ssim_y"), ("Set14", "lpips"),
    ]


def test_declared_columns_come_first():
    suite = load_suite(SUITES / "synthetic_unrun.toml", check_models=False)
    from harness.results import paper_cells

    table = build_table(suite, paper_cells(suite))
    assert [(c.metric, c.label) for c in table.columns] == [("psnr_y", "PSNR"), ("params", "#Params")]


def test_throughput_is_labelled_with_device_kind(rendered: Path):
    cells = parse_cells((rendered / f"{SUITE_ID}.html").read_text())
    throughput = [c for c in cells if "Throughput" in c["title"].split("\n")[0]]
    assert throughput and all("CPU" in c["text"] for c in throughput)


def test_provenance_profile_and_ambiguities(rendered: Path):
    html = (rendered / f"{SUITE_ID}.html").read_text()
    doc = fixture_doc()
    assert doc["provenance"]["metric_profile"]["hash"] in html
    assert doc["provenance"]["data"]["Set5"] in html
    assert doc["provenance"]["weights"]["alpha_x2"] in html
    assert "smoke" in html and "2.13.0 (synthetic)" in html
    for text in fixture_suite().ambiguities:
        assert text in unescape(html)
    assert 'href="index.html"' in html


def test_index_counts_and_reproduced_fraction(rendered: Path):
    html = (rendered / "index.html").read_text()
    row = re.search(r'<tr>\s*<th scope="row"><a href="synthetic_table.html">.*?</tr>', html, flags=re.DOTALL).group(0)
    counts = [int(n) for n in re.findall(r'<td class="count[^"]*">(\d+)</td>', row)]
    statuses = Counter(c["status"] for c in fixture_doc()["cells"])
    assert counts == [sum(statuses.values())] + [statuses.get(s, 0) for s in STATUS_STYLES]
    r = reproduced(fixture_doc()["cells"])
    compared = sum(statuses[s] for s in ("match", "close", "deviates", "under-budget", "error"))
    assert (r.matched, r.measurable) == (statuses["match"], compared)
    assert r.text in row
    # the fixture's expected value, computed by hand: 20 matches of 25 unclassified compared cells, and the
    # one smoke-trained cell counted in its own class
    assert "trained:smoke 0/1 · unclassified 20/25" in row


def test_index_lists_unrun_suite(rendered: Path):
    html = (rendered / "index.html").read_text()
    row = re.search(r'<tr class="notrun">.*?</tr>', html, flags=re.DOTALL).group(0)
    assert "synthetic_unrun" in row and "not run" in row and "Table S2" in row


def test_unrun_suite_page_shows_paper_numbers(rendered: Path):
    html = (rendered / "synthetic_unrun.html").read_text()
    assert "No results yet" in html and "30.30" in html and "99K" in html


def test_pages_are_self_contained(rendered: Path):
    for page in rendered.glob("*.html"):
        html = page.read_text()
        assert "<style>" in html and "<link" not in html
        for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
            assert "://" not in ref, (page.name, ref)
            assert (rendered / ref).exists(), (page.name, ref)


def test_rendering_is_deterministic(rendered: Path, tmp_path: Path):
    render_reports(None, RESULTS, tmp_path, suites_dir=SUITES)
    for page in rendered.glob("*"):
        assert (tmp_path / page.name).read_bytes() == page.read_bytes(), page.name


def test_unknown_suite_is_an_error(tmp_path: Path):
    with pytest.raises(SuiteError, match="unknown suite"):
        render_reports(["no_such_suite"], RESULTS, tmp_path, suites_dir=SUITES)


def test_broken_results_file_is_shown_not_raised(tmp_path: Path):
    results = tmp_path / "results"
    results.mkdir()
    (results / f"{SUITE_ID}.json").write_text("{not json")
    render_reports(None, results, tmp_path / "out", suites_dir=SUITES, charts=False)
    assert "not valid JSON" in (tmp_path / "out" / "index.html").read_text()


def test_unchanged_pages_are_not_rendered_again(tmp_path):
    first = render_reports([SUITE_ID], RESULTS, tmp_path, suites_dir=SUITES)
    page = tmp_path / f"{SUITE_ID}.html"
    assert page in first
    stamp = page.stat().st_mtime_ns
    again = render_reports([SUITE_ID], RESULTS, tmp_path, suites_dir=SUITES)
    assert page not in again and page.stat().st_mtime_ns == stamp  # skipped: nothing it is made of changed
    changed = tmp_path / "results"
    changed.mkdir()
    doc = fixture_doc()
    doc["cells"][0]["measured"] = 1.0
    (changed / f"{SUITE_ID}.json").write_text(json.dumps(doc))
    assert page in render_reports([SUITE_ID], changed, tmp_path, suites_dir=SUITES)


def test_a_page_is_rendered_again_when_its_training_run_gets_committed(tmp_path, monkeypatch):
    """Committing a run (results/training/<key>/) changes the page (its curve and log link), so the page is not
    skipped as up to date."""
    from harness.training import runs

    committed = tmp_path / "training"
    committed.mkdir()
    monkeypatch.setattr(runs, "COMMITTED_DIR", committed)
    results = tmp_path / "results"
    results.mkdir()
    doc = fixture_doc()
    doc["cells"][0]["training"] = {"run_key": "abc0123456789def", "budget": "short", "iterations": 20,
                                   "target_iterations": 20, "wall_s": 3.0, "final_loss": 0.1}
    (results / f"{SUITE_ID}.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    page = out / f"{SUITE_ID}.html"
    assert page in render_reports([SUITE_ID], results, out, suites_dir=SUITES, charts=False)
    assert "not committed (runs/abc0123456789def)" in page.read_text()
    assert page not in render_reports([SUITE_ID], results, out, suites_dir=SUITES, charts=False)
    (committed / "abc0123456789def").mkdir()
    (committed / "abc0123456789def" / "log.jsonl").write_text(
        "".join(json.dumps({"iteration": i, "loss": 0.1 / i, "lr": 1e-4}) + "\n" for i in range(1, 21)))
    assert page in render_reports([SUITE_ID], results, out, suites_dir=SUITES, charts=False)
    assert "abc0123456789def/log.jsonl" in page.read_text() and "not committed" not in page.read_text()


def test_trained_cells_list_their_training_run_with_a_curve_from_its_committed_log(tmp_path):
    from harness.report import training_runs

    run = {"run_key": "7c00003d1f0c1dcd", "budget": "short", "iterations": 15000, "target_iterations": 15000,
           "wall_s": 1435.3, "final_loss": 0.0023, "record": "results/training/7c00003d1f0c1dcd/record.json"}
    cells = [{"entry": "fsrcnn_x4_trained", "training": run}, {"entry": "fsrcnn_x4_trained", "training": run},
             {"entry": "x", "training": {**run, "run_key": "not_committed"}}, {"entry": "y"}]
    rows = {r["run_key"]: r for r in training_runs(cells, tmp_path)}
    assert set(rows) == {"7c00003d1f0c1dcd", "not_committed"}
    curve = tmp_path / rows["7c00003d1f0c1dcd"]["curve"]  # drawn from the committed log, not committed itself
    assert curve.name == "training_7c00003d1f0c1dcd.svg" and "<svg" in curve.read_text()
    assert rows["7c00003d1f0c1dcd"]["log"].endswith("results/training/7c00003d1f0c1dcd/log.jsonl")
    assert rows["not_committed"]["curve"] is None and rows["not_committed"]["log"] is None


def test_pages_with_training_runs_total_their_training_time():
    """Every committed page that lists training runs says how long they took, per budget (the time a table
    took here)."""
    pages = [p for p in (Path(__file__).resolve().parent.parent / "reports").glob("*.html")
             if "Training runs behind the trained cells" in p.read_text(encoding="utf-8")]
    assert pages
    for page in pages:
        line = re.search(r"Training time of these runs: ([^<]*)</p>", page.read_text(encoding="utf-8"))
        assert line and re.fullmatch(r"((smoke|short|paper): \d+ runs?, \d+\.\d min(; )?)+ \(wall time; .*\)\.",
                                     line.group(1)), page.name


def test_a_page_names_its_tables_reduced_size_as_the_cells_do():
    """The reduced size of [budgets.short] (and a row's own one) reads on the page as in the cells' reasons."""
    from harness.suite import size_text

    size = load_suite("repsr_table4").budgets["short"]
    html = (Path(__file__).resolve().parent.parent / "reports" / "repsr_table4.html").read_text(encoding="utf-8")
    assert f"model reduced to {size_text(size.kwargs)}</strong>" in html
    assert f"row <code>edsr</code> reduced to <strong>{size_text(size.row_kwargs['edsr'])}</strong>" in html
    assert size_text({"num_blocks": 4, "channels": 16}) == "num_blocks=4, channels=16"


def test_pages_show_no_machine_paths():
    from harness.report import no_machine_paths

    text = "put it under /work/shared/datasets/DIV2K (from https://data.vision.ee.ethz.ch/cvl/DIV2K/x.zip)"
    assert no_machine_paths(text) == "put it under …/DIV2K (from https://data.vision.ee.ethz.ch/cvl/DIV2K/x.zip)"
    for page in (Path(__file__).resolve().parent.parent / "reports").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "/work/" not in html and "/tmp/" not in html and "/home/" not in html, page.name


def test_the_papers_figure_comes_first_and_other_charts_sit_behind_a_selector(rendered: Path):
    html = (rendered / f"{SUITE_ID}.html").read_text()
    figs = re.search(r'<div class="charts figures">(.*?)</div>', html, flags=re.DOTALL).group(1)
    assert figs.count("<figure") == 1 and "Fig. 9" in figs and "fixture figure" in figs
    assert "synthetic_table_psnr-vs-params_Set5_x2.svg" in figs
    more = re.search(r'<div class="charts more">(.*?)</div>', html, flags=re.DOTALL).group(1)
    shown = re.findall(r'<figure id="chart-\d+" class="chart"( hidden)?>', more)
    assert len(shown) >= 2 and [bool(h) for h in shown] == [False] + [True] * (len(shown) - 1)
    options = re.findall(r'<option value="(chart-\d+)">', html)
    assert options == [f"chart-{i}" for i in range(len(shown))]


def test_cells_csv_and_per_image_csv(rendered: Path):
    import csv

    rows = list(csv.DictReader((rendered / f"{SUITE_ID}.csv").open()))
    doc = fixture_doc()
    assert len(rows) == len(doc["cells"])
    assert {(r["entry"], r["metric"], r["status"]) for r in rows} == {
        (c["entry"], c["metric"], c["status"]) for c in doc["cells"]}
    with_images = [c for c in doc["cells"] if (c.get("extra") or {}).get("per_image")]
    per_image = rendered / f"{SUITE_ID}.per_image.csv"
    assert per_image.exists() == bool(with_images)


def test_tolerances_off_and_baseline_section(rendered: Path):
    from harness.report import tolerances_off

    assert tolerances_off({"status": "deviates", "delta": -0.36, "tolerance": 0.018}) == "20.0× band"
    assert tolerances_off({"status": "match", "delta": 0.01, "tolerance": 0.018}) == ""
    assert tolerances_off({"status": "under-budget", "delta": -9.0, "tolerance": 0.018}) == ""
    html = (rendered / f"{SUITE_ID}.html").read_text()
    assert 'id="baseline"' in html and "No drift baseline for this suite" in html


def _luminance(colour: str) -> float:
    h = colour.lstrip("#")
    h = "".join(c * 2 for c in h) if len(h) == 3 else h
    lin = [(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4) for c in (int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)  # WCAG 2 contrast ratio


def test_text_colours_have_at_least_4_5_to_1_contrast():
    from harness.report import TEMPLATES_DIR

    css = (TEMPLATES_DIR / "style.css").read_text()
    var = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))
    backgrounds = [v for k, v in var.items() if k.endswith("-bg")] + ["#ffffff", "#fcfcfc", "#fafafa"]
    for name, colour in var.items():
        if name + "-bg" in var:  # status text (Δ, symbol, "not run") on its own cell colour
            assert _contrast(colour, var[name + "-bg"]) >= 4.5, name
    link = re.search(r"^a \{ color: (#[0-9a-fA-F]{6})", css, flags=re.MULTILINE).group(1)
    for bg in backgrounds:  # footnote marks are links inside coloured cells
        assert _contrast(link, bg) >= 4.5, bg
        assert _contrast(var["ink"], bg) >= 4.5
    assert _contrast(var["muted"], "#ffffff") >= 4.5 and _contrast(var["muted"], "#f6f6f6") >= 4.5
    zero = re.search(r"td\.count\.zero \{ color: (#[0-9a-fA-F]{6})", css).group(1)
    assert _contrast(zero, "#ffffff") >= 4.5


def test_finish_steps_name_what_each_gap_needs():
    from harness.summary import finish_steps

    doc = {"suite": "s", "cells": [
        {"entry": "a", "status": "stale", "reason": "stale: …", "metric": "psnr_y"},
        {"entry": "b", "status": "not-run", "metric": "psnr_y", "dataset": "B100",
         "reason": "not run under the 'smoke' budget: B100 ×2 through vdsr is ≈10,210 G multiply-adds (≈6 CPU-min; "
                   "cap 1,500 G). Run `python -m harness reproduce s --entries b --budget paper`"},
        {"entry": "c", "status": "missing-data", "metric": "psnr_y", "dataset": "DIV2K", "reason": "DIV2K: no images"},
        {"entry": "d", "status": "paper-only", "metric": "psnr_y", "reason": "not implemented"},
        {"entry": "e", "status": "match", "metric": "psnr_y", "reason": ""},
    ]}
    steps = finish_steps(doc)
    assert steps[0] == "1 stale cells: `python -m harness reproduce s --stale`"
    assert "≈6 CPU-min" in steps[1] and "--budget paper --entries b" in steps[1]
    assert any("DIV2K" in s for s in steps) and any("paper-only" in s for s in steps)
    assert len(steps) == 4  # the matched cell needs nothing
