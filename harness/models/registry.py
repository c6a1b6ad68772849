"""Model zoo registry: a name resolves to an architecture and its known checkpoints (timm-style).

A model file registers a builder with ``@register_model("carn_m", ...)``; ``create_model(name, scale)``
builds it and ``get_spec(name)`` returns what the rest of the harness needs to know about it (the input
it expects, its scales, its checkpoints with sha256 and provenance).

Input convention (what the evaluation loop feeds the network, always float32 in [0, 1]):

- ``rgb``       N×3×h×w LR RGB, output N×3×(s·h)×(s·w) RGB;
- ``y``         N×1×h×w LR luma (BT.601 Y / 255), output N×1×(s·h)×(s·w) luma;
- ``y_upscaled`` N×1×H×W luma of the LR image bicubic-upscaled to HR size (SRCNN, VDSR), output same size.

Models whose authors trained on another range (0–255, mean-shifted) convert inside ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

InputKind = Literal["rgb", "y", "y_upscaled"]


class UnknownModelError(KeyError):
    """A suite or caller named a model the zoo does not have."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class Checkpoint:
    """One published weight file, as found under the weights directory."""

    file: str  # path relative to the weights dir, layout as ../shared/weights (e.g. "carn/carn_m.pth")
    sha256: str
    format: str  # loader key, see harness.weights (e.g. "torch-state-dict", "matlab-vdsr")
    provenance: str  # who released it, where, licence
    third_party: bool = False  # True when not the paper authors' own weights (label it in reports)
    note: str = ""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    paper: str
    scales: tuple[int, ...]
    input: InputKind = "rgb"
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)  # scale -> checkpoint
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {}


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def register_model(
    name: str,
    *,
    paper: str,
    scales: tuple[int, ...] = (2, 3, 4),
    input: InputKind = "rgb",
    checkpoints: dict[int, Checkpoint] | None = None,
    description: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder(scale=..., **kwargs) -> nn.Module`` under ``name``."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(
            name=name,
            builder=builder,
            paper=paper,
            scales=tuple(scales),
            input=input,
            checkpoints=dict(checkpoints or {}),
            description=description or _first_line(builder.__doc__),
        )
        return builder

    return wrap


def _ensure_loaded() -> None:
    # Importing the package registers every model file (see harness/models/__init__.py).
    import harness.models  # noqa: F401


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}"
        ) from None


def create_model(name: str, scale: int, **kwargs) -> nn.Module:
    """Build model ``name`` for upscaling factor ``scale`` (random init; see harness.weights to load)."""
    spec = get_spec(name)
    if scale not in spec.scales:
        raise ValueError(f"model {name!r} supports scales {spec.scales}, not x{scale}")
    return spec.builder(scale=scale, **kwargs)
