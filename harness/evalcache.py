"""Scores of one model on one test set, kept so that another suite printing the same row re-uses them.

Several tables print the same trained row (STEA's full LabNet is Table VI's last row and Table VII's; RepSR's
default block is in Tables 5, 6 and 7): the training engine already makes them one run, and this module
makes them one evaluation.  An evaluation is re-used only when everything its numbers depend on is equal:

- the model: the training run's key (model, size, recipe, budget, seed, data) or the weights' SHA-256;
  a model with neither (an interpolation baseline, random weights) is never re-used — it is cheap;
- the test set's file fingerprint, the scale, the metric profile, the LR degradation and its parameters,
  the input kind, the device, the metrics asked and ``metrics`` kind version.

The file lives in the runs directory (``$SRBENCH_RUNS_DIR/evals/<key>.json``, written atomically) next to the
runs it scores, never in results: a cell made from it says where it was first measured (``extra.reused``:
the run, suite and entry), so it stays traceable to the run that made it.  ``SRBENCH_EVAL_REUSE=0`` turns
re-use off (every evaluation is made again); ``--force`` does too.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from harness.util import atomic_write_text, canonical_hash

__all__ = ["enabled", "key_for", "load", "model_identity", "store"]

FORMAT = 1


def enabled() -> bool:
    return os.environ.get("SRBENCH_EVAL_REUSE", "1") != "0"


def model_identity(obtained) -> dict[str, str] | None:
    """What names this model's weights exactly, or None (then nothing is re-used)."""
    prov = getattr(obtained, "provenance", None) or {}
    if prov.get("run_key") and prov.get("finished", True):
        # a retrain of one run key is not bit-identical on a CPU (results/probes/stea_x4_retrain.json):
        # the weights' checksum, where the run recorded it, tells the two apart
        sha = {"weights_sha256": str(prov["weights_sha256"])} if prov.get("weights_sha256") else {}
        return {"training_run": str(prov["run_key"]), "iterations": str(prov.get("iterations")), **sha}
    if prov.get("sha256"):
        return {"weights_sha256": str(prov["sha256"])}
    return None


def key_for(identity: dict[str, str], **facts: Any) -> str:
    return canonical_hash({"format": FORMAT, "model": identity, **facts}, n=24)


def _path(key: str) -> Path:
    from harness.training.runs import runs_dir

    return runs_dir(None) / "evals" / f"{key}.json"


def load(key: str) -> dict[str, Any] | None:
    """The stored evaluation (``result``: the EvalResult's fields, ``origin``), or None; a file that does not
    parse is ignored (and replaced by the next store)."""
    p = _path(key)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if data.get("format") != FORMAT or data.get("key") != key:
        return None
    return data


def store(key: str, result: dict[str, Any], origin: dict[str, Any]) -> None:
    p = _path(key)
    p.parent.mkdir(parents=True, exist_ok=True)
    origin = {**origin, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_text(p, json.dumps({"format": FORMAT, "key": key, "origin": origin, "result": result}))
