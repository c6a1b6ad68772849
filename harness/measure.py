"""The interface between the runner and the measuring modules ("kinds").

Each kind is a function ``(ctx: MeasureContext, entry: Entry) -> list[Measurement]``; the runner calls
the kinds an entry needs, turns measurements into cells (judging them against the paper) and writes results.
A kind that cannot measure something returns a Measurement with ``status`` set (``missing-data``,
``missing-weights``, ``not-run``, ``error``) and a ``reason``; it never raises for missing inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.profile import MetricProfile
from harness.suite import Entry, Suite


@dataclass
class Measurement:
    metric: str
    value: float | None
    dataset: str | None = None
    scale: int | None = None
    reason: str = ""  # how it was measured (convention, protocol) or why it was not
    status: str | None = None  # None: judge against the paper; else a fixed status (missing-data, error, ...)
    extra: dict[str, Any] = field(default_factory=dict)  # per-image values, timing breakdown, counters...
    # Evidence class (harness.catalog.EVIDENCE_CLASSES) when the kind knows better than the catalog's default
    # (e.g. a UAE form computed from *measured* k, n, l, f is "complexity", from printed ones "consistency").
    evidence: str | None = None


@dataclass
class MeasureContext:
    suite: Suite
    profile: MetricProfile
    data_dir: Path | None
    weights_dir: Path | None
    device: str = "cpu"
    budget: str = "smoke"
    provenance: dict[str, Any] = field(default_factory=dict)  # kinds add data/weights checksums here
    progress: Callable[[str], None] = lambda msg: None
    cache: dict[Any, Any] = field(default_factory=dict)  # per-run memo (obtained models, datasets...)
    datasets: set[str] | None = None  # restrict image metrics to these datasets (None: all the entry needs)
    run_id: str = ""  # the run record being made (named by evaluations that other suites re-use)
    eval_reuse: bool = True  # re-use another suite's identical evaluation (harness.evalcache); --force: no

    def wants_dataset(self, name: str) -> bool:
        return self.datasets is None or name in self.datasets

    def paper_cells(self, entry: Entry, metrics: set[str] | None = None):
        return [c for c in entry.paper if metrics is None or c.metric in metrics]


MeasureFn = Callable[[MeasureContext, Entry], list[Measurement]]
