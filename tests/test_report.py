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
    format_value,
    own_printed,
    render_reports,
    reproduced,
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
    """Collects the table's <td class="cell ..."> elements: classes, title and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "cell" in (a.get("class") or "").split():
            self.cells.append({"class": a["class"], "title": a.get("title", ""), "text": ""})
            self._depth = 1
        elif self._depth and tag == "td":
            self._depth += 1

    def handle_endtag(self, tag):
        if self._depth and tag == "td":
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.cells[-1]["text"] += data


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
        if cell["status"] in ("match", "deviates", "measured"):
            value = format_value(cell["metric"], cell["measured"])
            assert any(value in t for t in texts), (cell["entry"], cell["metric"], value)
        if cell.get("delta") is not None:
            delta = format_value(cell["metric"], cell["delta"], delta=True)
            assert any(f"Δ {delta}" in t for t in texts), (cell["entry"], cell["metric"], delta)


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
    text = unescape(" ".join(t for _, t in footnotes))
    for cell in fixture_doc()["cells"]:
        assert cell["reason"] in text, cell["reason"]
        if cell.get("note"):
            assert cell["note"] in text
    # every footnote mark links to an existing footnote
    marks = {int(n) for n in re.findall(r'<sup><a href="#fn(\d+)">', html)}
    assert marks == set(numbers)
    cells = parse_cells(html)
    note_cell = next(c for c in cells if "fixture note: printed in bold" in c["title"])
    assert "status: match" in note_cell["title"] and "reason: fixture: published weights" in note_cell["title"]


def test_scale_blocks_and_column_groups(rendered: Path):
    html = (rendered / f"{SUITE_ID}.html").read_text()
    assert re.search(r'<th rowspan="3" class="scale">×2</th>', html)
    assert re.search(r'<th rowspan="5" class="scale">×4</th>', html)
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


def test_pages_show_no_machine_paths():
    from harness.report import no_machine_paths

    text = "put it under /work/shared/datasets/DIV2K (from https://data.vision.ee.ethz.ch/cvl/DIV2K/x.zip)"
    assert no_machine_paths(text) == "put it under …/DIV2K (from https://data.vision.ee.ethz.ch/cvl/DIV2K/x.zip)"
    for page in (Path(__file__).resolve().parent.parent / "reports").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "/work/" not in html and "/tmp/" not in html and "/home/" not in html, page.name
