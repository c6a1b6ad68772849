"""Small helpers with one home each: atomic writes, sha256, canonical hashing, git identity, device record."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_default(o: Any):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset, tuple)):
        return sorted(o) if isinstance(o, (set, frozenset)) else list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dump_json(doc: Any) -> str:
    return json.dumps(doc, indent=1, default=json_default, allow_nan=False, ensure_ascii=False) + "\n"


def write_json(path: Path, doc: Any) -> bool:
    """Atomically write ``doc`` as JSON; return False (and leave the file untouched) when nothing changed."""
    text = dump_json(doc)
    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


def canonical_hash(obj: Any, n: int = 16) -> str:
    """Short sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


@cache
def _sha256_memo(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file, computed once per process for a given (path, size, mtime)."""
    path = Path(path)
    st = path.stat()
    return _sha256_memo(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False)


# Paths whose changes never alter a measurement (outputs of the harness itself); a tree dirty only there
# is still the commit's code.
_OUTPUT_PATHS = ("results/", "reports/", "runs/")


@cache
def git_identity() -> dict[str, Any]:
    """The code that runs: commit, whether tracked code differs from it, and the hash of that diff.

    ``dirty`` ignores the harness's own outputs (results/, reports/, runs/).  A dirty tree is named as such
    with ``diff_sha256`` (sha256 of ``git diff HEAD`` over code files plus the names of untracked code files),
    so two runs on the same uncommitted code can be told to be the same code.
    """
    try:
        head = _git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": "unknown", "dirty": None, "diff_sha256": None}
        excludes = [f":(exclude){p}" for p in _OUTPUT_PATHS]
        diff = _git("diff", "HEAD", "--", ".", *excludes).stdout
        untracked = _git("ls-files", "--others", "--exclude-standard", "--", ".", *excludes).stdout
        dirty = bool(diff.strip() or untracked.strip())
        digest = hashlib.sha256((diff + "\n" + untracked).encode()).hexdigest()[:16] if dirty else None
        return {"commit": head.stdout.strip(), "dirty": dirty, "diff_sha256": digest}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None, "diff_sha256": None}


def git_commit_label() -> str:
    """``<commit>`` or ``<commit>+dirty.<diff hash>`` (one format everywhere)."""
    g = git_identity()
    if g["dirty"]:
        return f"{g['commit']}+dirty.{g['diff_sha256']}"
    return g["commit"]


def device_record(device: str) -> dict[str, Any]:
    """What ran the measurement: kind, name, threads; torch and Python versions."""
    rec: dict[str, Any] = {"device": device, "torch": torch.__version__, "python": platform.python_version(),
                           "platform": platform.platform()}
    if device == "cuda" and torch.cuda.is_available():
        rec["name"] = torch.cuda.get_device_name(0)
        rec["cuda"] = torch.version.cuda
    else:
        rec["name"] = platform.processor() or platform.machine()
        rec["threads"] = torch.get_num_threads()
    return rec


def device_description(device: str) -> str:
    rec = device_record(device)
    if rec["device"] == "cuda" and "cuda" in rec:
        return f"cuda: {rec['name']}"
    return f"cpu: {rec['name']} ({rec.get('threads', '?')} threads)"
