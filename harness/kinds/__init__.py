"""Measurement kinds: the small declared interface between the runner and what measures.

A kind is ``(name, version, target)``: ``target`` is ``"module:function"`` of a
``measure(ctx: MeasureContext, entry: Entry) -> list[Measurement]`` (``harness.measure``), imported lazily
so that a kind's heavy dependencies load only when it runs.  ``version`` is part of every job's inputs
(``harness.records``): bump it when a change to the kind changes the numbers it produces, and every cell it
made before is marked ``stale`` until re-measured.  Which metrics a kind produces is the metric catalog's
fact (``harness.catalog``, field ``kind``), not repeated here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from harness.measure import MeasureFn


@dataclass(frozen=True)
class Kind:
    name: str
    version: int
    target: str  # "module:function"
    description: str = ""

    def function(self) -> MeasureFn:
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)


_KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    if kind.name in _KINDS and _KINDS[kind.name] != kind:
        raise ValueError(f"kind {kind.name!r} registered twice with different facts")
    _KINDS[kind.name] = kind
    return kind


for _k in (
    Kind("complexity", 2, "harness.complexity:measure_complexity", "params, FLOPs/Mult-Adds at 720p, #Conv"),
    Kind("metrics", 2, "harness.evaluate:measure_metrics", "PSNR/SSIM/LPIPS on the test sets"),
    Kind("throughput", 1, "harness.throughput:measure_throughput", "images/s and seconds per image"),
    Kind("uae", 2, "harness.uae:measure_uae", "UAE variables and forms (CRB paper Table 2)"),
    Kind("reparam", 1, "harness.reparam:measure_reparam", "max |training form − deploy form| of a merge"),
    Kind("training-time", 2, "harness.training:measure_training_time", "seconds per training iteration"),
):
    register_kind(_k)


def kind_names() -> tuple[str, ...]:
    return tuple(_KINDS)


def get_kind(name: str) -> Kind:
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown kind {name!r}; known: {', '.join(_KINDS)}") from None
