"""DRRN (Tai, Yang, Liu: "Image super-resolution via deep recursive residual network", CVPR 2017).

On the bicubic-upscaled luma (Sec. 3, Fig. 2(d)/Fig. 4): B recursive blocks, each made of one entry
convolution and U residual units that **share** their two convolutions (Eq. 7):

    H_0 = entry(x_prev),   H_u = G(H_{u-1}) + H_0,   G = conv_b ∘ conv_a,   u = 1..U,

so every unit's identity branch is the block's entry output ("multi-path" local residual learning).
After the last block a convolution reconstructs the residual image and the input is added (global
residual learning).  Every convolution is a pre-activation unit BN → ReLU → conv (Sec. 3.2) — the authors'
Caffe models (DRRN_B1U9_20C128) have separate BN statistics per unrolled unit while the unit's two
convolutions are shared (``RB1_wa``/``RB1_wb``); ``batch_norm=False`` drops BN.  Depth d = (1 + 2U)·B + 1.

The registered model is **DRRN_B1U25** (B = 1, U = 25, 128 filters, d = 52): that is the network of CARN
Table 1's DRRN row — its Mult-Adds 6,796.9G is B1U25's (1152 + 25·2·147,456 + 1152 = 7,375,104 MACs per
HR pixel × 1280·720) and its PSNRs are B1U25's in the DRRN paper (Set5 37.74 / 34.03 / 31.68 at ×2/×3/×4;
B1U9 reads 37.66 / 33.93 / 31.58).  DRRN_B1U9 (d = 20, 2,448G Mult-Adds) is
``create_model("drrn", s, num_units=9)``.

Parameter count (CARN Table 1 prints 297K, as the DRRN paper does for both B1U9 and B1U25 — the units
share their weights): conv weights 9·128 + 2·9·128·128 + 9·128 = 297,216 → 297K, **weights only**;
biases (385) and BN affines are not counted.  No published weights are available here (the Caffe
models are not in ../shared/weights).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.common import PreActConv, SharedResidualBody
from harness.models.registry import register_model

__all__ = ["DRRN"]

DRRN_PAPER = "Tai et al., DRRN (CVPR 2017)"


class RecursiveBlock(nn.Module):
    """Entry conv + U residual units sharing their two convolutions (Eq. 7, multi-path)."""

    def __init__(self, in_channels: int, channels: int, num_units: int, batch_norm: bool):
        super().__init__()
        self.entry = PreActConv(in_channels, channels, batch_norm=batch_norm)
        self.body = SharedResidualBody(channels, num_units, batch_norm=batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.entry(x)
        h = h0
        for u in range(self.body.recursions):
            h = self.body(h, u) + h0  # the identity branch is always H_0
        return h


class DRRN(nn.Module):
    """DRRN_B{num_blocks}U{num_units} with ``channels`` filters on bicubic-upscaled Y; output x + residual."""

    def __init__(self, num_blocks: int = 1, num_units: int = 25, channels: int = 128, batch_norm: bool = True):
        super().__init__()
        self.blocks = nn.ModuleList(
            RecursiveBlock(1 if b == 0 else channels, channels, num_units, batch_norm) for b in range(num_blocks)
        )
        self.reconstruct = PreActConv(channels, 1, batch_norm=batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return x + self.reconstruct(h)  # global residual learning


@register_model("drrn", paper=DRRN_PAPER, scales=(2, 3, 4), input="y_upscaled")
def drrn(scale: int = 4, **kwargs) -> DRRN:
    """DRRN_B1U25 (128 filters, 52 layers) on bicubic-upscaled Y; 297,216 weights — CARN Table 1: 297K."""
    return DRRN(**kwargs)
