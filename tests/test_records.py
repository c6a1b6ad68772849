"""Run records: provenance per cell, staleness, incremental re-runs, parallel safety, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import runner
from harness.cli import main
from harness.collect import collect
from harness.records import load_records, record_path
from harness.results import results_path
from harness.runner import RunOptions, run_suite
from harness.suite import load_suite

REPO = Path(__file__).resolve().parent.parent
QUIET = {"report": lambda m: None}

# Two bicubic rows on Set5 ×4: real measurements that take about a second each.
SUITE = """
id = "rec_suite"
paper = "synthetic"
table = "T"
[[entries]]
id = "a"
row = "A"
model = "bicubic"
obtain = "compute"
scale = 4
profile = {{ {profile_a} }}
paper = [ {{ metric = "psnr_y", value = 28.42, printed = "28.42", dataset = "Set5" }} ]
[[entries]]
id = "b"
row = "B"
model = "bicubic"
obtain = "compute"
scale = 4
paper = [ {{ metric = "psnr_y", value = 28.42, printed = "28.42", dataset = "Set5" }},
          {{ metric = "ssim_y", value = 0.8104, printed = "0.8104", dataset = "Set5" }} ]
"""


def write_suite(folder: Path, profile_a: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "rec_suite.toml"
    p.write_text(SUITE.format(profile_a=profile_a))
    return p


def opts(results: Path, data_dir: Path, **kw) -> RunOptions:
    return RunOptions(results_dir=results, data_dir=data_dir, progress=False, **kw)


def cells_of(doc: dict, entry: str) -> list[dict]:
    return [c for c in doc["cells"] if c["entry"] == entry]


@pytest.mark.realdata
def test_every_cell_names_its_run_and_inputs(tmp_path, data_dir):
    suite = load_suite(write_suite(tmp_path / "s"))
    doc = run_suite(suite, opts(tmp_path / "r", data_dir), **QUIET).doc
    runs = doc["provenance"]["runs"]
    for c in doc["cells"]:
        assert c["run"] in runs and c["inputs"]
        run = runs[c["run"]]
        for key in ("git_commit", "git_dirty", "device", "budget", "created", "torch"):
            assert key in run, key
        rec = json.loads(record_path(tmp_path / "r", suite.id, c["entry"], "metrics").read_text())
        inputs = rec["jobs"][c["inputs"]]
        assert inputs["profile"]["hash"] == c["extra"]["profile_hash"]
        assert inputs["data"]["Set5"] != "missing"


@pytest.mark.realdata
def test_changing_one_knob_marks_exactly_that_entry_stale_until_remeasured(tmp_path, data_dir):
    results = tmp_path / "r"
    run_suite(load_suite(write_suite(tmp_path / "s")), opts(results, data_dir), **QUIET)
    # one knob of entry a's profile changes (y_rounding): a's cells are stale, b's are not
    changed = load_suite(write_suite(tmp_path / "s", 'y_rounding = "round"'))
    doc = collect(changed, results, data_dir=data_dir)
    assert {c["status"] for c in cells_of(doc, "a")} == {"stale"}
    assert "y_rounding" in cells_of(doc, "a")[0]["reason"] and "--stale" in cells_of(doc, "a")[0]["reason"]
    assert "stale" not in {c["status"] for c in cells_of(doc, "b")}
    out = run_suite(changed, opts(results, data_dir, stale=True), **QUIET)
    assert out.ran == ["a:metrics"] and out.skipped == ["b:metrics"]
    assert "stale" not in {c["status"] for c in out.doc["cells"]}


@pytest.mark.realdata
def test_a_second_run_with_nothing_changed_measures_nothing_and_leaves_the_file(tmp_path, data_dir):
    suite = load_suite(write_suite(tmp_path / "s"))
    first = run_suite(suite, opts(tmp_path / "r", data_dir), **QUIET)
    before = results_path(tmp_path / "r", suite.id).read_bytes()
    again = run_suite(suite, opts(tmp_path / "r", data_dir), **QUIET)
    assert first.ran and not again.ran and not again.changed
    assert results_path(tmp_path / "r", suite.id).read_bytes() == before


@pytest.mark.realdata
def test_a_declared_gap_cause_reaches_the_cells_outside_the_band_and_is_not_an_input(tmp_path, data_dir):
    """An entry's ``gap`` (the measured cause of a known deviation) is added to the reason of its close or
    deviating cells only — and, being an explanation, never makes a measurement stale."""
    text = (SUITE.format(profile_a="").replace('value = 28.42, printed = "28.42"', 'value = 20.0, printed = "20.00"', 1)
            .replace('scale = 4\nprofile', 'scale = 4\ngap = "luma offset, see docs/probe.md"\nprofile', 1))
    (tmp_path / "s").mkdir()
    path = tmp_path / "s" / "rec_suite.toml"
    path.write_text(text)
    results = tmp_path / "r"
    doc = run_suite(load_suite(path), opts(results, data_dir), **QUIET).doc
    (a,) = cells_of(doc, "a")
    assert a["status"] == "deviates" and a["reason"].endswith("luma offset, see docs/probe.md")
    assert all("luma offset" not in c["reason"] for c in cells_of(doc, "b"))
    path.write_text(text.replace('gap = "luma offset, see docs/probe.md"\n', ""))
    (a,) = cells_of(collect(load_suite(path), results, data_dir=data_dir), "a")
    assert a["status"] == "deviates" and "luma offset" not in a["reason"]


@pytest.mark.realdata
def test_a_failed_rerun_keeps_the_earlier_measurement(tmp_path, data_dir, monkeypatch):
    suite = load_suite(write_suite(tmp_path / "s"))
    good = run_suite(suite, opts(tmp_path / "r", data_dir), **QUIET).doc
    kept = {c["metric"]: c["measured"] for c in cells_of(good, "b")}

    def boom(ctx, entry):
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(runner, "get_kind", lambda kind: type("K", (), {"function": lambda self: boom})())
    out = run_suite(suite, opts(tmp_path / "r", data_dir, force=True), **QUIET)
    assert out.errors and "synthetic failure" in out.errors[0]
    for c in cells_of(out.doc, "b"):
        assert c["measured"] == kept[c["metric"]] and c["status"] == "match"
        assert c["last_attempt"]["status"] == "error"


def _cli(*args: str, results: Path, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "SRBENCH_DATA_DIR": str(data_dir)}
    return subprocess.Popen([sys.executable, "-m", "harness", "reproduce", *args, "--results-dir", str(results)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.realdata
def test_two_concurrent_processes_on_different_entries_keep_all_cells(tmp_path, data_dir):
    suite_path = write_suite(tmp_path / "s")
    results = tmp_path / "r"
    procs = [_cli(str(suite_path), "--entries", e, results=results, data_dir=data_dir) for e in ("a", "b")]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    doc = json.loads(results_path(results, "rec_suite").read_text())
    assert all(c["measured"] is not None and c["status"] == "match" for c in doc["cells"]), doc["cells"]
    assert len({c["run"] for c in doc["cells"]}) == 2  # two runs contributed, both named
    assert len(doc["provenance"]["runs"]) == 2


def test_a_refused_run_writes_nothing_and_names_the_fix(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    results = tmp_path / "r"
    assert main(["reproduce", "uae_table2", "--results-dir", str(results)]) == 0
    before = {p: p.read_bytes() for p in results.rglob("*.json")}
    capsys.readouterr()
    assert main(["reproduce", "uae_table2", "--device", "cuda", "--results-dir", str(results), "--force"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert main(["reproduce", "uae_table2", "--entries", "nope", "--results-dir", str(results)]) == 2
    capsys.readouterr()
    # a paper budget that would have to train on this CPU (or whose recipe has no paper schedule): refused
    assert main(["reproduce", "crb_table4", "--budget", "paper", "--results-dir", str(results)]) == 2
    assert "--budget paper" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in results.rglob("*.json")} == before


def test_uae_forms_of_printed_variables_are_consistency_checks(tmp_path):
    doc = run_suite(load_suite("uae_table2"), RunOptions(results_dir=tmp_path, progress=False), **QUIET).doc
    summary = doc["summary"]
    assert "consistency" not in summary["reproduced"]
    measured_modules = {c["entry"] for c in doc["cells"] if c["metric"] == "uae_n" and c["measured"] is not None}
    for c in doc["cells"]:
        if c["metric"].startswith("uae") and c["metric"][3:].isdigit() and c["measured"] is not None:
            expected = "complexity" if c["entry"] in measured_modules else "consistency"
            assert c["evidence"] == expected, c


# ------------------------------------------------------------------------------ the committed results


def _committed():
    for path in sorted((REPO / "results").glob("*.json")):
        yield path.stem, json.loads(path.read_text())


def test_every_committed_cell_names_its_run_and_its_profile_hash_is_its_runs():
    for sid, doc in _committed():
        runs = doc["provenance"]["runs"]
        records = {(r["entry"], r["kind"]): r for r in load_records(REPO / "results", sid)}
        for c in doc["cells"]:
            if c.get("measured") is None:
                continue
            assert c.get("run") in runs, (sid, c["entry"], c["metric"])
            run = runs[c["run"]]
            assert run.get("git_commit") and run.get("budget") is not None or run.get("legacy"), (sid, c["run"])
            if not run.get("legacy"):
                assert not run.get("git_dirty"), f"{sid}: run {c['run']} was made from an uncommitted tree"
            rec = next(r for (e, k), r in records.items() if e == c["entry"] and any(
                x["metric"] == c["metric"] and x.get("dataset") == c.get("dataset") and x.get("scale") == c.get("scale")
                for x in r["cells"]))
            inputs = rec["jobs"][c["inputs"]]
            carried = (c.get("extra") or {}).get("profile_hash")
            if carried and "profile" in inputs:
                assert inputs["profile"]["hash"] == carried, (sid, c["entry"], c["metric"])
            if carried and inputs.get("legacy"):
                assert inputs["profile_hash"] == carried


def test_one_model_under_one_convention_has_one_count_across_suites():
    """The same (model, kwargs, scale, counting convention) gives the same params / Mult-Adds everywhere."""
    seen: dict[tuple, tuple[float, str]] = {}
    for sid, doc in _committed():
        suite = load_suite(sid)
        for rec in load_records(REPO / "results", sid):
            if rec["kind"] != "complexity":
                continue
            for c in rec["cells"]:
                inputs = rec["jobs"][c["inputs"]]
                if inputs.get("legacy") or c.get("measured") is None or c.get("status") is not None:
                    continue
                entry = suite.entry(rec["entry"]) if rec["entry"] in {e.id for e in suite.entries} else None
                if entry is None:
                    continue
                conv = inputs["count"].get(c["metric"], inputs["count"].get("multadds"))
                key = (inputs["model"], json.dumps(inputs["kwargs"], sort_keys=True), c.get("scale"), c["metric"], conv)
                if key in seen:
                    assert seen[key][0] == pytest.approx(c["measured"], rel=1e-9), (key, seen[key][1], sid)
                else:
                    seen[key] = (c["measured"], sid)


def test_one_published_model_has_one_evaluation_protocol_across_suites():
    """A published model's row is evaluated and counted with its own paper's protocol in every suite."""
    from harness.protocols import PROTOCOLS
    from harness.suite import list_suite_ids

    seen: dict[str, tuple[str, dict, str]] = {}
    for sid in list_suite_ids():
        suite = load_suite(sid)
        for e in suite.entries:
            if e.model not in PROTOCOLS or e.obtain == "paper-only":
                continue
            assert e.obtain != "load" or e.protocol == "model", f"{sid}/{e.id}: published {e.model} row without its protocol"
            if e.protocol != "model":
                continue
            got = (suite.entry_profile(e).digest(), e.count.model_dump(), f"{sid}/{e.id}")
            if e.model in seen:
                assert got[:2] == seen[e.model][:2], (got[2], seen[e.model][2])
            seen[e.model] = got
    assert {"vdsr", "carn_m", "lapsrn"} <= set(seen)


@pytest.mark.realdata
def test_submitit_local_executor_runs_two_entries_in_parallel_and_both_land(tmp_path, data_dir):
    suite_path = write_suite(tmp_path / "s")
    results = tmp_path / "r"
    env = {**os.environ, "SRBENCH_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-m", "harness", "reproduce", str(suite_path), "--executor", "local",
                           "--jobs", "2", "--results-dir", str(results)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "dispatching 2 job(s) with submitit (local)" in proc.stdout
    doc = json.loads(results_path(results, "rec_suite").read_text())
    assert all(c["measured"] is not None for c in doc["cells"])
    assert len(doc["provenance"]["runs"]) == 2  # one run per submitit job, both named
