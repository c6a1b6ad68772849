"""VDSR (Kim, Lee, Lee: "Accurate image super-resolution using very deep convolutional networks",
CVPR 2016).

d = 20 layers of 3×3 convolutions with 64 filters (first: 1 → 64, last: 64 → 1), ReLU after all but the
last, zero padding to keep the size (Sec. 3.1, Fig. 2).  The network predicts the residual r and outputs
x + r, x being the bicubic-upscaled luma (Sec. 3.2, "residual learning").  One network serves ×2/×3/×4
(Sec. 3.3, multi-scale training), so the same checkpoint is registered at all three scales.

Parameter count (CARN Table 1 prints 665K): convolution weights 9·64 + 18·9·64·64 + 9·64 = 664,704,
**weights only** (665K); with the 1,217 biases it would be 665,921 (666K).

Published weights: the authors' MatConvNet model converted to a MATLAB struct (huangzehao/caffe-vdsr,
``VDSR_Official.mat``: ``model.weight{i}`` is h×w×in×out, ``model.bias{i}``), decoded by harness.weights.
"""

from __future__ import annotations

import itertools
import re

import torch
from torch import nn

from harness.models.common import conv2d
from harness.models.registry import Checkpoint, register_model

__all__ = ["VDSR"]

VDSR_PAPER = "Kim et al., VDSR (CVPR 2016)"


class VDSR(nn.Module):
    """VDSR: ``num_layers`` 3×3 convs of ``channels`` filters on bicubic-upscaled Y; output x + residual."""

    def __init__(self, num_layers: int = 20, channels: int = 64):
        super().__init__()
        if num_layers < 2:
            raise ValueError("VDSR needs at least two layers")
        widths = [1] + [channels] * (num_layers - 1) + [1]
        self.convs = nn.ModuleList(conv2d(cin, cout, 3) for cin, cout in itertools.pairwise(widths))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs[:-1]:
            h = self.relu(conv(h))
        return x + self.convs[-1](h)  # residual learning (Sec. 3.2)

    def convert_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``weight.{i}`` / ``bias.{i}`` (0-based layer index, from the MATLAB struct) → ``convs.{i}.*``."""
        out = {}
        for key, value in state.items():
            match = re.fullmatch(r"(weight|bias)\.(\d+)", key)
            out[f"convs.{match[2]}.{match[1]}" if match else key] = value
        return out


_VDSR_OFFICIAL = Checkpoint(
    file="vdsr/VDSR_Official.mat",
    sha256="f613166660840af1a2ca47e31b0337b951e7c4e094364f6135a16d81a55c323c",
    format="matlab-struct",
    provenance="VDSR authors' MatConvNet model (20 layers, 64 channels) converted to a MATLAB struct, "
               "from huangzehao/caffe-vdsr (MIT), Test/VDSR_Official.mat",
    note="one multi-scale model for x2/x3/x4; input is the bicubic-upscaled Y",
)


@register_model(
    "vdsr",
    paper=VDSR_PAPER,
    scales=(2, 3, 4),
    input="y_upscaled",
    checkpoints={s: _VDSR_OFFICIAL for s in (2, 3, 4)},
)
def vdsr(scale: int = 4, **kwargs) -> VDSR:
    """VDSR, 20 layers × 64 channels on bicubic-upscaled Y; 664,704 weights — CARN Table 1: 665K."""
    return VDSR(**kwargs)
