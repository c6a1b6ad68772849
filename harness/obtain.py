"""Obtaining the model behind an entry: bicubic, published weights (load), or training (train).

``obtain_model`` is what every image-measuring kind calls; it caches per (entry, scale) for the run and
turns every reason a model cannot be had into an ``ObtainError`` carrying the cell status to report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from harness.measure import MeasureContext
from harness.suite import Entry


class ObtainError(Exception):
    status = "error"


class MissingWeightsError(ObtainError):
    status = "missing-weights"


class NotObtainableError(ObtainError):
    status = "not-run"


@dataclass
class Obtained:
    model: nn.Module | str  # "bicubic" for the interpolation baseline
    input: str  # input kind (harness.models.registry)
    reason: str  # how it was obtained, for the cell's reason
    provenance: dict[str, Any] = field(default_factory=dict)


def obtain_model(ctx: MeasureContext, entry: Entry, scale: int) -> Obtained:
    key = ("obtained", entry.id, scale)
    if key not in ctx.cache:
        try:
            ctx.cache[key] = _obtain(ctx, entry, scale)
        except ObtainError as exc:
            ctx.cache[key] = exc
    got = ctx.cache[key]
    if isinstance(got, ObtainError):
        raise got
    return got


def _obtain(ctx: MeasureContext, entry: Entry, scale: int) -> Obtained:
    if entry.model == "bicubic":
        return Obtained("bicubic", "rgb", "MATLAB-bicubic upscaling of the LR image")
    if entry.obtain == "paper-only" or not entry.model:
        raise NotObtainableError(entry.reason or "no model to run")
    from harness.models import get_spec

    spec = get_spec(entry.model)
    if entry.obtain == "load":
        from harness import weights

        try:
            model, info = weights.load_pretrained(entry.model, scale, ctx.weights_dir, **entry.kwargs)
        except weights.MissingWeightsError as exc:
            raise MissingWeightsError(str(exc)) from None
        except weights.WeightsError as exc:  # corrupt, unsafe or incompatible file: an error cell, not a crash
            raise ObtainError(str(exc)) from None
        ctx.provenance.setdefault("weights", {})[f"{entry.model}_x{scale}"] = info.get("sha256", "")
        label = "third-party weights" if info.get("third_party") else "published weights"
        return Obtained(model.eval(), spec.input, f"{label} ({info.get('file', '?')})", info)
    if entry.obtain == "train":
        from harness.training import train_entry

        model, info = train_entry(ctx, entry, scale)
        return Obtained(model.eval(), spec.input, info["reason"], info)
    why = f"; {entry.reason}" if entry.reason else ""
    raise NotObtainableError(
        f"entry obtains {entry.obtain!r} (architecture only: params/FLOPs are counted): a randomly initialised "
        f"{entry.model!r} has no meaningful image metrics{why}"
    )
