"""EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution", CVPR-W 2017).

Architecture as in the authors' code (sanghyun-son/EDSR-PyTorch, ``model/edsr.py``)::

    x -> MeanShift(-) -> head conv 3x3 (3 -> f) -> [body: B blocks, conv 3x3] (+ head output)
      -> upsampler (pixel shuffle) -> tail conv 3x3 (f -> 3) -> MeanShift(+)

- Upsampler (Sec. 3.1): ×2 and ×4 are one or two stages of conv 3×3 (f -> 4f) + PixelShuffle(2);
  ×3 is one stage of conv 3×3 (f -> 9f) + PixelShuffle(3).  No activation inside the upsampler.
- Blocks: ``block="rb"`` is EDSR's residual block; ``"crb"``, ``"dcrb"`` and ``"rcab"`` swap in the CRB
  paper's cycle residual blocks or RCAN's RCAB (CRB paper Tables 3-4 use EDSR as the backbone).  The
  block classes come from ``harness.models.crb``.
- Range (registry input convention): the network takes RGB in [0, 1] and returns RGB in [0, 1]; inside
  it works in EDSR's 0-255 range with the DIV2K mean subtracted, like the authors' ``rgb_range=255``.
- ``MeanShift`` here is a fixed affine map held in buffers, not a frozen 1×1 conv as in the authors'
  code: it has no parameters and no MACs, so parameter counts and Mult-Adds count the learned network
  only (the authors' version adds 2 × 12 frozen parameters and 2 × 9 MACs per pixel, ~0.01 G at 720p).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.common import DIV2K_RGB_MEAN, MeanShift, PixelShuffleUpsampler
from harness.models.crb import (
    RCAB,
    CycleResidualBlock,
    DepthwiseCycleResidualBlock,
    ResidualBlock,
)
from harness.models.registry import register_model

EDSR_PAPER = "Lim et al., EDSR: Enhanced Deep Residual Networks for Single Image Super-Resolution (CVPR-W 2017)"
CRB_PAPER = "Cheng et al., Optimization of Module Transferability in SISR (UAE, CRB, DCRB)"

BLOCKS = ("rb", "crb", "dcrb", "rcab")


def make_block(block: str, channels: int, res_scale: float, cycles: int = 2, reduction: int = 16) -> nn.Module:
    """One body block by name; the classes are the CRB paper's (harness.models.crb)."""
    if block == "rb":
        return ResidualBlock(channels, res_scale=res_scale)
    if block == "crb":
        return CycleResidualBlock(channels, cycles=cycles, res_scale=res_scale)
    if block == "dcrb":
        return DepthwiseCycleResidualBlock(channels, cycles=cycles, res_scale=res_scale)
    if block == "rcab":
        return RCAB(channels, reduction=reduction, res_scale=res_scale)
    raise ValueError(f"unknown block {block!r}; known: {', '.join(BLOCKS)}")


class EDSR(nn.Module):
    """EDSR with a configurable residual block (RB / CRB / DCRB / RCAB)."""

    def __init__(self, scale: int, num_blocks: int = 16, channels: int = 64, res_scale: float = 1.0,
                 block: str = "rb", cycles: int = 2, reduction: int = 16, colors: int = 3,
                 rgb_range: float = 255.0):
        super().__init__()
        self.scale = scale
        self.rgb_range = float(rgb_range)
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, sign=-1, rgb_range=rgb_range)
        self.head = nn.Conv2d(colors, channels, 3, padding=1)
        self.body = nn.Sequential(
            *[make_block(block, channels, res_scale, cycles, reduction) for _ in range(num_blocks)],
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.tail = nn.Sequential(PixelShuffleUpsampler(channels, scale), nn.Conv2d(channels, colors, 3, padding=1))
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, sign=1, rgb_range=rgb_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))  # [0, 1] -> EDSR's 0-255 range, mean removed
        x = x + self.body(x)  # global residual (EDSR Fig. 3)
        return self.add_mean(self.tail(x)) / self.rgb_range


# EDSR paper Sec. 4: the baseline has B = 16, F = 64, no residual scaling; the full EDSR B = 32, F = 256,
# residual scaling 0.1.
@register_model("edsr_baseline", paper=EDSR_PAPER, scales=(2, 3, 4))
def edsr_baseline(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline: 16 residual blocks, 64 channels."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, **kwargs})


@register_model("edsr", paper=EDSR_PAPER, scales=(2, 3, 4))
def edsr(scale: int, **kwargs) -> nn.Module:
    """EDSR: 32 residual blocks, 256 channels, residual scaling 0.1."""
    return EDSR(scale, **{"num_blocks": 32, "channels": 256, "res_scale": 0.1, **kwargs})


@register_model("edsr_crb", paper=CRB_PAPER, scales=(2, 3, 4))
def edsr_crb(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline backbone with cycle residual blocks (CRB, ε = 2) in place of RB (CRB paper Table 4)."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, "block": "crb", **kwargs})


@register_model("edsr_dcrb", paper=CRB_PAPER, scales=(2, 3, 4))
def edsr_dcrb(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline backbone with depth-wise cycle residual blocks (DCRB) (CRB paper Table 4)."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, "block": "dcrb", **kwargs})


@register_model("edsr_rcab", paper=CRB_PAPER, scales=(2, 3, 4))
def edsr_rcab(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline backbone with RCAN's RCAB in place of RB (CRB paper Table 3)."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, "block": "rcab", **kwargs})
