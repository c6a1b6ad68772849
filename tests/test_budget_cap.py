"""The evaluation cap of the smoke/short budgets: over-budget evaluations become not-run cells that say
how to run them, and never overwrite an earlier (e.g. --budget paper) measurement."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import evaluate
from harness.runner import RunOptions, run_suite
from harness.suite import load_suite

SUITE = """
id = "cap_suite"
paper = "synthetic"
table = "Table 0"

[[entries]]
id = "srcnn_x4"
row = "SRCNN"
model = "srcnn"
obtain = "load"
weights = "zoo"
scale = 4
paper = [ {{ metric = "psnr_y", value = 30.0, printed = "30.00", dataset = "Set5" }} ]
"""


@pytest.fixture
def suite(tmp_path: Path):
    p = tmp_path / "cap_suite.toml"
    p.write_text(SUITE.format())
    return load_suite(p)


def test_over_budget_evaluation_is_not_run_with_instructions(suite, tmp_path, data_dir, weights_dir, monkeypatch):
    monkeypatch.setattr(evaluate, "estimate_eval_gmacs", lambda *a, **k: 1e6)
    opts = RunOptions(results_dir=tmp_path, data_dir=data_dir, weights_dir=weights_dir, progress=False, budget="smoke")
    cell = next(c for c in run_suite(suite, opts, report=lambda m: None).doc["cells"] if c["metric"] == "psnr_y")
    assert cell["status"] == "not-run"
    assert "--budget paper" in cell["reason"] and "CPU-min" in cell["reason"]


def test_budget_skip_keeps_the_earlier_measurement(suite, tmp_path, data_dir, weights_dir, monkeypatch):
    paper = RunOptions(results_dir=tmp_path, data_dir=data_dir, weights_dir=weights_dir, progress=False, budget="paper")
    first = next(c for c in run_suite(suite, paper, report=lambda m: None).doc["cells"] if c["metric"] == "psnr_y")
    assert first["measured"] is not None
    monkeypatch.setattr(evaluate, "estimate_eval_gmacs", lambda *a, **k: 1e6)
    smoke = RunOptions(results_dir=tmp_path, data_dir=data_dir, weights_dir=weights_dir, progress=False, budget="smoke",
                       force=True)
    again = next(c for c in run_suite(suite, smoke, report=lambda m: None).doc["cells"] if c["metric"] == "psnr_y")
    assert again["measured"] == first["measured"] and again["status"] == first["status"]


def test_a_stale_value_the_budget_cannot_remeasure_is_tried_once_not_every_run(tmp_path, data_dir, weights_dir,
                                                                              monkeypatch):
    paper = RunOptions(results_dir=tmp_path / "r", data_dir=data_dir, weights_dir=weights_dir, progress=False,
                       budget="paper")
    run_suite(load_suite(_write(tmp_path / "a", "")), paper, report=lambda m: None)
    # a knob changes: the cell is stale; the smoke cap cannot re-measure it
    changed = load_suite(_write(tmp_path / "b", 'profile = { y_rounding = "round" }'))
    monkeypatch.setattr(evaluate, "estimate_eval_gmacs", lambda *a, **k: 1e6)
    smoke = RunOptions(results_dir=tmp_path / "r", data_dir=data_dir, weights_dir=weights_dir, progress=False,
                       budget="smoke")
    first = run_suite(changed, smoke, report=lambda m: None)
    cell = next(c for c in first.doc["cells"] if c["metric"] == "psnr_y")
    assert first.ran and cell["status"] == "stale" and cell["measured"] is not None
    assert cell["last_attempt"]["status"] == "not-run"
    again = run_suite(changed, smoke, report=lambda m: None)
    assert not again.ran  # attempted under this budget with these inputs: not re-tried on every run
    bigger = RunOptions(**{**smoke.__dict__, "budget": "short"})
    assert run_suite(changed, bigger, report=lambda m: None).ran  # a larger budget may do it: tried again


def _write(folder: Path, profile: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "cap_suite.toml"
    p.write_text(SUITE.format().replace('scale = 4\n', f'scale = 4\n{profile}\n', 1))
    return p
