"""SESR (Bhardwaj et al., "Collapsible Linear Blocks for Super-Efficient Super Resolution", MLSys 2022 / arXiv 2103.09404).

Architecture as in the authors' code (ARM-software/sesr ``models/sesr.py``, ``model_utils.LinearBlock_e``),
re-implemented here for a Y input:

- linear block (training form): k×k conv (C_in → p, p = 256 "feature_size") → 1×1 conv (p → C_out), no
  non-linearity, plus a short residual x when C_in = C_out (SESR's expanded blocks add it outside; the
  collapsed form puts it in the kernel).  ``deploy()`` collapses it into one k×k conv (SESR Algorithm 1/2).
- net: x − 0.5 → 5×5 linear block (1 → f) = F0; m × [3×3 linear block (f → f, short residual) → PReLU];
  + F0 (long residual); 5×5 linear block (f → s²); + x (the input added to every sub-pixel channel);
  depth-to-space (twice ×2 for ×4, as SESR does).  SESR-MmCf: m 3×3 blocks, f channels; #Conv of the
  collapsed net = m + 2.  SESR clips the output to [0, 1]; the harness rounds/clips at evaluation, so
  the clip is left out (it would hide merge errors in the reparam check).
- The collapsed SESR convolutions have no bias in the authors' code (``tf.nn.conv2d`` with the collapsed
  weight); the printed parameter counts (SESR-M5 ×2 13.52K; RepSR Table 2 18.32K / 32.14K / 114.97K) are
  the conv weights alone.  The expanded training form here keeps biases (``LinearBlock_e`` has them), so
  the deploy form has biases too: count them with the "weights-only" convention.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.blocks import register_block
from harness.models.registry import register_model
from harness.models.repsr import compose_kxk_1x1, identity_kernel, merged_conv

SESR_PAPER = "Bhardwaj et al., Collapsible Linear Blocks for Super-Efficient Super Resolution (arXiv 2103.09404)"


class LinearBlock(nn.Module):
    """k×k expand (→ p) then 1×1 project (→ C_out), linear; + x when ``residual`` and C_in = C_out."""

    def __init__(self, channels: int, out_channels: int | None = None, *, kernel_size: int = 3,
                 expand: int = 256, residual: bool = True):
        super().__init__()
        cout = out_channels or channels
        self.expand = nn.Conv2d(channels, expand, kernel_size, padding=kernel_size // 2)
        self.project = nn.Conv2d(expand, cout, 1)
        self.residual = residual and channels == cout
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.expand(x))
        return y + x if self.residual else y

    @torch.no_grad()
    def deploy(self) -> nn.Conv2d:
        w, b = compose_kxk_1x1(self.expand.weight, self.expand.bias, self.project.weight, self.project.bias)
        if self.residual:
            k = self.kernel_size
            w = w + nn.functional.pad(identity_kernel(w.shape[0], w), ((k - 3) // 2,) * 4)
        return merged_conv(w, b)


@register_block("sesr")
def sesr_block(channels: int, out_channels: int | None = None, **kwargs) -> LinearBlock:
    """SESR collapsible linear block (3×3 → 1×1, p = 256, short residual)."""
    return LinearBlock(channels, out_channels, **kwargs)


class SESR(nn.Module):
    """SESR-MmCf for a Y input (see module docstring)."""

    def __init__(self, scale: int, blocks: int = 5, channels: int = 16, expand: int = 256):
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"SESR upsamples by depth-to-space ×2 (once or twice): ×2 or ×4, not ×{scale}")
        self.scale = scale
        self.first = LinearBlock(1, channels, kernel_size=5, expand=expand)
        self.body = nn.ModuleList(LinearBlock(channels, kernel_size=3, expand=expand) for _ in range(blocks))
        self.acts = nn.ModuleList(nn.PReLU(channels) for _ in range(blocks))
        self.last = LinearBlock(channels, scale * scale, kernel_size=5, expand=expand)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = f = self.first(x - 0.5)
        for blk, act in zip(self.body, self.acts):
            f = act(blk(f))
        y = self.last(f + f0) + x  # long residual, then the input on every sub-pixel channel
        y = self.shuffle(y)
        return self.shuffle(y) if self.scale == 4 else y


@register_model("sesr", paper=SESR_PAPER, scales=(2, 4), input="y")
def sesr(scale: int, blocks: int = 5, channels: int = 16, **kwargs) -> nn.Module:
    """SESR-MmCf (collapsible linear blocks, p = 256), Y input."""
    return SESR(scale, blocks, channels, **kwargs)
