"""Cells and results files (contract.md): one tidy list of cells per suite, written atomically.

A cell is one (entry, dataset, scale, metric).  ``paper_cells`` builds the cells a suite prints;
``judge`` gives a measured value its status against the paper; ``merge`` updates only re-measured cells.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.suite import Entry, PaperCell, Suite

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"

# The contract's statuses, plus "measured": a value the harness measured where the paper prints none
# (a "-" cell, or an extra dataset/metric the suite asks for).  README documents the addition.
STATUSES = ("match", "deviates", "measured", "not-run", "missing-data", "missing-weights", "paper-only", "error")

# Default tolerances when the suite does not declare one (contract: params 0.5 %, Mult-Adds 1 %).
DEFAULT_TOLERANCES: dict[str, float | str] = {
    "psnr_y": 0.05, "psnr_rgb": 0.05, "ssim_y": 0.002, "ssim_rgb": 0.002, "lpips": 0.002,
    "params": "0.5%", "params_nobias": "0.5%", "multadds": "1%", "flops": "1%", "convs": 0,
    "throughput": "10%", "infer_time": "10%", "train_time": "10%",
    "uae1": "printed", "uae2": "printed", "uae3": "printed", "uae4": "printed", "uae5": "printed",
    "uae6": "printed", "uae_k": 0, "uae_n": 0, "uae_l": 0, "uae_f": 0,
}


def cell_key(c: dict) -> tuple:
    return (c["entry"], c.get("dataset"), c.get("scale"), c["metric"])


def printed_half_unit(printed: str, value: float | None = None) -> float:
    """Half a unit in the last printed decimal place of the number in ``printed`` ("0.49" -> 0.005).

    For paired strings ("31.92/0.8903") the part closest to ``value`` is used.
    """
    parts = [p.strip().rstrip("%KkMmGg") for p in printed.replace(",", "").split("/")]
    best = None
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            continue
        if best is None or (value is not None and abs(v - value) < abs(float(best) - value)):
            best = p
    if best is None:
        return 0.0
    decimals = len(best.split(".")[1]) if "." in best else 0
    return 0.5 * 10 ** (-decimals)


def resolve_tolerance(suite: Suite, pc: PaperCell | None, metric: str) -> tuple[float, bool]:
    """(tolerance, relative?) for a cell: the cell's own, else the suite's, else the default."""
    tol: Any = None
    if pc is not None and pc.tolerance is not None:
        tol = pc.tolerance
    elif metric in suite.tolerances:
        tol = suite.tolerances[metric]
    else:
        tol = DEFAULT_TOLERANCES.get(metric, 0.0)
    if isinstance(tol, str):
        if tol == "printed":
            return (printed_half_unit(pc.printed, pc.value) if pc is not None else 0.0), False
        if tol.endswith("%"):
            return float(tol[:-1]) / 100.0, True
        return float(tol), False
    return float(tol), False


def judge(paper: float | None, measured: float | None, tol: float, relative: bool) -> tuple[str, float | None]:
    """Status and delta (measured − paper) of one measured cell."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return "error", None
    if paper is None:
        return "measured", None
    delta = measured - paper
    bound = tol * abs(paper) if relative else tol
    # a relative epsilon keeps exact decimal boundaries (0.495 vs 0.49 ± 0.005) on the right side
    return ("match" if abs(delta) <= bound + 1e-9 * max(1.0, abs(paper)) else "deviates"), delta


def base_cell(suite: Suite, entry: Entry, pc: PaperCell | None, *, metric: str, dataset: str | None,
              scale: int | None) -> dict:
    tol, rel = resolve_tolerance(suite, pc, metric)
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
        "tolerance": f"{tol * 100:g}%" if rel else tol,
        "status": None,
        "reason": "",
    }


def paper_cells(suite: Suite) -> list[dict]:
    """The cells the paper prints, unmeasured (what ``show --json`` lists)."""
    cells = []
    for e in suite.entries:
        for pc in e.paper:
            cells.append(base_cell(suite, e, pc, metric=pc.metric, dataset=pc.dataset, scale=pc.scale))
    return cells


def merge(old: list[dict], new: list[dict], replaced: set[tuple]) -> list[dict]:
    """Cells of ``old`` whose key is not re-measured, then every new cell, in suite order of ``new``."""
    fresh = {cell_key(c): c for c in new}
    out = [c for c in old if cell_key(c) not in fresh and cell_key(c) not in replaced]
    keys_out = {cell_key(c) for c in out}
    out.extend(c for k, c in fresh.items() if k not in keys_out)
    return out


def _json_default(o: Any):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(path: Path, doc: dict) -> None:
    atomic_write_text(path, json.dumps(doc, indent=1, default=_json_default, allow_nan=False) + "\n")


def read_results(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete it or re-run reproduce to rewrite it") from None


def results_path(results_dir: Path, suite_id: str) -> Path:
    return Path(results_dir) / f"{suite_id}.json"
