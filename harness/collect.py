"""``collect``: build ``results/<suite>.json`` deterministically from the run records.

Every printed cell appears (paper-only, not-run, or measured); every measured cell names its ``run`` and
``inputs`` hash, and carries its evidence class.  A cell whose inputs hash differs from what the suite asks
for now is ``stale`` (never silently re-judged), with the fields that changed in its reason.  The file's
provenance lists every run that contributed.  Nothing in the output depends on when ``collect`` ran, so a
re-run with nothing changed leaves the file byte-identical.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness import catalog
from harness.records import (
    diff_inputs,
    inputs_hash,
    job_inputs,
    load_records,
    records_dir,
)
from harness.results import (
    base_cell,
    judge,
    resolve_tolerance,
    results_path,
    write_results,
)
from harness.suite import Entry, Suite
from harness.training.recipes import odd_recipe_rows

# Statuses that count as a reproduction of a printed number (per evidence class, never "consistency").
REPRODUCED = ("match",)


def evidence_of(suite: Suite, entry: Entry, metric: str, cell: dict) -> str:
    """The evidence class of a cell (harness.catalog.EVIDENCE_CLASSES)."""
    if cell.get("evidence"):
        return cell["evidence"]
    meta = catalog.get_metric(metric, suite.metrics)
    ev = meta.evidence if meta else "consistency"
    if meta is not None and meta.kind == "uae" and not entry.model:
        return "consistency"  # a row computed from the paper's own printed numbers
    if ev == "image":
        if entry.model == "bicubic":
            return "baseline"
        if entry.obtain == "load":
            return "published-weights"
        if entry.obtain == "train":
            return f"trained:{cell.get('budget') or 'unknown'}"
        return "image"
    return ev


def _suite_lock(results_dir: Path, suite_id: str) -> FileLock:
    folder = records_dir(results_dir, suite_id)
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".collect.lock"))


def how_to_measure(suite: Suite, entry: Entry) -> str:
    return f"run `python -m harness reproduce {suite.id} --entries {entry.id}`"


def _remeasure_command(suite: Suite, entry: Entry, cell: dict) -> str:
    """The command that re-measures a stale cell: ``--stale``, with the budget its last attempt lacked (a
    smoke run scores a trained model on Set5 only and caps large evaluations; it cannot re-measure the rest)."""
    la = cell.get("last_attempt") or {}
    tried = la.get("budget")
    cmd = f"python -m harness reproduce {suite.id} --entries {entry.id} --stale"
    if tried is None:
        return f"`{cmd}`"
    nxt = {"smoke": "short", "short": "paper"}.get(tried)
    if nxt is None:
        return f"`{cmd}` (its last attempt, under the paper budget, did not re-measure it: {la.get('status')})"
    if entry.obtain == "train":
        return (f"`{cmd} --budget {nxt}` (its last attempt under {tried} could not; a trained entry's {nxt} run "
                f"over the CPU cap is refused on a CPU: on a GPU add --device cuda)")
    return f"`{cmd} --budget paper` (its last attempt under {tried} was capped)"


def _skeleton(suite: Suite) -> dict[tuple, dict]:
    cells: dict[tuple, dict] = {}
    for e in suite.entries:
        for pc in e.paper:
            c = base_cell(suite, e, pc, metric=pc.metric, dataset=pc.dataset, scale=pc.scale)
            if e.obtain == "paper-only":
                c.update(status="paper-only", reason=e.reason)
            elif e.model == "bicubic" and catalog.kind_of(pc.metric) == "complexity":
                c.update(status="paper-only", reason="bicubic interpolation is not a network: it has no parameters, "
                                                     "FLOPs or convolutions to count (the paper prints a dash)")
            else:
                c.update(status="not-run", reason=f"not measured yet: {how_to_measure(suite, e)}")
            cells[(e.id, pc.dataset, pc.scale, pc.metric)] = c
    return cells


def _judge_cell(suite: Suite, entry: Entry, pc, cell: dict, fixed_status: str | None,
                odd_recipe: str | None = None) -> None:
    """``odd_recipe``: the row's note from ``odd_recipe_rows`` (its recipe is not its table's), if any."""
    if fixed_status is not None:
        cell["status"] = fixed_status
        return
    tol = resolve_tolerance(suite, pc, cell["metric"])
    status, delta = judge(pc.value if pc else None, cell["measured"], tol)
    cell["delta"] = delta
    budget = cell.get("budget")
    trained = cell["evidence"].startswith("trained:")
    if trained and budget != "paper" and odd_recipe:
        # a budget fixes data, iterations, batch, patch and seed, not the recipe: say where a row's differs
        cell["reason"] = f"{cell['reason']}; {odd_recipe}"
    if trained and budget != "paper" and status in ("close", "deviates"):
        status = "under-budget"
        cell["reason"] = (f"trained here under the {budget!r} budget, not the paper's schedule: the gap measures "
                          f"the budget, not the paper; {cell['reason']}")
    elif entry.gap and status in ("close", "deviates"):
        cell["reason"] = f"{cell['reason']}; cause of the gap (measured, the suite's `gap`): {entry.gap}"
    cell["status"] = status


def collect(suite: Suite, results_dir: Path, *, data_dir: Path | None = None) -> dict:
    """The results document of one suite from its records (pure: reads records, returns the doc)."""
    cells = _skeleton(suite)
    odd_recipes = odd_recipe_rows(e for e in suite.entries if e.obtain == "train")
    runs: dict[str, dict] = {}
    data: dict[str, str] = {}
    weights: dict[str, str] = {}
    expected: dict[tuple, tuple[dict, str]] = {}
    for rec in load_records(results_dir, suite.id):
        try:
            entry = suite.entry(rec["entry"])
        except KeyError:
            continue  # the entry was removed from the suite: its record is kept but not shown
        if entry.obtain == "paper-only":
            continue
        paper = {(c.dataset, c.scale, c.metric): c for c in entry.paper}
        for rc in rec["cells"]:
            run = rec["runs"].get(rc["run"], {})
            budget = rc.get("budget") or run.get("budget") or "smoke"
            key = (entry.id, rec["kind"], budget, run.get("device", "cpu"))
            if key not in expected:
                inp = job_inputs(suite, entry, rec["kind"], budget=budget, device=run.get("device", "cpu"),
                                 data_dir=data_dir)
                expected[key] = (inp, inputs_hash(inp))
            want, want_hash = expected[key]
            pc = paper.get((rc.get("dataset"), rc.get("scale"), rc["metric"]))
            cell = base_cell(suite, entry, pc, metric=rc["metric"], dataset=rc.get("dataset"), scale=rc.get("scale"))
            for k in ("measured", "reason", "extra", "run", "budget", "inputs", "training", "last_attempt"):
                if rc.get(k) is not None:
                    cell[k] = rc[k]
            cell["evidence"] = evidence_of(suite, entry, rc["metric"], rc)
            had = rec["jobs"].get(rc["inputs"])
            if rc["inputs"] != want_hash:
                changed = diff_inputs(had, want)
                cell["status"] = "stale"
                if cell.get("measured") is not None and pc is not None and pc.value is not None:
                    cell["delta"] = cell["measured"] - pc.value
                cell["reason"] = (f"stale: measured under inputs that differ from the suite's now ({'; '.join(changed)[:400]}); "
                                  f"re-measure with {_remeasure_command(suite, entry, cell)}. Was: {cell['reason']}")
            else:
                _judge_cell(suite, entry, pc, cell, rc.get("status"), odd_recipes.get(entry.id))
                for d, fp in (had or {}).get("data", {}).items():
                    data[d] = fp
                for s, sha in (had or {}).get("weights", {}).items():
                    weights[f"{entry.model}_{s}"] = sha
            cells[(entry.id, rc.get("dataset"), rc.get("scale"), rc["metric"])] = cell
            runs[rc["run"]] = run
            if rc.get("last_attempt", {}).get("run") in rec["runs"]:
                runs[rc["last_attempt"]["run"]] = rec["runs"][rc["last_attempt"]["run"]]
    ordered = _order(suite, cells)
    for c in ordered:
        c.setdefault("evidence", evidence_of(suite, suite.entry(c["entry"]), c["metric"], c)
                     if c["status"] not in ("paper-only",) else None)
    doc: dict[str, Any] = {
        "suite": suite.id,
        "paper": suite.paper,
        "table": suite.table,
        "caption": suite.caption,
        "provenance": _provenance(suite, runs, data, weights),
        "summary": summarise(ordered),
        "cells": ordered,
    }
    claims = _claims(suite, ordered)
    if claims is not None:
        doc["claims"] = claims
    return doc


def _order(suite: Suite, cells: dict[tuple, dict]) -> list[dict]:
    """Suite order: entries as in the suite; within one, printed cells first, then extra measured ones."""
    rank = {}
    for i, e in enumerate(suite.entries):
        for j, pc in enumerate(e.paper):
            rank[(e.id, pc.dataset, pc.scale, pc.metric)] = (i, 0, j, "")
        rank[e.id] = i
    def key(k: tuple) -> tuple:
        return rank.get(k) or (rank[k[0]], 1, 0, f"{k[1]}|{k[2]}|{k[3]}")
    return [cells[k] for k in sorted(cells, key=key)]


def _one_or_list(values: set) -> Any:
    values = {v for v in values if v is not None}
    if not values:
        return None
    return next(iter(values)) if len(values) == 1 else sorted(values, key=str)


def _provenance(suite: Suite, runs: dict[str, dict], data: dict, weights: dict) -> dict:
    """Contract fields summarised over the contributing runs (a list where they differ), plus the runs."""
    def field(name: str) -> Any:
        return _one_or_list({r.get(name) for r in runs.values()})

    commits = {r.get("git_commit") + (f"+dirty.{r.get('git_diff_sha256')}" if r.get("git_dirty") else "")
               for r in runs.values() if r.get("git_commit")}
    return {
        "harness_version": field("harness_version"),
        "git_commit": _one_or_list(commits),
        "created": max((r.get("created", "") for r in runs.values()), default=None),
        "python": field("python"),
        "torch": field("torch"),
        "device": _one_or_list({f"{r.get('device')}: {r.get('name')}" for r in runs.values() if r.get("device")}),
        "budget": field("budget"),
        "metric_profile": suite.metric_profile.record(),
        "profile_reason": suite.profile.reason,
        "data": dict(sorted(data.items())),
        "weights": dict(sorted(weights.items())),
        "runs": dict(sorted(runs.items())),
    }


def summarise(cells: list[dict]) -> dict:
    """Counts per evidence class and status; ``reproduced`` never includes consistency checks."""
    by_class: dict[str, Counter] = {}
    for c in cells:
        ev = c.get("evidence") or "none"
        by_class.setdefault(ev, Counter())[c["status"]] += 1
    reproduced = {}
    for ev, counts in by_class.items():
        if ev in ("consistency", "none"):
            continue
        compared = sum(n for s, n in counts.items() if s in ("match", "close", "deviates", "under-budget"))
        if compared:
            reproduced[ev] = {"match": counts.get("match", 0), "close": counts.get("close", 0),
                              "compared": compared}
    return {
        "by_status": dict(sorted(Counter(c["status"] for c in cells).items())),
        "by_evidence": {ev: dict(sorted(cnt.items())) for ev, cnt in sorted(by_class.items())},
        "reproduced": dict(sorted(reproduced.items())),
        "consistency": dict(sorted(by_class.get("consistency", Counter()).items())),
    }


def _claims(suite: Suite, cells: list[dict]) -> list[dict] | None:
    try:
        from harness.claims import evaluate_claims
    except ImportError:
        return None
    if not getattr(suite, "claims", None):
        return []
    return evaluate_claims(suite, cells)


def collect_and_write(suite: Suite, results_dir: Path, *, data_dir: Path | None = None) -> tuple[dict, bool]:
    """Collect under the suite's lock and write atomically; (doc, whether the file changed)."""
    with _suite_lock(results_dir, suite.id):
        doc = collect(suite, results_dir, data_dir=data_dir)
        changed = write_results(results_path(results_dir, suite.id), doc)
    return doc, changed
