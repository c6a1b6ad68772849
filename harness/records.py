"""Run records: every number traceable to the run and the inputs that made it.

A **run** is one ``reproduce`` (or ``drift --remeasure``) invocation: an id and its provenance (commit,
whether the tree was dirty and the diff's hash, device, budget, command line).  A **job** is one
(suite, entry, kind) inside a run.  Its **inputs** are the entry's resolved configuration as that kind
sees it — kind version, model and kwargs, weights checksum, effective metric profile (with its hash),
counting convention, degradation, dataset fingerprints, training run key — and their hash is the job key.

Each job writes ``results/records/<suite>/<entry>.<kind>.json``: the cells it measured, each naming its
``run`` and ``inputs`` hash, plus the provenance of those runs and the inputs of those hashes.  Writing
merges at cell level under a file lock, so

- a cell this job could not measure (error, budget cap, missing data) never replaces an earlier
  measurement of that cell: the old value stays, with ``last_attempt`` saying what happened;
- a trained cell is never replaced by one trained under a smaller budget;
- two processes on different entries write different files, and two on the same entry serialise.

``harness.collect`` builds ``results/<suite>.json`` from the records; a cell whose inputs hash no longer
equals what the suite asks for is ``stale`` there, with the differing fields named.
"""

from __future__ import annotations

import datetime as _dt
import json
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

import harness
from harness import catalog
from harness.kinds import get_kind
from harness.suite import Entry, Suite
from harness.util import canonical_hash, device_record, git_identity, write_json

BUDGET_RANK = {"smoke": 0, "short": 1, "paper": 2}
RECORD_VERSION = 1


@dataclass(frozen=True)
class Run:
    id: str
    provenance: dict[str, Any]


def new_run(*, budget: str, device: str, argv: list[str] | None = None) -> Run:
    now = _dt.datetime.now(_dt.UTC)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    git = git_identity()
    prov = {
        "id": run_id,
        "created": now.isoformat(timespec="seconds"),
        "harness_version": harness.__version__,
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "git_diff_sha256": git["diff_sha256"],
        **device_record(device),
        "budget": budget,
        "argv": list(sys.argv[1:] if argv is None else argv),
    }
    return Run(run_id, prov)


# ---------------------------------------------------------------------------------------------- inputs


def entry_scales(entry: Entry) -> list[int]:
    scales = {c.scale for c in entry.paper if c.scale is not None}
    if entry.scale is not None:
        scales.add(entry.scale)
    return sorted(scales)


def entry_datasets(entry: Entry) -> list[str]:
    return sorted({c.dataset for c in entry.paper if c.dataset} | set(entry.datasets))


_FINGERPRINTS: dict[tuple[str, str], str] = {}


def dataset_fingerprint(name: str, data_dir: Path | None) -> str:
    """Fingerprint of a test set's HR files (memoised per process); "missing" when absent here."""
    from harness import datasets

    try:
        root = datasets.resolve_data_dir(data_dir)
    except Exception:  # noqa: BLE001 — an unusable data dir means the data is missing
        return "missing"
    key = (name, str(root))
    if key not in _FINGERPRINTS:
        try:
            _FINGERPRINTS[key] = datasets.fingerprint(name, root)[:16]
        except Exception:  # noqa: BLE001 — unknown or absent dataset: its cells say missing-data
            _FINGERPRINTS[key] = "missing"
    return _FINGERPRINTS[key]


def _weights_identity(entry: Entry) -> dict[str, str]:
    from harness.models import get_spec

    spec = get_spec(entry.model)
    return {f"x{s}": spec.checkpoints[s].sha256[:16] for s in entry_scales(entry) if s in spec.checkpoints}


def training_keys(suite: Suite, entry: Entry, budget: str, data_dir: Path | None) -> dict[str, str]:
    """The training run key per scale (``harness.training.training_key``), computed without training."""
    try:
        from harness.training import training_key
    except ImportError:  # engine not installed: fall back to the config the engine would key on
        return {f"x{s}": canonical_hash({"model": entry.model, "kwargs": entry.kwargs, "scale": s,
                                         "train": entry.train.model_dump() if entry.train else None,
                                         "budget": budget}) for s in entry_scales(entry)}
    return {f"x{s}": training_key(suite, entry, s, budget, data_dir) for s in entry_scales(entry)}


def job_inputs(suite: Suite, entry: Entry, kind: str, *, budget: str, device: str,
               data_dir: Path | None) -> dict[str, Any]:
    """The resolved configuration one kind measures an entry under (everything that changes its numbers).

    ``budget`` matters only for trained entries (through the training run key); an evaluation cap never
    changes a number, so it is not an input.  ``device`` matters only for timing kinds.
    """
    k = get_kind(kind)
    inputs: dict[str, Any] = {
        "kind": kind, "kind_version": k.version,
        "model": entry.model, "obtain": entry.obtain, "scale": entry.scale, "kwargs": entry.kwargs,
    }
    if entry.obtain == "load" and entry.model:
        inputs["weights"] = _weights_identity(entry)
    if entry.obtain == "train" and entry.model and kind in ("metrics",):
        inputs["training"] = training_keys(suite, entry, budget, data_dir)
    if kind == "complexity":
        inputs["count"] = entry.count.model_dump()
    if kind == "metrics":
        inputs["profile"] = suite.entry_profile(entry).record()
        inputs["degradation"] = {"name": entry.degradation, "params": entry.degradation_params}
        inputs["data"] = {d: dataset_fingerprint(d, data_dir) for d in entry_datasets(entry)}
    if catalog.evidence_of_kind(kind) == "timing":
        inputs["device"] = device
    return inputs


def inputs_hash(inputs: dict[str, Any]) -> str:
    return canonical_hash(inputs)


def diff_inputs(old: dict[str, Any] | None, new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two inputs dicts ("profile.grey_y: 'identity' → 'bt601'")."""
    if old is None:
        return ["the inputs of the run that made it were not recorded"]
    if old.get("legacy"):
        return ["measured before run records existed (legacy result): the inputs that made it were not recorded"]
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += diff_inputs(a, b, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}: {json.dumps(a, default=str)[:60]} → {json.dumps(b, default=str)[:60]}")
    return out


# --------------------------------------------------------------------------------------------- records


def records_dir(results_dir: Path, suite_id: str) -> Path:
    return Path(results_dir) / "records" / suite_id


def record_path(results_dir: Path, suite_id: str, entry_id: str, kind: str) -> Path:
    return records_dir(results_dir, suite_id) / f"{entry_id}.{kind}.json"


def read_record(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); restore it from git or delete it to re-measure "
                         "that entry") from None


def load_records(results_dir: Path, suite_id: str) -> list[dict]:
    folder = records_dir(results_dir, suite_id)
    return [read_record(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def cell_key(c: dict) -> tuple:
    return (c.get("dataset"), c.get("scale"), c["metric"])


def is_measured(c: dict) -> bool:
    """A cell that carries a judgeable value (the kind set no fixed status)."""
    return c.get("measured") is not None and c.get("status") is None


def _keep_old(old: dict, new: dict, trained: bool) -> bool:
    if not is_measured(old):
        return False
    if not is_measured(new):
        return True  # a failed / capped / refused attempt never erases a measurement
    # a smoke-trained value never replaces a short- or paper-trained one
    return trained and BUDGET_RANK.get(new.get("budget"), 0) < BUDGET_RANK.get(old.get("budget"), 0)


def write_job(results_dir: Path, suite: Suite, entry: Entry, kind: str, run: Run, inputs: dict[str, Any],
              cells: Iterable[dict], wall_s: float) -> dict:
    """Merge one job's cells into its record (atomically, under a lock) and return the record."""
    path = record_path(results_dir, suite.id, entry.id, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    h = inputs_hash(inputs)
    with FileLock(str(path) + ".lock"):
        old = read_record(path) or {}
        merged = {cell_key(c): c for c in old.get("cells", [])}
        trained = entry.obtain == "train"
        for c in cells:
            c = {**c, "run": run.id, "inputs": h}
            prior = merged.get(cell_key(c))
            if prior is not None and _keep_old(prior, c, trained):
                prior = {**prior, "last_attempt": {"run": run.id, "status": c.get("status") or "measured",
                                                   "budget": c.get("budget"), "inputs": h,
                                                   "reason": c.get("reason", "")[:300]}}
                merged[cell_key(c)] = prior
            else:
                merged[cell_key(c)] = c
        runs = {**old.get("runs", {}), run.id: run.provenance}
        jobs = {**old.get("jobs", {}), h: inputs}
        wall = {**old.get("wall_s", {}), run.id: round(wall_s, 3)}
        used_runs = {c["run"] for c in merged.values()} | {c.get("last_attempt", {}).get("run") for c in merged.values()}
        used_inputs = {c["inputs"] for c in merged.values()} | {h}  # this job's inputs, even with no cells
        record = {
            "record_version": RECORD_VERSION,
            "suite": suite.id, "entry": entry.id, "kind": kind,
            "cells": sorted(merged.values(), key=lambda c: (str(c.get("dataset")), c.get("scale") or 0, c["metric"])),
            "jobs": {k: v for k, v in sorted(jobs.items()) if k in used_inputs},
            "runs": {k: v for k, v in sorted(runs.items()) if k in used_runs},
            "wall_s": {k: v for k, v in sorted(wall.items()) if k in used_runs},
        }
        write_json(path, record)
    return record
