"""Drift check against baselines, on copies of the synthetic fixture (tests/fixtures: invented numbers)."""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.drift import (
    BaselineError,
    Tolerance,
    check_drift,
    main_baseline,
    main_drift,
    parse_subset,
    tolerance_for,
    update_baseline,
)

FIXTURES = Path(__file__).parent / "fixtures"
SUITE_ID = "synthetic_table"
KEY = (SUITE_ID, "alpha_x2", "Set5", 2, "psnr_y")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(results dir holding a copy of the fixture, baseline dir with a baseline of every measured cell)."""
    results, baselines = tmp_path / "results", tmp_path / "baselines"
    results.mkdir()
    shutil.copy(FIXTURES / "results" / f"{SUITE_ID}.json", results)
    update_baseline([SUITE_ID], results, baselines, reason="test: initial baseline")
    return results, baselines


def edit_results(results: Path, change) -> None:
    path = results / f"{SUITE_ID}.json"
    doc = json.loads(path.read_text())
    change(doc["cells"])
    path.write_text(json.dumps(doc))


def cell(cells: list[dict], entry: str, dataset: str | None, metric: str) -> dict:
    return next(c for c in cells if (c["entry"], c["dataset"], c["metric"]) == (entry, dataset, metric))


def test_identical_results_pass(dirs):
    results, baselines = dirs
    report = check_drift(baselines, results)
    assert report.ok and report.rows and not report.failures
    assert "no drift" in report.format_table()


def test_baseline_holds_measured_non_timing_cells_only(dirs):
    _, baselines = dirs
    doc = json.loads((baselines / f"{SUITE_ID}.json").read_text())
    statuses = {c["status"] for c in doc["cells"]}
    assert statuses <= {"match", "close", "deviates", "under-budget", "measured"}
    assert not {c["metric"] for c in doc["cells"]} & {"throughput", "infer_time", "train_time"}
    assert doc["baseline"]["reason"] == "test: initial baseline"
    assert doc["baseline"]["git_commit"] and doc["baseline"]["date"]


def test_one_moved_psnr_fails_on_exactly_that_cell(dirs):
    results, baselines = dirs
    edit_results(results, lambda cells: cell(cells, "alpha_x2", "Set5", "psnr_y").update(
        measured=cell(cells, "alpha_x2", "Set5", "psnr_y")["measured"] + 0.01))
    report = check_drift(baselines, results)
    assert [r.key for r in report.failures] == [KEY]
    failure = report.failures[0]
    assert failure.verdict == "drift" and failure.delta == pytest.approx(0.01)
    table = report.format_table()
    assert "DRIFT" in table and f"{SUITE_ID}:alpha_x2 Set5/x2 psnr_y" in table
    for header in ("cell", "baseline", "now", "delta", "tolerance", "verdict"):
        assert header in table.splitlines()[0]


def test_change_within_tolerance_passes(dirs):
    results, baselines = dirs
    edit_results(results, lambda cells: cell(cells, "alpha_x2", "Set5", "psnr_y").update(
        measured=cell(cells, "alpha_x2", "Set5", "psnr_y")["measured"] + 0.0005))
    assert check_drift(baselines, results).ok


def test_missing_cell_fails(dirs):
    results, baselines = dirs
    edit_results(results, lambda cells: cells.remove(cell(cells, "alpha_x2", "Set5", "psnr_y")))
    report = check_drift(baselines, results)
    assert [(r.key, r.verdict) for r in report.failures] == [(KEY, "missing")]


def test_cell_that_is_no_longer_measured_fails(dirs):
    results, baselines = dirs
    edit_results(results, lambda cells: cell(cells, "alpha_x2", "Set5", "psnr_y").update(
        status="error", measured=None, reason="RuntimeError: boom"))
    report = check_drift(baselines, results)
    assert [(r.key, r.verdict) for r in report.failures] == [(KEY, "not-measured")]
    assert "RuntimeError: boom" in report.format_table()


def test_missing_results_file_fails_every_cell(dirs):
    results, baselines = dirs
    (results / f"{SUITE_ID}.json").unlink()
    report = check_drift(baselines, results)
    assert report.failures and all(r.verdict == "missing" for r in report.failures)
    assert len(report.failures) == len(report.rows)


def test_params_are_exact_and_multadds_relative(dirs):
    results, baselines = dirs
    edit_results(results, lambda cells: cell(cells, "beta_x2", None, "multadds").update(
        measured=cell(cells, "beta_x2", None, "multadds")["measured"] * (1 + 1e-8)))
    assert check_drift(baselines, results).ok
    edit_results(results, lambda cells: cell(cells, "beta_x2", None, "params").update(
        measured=cell(cells, "beta_x2", None, "params")["measured"] + 1))
    assert [r.key[1:] for r in check_drift(baselines, results).failures] == [("beta_x2", None, 2, "params")]


def test_default_tolerances():
    assert tolerance_for({"metric": "psnr_y"}) == Tolerance(1e-3)
    assert tolerance_for({"metric": "ssim_y"}) == Tolerance(1e-4)
    assert tolerance_for({"metric": "params"}) == Tolerance(0)
    assert tolerance_for({"metric": "multadds"}) == Tolerance(1e-6, relative=True)
    assert tolerance_for({"metric": "uae3"}) == Tolerance(1e-9)
    assert tolerance_for({"metric": "psnr_y", "drift_tolerance": 0.02}) == Tolerance(0.02)
    assert tolerance_for({"metric": "params", "drift_tolerance": "1%"}) == Tolerance(0.01, relative=True)


def test_drift_tolerance_in_baseline_cell_wins_and_survives_an_update(dirs):
    results, baselines = dirs
    path = baselines / f"{SUITE_ID}.json"
    doc = json.loads(path.read_text())
    cell(doc["cells"], "alpha_x2", "Set5", "psnr_y")["drift_tolerance"] = 0.02
    path.write_text(json.dumps(doc))
    edit_results(results, lambda cells: cell(cells, "alpha_x2", "Set5", "psnr_y").update(
        measured=cell(cells, "alpha_x2", "Set5", "psnr_y")["measured"] + 0.01))
    assert check_drift(baselines, results).ok
    update_baseline([SUITE_ID], results, baselines, reason="test: accept the new PSNR")
    doc = json.loads(path.read_text())
    assert cell(doc["cells"], "alpha_x2", "Set5", "psnr_y")["drift_tolerance"] == 0.02
    assert doc["baseline"]["reason"] == "test: accept the new PSNR"
    assert doc["history"][0]["reason"] == "test: initial baseline"


def test_timing_cells_in_a_baseline_are_skipped(dirs):
    results, baselines = dirs
    path = baselines / f"{SUITE_ID}.json"
    doc = json.loads(path.read_text())
    source = json.loads((results / f"{SUITE_ID}.json").read_text())
    doc["cells"].append({**cell(source["cells"], "alpha_x2", None, "throughput"), "measured": 1e9})
    path.write_text(json.dumps(doc))
    report = check_drift(baselines, results)
    assert report.ok and any(r.verdict == "skipped" for r in report.rows)


def test_update_without_reason_is_refused(tmp_path: Path):
    for reason in ("", "   "):
        with pytest.raises(BaselineError, match="needs a reason"):
            update_baseline([SUITE_ID], FIXTURES / "results", tmp_path, reason=reason)
    assert not list(tmp_path.iterdir())


def test_update_with_subset(tmp_path: Path):
    when = datetime(2025, 1, 2, tzinfo=UTC)
    [path] = update_baseline([SUITE_ID], FIXTURES / "results", tmp_path, reason="test: Set5 PSNR only",
                             subset=parse_subset("metric=psnr_y;dataset=Set5"), now=when)
    doc = json.loads(path.read_text())
    assert {(c["metric"], c["dataset"]) for c in doc["cells"]} == {("psnr_y", "Set5")}
    assert doc["baseline"]["date"] == "2025-01-02T00:00:00+00:00"
    with pytest.raises(BaselineError, match="no measured cell"):
        update_baseline([SUITE_ID], FIXTURES / "results", tmp_path, reason="x", subset=parse_subset("entry=nobody"))
    with pytest.raises(BaselineError, match="expected NAME"):
        parse_subset("colour=red")


def test_main_exit_codes(dirs, tmp_path: Path, capsys):
    results, baselines = dirs
    args = argparse.Namespace(baseline=str(baselines), results_dir=str(results))
    assert main_drift(args) == 0
    edit_results(results, lambda cells: cell(cells, "beta_x4", "Set5", "ssim_y").update(measured=0.5))
    assert main_drift(args) == 1
    assert "DRIFT" in capsys.readouterr().out
    assert main_drift(argparse.Namespace(baseline=str(tmp_path / "none"), results_dir=str(results))) == 2
    refused = argparse.Namespace(suites=[SUITE_ID], reason="", subset=None, results_dir=str(results),
                                 baseline=str(baselines))
    assert main_baseline(refused) == 2


def test_report_baseline_diff_lists_a_moved_cell():
    """harness.exports.baseline_diff on the committed CARN Table 1 baseline: the committed results hold it;
    one value moved past its bound is listed as drift."""
    import copy
    import json

    from harness.exports import baseline_diff
    from harness.results import RESULTS_DIR

    base = RESULTS_DIR / "baselines" / "carn_table1.json"
    doc = json.loads((RESULTS_DIR / "carn_table1.json").read_text())
    clean = baseline_diff(base, doc)
    assert clean["counts"].get("drift", 0) == 0 and clean["counts"]["ok"] > 0
    moved = copy.deepcopy(doc)
    kept = {(c["entry"], c.get("dataset"), c.get("scale"), c["metric"])
            for c in json.loads(base.read_text())["cells"] if c["metric"] == "psnr_y"}
    cell = next(c for c in moved["cells"] if (c["entry"], c.get("dataset"), c.get("scale"), c["metric"]) in kept
                and c["status"] in ("match", "close", "deviates"))
    cell["measured"] += 0.5
    diff = baseline_diff(base, moved)
    assert diff["counts"]["drift"] == 1
    assert diff["rows"][0]["verdict"] == "drift" and cell["entry"] in diff["rows"][0]["cell"]
