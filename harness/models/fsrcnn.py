"""FSRCNN (Dong, Loy, Tang: "Accelerating the super-resolution convolutional neural network", ECCV 2016).

FSRCNN(d, s, m) works on the LR luma and upsamples at the end (Sec. 3.2, Fig. 2):
feature extraction Conv(5, d) → shrinking Conv(1, s) → m × mapping Conv(3, s) → expanding Conv(1, d)
→ deconvolution DeConv(9, 1) with stride = scale.  PReLU (one slope per channel) after every
convolution except the deconvolution.  The registered model is FSRCNN(56, 12, 4) of CARN Table 1.

Parameter count (CARN Table 1 prints 12K): convolution weights
25·56 + 56·12 + 4·9·12·12 + 12·56 + 81·56 = 12,464 (the FSRCNN paper's own complexity formula, Sec. 3.3,
counts weights only), i.e. **weights only**; biases (173) and PReLU slopes (172) are not counted
(with them 12,809, which would print as 13K).

Deconvolution alignment: kernel 9, stride s, padding 4, output padding s − 1, so an h×w input gives
exactly (s·h)×(s·w) — the layout of the published PyTorch re-training (yjn870/FSRCNN-pytorch), which is
also what the MATLAB/Caffe models compute up to the border.

Published weights here are a third-party re-training (yjn870, 91-image set), not the authors' Caffe
models: reports must label them so.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from harness.models.common import conv2d
from harness.models.registry import Checkpoint, register_model

__all__ = ["FSRCNN"]

FSRCNN_PAPER = "Dong et al., FSRCNN (ECCV 2016)"


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) on LR Y in [0, 1]; output (scale·h)×(scale·w) Y."""

    def __init__(self, scale: int = 4, d: int = 56, s: int = 12, m: int = 4):
        super().__init__()
        self.scale = scale
        self.m = m
        self.extract = nn.Sequential(conv2d(1, d, 5), nn.PReLU(d))  # feature extraction
        self.shrink = nn.Sequential(conv2d(d, s, 1), nn.PReLU(s))  # shrinking
        self.map = nn.Sequential(*[layer for _ in range(m) for layer in (conv2d(s, s, 3), nn.PReLU(s))])
        self.expand = nn.Sequential(conv2d(s, d, 1), nn.PReLU(d))  # expanding
        self.deconv = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.expand(self.map(self.shrink(self.extract(x)))))

    def convert_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """yjn870/FSRCNN-pytorch names (first_part / mid_part.N / last_part) → this module's names."""
        out: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            if key.startswith("first_part."):
                out["extract." + key[len("first_part."):]] = value
            elif key.startswith("last_part."):
                out["deconv." + key[len("last_part."):]] = value
            elif match := re.fullmatch(r"mid_part\.(\d+)\.(\w+)", key):
                i, param = int(match[1]), match[2]  # mid_part = [shrink, act, (conv, act) × m, expand, act]
                if i < 2:
                    out[f"shrink.{i}.{param}"] = value
                elif i < 2 + 2 * self.m:
                    out[f"map.{i - 2}.{param}"] = value
                else:
                    out[f"expand.{i - 2 - 2 * self.m}.{param}"] = value
            else:
                out[key] = value  # already in this module's names (e.g. a state dict saved by the harness)
        return out


def _yjn870(scale: int, sha256: str) -> Checkpoint:
    return Checkpoint(
        file=f"fsrcnn_yjn870/fsrcnn_x{scale}.pth",
        sha256=sha256,
        format="torch-state-dict",
        provenance="third-party PyTorch re-training of FSRCNN(56,12,4) by yjn870 "
                   "(github.com/yjn870/FSRCNN-pytorch, released weights), not the FSRCNN authors' models",
        third_party=True,
        note="trained on the 91-image set, Y channel in [0, 1]",
    )


@register_model(
    "fsrcnn",
    paper=FSRCNN_PAPER,
    scales=(2, 3, 4),
    input="y",
    checkpoints={
        2: _yjn870(2, "1af70e2cbf0d11b942008d6c425e469e9fe275a68f3ac8b6c21e8672d6e67b69"),
        3: _yjn870(3, "f65b55819c1258048bc8c1ca96f9e24bd4339f779951d7f928144c08e3868d75"),
        4: _yjn870(4, "c15150d6787d487f38a68e66be5ec8a964182403af494e6a935fa03eeb56a630"),
    },
)
def fsrcnn(scale: int = 4, **kwargs) -> FSRCNN:
    """FSRCNN(56, 12, 4) on LR Y; 12,464 conv weights — CARN Table 1: 12K (weights only)."""
    return FSRCNN(scale=scale, **kwargs)
