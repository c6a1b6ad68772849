"""kill -9 in the middle of a run, then the same command: it resumes from the last checkpoint, and in
deterministic mode the final weights are bit-identical to an uninterrupted run (real killed subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, require

DRIVER = REPO / "tests" / "fixtures" / "train_driver.py"
ITERS, EVERY = 120, 10
TRAIN = ["train", "carn_table1", "--entries", "fsrcnn_x4", "--budget", "smoke", "--log-every", "10"]


def _env(data_dir: Path, runs: Path) -> dict:
    return {**os.environ, "SRBENCH_DATA_DIR": str(data_dir), "SRBENCH_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO)}


def _cmd() -> list[str]:
    return [sys.executable, str(DRIVER), str(ITERS), str(EVERY), "--", *TRAIN]


def _shared_cache(tmp_path_factory) -> Path:
    """One T91 LR cache for the training subprocess tests of the session."""
    path = tmp_path_factory.getbasetemp() / "t91_train_cache"
    path.mkdir(exist_ok=True)
    return path


def _run_dir(runs: Path) -> Path:
    (d,) = [p for p in runs.iterdir() if not p.name.startswith("_")]
    return d


@pytest.mark.realdata
def test_kill_9_then_same_command_resumes_bit_identically(data_dir, tmp_path, tmp_path_factory):
    require((data_dir / "T91" / "HR").is_dir(), "T91 not found")
    cache = tmp_path / "uninterrupted"
    cache.mkdir()
    os.symlink(_shared_cache(tmp_path_factory), cache / "_cache")
    subprocess.run(_cmd(), env=_env(data_dir, cache), check=True, capture_output=True, timeout=240)
    full = torch.load(_run_dir(cache) / "weights.pt", weights_only=True)

    runs = tmp_path / "killed"
    runs.mkdir()
    os.symlink(cache / "_cache", runs / "_cache")  # reuse the T91 LR cache
    proc = subprocess.Popen(_cmd(), env=_env(data_dir, runs), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        done = [p for p in runs.glob("*/ckpt/iter_*.pt")]
        if len(done) >= 3:  # ≥ 3 checkpoints: well inside the run
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at = max(int(p.stem.split("_")[1]) for p in done)
            break
        time.sleep(0.02)
    assert killed_at is not None and proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    run = _run_dir(runs)
    assert not (run / "record.json").exists() and killed_at < ITERS
    out = subprocess.run(_cmd(), env=_env(data_dir, runs), check=True, capture_output=True, text=True, timeout=240)
    assert "resumed at iteration" in out.stdout + out.stderr
    resumed = torch.load(run / "weights.pt", weights_only=True)
    assert resumed.keys() == full.keys() and all(torch.equal(full[k], resumed[k]) for k in full)
    rec = json.loads((run / "record.json").read_text())
    assert rec["finished"] and rec["iterations"] == ITERS and rec["key"] == run.name == _run_dir(cache).name
    # the log has each iteration once (lines past the resumed checkpoint were dropped, then re-logged)
    its = [json.loads(ln)["iteration"] for ln in (run / "log.jsonl").read_text().splitlines()][:-1]
    assert its == list(range(10, ITERS + 1, 10))
    assert killed_at < ITERS - EVERY  # a real interruption, several checkpoints before the end
