"""Cells and results files (contract.md): one tidy list of cells per suite, judged against tolerance bands.

A cell is one (entry, dataset, scale, metric).  ``paper_cells`` builds the cells a suite prints; ``judge``
gives a measured value its status against the paper with the metric's bands (``harness.catalog``):

- ``match``: |Δ| within the match band (printed rounding + the pipeline's noise floor);
- ``close``: beyond that but within the close band (within the field's convention uncertainty);
- ``deviates``: beyond the close band.

``results/<suite>.json`` is written by ``harness.collect`` from the run records (``harness.records``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from harness import catalog
from harness.suite import Entry, PaperCell, Suite
from harness.util import REPO_ROOT, atomic_write_text, write_json

RESULTS_DIR = REPO_ROOT / "results"

# The contract's statuses plus the harness's own (README, migration note):
# "close" (within convention uncertainty), "measured" (the paper prints no value), "stale" (made from
# inputs that are no longer the suite's), "under-budget" (a model trained under smoke/short: its gap to the
# paper measures the budget, not the paper).
STATUSES = ("match", "close", "deviates", "under-budget", "measured", "stale", "not-run", "missing-data",
            "missing-weights", "paper-only", "error")
# Statuses whose ``measured`` is a current measurement (shown, charted, drift-checked).  A stale cell's value
# is shown on the page (labelled stale) but never charted or drift-checked.
MEASURED_STATUSES = frozenset({"match", "close", "deviates", "under-budget", "measured"})
__all__ = ["MEASURED_STATUSES", "RESULTS_DIR", "STATUSES", "Tolerance", "atomic_write_text", "base_cell", "cell_key", "judge",
           "paper_cells", "printed_half_unit", "read_results", "resolve_tolerance", "results_path",
           "write_results"]


def cell_key(c: dict) -> tuple:
    return (c["entry"], c.get("dataset"), c.get("scale"), c["metric"])


def _numbers(printed: str) -> list[str]:
    return [p.strip().rstrip("%KkMmGg").strip() for p in printed.replace(",", "").split("/")]


def printed_half_unit(printed: str, value: float | None = None) -> float:
    """Half a unit in the last printed decimal place, in the unit of ``value``.

    "0.49" → 0.005; "412K" with value 412000 → 500 (the printed number is in thousands); for paired
    strings ("31.92/0.8903") the part closest to ``value`` (after unit scaling) is used.
    """
    best, best_scale = None, 1.0
    for p in _numbers(printed):
        try:
            v = float(p)
        except ValueError:
            continue
        scale = 1.0
        if value is not None and v != 0 and abs(value) > 10 * abs(v) and "/" not in printed:
            scale = value / v  # "412K", "1.5M": the value is the printed number times a unit
        dist = abs(v * scale - value) if value is not None else 0.0
        if best is None or (value is not None and dist < abs(float(best) * best_scale - value)):
            best, best_scale = p, scale
    if best is None:
        return 0.0
    decimals = len(best.split(".")[1]) if "." in best else 0
    return 0.5 * 10 ** (-decimals) * abs(best_scale)


@dataclass(frozen=True)
class Tolerance:
    """Resolved bands of one cell: absolute bounds on |Δ| (``close`` None: no close band)."""

    match: float
    close: float | None
    text: str  # as written in the cell ("0.018", "0.5%", "printed")

    def status(self, delta: float, paper: float) -> str:
        eps = 1e-9 * max(1.0, abs(paper))  # keeps exact decimal boundaries (0.495 vs 0.49 ± 0.005) inside
        if abs(delta) <= self.match + eps:
            return "match"
        if self.close is not None and abs(delta) <= self.close + eps:
            return "close"
        return "deviates"


def _bound(spec: float | str | None, pc: PaperCell | None) -> tuple[float | None, str]:
    """(absolute bound, text) of one band spec: a number, "N%" of |paper|, or "printed"."""
    if spec is None:
        return None, ""
    paper = pc.value if pc is not None and pc.value is not None else None
    if isinstance(spec, str):
        if spec == "printed":
            return (printed_half_unit(pc.printed, paper) if pc is not None else 0.0), "printed"
        if spec.endswith("%"):
            frac = float(spec[:-1]) / 100.0
            return (frac * abs(paper) if paper is not None else 0.0), spec
        return float(spec), spec
    return float(spec), f"{spec:g}"


def resolve_tolerance(suite: Suite, pc: PaperCell | None, metric: str) -> Tolerance:
    """The cell's bands: a per-cell or per-suite tolerance overrides the match band (the close band stays
    the catalog's, widened to the match band if needed); else the catalog's bands."""
    meta = catalog.get_metric(metric, suite.metrics)
    band = meta.band if meta else catalog.Band("printed", None)
    override = pc.tolerance if pc is not None and pc.tolerance is not None else suite.tolerances.get(metric)
    match, text = _bound(override if override is not None else band.match, pc)
    close, _ = _bound(band.close, pc)
    if close is not None and match is not None and close < match:
        close = match
    return Tolerance(match or 0.0, close, text)


def judge(paper: float | None, measured: float | None, tol: Tolerance) -> tuple[str, float | None]:
    """Status and delta (measured − paper) of one measured cell."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return "error", None
    if paper is None:
        return "measured", None
    delta = measured - paper
    return tol.status(delta, paper), delta


def base_cell(suite: Suite, entry: Entry, pc: PaperCell | None, *, metric: str, dataset: str | None,
              scale: int | None) -> dict:
    tol = resolve_tolerance(suite, pc, metric)
    return {
        "entry": entry.id,
        "row": entry.row,
        "scale": scale,
        "dataset": dataset,
        "metric": metric,
        "paper": pc.value if pc else None,
        "paper_printed": pc.printed if pc else None,
        "note": pc.note if pc else "",
        "measured": None,
        "delta": None,
        "tolerance": _round(tol.match),
        "tolerance_close": _round(tol.close) if tol.close is not None else None,
        "status": None,
        "reason": "",
    }


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def paper_cells(suite: Suite) -> list[dict]:
    """The cells the paper prints, unmeasured (what ``show --json`` lists)."""
    cells = []
    for e in suite.entries:
        for pc in e.paper:
            cells.append(base_cell(suite, e, pc, metric=pc.metric, dataset=pc.dataset, scale=pc.scale))
    return cells


def write_results(path: Path, doc: dict) -> bool:
    """Atomic write; returns False (file untouched) when the content is unchanged."""
    return write_json(path, doc)


def read_results(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); re-run `python -m harness collect` to rebuild it "
                         "from results/records") from None


def results_path(results_dir: Path, suite_id: str) -> Path:
    return Path(results_dir) / f"{suite_id}.json"

