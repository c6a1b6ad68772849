"""Drift regression check: today's measurements against committed baselines (results/baselines/<suite>.json).

A baseline file has the results-file shape (suite, paper, table, provenance, cells) for a subset of cells,
plus a ``baseline`` header saying why and when it was written (reason, date, git commit) and a ``history``
of earlier headers.  ``check_drift`` compares every baseline cell, keyed by (suite, entry, dataset, scale,
metric), with the current results file and fails a cell when

- |now − baseline| exceeds its tolerance (the cell's ``drift_tolerance``, else the metric catalog's ``drift``),
- the cell is gone from the results, or is no longer measured (status error, not-run, missing-*...).

Timing cells (throughput, inference and training time) are never drift-checked: they measure the machine.
``update_baseline`` is the only writer of baselines and refuses to run without a reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.results import (
    MEASURED_STATUSES,
    RESULTS_DIR,
    atomic_write_text,
    read_results,
    results_path,
)

BASELINE_DIR = RESULTS_DIR / "baselines"
PROJECT_ROOT = RESULTS_DIR.parent

DriftKey = tuple[str, str, str | None, int | None, str]  # suite, entry, dataset, scale, metric


class BaselineError(ValueError):
    """update_baseline was called without a reason, or with nothing to write."""


@dataclass(frozen=True)
class Tolerance:
    value: float
    relative: bool = False

    def bound(self, baseline: float) -> float:
        return self.value * abs(baseline) if self.relative else self.value

    def __str__(self) -> str:
        if self.value == 0:
            return "exact"
        return f"{self.value:g} rel" if self.relative else f"{self.value:g}"


FALLBACK_TOLERANCE = Tolerance(1e-6, relative=True)  # a metric the catalog does not know (suite-specific)


def _catalog_tolerance(metric: str) -> Tolerance | None:
    from harness import catalog

    meta = catalog.CATALOG.get(metric)
    if meta is None:
        return FALLBACK_TOLERANCE
    return Tolerance(*meta.drift) if meta.drift is not None else None


def _unchecked(metric: str) -> bool:
    """Timing cells are never drift-checked (catalog: drift None): they measure the machine."""
    from harness import catalog

    meta = catalog.CATALOG.get(metric)
    return meta is not None and meta.drift is None


def parse_tolerance(raw: Any) -> Tolerance:
    """A ``drift_tolerance`` field: a number (absolute) or "N%" (relative)."""
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return Tolerance(float(raw.strip()[:-1]) / 100.0, relative=True)
    return Tolerance(float(raw))


def tolerance_for(cell: dict) -> Tolerance:
    if cell.get("drift_tolerance") is not None:
        return parse_tolerance(cell["drift_tolerance"])
    return _catalog_tolerance(cell["metric"]) or FALLBACK_TOLERANCE


def drift_key(suite: str, cell: dict) -> DriftKey:
    return (suite, cell["entry"], cell.get("dataset"), cell.get("scale"), cell["metric"])


def _value(cell: dict) -> float | None:
    v = cell.get("measured")
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok and cell.get("status") in MEASURED_STATUSES else None


# ---------------------------------------------------------------------------------------------- check

@dataclass
class DriftRow:
    key: DriftKey
    baseline: float | None
    now: float | None
    tolerance: Tolerance
    verdict: str  # ok | drift | missing | not-measured | skipped
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict not in ("ok", "skipped")

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None or self.now is None else self.now - self.baseline

    @property
    def cell(self) -> str:
        suite, entry, dataset, scale, metric = self.key
        where = "/".join(str(p) for p in (dataset, f"x{scale}" if scale is not None else None) if p is not None)
        return f"{suite}:{entry}" + (f" {where}" if where else "") + f" {metric}"


@dataclass
class DriftReport:
    rows: list[DriftRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # context that is not a failure (profile changed, ...)
    baselines: list[Path] = field(default_factory=list)

    @property
    def failures(self) -> list[DriftRow]:
        return [r for r in self.rows if r.failed]

    @property
    def ok(self) -> bool:
        return not self.failures

    def format_table(self, only_failures: bool = False) -> str:
        return format_table(self, only_failures)


def compare_cell(key: DriftKey, base: dict, now: dict | None) -> DriftRow:
    tol = tolerance_for(base)
    b = _value(base)
    if _unchecked(base["metric"]):
        return DriftRow(key, b, None, tol, "skipped", "timing cells are never drift-checked")
    if now is None:
        return DriftRow(key, b, None, tol, "missing", "the cell is no longer in the results")
    n = _value(now)
    if n is None:
        why = f"status {now.get('status')}" + (f": {now['reason']}" if now.get("reason") else "")
        return DriftRow(key, b, None, tol, "not-measured", why)
    if b is None:
        return DriftRow(key, None, n, tol, "drift", "the baseline holds no measured value")
    verdict = "ok" if abs(n - b) <= tol.bound(b) else "drift"
    return DriftRow(key, b, n, tol, verdict)


def _profile_hash(doc: dict | None) -> str:
    return str(((doc or {}).get("provenance") or {}).get("metric_profile", {}).get("hash", ""))


def check_suite(baseline: dict, results: dict | None) -> tuple[list[DriftRow], list[str]]:
    suite = baseline["suite"]
    current = {drift_key(suite, c): c for c in (results or {}).get("cells", [])}
    rows = [compare_cell(drift_key(suite, c), c, current.get(drift_key(suite, c))) for c in baseline.get("cells", [])]
    notes = []
    if results is None:
        notes.append(f"{suite}: no results file — every baseline cell is missing")
    elif _profile_hash(baseline) and _profile_hash(baseline) != _profile_hash(results):
        notes.append(f"{suite}: metric profile hash changed {_profile_hash(baseline)} → {_profile_hash(results)}")
    return rows, notes


def baseline_files(baseline_dir: Path) -> list[Path]:
    return sorted(Path(baseline_dir).glob("*.json"))


def check_drift(baseline_dir: Path = BASELINE_DIR, results_dir: Path = RESULTS_DIR) -> DriftReport:
    """Compare every cell of every baseline file in ``baseline_dir`` with ``results_dir``."""
    report = DriftReport()
    for path in baseline_files(baseline_dir):
        baseline = json.loads(path.read_text(encoding="utf-8"))
        rows, notes = check_suite(baseline, read_results(results_path(results_dir, baseline["suite"])))
        report.rows += rows
        report.notes += notes
        report.baselines.append(path)
    return report


# ---------------------------------------------------------------------------------------------- output

COLUMNS = ("cell", "baseline", "now", "delta", "tolerance", "verdict")


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.10g}"


def _delta(r: DriftRow) -> str:
    d = r.delta
    return "—" if d is None else ("0" if d == 0 else f"{d:+.3g}")


def table_rows(rows: list[DriftRow]) -> list[tuple[str, ...]]:
    return [(r.cell, _num(r.baseline), _num(r.now), _delta(r), str(r.tolerance),
             r.verdict.upper() if r.failed else r.verdict, f"  ({r.detail})" if r.detail else "") for r in rows]


def _aligned(rows: list[DriftRow]) -> list[str]:
    cols = table_rows(rows)
    widths = [max([len(h)] + [len(r[i]) for r in cols]) for i, h in enumerate(COLUMNS)]

    def line(fields: Iterable[str]) -> str:
        return "  ".join(f.ljust(w) for f, w in zip(fields, widths, strict=True)).rstrip()

    return [line(COLUMNS), line("-" * w for w in widths)] + [line(r[:-1]) + r[-1] for r in cols]


def format_table(report: DriftReport, only_failures: bool = False) -> str:
    """Plain-text table (cell, baseline, now, delta, tolerance, verdict), the failures again at the end
    (so that they are not lost in a long table), notes and a summary line."""
    failures = report.failures
    out = _aligned(failures if only_failures else report.rows)
    if failures and not only_failures:
        out += ["", "failed cells:", *_aligned(failures)]
    out += [f"note: {n}" for n in report.notes]
    checked = sum(r.verdict != "skipped" for r in report.rows)
    files = f"{len(report.baselines)} baseline file(s)"
    out.append(f"{len(failures)} of {checked} baseline cell(s) drifted or are no longer measured ({files})" if failures
               else f"no drift: {checked} baseline cell(s) within tolerance ({files})")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- update

@dataclass(frozen=True)
class CellFilter:
    """Which cells a new baseline holds; an empty field means "any"."""

    suites: frozenset[str] = frozenset()
    entries: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()
    scales: frozenset[int] = frozenset()
    metrics: frozenset[str] = frozenset()

    def __call__(self, suite: str, cell: dict) -> bool:
        checks = ((self.suites, suite), (self.entries, cell["entry"]), (self.datasets, cell.get("dataset") or "-"),
                  (self.scales, cell.get("scale")), (self.metrics, cell["metric"]))
        return all(not allowed or value in allowed for allowed, value in checks)


def parse_subset(text: str) -> CellFilter:
    """``"metric=psnr_y,params;dataset=Set5;scale=4;entry=carn_m;suite=carn_table1"`` (``dataset=-``: none)."""
    fields: dict[str, Any] = {}
    names = {"suite": "suites", "entry": "entries", "dataset": "datasets", "scale": "scales", "metric": "metrics"}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, values = part.partition("=")
        if name.strip() not in names or not values:
            raise BaselineError(f"subset part {part!r}: expected NAME=V1,V2 with NAME one of {', '.join(names)}")
        items = [v.strip() for v in values.split(",") if v.strip()]
        fields[names[name.strip()]] = frozenset(int(v) for v in items) if name.strip() == "scale" else frozenset(items)
    return CellFilter(**fields)


def git_commit(cwd: Path = PROJECT_ROOT) -> str:
    """HEAD's hash, "+dirty.<diff hash>" when code differs from it (harness.util: one format everywhere)."""
    from harness.util import git_commit_label

    return git_commit_label()


Subset = Callable[[str, dict], bool]


def _history(previous: dict | None) -> list[dict]:
    """Earlier headers, newest first: the replaced baseline's header, then its own history."""
    if not previous or "baseline" not in previous:
        return []
    return [previous["baseline"], *previous.get("history", [])]


def baseline_cells(suite: str, results: dict, subset: Subset | None, previous: dict | None) -> list[dict]:
    """Measured, non-timing cells chosen by ``subset`` (default: the previous baseline's cells, else all).

    A previous cell's ``drift_tolerance`` is kept."""
    before = {drift_key(suite, c): c for c in (previous or {}).get("cells", [])}
    if subset is None:
        subset = (lambda s, c: drift_key(s, c) in before) if before else (lambda s, c: True)
    chosen = []
    for cell in results.get("cells", []):
        if _unchecked(cell["metric"]) or _value(cell) is None or not subset(suite, cell):
            continue
        kept = before.get(drift_key(suite, cell), {})
        chosen.append({**cell, **({"drift_tolerance": kept["drift_tolerance"]} if "drift_tolerance" in kept else {})})
    return chosen


def update_baseline(suite_ids: Iterable[str] | None, results_dir: Path = RESULTS_DIR,
                    baseline_dir: Path = BASELINE_DIR, reason: str = "", subset: Subset | None = None, *,
                    now: datetime | None = None) -> list[Path]:
    """Write ``baseline_dir``/<suite>.json from the current results, recording why (required), when and at
    which commit.  ``suite_ids`` None: every suite with a results file.  ``subset(suite, cell)`` picks the
    cells (see ``CellFilter``/``parse_subset``); None keeps the existing baseline's cells, or takes every
    measured non-timing cell for a new baseline."""
    if not reason or not reason.strip():
        raise BaselineError("update_baseline needs a reason (why the baseline changes), e.g. "
                            "--reason 'switch SSIM to the Wang filter (issue #12)'")
    results_dir, baseline_dir = Path(results_dir), Path(baseline_dir)
    ids = list(suite_ids) if suite_ids else sorted(p.stem for p in results_dir.glob("*.json"))
    header = {"reason": reason.strip(), "date": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
              "git_commit": git_commit()}
    written = []
    for suite in ids:
        results = read_results(results_path(results_dir, suite))
        if results is None:
            raise BaselineError(f"{results_path(results_dir, suite)}: no results for {suite!r}; run reproduce first")
        path = baseline_dir / f"{suite}.json"
        previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        cells = baseline_cells(suite, results, subset, previous)
        if not cells:
            raise BaselineError(f"{suite}: no measured cell matches the subset; nothing to baseline")
        doc = {
            "suite": suite, "paper": results.get("paper", ""), "table": results.get("table", ""),
            "baseline": {**header, "results_created": (results.get("provenance") or {}).get("created", "")},
            "history": _history(previous),
            "provenance": results.get("provenance", {}),
            "cells": cells,
        }
        atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------- CLI glue

def main_drift(args: Any) -> int:
    """``args.baseline`` and ``args.results_dir`` (None = defaults), optional ``args.only_failures``.

    Exit status: 0 no drift, 1 drift, 2 no baseline files found (nothing was checked)."""
    baseline_dir = Path(getattr(args, "baseline", None) or BASELINE_DIR)
    report = check_drift(baseline_dir, Path(getattr(args, "results_dir", None) or RESULTS_DIR))
    if not report.baselines:
        print(f"no baseline files in {baseline_dir}: nothing was checked "
              "(write some with update_baseline / `python -m harness baseline --reason ...`)")
        return 2
    print(report.format_table(only_failures=bool(getattr(args, "only_failures", False))))
    return 0 if report.ok else 1


def main_baseline(args: Any) -> int:
    """``args.suites`` (list), ``args.reason``, ``args.subset`` (text for ``parse_subset``), ``args.results_dir``,
    ``args.baseline``.  Exit status 2 on a refused update (no reason, nothing to write)."""
    try:
        paths = update_baseline(
            getattr(args, "suites", None) or None,
            Path(getattr(args, "results_dir", None) or RESULTS_DIR),
            Path(getattr(args, "baseline", None) or BASELINE_DIR),
            reason=getattr(args, "reason", "") or "",
            subset=parse_subset(args.subset) if getattr(args, "subset", None) else None,
        )
    except BaselineError as exc:
        print(f"error: {exc}")
        return 2
    for p in paths:
        print(f"wrote {p}")
    return 0
