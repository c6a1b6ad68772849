"""Trade-off charts from the synthetic fixture (tests/fixtures: invented numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.plots import chart_points, draw_chart, plot_suite

FIXTURES = Path(__file__).parent / "fixtures"
SUITES = FIXTURES / "suites"
RESULTS = FIXTURES / "results"
SUITE_ID = "synthetic_table"


def cells() -> list[dict]:
    return json.loads((RESULTS / f"{SUITE_ID}.json").read_text())["cells"]


def plot(out: Path, **kw) -> list[Path]:
    return plot_suite(SUITE_ID, RESULTS, out, suites_dir=SUITES, **kw)


def test_svg_and_png_with_arrows_and_labels(tmp_path: Path):
    paths = plot(tmp_path, x="params", dataset="Set5", scale=2)
    assert [p.suffix for p in paths] == [".svg", ".png"]
    svg = paths[0].read_text()
    # both rows have paper and measured PSNR: one arrow each, labelled with the printed row names
    assert 'id="arrow-alpha_x2"' in svg and 'id="arrow-beta_x2"' in svg
    assert "<!-- AlphaNet [3] -->" in svg and "<!-- BetaNet (ours) -->" in svg
    pixels = np.asarray(Image.open(paths[1]).convert("L"), dtype=float)
    assert pixels.shape[0] > 300 and pixels.std() > 10


def test_one_chart_per_dataset_and_scale_with_two_or_more_rows(tmp_path: Path):
    names = sorted(p.name for p in plot(tmp_path, x="params") if p.suffix == ".svg")
    # Set14 ×4 has a single row with a PSNR and a params value (BetaNet): no chart
    assert names == [f"{SUITE_ID}_psnr-vs-params_{ds}_x{s}.svg" for ds, s in (("Set14", 2), ("Set5", 2), ("Set5", 4))]


def test_x_is_measured_params_else_paper():
    points = {p.entry: p for p in chart_points(cells(), "params", "Set5", 4)}
    assert points["beta_x4"].x == 640000  # measured
    assert points["gamma_x4"].x == 15_400_000  # paper-only row: the paper's value
    assert points["gamma_x4"].measured is None and points["gamma_x4"].paper == 31.02
    assert points["delta_x4"].measured is None  # status error: no measured point
    x2 = {p.entry: p for p in chart_points(cells(), "params", "Set5", 2)}
    assert x2["beta_x2"].x == 611234  # measured differs from the paper's 610K: measured wins


def test_throughput_uses_measured_values_only_and_names_the_device(tmp_path: Path):
    points = chart_points(cells(), "throughput", "Set5", 2)
    assert {p.entry for p in points} == {"alpha_x2", "beta_x2"} and {p.device for p in points} == {"CPU"}
    assert chart_points(cells(), "throughput", "Set5", 4) == []  # DeltaNet's time is not-run
    svg = plot(tmp_path, x="throughput", dataset="Set5", scale=2)[0].read_text()
    assert "measured on CPU" in svg


def test_log_axis_only_for_a_wide_range():
    wide = draw_chart(chart_points(cells(), "params", "Set5", 4), x="params", title="t")  # 48K … 15.4M
    narrow = draw_chart(chart_points(cells(), "params", "Set5", 2), x="params", title="t")  # 120K … 611K
    assert wide.axes[0].get_xscale() == "log"
    assert narrow.axes[0].get_xscale() == "linear"


def test_output_is_deterministic(tmp_path: Path):
    first = plot(tmp_path / "a", x="multadds")
    second = plot(tmp_path / "b", x="multadds")
    assert first
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    svg = first[0].read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg


def test_suite_without_results_plots_paper_points(tmp_path: Path):
    paths = plot_suite(SUITE_ID, tmp_path / "no-results", tmp_path / "out", x="params", suites_dir=SUITES)
    assert paths and all(p.exists() for p in paths)
    assert "arrow-" not in paths[0].read_text()  # nothing measured, so no arrows


def test_unknown_x_axis():
    with pytest.raises(ValueError, match="x must be one of"):
        chart_points(cells(), "latency", "Set5", 2)


def _offsets(fig, gid: str) -> list[float]:
    return [float(x) for c in fig.axes[0].collections if c.get_gid() == gid for x, _y in c.get_offsets()]


def test_every_paper_point_sits_at_the_papers_printed_x():
    """On the committed CARN Table 1 results (DRCN's measured Mult-Adds are ≈1.8× its printed 9,788.7 G):
    each hollow paper point is drawn at the paper's x, each measured point at the measured x."""
    from harness.results import RESULTS_DIR

    doc = json.loads((RESULTS_DIR / "carn_table1.json").read_text())
    idx = {(c["entry"], c["metric"]): c for c in doc["cells"] if c.get("dataset") is None}
    checked = 0
    for x, metric in (("multadds", "multadds"), ("params", "params")):
        points = chart_points(doc["cells"], x, "Set5", 2)
        fig = draw_chart(points, x=x, title="t")
        for p in points:
            cell = idx.get((p.entry, p.x_metric))
            if p.paper is None or cell is None or cell.get("paper") is None:
                continue
            assert _offsets(fig, f"paper-{p.entry}") == pytest.approx([cell["paper"]]), (p.entry, x)
            if p.measured is not None and cell.get("measured") is not None:
                assert _offsets(fig, f"measured-{p.entry}") == pytest.approx([cell["measured"]])
            checked += 1
    assert checked >= 8
    drcn = next(p for p in chart_points(doc["cells"], "multadds", "Set5", 2) if p.entry == "drcn_x2")
    assert drcn.paper_at == pytest.approx(9788.7) and drcn.x > 1.5 * drcn.paper_at


def test_status_has_a_shape_as_well_as_a_colour():
    from harness.plots import STATUS_COLOURS, STATUS_MARKERS

    assert set(STATUS_MARKERS) == set(STATUS_COLOURS)
    assert len(set(STATUS_MARKERS.values())) == len(STATUS_MARKERS)
