"""Where runs live, how they are keyed, found and exported.

- A run's **key** is ``TrainConfig.hash()``: model, kwargs, scale, input kind, recipe (every field),
  budget, training set and degradation, data fingerprint, seed and engine version — not how often it
  checkpoints, the device or the number of processes (a torchrun run with the same global batch is the
  same run).
- Working runs: ``$SRBENCH_RUNS_DIR``, else ``<repo>/runs`` (git-ignored): ``<runs>/<key>/``.
- Committed runs: ``<repo>/results/training/<key>/`` holds ``record.json``, ``log.jsonl`` and
  ``weights.pt`` (fp32 state dict; small models only, ≤ ``EXPORT_MAX_BYTES``) of a finished run that
  results depend on, so that a fresh clone's ``reproduce`` uses the run without retraining.
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
EXPORT_MAX_BYTES = 4 * 2**20  # 4 MiB of fp32 weights ≈ 1M parameters
RUN_FILES = ("record.json", "log.jsonl", "weights.pt")


def runs_dir(arg: str | os.PathLike | None = None) -> Path:
    return Path(arg or os.environ.get("SRBENCH_RUNS_DIR") or REPO / "runs")


def rel(path: Path) -> str:
    """``path`` relative to the repository when inside it, else absolute."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _finished(folder: Path) -> dict | None:
    rec = folder / "record.json"
    if not (rec.is_file() and (folder / "weights.pt").is_file()):
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


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(Path(folder) / "weights.pt", map_location="cpu", weights_only=True)


def export(folder: Path, dest: Path) -> Path:
    """Copy a finished run's record, log and weights to ``dest/<key>/``; refuses weights over the cap."""
    record = _finished(Path(folder))
    if record is None:
        raise TrainingError(f"{folder}: not a finished run (no record.json with finished = true and weights.pt); "
                            "finish it first (the same train command resumes it)")
    size = (Path(folder) / "weights.pt").stat().st_size
    if size > EXPORT_MAX_BYTES:
        raise TrainingError(f"{folder}/weights.pt is {size / 2**20:.1f} MiB, over the {EXPORT_MAX_BYTES // 2**20} MiB "
                            "cap for committed weights (harness/training/runs.py EXPORT_MAX_BYTES); publish it "
                            "elsewhere and commit only record.json and log.jsonl")
    out = Path(dest) / record["key"]
    out.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        shutil.copy2(Path(folder) / name, out / name)
    return out
