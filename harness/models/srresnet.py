"""SRResNet (Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a GAN", CVPR 2017, §3.2 / Fig. 4)
with a pluggable residual block, as a host for the CRB paper's modules (CRB paper Table 5).

    x -> conv 9×9 (3 -> 64) -> PReLU -> [B blocks] -> conv 3×3 -> BN (+ head output)
      -> ×2 stages: conv 3×3 (64 -> 256) -> PixelShuffle(2) -> PReLU  (×3: one stage, 64 -> 576, shuffle 3)
      -> conv 9×9 (64 -> 3)

- ``block="srresnet_rb"`` (default) is SRResNet's own residual block: conv 3×3 → BN → PReLU → conv 3×3 → BN,
  plus the identity (Fig. 4), B = 16, 64 channels — the "full hyper-parameter configuration" that Table 5's
  caption says SRResNet keeps.  Any other block of the registry (``"rb"``, ``"crb"``, ``"dcrb"``, ...)
  replaces it one for one.
- Range: RGB in [0, 1] in and out (the SRGAN paper scales HR to [-1, 1] for its GAN; the SR network itself
  is range-agnostic).  BN layers are ``nn.BatchNorm2d`` (their affine parameters are counted).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.blocks import make_block, register_block
from harness.models.common import PixelShuffleUpsampler
from harness.models.registry import register_model

SRRESNET_PAPER = "Ledig et al., SRResNet / SRGAN (CVPR 2017)"


class SRResNetBlock(nn.Module):
    """SRResNet's residual block: x + BN(Conv(PReLU(BN(Conv(x)))))."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.in_channels = channels
        self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        self.act = nn.PReLU(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


register_block("srresnet_rb")(lambda channels, **kw: SRResNetBlock(channels, **kw))


class SRResNet(nn.Module):
    def __init__(self, scale: int, num_blocks: int = 16, channels: int = 64, block: str = "srresnet_rb",
                 block_kwargs: dict | None = None, colors: int = 3):
        super().__init__()
        self.scale, self.block = scale, block
        self.head = nn.Sequential(nn.Conv2d(colors, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(*[make_block(block, channels, **(block_kwargs or {})) for _ in range(num_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        self.upsample = PixelShuffleUpsampler(channels, scale, act=lambda: nn.PReLU(channels))
        self.tail = nn.Conv2d(channels, colors, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body_tail(self.body(h))
        return self.tail(self.upsample(h))


@register_model("srresnet", paper=SRRESNET_PAPER, scales=(2, 3, 4))
def srresnet(scale: int, **kwargs) -> nn.Module:
    """SRResNet (16 BN residual blocks, 64 channels) with a pluggable block (``block=``)."""
    return SRResNet(scale, **kwargs)
