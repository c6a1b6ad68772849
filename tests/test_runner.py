"""Runner and results file: selection, records, re-judging, atomic writes, error isolation, show --json."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness import runner
from harness.cli import main
from harness.results import (
    Tolerance,
    judge,
    printed_half_unit,
    read_results,
    results_path,
)
from harness.runner import RunOptions, RunRefused
from harness.runner import run_suite as _run_suite
from harness.suite import load_suite

QUIET = {"report": lambda m: None}


def run_suite(*a, **kw) -> dict:
    return _run_suite(*a, **kw).doc


def opts(tmp_path: Path, **kw) -> RunOptions:
    return RunOptions(results_dir=tmp_path, progress=False, **kw)


def test_judge_and_printed_rounding():
    assert printed_half_unit("0.49") == 0.005
    assert printed_half_unit("31.92/0.8903", 0.89) == 0.00005
    assert printed_half_unit("412K") == 0.5
    assert printed_half_unit("412K", 412000.0) == 500.0  # the printed number is in thousands
    t = Tolerance(0.005, 0.05, "printed")
    assert judge(0.49, 0.495, t)[0] == "match"
    assert judge(0.49, 0.4951, t)[0] == "close"
    assert judge(0.49, 0.5401, t)[0] == "deviates"
    assert judge(0.49, 0.5401, Tolerance(0.005, None, "0.005"))[0] == "deviates"
    assert judge(None, 3.0, t)[0] == "measured"
    assert judge(1.0, float("nan"), t)[0] == "error"


def test_entries_rerun_updates_only_selected(tmp_path):
    suite = load_suite("uae_table2")
    first = run_suite(suite, opts(tmp_path), **QUIET)
    stamps = {(c["entry"], c["metric"]): c.get("run") for c in first["cells"]}
    doc = run_suite(suite, opts(tmp_path, entries={"crb"}), **QUIET)
    for c in doc["cells"]:
        if c["entry"] != "crb" and c.get("run"):
            assert c["run"] == stamps[(c["entry"], c["metric"])]
    assert len(doc["cells"]) == len(first["cells"])


def test_unknown_entry_is_an_error(tmp_path):
    with pytest.raises(RunRefused, match="no entry"):
        run_suite(load_suite("uae_table2"), opts(tmp_path, entries={"nope"}), **QUIET)


def test_only_filters_kinds(tmp_path):
    doc = run_suite(load_suite("uae_table2"), opts(tmp_path, only={"complexity"}), **QUIET)
    assert {c["status"] for c in doc["cells"] if c["entry"] == "rb"} == {"not-run"}


def test_old_cells_are_rejudged_against_the_current_suite(tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    src = load_suite("uae_table2").path
    copy = suites / "uae_table2.toml"
    shutil.copy(src, copy)
    run_suite(load_suite(copy), opts(tmp_path), **QUIET)
    # correct the "typo" in the copy: the old measured DCRB φ5 must now match, without re-measuring dcrb
    copy.write_text(copy.read_text().replace('value = 278.18, printed = "278.18"', 'value = 218.19, printed = "218.19"'))
    doc = run_suite(load_suite(copy), opts(tmp_path, entries={"rb"}), **QUIET)
    cell = next(c for c in doc["cells"] if (c["entry"], c["metric"]) == ("dcrb", "uae5"))
    assert cell["status"] == "match" and cell["paper_printed"] == "218.19"


def test_a_failing_kind_yields_error_cells_not_a_crash(tmp_path, monkeypatch):
    def boom(ctx, entry):
        if entry.id == "rb":
            raise RuntimeError("synthetic failure")
        from harness.uae import measure_uae
        return measure_uae(ctx, entry)

    monkeypatch.setattr(runner, "get_kind", lambda kind: type("K", (), {"function": lambda self: boom})())
    doc = run_suite(load_suite("uae_table2"), opts(tmp_path), **QUIET)
    rb = [c for c in doc["cells"] if c["entry"] == "rb"]
    assert {c["status"] for c in rb} == {"error"} and "synthetic failure" in rb[0]["reason"]
    assert any(c["status"] == "match" for c in doc["cells"] if c["entry"] == "crb")


def test_results_write_is_atomic(tmp_path, monkeypatch):
    suite = load_suite("uae_table2")
    run_suite(suite, opts(tmp_path), **QUIET)
    path = results_path(tmp_path, "uae_table2")
    before = path.read_bytes()

    def fail_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(OSError):
        run_suite(suite, opts(tmp_path, force=True), **QUIET)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_results_carry_provenance(tmp_path):
    doc = run_suite(load_suite("uae_table2"), opts(tmp_path), **QUIET)
    prov = doc["provenance"]
    for key in ("harness_version", "git_commit", "created", "python", "torch", "device", "budget", "metric_profile"):
        assert prov[key], key
    assert len(prov["metric_profile"]["hash"]) == 16
    assert read_results(results_path(tmp_path, "uae_table2")) == json.loads(json.dumps(doc))


def test_show_json_lists_paper_cells_exactly_as_printed(capsys):
    assert main(["show", "uae_table2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    suite = load_suite("uae_table2")
    expected = [(e.id, c.metric, c.printed) for e in suite.entries for c in e.paper]
    assert [(c["entry"], c["metric"], c["paper_printed"]) for c in doc["cells"]] == expected
    assert all(c["measured"] is None and c["status"] is None for c in doc["cells"])


def test_cli_reports_bad_suite_cleanly(capsys):
    assert main(["show", "definitely_not_a_suite"]) == 2
    assert "no such suite file" in capsys.readouterr().err


def test_remeasure_baselines_reproduces_the_committed_uae_baseline(tmp_path):
    import shutil as _sh

    from harness.drift import check_drift
    from harness.runner import remeasure_baselines

    base = tmp_path / "baselines"
    base.mkdir()
    _sh.copy(Path(__file__).parent.parent / "results" / "baselines" / "uae_table2.json", base)
    out = tmp_path / "now"
    assert remeasure_baselines(base, out, RunOptions(progress=False), report=lambda m: None) == ["uae_table2"]
    assert check_drift(base, out).ok


def test_under_budget_trained_metrics_are_shown_but_never_claim_a_match(tmp_path, monkeypatch):
    from harness.measure import Measurement

    p = tmp_path / "train_suite.toml"
    p.write_text('id = "train_suite"\npaper = "synthetic"\ntable = "T"\n[[entries]]\nid = "s"\nrow = "S"\n'
                 'model = "srcnn"\nobtain = "train"\nscale = 4\ntrain = { recipe = "default" }\n'
                 'paper = [ { metric = "psnr_y", value = 30.0, printed = "30.00", dataset = "Set5" } ]\n')
    suite = load_suite(p)
    monkeypatch.setattr("harness.runner.check_options", lambda suites, o: None)
    for value, status in ((25.0, "under-budget"), (30.01, "match")):
        monkeypatch.setattr(runner, "get_kind", lambda kind, v=value: type("K", (), {
            "function": lambda self: lambda ctx, e: [Measurement("psnr_y", v, "Set5", 4, reason="r")],
            "version": 1})())
        doc = run_suite(suite, opts(tmp_path / str(value), budget="smoke"), **QUIET)
        cell = next(c for c in doc["cells"] if c["metric"] == "psnr_y")
        assert (cell["status"], cell["measured"], cell["evidence"]) == (status, value, "trained:smoke")
        assert cell["delta"] == pytest.approx(value - 30.0)
