"""Where runs live, how they are keyed, found and exported.

- A run's **key** is ``TrainConfig.hash()``: model, kwargs, scale, input kind, recipe (every field),
  budget, training set and degradation, data fingerprint, seed and engine version — not how often it
  checkpoints, the device or the number of processes (a torchrun run with the same global batch is the
  same run).
- Working runs: ``$SRBENCH_RUNS_DIR``, else ``<repo>/runs`` (git-ignored): ``<runs>/<key>/``.
- Committed runs: ``<repo>/results/training/<key>/`` holds ``record.json`` and ``log.jsonl`` (text) of a
  finished run that results depend on; the weights stay in the runs directory (binaries are not committed).
  The cells made from the run are in the run records, so a fresh clone's ``reproduce`` re-uses them without
  retraining (``find_record``); only a re-evaluation would need the weights, and then the run is retrained.
  ``python -m harness train … --export results/training`` writes them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from harness.training.data import TrainingError

REPO = Path(__file__).resolve().parents[2]
COMMITTED_DIR = REPO / "results" / "training"
RUN_FILES = ("record.json", "log.jsonl", "weights.pt")
# What a committed run holds (results/training/<key>/): its record and log, text only.  The weights stay in the
# runs directory (or an artifact store): results made from the run are in the run records, so a clone without
# the weights re-uses those cells and retrains only if a re-evaluation is ever needed.
COMMITTED_FILES = ("record.json", "log.jsonl")


def runs_dir(arg: str | os.PathLike | None = None) -> Path:
    return Path(arg or os.environ.get("SRBENCH_RUNS_DIR") or REPO / "runs")


def rel(path: Path) -> str:
    """``path`` relative to the repository when inside it; inside a runs directory elsewhere
    (``$SRBENCH_RUNS_DIR``) as ``runs/<key>/…``, the name the repository's own runs directory has, so that
    no machine path reaches a result; else absolute."""
    p = Path(path).resolve()
    for root, name in ((REPO, ""), (runs_dir().resolve(), "runs")):
        try:
            return str(Path(name) / p.relative_to(root))
        except ValueError:
            continue
    return str(path)


def _finished(folder: Path, weights: bool = True) -> dict | None:
    rec = folder / "record.json"
    if not rec.is_file() or (weights and not (folder / "weights.pt").is_file()):
        return None
    try:
        record = json.loads(rec.read_text())
    except ValueError:
        return None
    return record if record.get("finished") else None


def find_finished(key: str, runs: Path | None = None, committed: Path | None = None) -> Path | None:
    """Folder of the finished run ``key``: the runs directory first, then the committed location."""
    for folder in (runs_dir(runs) / key, Path(committed or COMMITTED_DIR) / key):
        if _finished(folder) is not None:
            return folder
    return None


def find_record(key: str, runs: Path | None = None, committed: Path | None = None) -> Path | None:
    """Folder holding the finished record of run ``key`` (its weights may be absent: a committed run)."""
    for folder in (runs_dir(runs) / key, Path(committed or COMMITTED_DIR) / key):
        if _finished(folder, weights=False) is not None:
            return folder
    return None


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(Path(folder) / "weights.pt", map_location="cpu", weights_only=True)


def export(folder: Path, dest: Path) -> Path:
    """Copy a finished run's record and log (text) to ``dest/<key>/`` (results/training: committed)."""
    record = _finished(Path(folder))
    if record is None:
        raise TrainingError(f"{folder}: not a finished run (no record.json with finished = true and weights.pt); "
                            "finish it first (the same train command resumes it)")
    out = Path(dest) / record["key"]
    out.mkdir(parents=True, exist_ok=True)
    for name in COMMITTED_FILES:
        shutil.copy2(Path(folder) / name, out / name)
    return out
