"""Wall minutes the committed run records say each suite's current cells took (README, "Per suite").

For every ``results/records/<suite>/*.json``: the ``wall_s`` of each run that made one of its current cells,
summed per suite.  A ``reproduce`` that trained a row before scoring it has the training inside that wall
time; the second column estimates that part from the training records (``results/training/*/record.json``):
a training that finished inside such a run, or that took no longer than the job that used it (a lower bound:
resumed runs are missed).  Usage: ``python scripts/record_minutes.py [RESULTS_DIR]``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path


def training_finishes(results: Path) -> dict[str, tuple[datetime, float]]:
    out = {}
    for p in results.glob("training/*/record.json"):
        r = json.loads(p.read_text())
        if r.get("finished_at"):
            out[r["key"]] = (datetime.fromisoformat(r["finished_at"]), float(r["wall_s"]))
    return out


def suite_minutes(results: Path) -> dict[str, tuple[float, float]]:
    """Suite → (minutes of the runs behind its current cells, minutes of training inside those runs)."""
    trained = training_finishes(results)
    out: dict[str, tuple[float, float]] = {}
    for folder in sorted(p for p in (results / "records").iterdir() if p.is_dir()):
        total = inside = 0.0
        for p in folder.glob("*.json"):
            rec = json.loads(p.read_text())
            runs = {c["run"] for c in rec["cells"]}
            keys = {(c.get("training") or {}).get("run_key") for c in rec["cells"]} - {None}
            for rid in runs:
                wall = float(rec["wall_s"].get(rid, 0.0))
                total += wall
                start = datetime.fromisoformat(rec["runs"][rid]["created"])
                for k in keys & trained.keys():
                    finished, train_wall = trained[k]
                    # trained inside this run: it finished during the run, or the job outlasted the training
                    # (a record re-exported later carries a later finished_at)
                    if start <= finished <= start + timedelta(seconds=wall + 5) or wall >= train_wall:
                        inside += min(train_wall, wall)
        out[folder.name] = (total / 60, inside / 60)
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")
    for suite, (total, inside) in suite_minutes(root).items():
        print(f"{suite:18s} {total:7.1f} min  (training inside reproduce ≈ {inside:.1f})")
