"""Shared fixtures: the real data directory (../shared/datasets or $SRBENCH_DATA_DIR).

Real-data tests must run in CI: when CI=true and the data is missing, the fixture fails the test loudly
instead of skipping it; outside CI it skips with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    env = os.environ.get("SRBENCH_DATA_DIR")
    return Path(env).expanduser().resolve() if env else (REPO.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if not (path / "benchmark").is_dir():
        msg = (f"real data not found at {path} (set SRBENCH_DATA_DIR to the folder holding benchmark/ "
               "and T91/, e.g. ../shared/datasets)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def calibration_dir(data_dir: Path) -> Path:
    """../shared/calibration/iqa beside the data dir (same CI rule as data_dir)."""
    path = data_dir.parent / "calibration" / "iqa"
    if not (path / "results_official.csv").is_file():
        msg = f"calibration pairs not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
