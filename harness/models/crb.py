"""Plug-and-play residual modules of the CRB paper (Cheng et al., UAE/CRB), and the ones it compares.

- ``ResidualBlock`` (RB, EDSR [18]): x + Conv(ReLU(Conv(x))).
- ``CycleResidualBlock`` (CRB, Eq. 3): the RB body applied twice with the *same* weights, each time with
  its own skip:  X_mid = X + F(X);  Y = X_mid + F(X_mid),  F = Conv∘ReLU∘Conv.  No extra parameters.
- ``DepthwiseCycleResidualBlock`` (DCRB, Eq. 3 with depth-wise convolutions).  Table 2 prints
  n = 1,280 for f = 64, which is exactly two 3×3 depth-wise convs with bias (2 × (64·9 + 64)): the
  "depth-wise separable" convolution of the text has no point-wise 1×1 part (one would add 2 × 4,160).
  The depth-wise conv is its own sub-module, which is the nesting (k = 1) Table 2 gives DCRB.
- ``RCAB`` (RCAN [11]): x + CA(Conv(ReLU(Conv(x)))), channel attention with reduction 16.

These are blocks, not SR networks.  Each is registered twice: as a zoo model (scales = (1,)) so suites can
count and trace it (UAE Table 2), and in the block registry (``harness.models.blocks``) so every host
network takes it as ``block="rb" | "crb" | "dcrb" | "rcab"``.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.blocks import register_block
from harness.models.registry import register_model

CRB_PAPER = "Cheng et al., Optimization of Module Transferability in SISR (UAE, CRB, DCRB)"


def conv3x3(channels: int, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, padding=1, groups=groups, bias=True)


class ResidualBlock(nn.Module):
    """RB of EDSR: x + res_scale · Conv(ReLU(Conv(x)))."""

    def __init__(self, channels: int = 64, res_scale: float = 1.0):
        super().__init__()
        self.in_channels = channels
        self.conv1 = conv3x3(channels)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = conv3x3(channels)
        self.res_scale = res_scale

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x) if self.res_scale != 1.0 else x + self.body(x)


class CycleResidualBlock(ResidualBlock):
    """CRB (Eq. 3): the RB body run twice with shared weights, a residual connection around each pass.

    ``cycles`` is ε, the number of residual connections (Table 2 uses ε = 2, l = 8); Sec. 3.4 bounds
    ε ≤ l/4.
    """

    def __init__(self, channels: int = 64, cycles: int = 2, res_scale: float = 1.0):
        super().__init__(channels, res_scale)
        if cycles < 1:
            raise ValueError("CRB needs at least one cycle")
        self.cycles = cycles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.cycles):
            x = super().forward(x)
        return x


class DepthwiseConv(nn.Module):
    """3×3 depth-wise convolution (groups = channels), the DCRB's nested sub-module."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(channels, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class DepthwiseCycleResidualBlock(CycleResidualBlock):
    """DCRB: CRB (Eq. 3) with both convolutions depth-wise (n = 2·(9f + f) parameters)."""

    def __init__(self, channels: int = 64, cycles: int = 2, res_scale: float = 1.0):
        super().__init__(channels, cycles, res_scale)
        self.conv1 = DepthwiseConv(channels)
        self.conv2 = DepthwiseConv(channels)


class ChannelAttention(nn.Module):
    """RCAN's CA layer: global average pool → 1×1 down (f/r) → ReLU → 1×1 up → sigmoid → rescale."""

    def __init__(self, channels: int = 64, reduction: int = 16):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.down = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU(inplace=False)
        self.up = nn.Conv2d(channels // reduction, channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.up(self.relu(self.down(self.pool(x)))))


class RCAB(ResidualBlock):
    """Residual channel attention block of RCAN: x + CA(Conv(ReLU(Conv(x))))."""

    def __init__(self, channels: int = 64, reduction: int = 16, res_scale: float = 1.0):
        super().__init__(channels, res_scale)
        self.ca = ChannelAttention(channels, reduction)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.ca(super().body(x))


# Blocks are registered with scales=(1,) — they do not upscale; "scale" is accepted and ignored.
def _block(cls):
    def build(scale: int = 1, **kwargs) -> nn.Module:
        return cls(**kwargs)

    build.__doc__ = cls.__doc__
    return build


register_model("rb", paper="Lim et al., EDSR (CVPR-W 2017)", scales=(1,))(_block(ResidualBlock))
register_model("crb", paper=CRB_PAPER, scales=(1,))(_block(CycleResidualBlock))
register_model("dcrb", paper=CRB_PAPER, scales=(1,))(_block(DepthwiseCycleResidualBlock))
register_model("rcab", paper="Zhang et al., RCAN (ECCV 2018)", scales=(1,))(_block(RCAB))


# Block registry: builder(channels, **kwargs) -> N×C×H×W → N×C×H×W.
register_block("rb")(lambda channels, **kw: ResidualBlock(channels, **kw))
register_block("crb")(lambda channels, **kw: CycleResidualBlock(channels, **kw))
register_block("dcrb")(lambda channels, **kw: DepthwiseCycleResidualBlock(channels, **kw))
register_block("rcab")(lambda channels, **kw: RCAB(channels, **kw))
