"""One-off migration of results files made before run records existed (harness < 0.2) into records.

Every measured cell of an old ``results/<suite>.json`` becomes a cell of a ``legacy-…`` run whose
provenance is what the old file recorded (its top-level provenance — the last run's only — and the cell's
own ``run`` timestamp and ``budget``).  The inputs that made such a cell were never recorded, so
``collect`` shows it as ``stale`` with that reason, its value kept, until ``reproduce --stale`` re-measures
it.  Nothing measured is dropped; nothing legacy passes as current.

    python -m harness.migrate [--results-dir DIR]

``--refresh-advice`` rewrites the *advice* of unmeasured cells whose wording changed (a smoke-trained model's
"not scored on this set, here is how" cell): those cells hold no value, their reason is generated from the
suite and entry ids alone, so the current wording is what a re-run would write.  Measured cells are never
touched.

    python -m harness.migrate --refresh-advice && python -m harness collect
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import catalog
from harness.records import RECORD_VERSION, record_path
from harness.results import RESULTS_DIR
from harness.util import canonical_hash, write_json


def legacy_inputs(cell: dict) -> dict:
    return {"legacy": True, "profile_hash": (cell.get("extra") or {}).get("profile_hash")}


def migrate_file(path: Path, results_dir: Path) -> int:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if "summary" in doc:  # already made by collect
        return 0
    prov = doc.get("provenance", {})
    groups: dict[tuple[str, str], list[dict]] = {}
    for c in doc.get("cells", []):
        if c.get("measured") is None:
            continue
        kind = catalog.kind_of(c["metric"]) or "metrics"
        groups.setdefault((c["entry"], kind), []).append(c)
    n = 0
    for (entry, kind), cells in groups.items():
        rec_path = record_path(results_dir, doc["suite"], entry, kind)
        if rec_path.exists():
            continue
        runs, jobs, out = {}, {}, []
        for c in cells:
            run_id = f"legacy-{c.get('run') or prov.get('created', 'unknown')}"
            runs[run_id] = {
                "id": run_id, "legacy": True, "created": c.get("run") or prov.get("created"),
                "git_commit": str(prov.get("git_commit", "unknown")).removesuffix("-dirty"),
                "git_dirty": str(prov.get("git_commit", "")).endswith("-dirty"), "git_diff_sha256": None,
                "device": str(prov.get("device", "cpu")).split(":")[0], "name": prov.get("device"),
                "torch": prov.get("torch"), "python": prov.get("python"), "budget": c.get("budget"),
                "note": "made before run records existed: the file recorded only its last run's provenance",
            }
            inp = legacy_inputs(c)
            h = canonical_hash(inp)
            jobs[h] = inp
            status = c["status"] if c["status"] in ("missing-data", "missing-weights", "error") else None
            out.append({"metric": c["metric"], "dataset": c.get("dataset"), "scale": c.get("scale"),
                        "measured": c["measured"], "status": status, "reason": c.get("reason", ""),
                        "budget": c.get("budget"), "extra": c.get("extra") or {}, "run": run_id, "inputs": h})
        write_json(rec_path, {"record_version": RECORD_VERSION, "suite": doc["suite"], "entry": entry,
                              "kind": kind, "cells": out, "jobs": jobs, "runs": runs, "wall_s": {}})
        n += len(out)
    return n


def refresh_advice(results_dir: Path) -> int:
    """Re-word the advice of unmeasured smoke-skip cells in every record (see the module doc); returns how
    many cells changed."""
    from harness.evaluate import SMOKE_SKIP_PREFIX, smoke_skip_reason
    from harness.suite import load_suite

    changed = 0
    for path in sorted((Path(results_dir) / "records").glob("*/*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        n = 0
        trained = None
        for c in rec.get("cells", []):
            reason = str(c.get("reason", ""))
            if c.get("measured") is not None:
                continue
            if reason.startswith(SMOKE_SKIP_PREFIX):
                new = smoke_skip_reason(rec["suite"], rec["entry"])
            elif "multiply-adds (≈" in reason and f"--entries {rec['entry']} --budget paper` (or on a GPU" in reason:
                if trained is None:  # a capped evaluation of a *trained* entry: the paper budget would train it
                    trained = load_suite(rec["suite"], check_models=False).entry(rec["entry"]).obtain == "train"
                if not trained:
                    continue
                head = reason[:reason.index(" Run `python -m harness reproduce")]
                new = (f"{head} A larger budget trains it longer too: on a GPU, `python -m harness reproduce "
                       f"{rec['suite']} --entries {rec['entry']} --budget short --device cuda`")
            else:
                continue
            n += new != c["reason"]
            c["reason"] = new
        if n:
            write_json(path, rec)
            changed += n
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.migrate", description=__doc__)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--refresh-advice", action="store_true", help="re-word unmeasured cells' advice (module doc)")
    args = p.parse_args(argv)
    if args.refresh_advice:
        print(f"{refresh_advice(args.results_dir)} cell(s) re-worded")
        return 0
    for path in sorted(Path(args.results_dir).glob("*.json")):
        print(f"{path.name}: {migrate_file(path, args.results_dir)} legacy cells")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
