"""Shared fixtures: the real data directory (../shared/datasets or $SRBENCH_DATA_DIR).

Real-data tests must run in CI: when CI=true and the data is missing, the fixture fails the test loudly
instead of skipping it; outside CI it skips with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# No test re-uses an evaluation stored by another test or by a session's runs (harness.evalcache): each test
# measures what it asserts.  tests/test_evaluate.py turns re-use on where it tests re-use itself.
os.environ["SRBENCH_EVAL_REUSE"] = "0"


def require(ok: bool, msg: str) -> None:
    """Shared real inputs must exist in CI (fail loudly); elsewhere a missing one skips with the reason."""
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def _data_dir() -> Path:
    env = os.environ.get("SRBENCH_DATA_DIR")
    return Path(env).expanduser().resolve() if env else (REPO.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    require((path / "benchmark").is_dir(),
            f"real data not found at {path} (set SRBENCH_DATA_DIR to the folder holding benchmark/ "
            "and T91/, e.g. ../shared/datasets)")
    return path


@pytest.fixture(scope="session")
def calibration_dir(data_dir: Path) -> Path:
    """../shared/calibration/iqa beside the data dir (same CI rule as data_dir)."""
    path = data_dir.parent / "calibration" / "iqa"
    require((path / "results_official.csv").is_file(), f"calibration pairs not found at {path}")
    return path


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """Published weights: $SRBENCH_WEIGHTS_DIR, else ../shared/weights (same CI rule as data_dir)."""
    env = os.environ.get("SRBENCH_WEIGHTS_DIR")
    path = Path(env).expanduser().resolve() if env else (REPO.parent / "shared" / "weights").resolve()
    require((path / "SHA256SUMS").is_file(),
            f"published weights not found at {path} (set SRBENCH_WEIGHTS_DIR, e.g. to ../shared/weights)")
    return path
