"""LapSRN (Lai, Huang, Ahuja, Yang: "Deep Laplacian pyramid networks for fast and accurate
super-resolution", CVPR 2017).

Progressive ×2 reconstruction on the LR luma (Sec. 3.1, Fig. 3).  An input convolution (1 → 64) feeds
the feature-extraction branch; each pyramid level s (log2(scale) levels) has

- feature extraction: ``depth`` = 10 conv 3×3 (64 → 64) + leaky ReLU(0.2), then a ×2 transposed
  convolution (64 → 64) + leaky ReLU, then a 3×3 conv (64 → 1) predicting the sub-band residual;
- image reconstruction: a ×2 transposed convolution of the previous level's image (1 → 1, 4×4, no
  bias, bilinear at initialisation), to which the residual is added.

The feature upsampler is a **3×3** transposed convolution with stride 2 and the last row and column of
its (2h+1)×(2w+1) output cropped — that is the authors' released MatConvNet model (``crop [0 1 0 1]``),
not the 4×4 of the paper's text; the image upsampler is 4×4, stride 2, cropping one pixel on every side.

Parameter count (CARN Table 1 prints 813K for ×4): conv weights 9·64 + 2·(10·9·64·64 + 9·64·64 + 9·64
+ 16) = 812,768 → 813K, **weights only** (with biases: 814,242).  The 4×4 feature deconvolution of the
paper's text would give 870K, so Table 1's number also confirms the released 3×3 layout.
Mult-Adds: Table 1's 149.4G (×4, 1280×720 output) is reproduced when the transposed convolutions are
counted per *output* pixel, as for FSRCNN: 2,592,896 MACs per LR pixel × 320·180 = 149.35G.

Published weights: the authors' ×2 and ×4 DagNN models (phoenix104104/LapSRN), decoded by
harness.weights (``net.params`` name/value pairs).
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from harness.models.common import conv2d
from harness.models.registry import Checkpoint, register_model

__all__ = ["LapSRN"]

LAPSRN_PAPER = "Lai et al., LapSRN (CVPR 2017)"


def _bilinear_kernel(size: int) -> torch.Tensor:
    """The size×size bilinear upsampling filter (FCN-style) LapSRN initialises its image deconv with."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = torch.arange(size, dtype=torch.float32)
    filt = 1 - (og - center).abs() / factor
    return filt[:, None] * filt[None, :]


class _FeatureUpsampler(nn.Module):
    """3×3 transposed conv, stride 2, output cropped to 2h×2w by dropping the last row and column."""

    def __init__(self, channels: int):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(x)[..., :-1, :-1]


class LapSRNLevel(nn.Module):
    """One ×2 pyramid level: feature embedding + upsampling, residual prediction, image upsampling."""

    def __init__(self, channels: int, depth: int, negative_slope: float):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [conv2d(channels, channels, 3), nn.LeakyReLU(negative_slope)]
        self.features = nn.Sequential(*layers)
        self.upsample = _FeatureUpsampler(channels)
        self.act = nn.LeakyReLU(negative_slope)
        self.residual = conv2d(channels, 1, 3)
        self.image_up = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False)
        with torch.no_grad():
            self.image_up.weight.copy_(_bilinear_kernel(4).view(1, 1, 4, 4))

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.act(self.upsample(self.features(features)))
        return features, self.image_up(image) + self.residual(features)


class LapSRN(nn.Module):
    """LapSRN with log2(scale) levels of ``depth`` convolutions each, on LR Y in [0, 1]."""

    def __init__(self, scale: int = 4, channels: int = 64, depth: int = 10, negative_slope: float = 0.2):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"LapSRN upsamples by powers of two, not x{scale}")
        self.scale = scale
        self.input_conv = conv2d(1, channels, 3)
        self.act = nn.LeakyReLU(negative_slope)
        self.levels = nn.ModuleList(
            LapSRNLevel(channels, depth, negative_slope) for _ in range(int(math.log2(scale)))
        )

    def forward_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The reconstructions of every level (×2, ×4, …), for the multi-level loss of Sec. 3.2."""
        features, image, outputs = self.act(self.input_conv(x)), x, []
        for level in self.levels:
            features, image = level(features, image)
            outputs.append(image)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_pyramid(x)[-1]

    def convert_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """DagNN parameter names → this module's names.

        The released models number their levels backwards (the ×4 model's first level is ``level2``), so
        levels are ordered by the first appearance of their prefix in the DagNN's parameter order, which
        follows the network's layers.
        """
        order: list[str] = []
        for key in state:
            match = re.match(r"(level\d+)_", key)
            if match and match[1] not in order:
                order.append(match[1])
        out: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            param = {"f": "weight", "b": "bias"}[key[-1]]
            if key.startswith("input_conv_"):
                out[f"input_conv.{param}"] = value
                continue
            prefix, rest = key.split("_", 1)
            i = order.index(prefix)
            if match := re.fullmatch(r"conv(\d+)_[fb]", rest):
                out[f"levels.{i}.features.{2 * (int(match[1]) - 1)}.{param}"] = value
            elif rest.startswith("upconv_"):
                out[f"levels.{i}.upsample.deconv.{param}"] = value
            elif rest.startswith("residual_conv_"):
                out[f"levels.{i}.residual.{param}"] = value
            elif rest.startswith("img_up_"):
                out[f"levels.{i}.image_up.{param}"] = value
            else:
                out[key] = value  # unknown: strict loading will name it
        return out


def _lapsrn(scale: int, sha256: str) -> Checkpoint:
    return Checkpoint(
        file=f"lapsrn/LapSRN_x{scale}.mat",
        sha256=sha256,
        format="matconvnet-dagnn",
        provenance=f"LapSRN authors' MatConvNet DagNN model x{scale} (phoenix104104/LapSRN, "
                   f"models/LapSRN_x{scale}.mat)",
    )


@register_model(
    "lapsrn",
    paper=LAPSRN_PAPER,
    scales=(2, 4, 8),
    input="y",
    checkpoints={
        2: _lapsrn(2, "e368225004e2d5e49d772c5c4eb16c3f28f7fe3b68fec7a9bb91f55e25602baa"),
        4: _lapsrn(4, "1d845a3efdca8848968df9e216931419e3b1122373a233d612b4f599985e6367"),
    },
)
def lapsrn(scale: int = 4, **kwargs) -> LapSRN:
    """LapSRN (d = 10 per level) on LR Y; x4: 812,768 weights — CARN Table 1: 813K (weights only)."""
    return LapSRN(scale=scale, **kwargs)
