"""Checkpoints of a run: ``<run>/ckpt/iter_<N>.pt``, written atomically, the last ``keep`` kept.

A checkpoint holds the model, the optimiser (and EMA) state, the iteration, the torch RNG state, the
wall time so far and the run key.  ``latest`` returns the newest readable one of this run key: an
unreadable file (truncated by a crash, corrupt) is moved aside to ``*.corrupt`` with a warning and the
previous one is tried, so an unattended run goes on and the evidence is kept.  A write is a temporary
file, fsync, ``os.replace``: a kill -9 at any moment leaves either the old or the new checkpoint, and
loses at most one checkpoint interval of iterations.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from harness.training.data import TrainingWarning

FORMAT = 2
_NAME = re.compile(r"iter_(\d{8,})\.pt")


def atomic_write(path: Path, write: Callable) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of the run's checkpoints, oldest first."""
    folder = Path(run_dir) / "ckpt"
    found = [(int(m[1]), p) for p in folder.glob("iter_*.pt") if (m := _NAME.fullmatch(p.name))]
    return sorted(found)


def save(run_dir: Path, state: dict, keep: int) -> Path:
    """Save ``state`` (must hold ``iteration``) as the newest checkpoint; delete all but the last ``keep``."""
    path = Path(run_dir) / "ckpt" / f"iter_{state['iteration']:08d}.pt"
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))
    for _, old in checkpoints(run_dir)[:-max(1, keep)]:
        old.unlink(missing_ok=True)
    return path


def latest(run_dir: Path, key: str) -> tuple[dict, Path] | None:
    """The newest readable checkpoint of run ``key`` (tensors on CPU) and its path, or None."""
    for _, path in reversed(checkpoints(run_dir)):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError("not a harness training checkpoint of this format")
        except Exception as exc:  # noqa: BLE001 — a damaged file raises RuntimeError, EOFError, UnpicklingError…
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            warnings.warn(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); moved to {aside}, "
                          "trying the previous one", TrainingWarning, stacklevel=2)
            continue
        if state.get("key") != key:
            warnings.warn(f"{path}: checkpoint of run {state.get('key')!r}, not {key!r}; ignored",
                          TrainingWarning, stacklevel=2)
            continue
        return state, path
    return None
