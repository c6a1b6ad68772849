"""RCAN (Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention Networks", ECCV 2018)
with a pluggable block, as a host for the CRB paper's modules (CRB paper Table 5).

Residual in residual (§3.1, as the authors' code ``model/rcan.py``): head conv 3×3 → G residual groups
(each: B blocks → conv 3×3, plus the group's short skip) → conv 3×3, plus the long skip → pixel-shuffle
upsampler → conv 3×3; the DIV2K mean is removed and added back at EDSR's 0-255 range.

- ``block="rcab"`` (default): RCAN's RCAB (``harness.models.crb.RCAB``: conv → ReLU → conv → channel
  attention with reduction 16, plus the identity); G = 10, B = 20, 64 channels (RCAN §4.1).  Any other
  block of the registry replaces every RCAB.  Table 5 does not say which RCAN size the CRB paper
  retrained; RCAN's own is assumed.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.blocks import make_block
from harness.models.common import DIV2K_RGB_MEAN, MeanShift, PixelShuffleUpsampler
from harness.models.registry import register_model

RCAN_PAPER = "Zhang et al., RCAN (ECCV 2018)"


class ResidualGroup(nn.Module):
    def __init__(self, channels: int, num_blocks: int, block: str, block_kwargs: dict):
        super().__init__()
        self.body = nn.Sequential(*[make_block(block, channels, **block_kwargs) for _ in range(num_blocks)],
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class RCAN(nn.Module):
    def __init__(self, scale: int, num_groups: int = 10, num_blocks: int = 20, channels: int = 64,
                 block: str = "rcab", block_kwargs: dict | None = None, colors: int = 3, rgb_range: float = 255.0):
        super().__init__()
        self.scale, self.block, self.rgb_range = scale, block, float(rgb_range)
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, sign=-1, rgb_range=rgb_range)
        self.head = nn.Conv2d(colors, channels, 3, padding=1)
        self.body = nn.Sequential(*[ResidualGroup(channels, num_blocks, block, dict(block_kwargs or {}))
                                    for _ in range(num_groups)], nn.Conv2d(channels, channels, 3, padding=1))
        self.tail = nn.Sequential(PixelShuffleUpsampler(channels, scale), nn.Conv2d(channels, colors, 3, padding=1))
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, sign=1, rgb_range=rgb_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(self.sub_mean(x * self.rgb_range))
        h = h + self.body(h)
        return self.add_mean(self.tail(h)) / self.rgb_range


@register_model("rcan", paper=RCAN_PAPER, scales=(2, 3, 4))
def rcan(scale: int, **kwargs) -> nn.Module:
    """RCAN (10 residual groups × 20 RCABs, 64 channels) with a pluggable block (``block=``)."""
    return RCAN(scale, **kwargs)
