"""``reproduce``: suite -> entries -> kinds of measurement -> judged cells -> results/<suite>.json.

Only the selected entries and kinds are re-measured; every other cell keeps its last result (re-judged
against the suite's current paper value, so a corrected transcription updates its status).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import platform
import subprocess
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

import harness
from harness.measure import MeasureContext, MeasureFn, Measurement
from harness.results import (
    RESULTS_DIR,
    base_cell,
    cell_key,
    judge,
    read_results,
    resolve_tolerance,
    results_path,
    write_results,
)
from harness.suite import KINDS, Entry, Suite, list_suite_ids, load_suite

# kind -> "module:function"; imported lazily so a kind's heavy dependencies load only when it runs.
KIND_FUNCTIONS: dict[str, str] = {
    "uae": "harness.uae:measure_uae",
    "complexity": "harness.complexity:measure_complexity",
    "metrics": "harness.evaluate:measure_metrics",
    "throughput": "harness.throughput:measure_throughput",
    "training-time": "harness.train:measure_training_time",
}

# Which kind measures a metric.
KIND_OF_METRIC: dict[str, str] = {
    **{m: "metrics" for m in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "lpips")},
    **{m: "complexity" for m in ("params", "params_nobias", "flops", "multadds", "convs")},
    **{m: "throughput" for m in ("throughput", "infer_time")},
    "train_time": "training-time",
    **{m: "uae" for m in ("uae1", "uae2", "uae3", "uae4", "uae5", "uae6", "uae_k", "uae_n", "uae_l", "uae_f")},
}


@dataclass
class RunOptions:
    budget: str = "smoke"
    only: set[str] = field(default_factory=lambda: set(KINDS))
    entries: set[str] | None = None
    datasets: set[str] | None = None
    data_dir: Path | None = None
    weights_dir: Path | None = None
    device: str = "cpu"
    results_dir: Path = RESULTS_DIR
    progress: bool = True


def kind_of(metric: str, suite: Suite) -> str | None:
    return KIND_OF_METRIC.get(metric) or (suite.metrics.get(metric, "").split(":")[0] or None)


def kinds_for(entry: Entry, suite: Suite) -> list[str]:
    """The kinds an entry needs: those of its printed cells, plus any it asks for in ``measure``."""
    wanted = {kind_of(c.metric, suite) for c in entry.paper}
    for m in entry.measure:
        wanted.add(m if m in KINDS else kind_of(m, suite))
    if entry.datasets:
        wanted.add("metrics")
    return [k for k in KINDS if k in wanted]


def _kind_function(kind: str) -> MeasureFn:
    module, func = KIND_FUNCTIONS[kind].split(":")
    return getattr(importlib.import_module(module), func)


def _git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5, check=False).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_description(device: str) -> str:
    if device == "cuda" and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def provenance(suite: Suite, opts: RunOptions) -> dict:
    return {
        "harness_version": harness.__version__,
        "git_commit": _git_commit(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": device_description(opts.device),
        "budget": opts.budget,
        "metric_profile": suite.metric_profile.record(),
        "profile_reason": suite.profile.reason,
        "data": {},
        "weights": {},
    }


UNDERTRAINED = "trained under the {budget!r} budget, not the paper's schedule: the value is recorded but not compared"


def _verdict(suite: Suite, entry: Entry, pc, cell: dict) -> None:
    """Set a measured cell's status and delta against the paper.

    A model trained under a smoke/short budget is not the paper's model: its image metrics keep their
    value, but the comparison is not made (it would only measure the budget).
    """
    budget = cell.get("budget", "paper")
    if entry.obtain == "train" and budget != "paper" and KIND_OF_METRIC.get(cell["metric"]) == "metrics":
        cell["status"], cell["delta"] = "not-run", None
        note = UNDERTRAINED.format(budget=budget)
        if not cell["reason"].startswith(note):
            cell["reason"] = f"{note} (train with --budget paper on a GPU); {cell['reason']}"
        return
    tol, rel = resolve_tolerance(suite, pc, cell["metric"])
    cell["status"], cell["delta"] = judge(pc.value if pc else None, cell["measured"], tol, rel)


def _cells_from(suite: Suite, entry: Entry, measurements: Iterable[Measurement], run_id: str,
                budget: str) -> list[dict]:
    paper = {(c.dataset, c.scale, c.metric): c for c in entry.paper}
    cells = []
    for m in measurements:
        scale = m.scale if m.scale is not None else entry.scale
        pc = paper.get((m.dataset, scale, m.metric))
        cell = base_cell(suite, entry, pc, metric=m.metric, dataset=m.dataset, scale=scale)
        cell["measured"] = m.value
        cell["reason"] = m.reason
        cell["run"] = run_id
        cell["budget"] = budget  # cells of several runs coexist in one file: each says how it was measured
        if m.extra:
            cell["extra"] = m.extra
        if m.status is not None:
            cell["status"] = m.status
        else:
            _verdict(suite, entry, pc, cell)
        cells.append(cell)
    return cells


def _unmeasured_cells(suite: Suite, entry: Entry, status: str, reason: str, kinds: set[str] | None) -> list[dict]:
    cells = []
    for pc in entry.paper:
        if kinds is not None and kind_of(pc.metric, suite) not in kinds:
            continue
        cell = base_cell(suite, entry, pc, metric=pc.metric, dataset=pc.dataset, scale=pc.scale)
        cell.update(status=status, reason=reason)
        cells.append(cell)
    return cells


def _rejudge(suite: Suite, cell: dict) -> dict:
    """Refresh an old cell's paper value, tolerance and status from the current suite file."""
    try:
        entry = suite.entry(cell["entry"])
    except KeyError:
        return cell
    pc = next((c for c in entry.paper if (c.dataset, c.scale, c.metric) ==
               (cell.get("dataset"), cell.get("scale"), cell["metric"])), None)
    fresh = base_cell(suite, entry, pc, metric=cell["metric"], dataset=cell.get("dataset"), scale=cell.get("scale"))
    for k in ("measured", "reason", "run", "budget", "extra", "status", "delta"):
        if k in cell:
            fresh[k] = cell[k]
    undertrained = cell.get("status") == "not-run" and cell.get("reason", "").startswith("trained under the")
    if (cell.get("status") in ("match", "deviates", "measured") or undertrained) and cell.get("measured") is not None:
        _verdict(suite, entry, pc, fresh)
    return fresh


def run_suite(suite: Suite, opts: RunOptions, report: Callable[[str], None] = print) -> dict:
    """Measure the selected entries/kinds of one suite, merge with earlier results, write atomically."""
    path = results_path(opts.results_dir, suite.id)
    old = read_results(path) or {}
    prov = provenance(suite, opts)
    run_id = prov["created"]
    ctx = MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=opts.data_dir,
                         weights_dir=opts.weights_dir, device=opts.device, budget=opts.budget,
                         provenance=prov, progress=report if opts.progress else (lambda msg: None),
                         datasets=opts.datasets)
    selected = [e for e in suite.entries if opts.entries is None or e.id in opts.entries]
    if opts.entries:
        unknown = opts.entries - {e.id for e in suite.entries}
        if unknown:
            raise KeyError(f"suite {suite.id!r} has no entries {sorted(unknown)}; "
                           f"entries: {', '.join(e.id for e in suite.entries)}")

    new: list[dict] = []
    timings: dict[str, float] = {}
    for i, entry in enumerate(selected, 1):
        kinds = [k for k in kinds_for(entry, suite) if k in opts.only]
        ctx.profile = suite.entry_profile(entry)
        if entry.obtain == "paper-only":
            new += _unmeasured_cells(suite, entry, "paper-only", entry.reason, None)
            continue
        for kind in kinds:
            report(f"[{suite.id}] {i}/{len(selected)} {entry.id}: {kind}")
            t0 = time.perf_counter()
            try:
                measurements = _kind_function(kind)(ctx, entry)
            except ModuleNotFoundError as exc:
                new += _unmeasured_cells(suite, entry, "not-run", f"kind {kind!r} is not available: {exc}", {kind})
                continue
            except Exception as exc:  # noqa: BLE001 — one entry's failure must not sink the suite
                msg = f"{type(exc).__name__}: {exc}"
                report(f"  error: {msg}\n{traceback.format_exc(limit=3)}")
                new += _unmeasured_cells(suite, entry, "error", msg, {kind})
                continue
            timings[f"{entry.id}:{kind}"] = round(time.perf_counter() - t0, 3)
            new += _cells_from(suite, entry, measurements, run_id, opts.budget)

    # Every printed cell is present: start from the paper, overlay earlier results, then this run.
    merged: dict[tuple, dict] = {}
    for e in suite.entries:
        for c in _unmeasured_cells(suite, e, "not-run", "not measured yet: run `python -m harness reproduce "
                                   f"{suite.id} --entries {e.id}`", None):
            merged[cell_key(c)] = c
    entry_ids = {e.id for e in suite.entries}
    for c in old.get("cells", []):
        if c["entry"] in entry_ids:
            merged[cell_key(c)] = _rejudge(suite, c)
    for c in new:
        prior = merged.get(cell_key(c))
        # A cell skipped for this run's budget keeps an earlier measurement (e.g. a --budget paper run).
        if c.get("extra", {}).get("budget_skip") and prior is not None and prior.get("measured") is not None:
            continue
        merged[cell_key(c)] = c

    old_prov = old.get("provenance", {})
    prov["data"] = {**old_prov.get("data", {}), **prov["data"]}
    prov["weights"] = {**old_prov.get("weights", {}), **prov["weights"]}
    prov["timings_s"] = timings
    doc = {
        "suite": suite.id,
        "paper": suite.paper,
        "table": suite.table,
        "caption": suite.caption,
        "provenance": prov,
        "cells": list(merged.values()),
    }
    write_results(path, doc)
    return doc


def status_counts(cells: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in cells:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    return counts


def resolve_suites(ids: list[str] | None) -> list[Suite]:
    return [load_suite(s) for s in (ids or list_suite_ids())]


def remeasure_baselines(baseline_dir: Path, results_dir: Path, base: RunOptions | None = None,
                        report: Callable[[str], None] = print) -> list[str]:
    """Re-measure exactly the cells that the committed drift baselines hold (the CI subset).

    Each ``results/baselines/<suite>.json`` lists cells; the subset is their entries, the kinds of
    their metrics and their datasets, so the baseline files alone define what CI re-measures.
    """
    import json

    done = []
    for path in sorted(Path(baseline_dir).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        suite = load_suite(doc["suite"])
        by_kind: dict[str, list[dict]] = {}
        for c in doc.get("cells", []):
            by_kind.setdefault(kind_of(c["metric"], suite), []).append(c)
        by_kind.pop(None, None)
        # one run per kind, so an entry baselined for its params is not also evaluated or trained
        for kind, cells in sorted(by_kind.items()):
            datasets = {c["dataset"] for c in cells if c.get("dataset")}
            opts = RunOptions(
                budget=(base.budget if base else "smoke"),
                only={kind},
                entries={c["entry"] for c in cells},
                datasets=datasets or None,
                data_dir=base.data_dir if base else None,
                weights_dir=base.weights_dir if base else None,
                device=base.device if base else "cpu",
                results_dir=Path(results_dir),
                progress=base.progress if base else True,
            )
            run_suite(suite, opts, report)
        done.append(suite.id)
    return done
