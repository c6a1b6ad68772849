"""Data a reader can take away from a suite page: its cells as CSV, every per-image value as CSV, and the
difference from the drift baseline.  Deterministic text (same results → same bytes), written next to the
pages by harness.report."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from harness import drift

CELL_FIELDS = ("entry", "row", "scale", "dataset", "metric", "paper", "paper_printed", "measured", "delta",
               "tolerance", "tolerance_close", "status", "evidence", "budget", "run", "inputs", "reason", "note")
PER_IMAGE_FIELDS = ("entry", "scale", "dataset", "metric", "image", "value", "kernel")


def _text(rows: list[dict], fields: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in fields})
    return buf.getvalue()


def cells_csv(cells: list[dict]) -> str:
    """One line per cell, the results file's fields (the paper's printed string kept next to its value)."""
    return _text(cells, CELL_FIELDS)


def per_image_rows(cells: list[dict]) -> list[dict]:
    """Every image's value of every cell that kept them (``extra.per_image``); multi-kernel cells
    (Gaussian8) give one line per image × kernel, ``kernel`` = its index in ``extra.kernel_sigmas`` order."""
    rows = []
    for c in cells:
        extra = c.get("extra") or {}
        key = {"entry": c["entry"], "scale": c.get("scale"), "dataset": c.get("dataset"), "metric": c["metric"]}
        per_kernel = extra.get("per_image_kernel")
        if isinstance(per_kernel, dict):
            for image, values in per_kernel.items():
                rows += [{**key, "image": image, "value": v, "kernel": k} for k, v in enumerate(values)]
        elif isinstance(extra.get("per_image"), dict):
            rows += [{**key, "image": image, "value": v} for image, v in extra["per_image"].items()]
    return rows


def per_image_csv(cells: list[dict]) -> str:
    return _text(per_image_rows(cells), PER_IMAGE_FIELDS)


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.6g}"


def baseline_diff(baseline_path: Path, doc: dict | None, max_rows: int = 40) -> dict | None:
    """The suite's results against its drift baseline (harness.drift): counts per verdict and the cells
    that left their bound, are gone, or changed at all (within bound: counted, listed up to ``max_rows``)."""
    if not Path(baseline_path).is_file():
        return None
    base = json.loads(Path(baseline_path).read_text(encoding="utf-8"))
    rows, _notes = drift.check_suite(base, doc)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    failed = [r for r in rows if r.failed]
    moved = [r for r in rows if not r.failed and r.delta not in (None, 0.0)]
    shown = (failed + moved)[:max_rows]
    info = base.get("baseline") or {}
    return {
        "date": str(info.get("date", ""))[:10],
        "reason": info.get("reason", ""),
        "counts": dict(sorted(counts.items())),
        "rows": [{"cell": r.cell, "baseline": _num(r.baseline), "now": _num(r.now), "delta": _num(r.delta),
                  "bound": _num(r.tolerance.bound(r.baseline)) if r.baseline is not None else "—",
                  "verdict": r.verdict, "detail": r.detail} for r in shown],
        "more": len(failed) + len(moved) - len(shown),
    }
