"""ESPCN (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel CNN", CVPR 2016).

Sec. 3 / 4.2 of the paper: l = 3 layers, (f1, n1) = (5, 64), (f2, n2) = (3, 32), f3 = 3, tanh after the
first two, the last conv outputs r² channels, then the periodic shuffle (PixelShuffle(r)); trained on the
Y channel.  Params at ×4 with biases 24,752 (22,640 weights only); 3 convolutions.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.registry import register_model

ESPCN_PAPER = "Shi et al., ESPCN: Real-Time Single Image and Video SR Using an Efficient Sub-Pixel CNN (CVPR 2016)"


class ESPCN(nn.Module):
    def __init__(self, scale: int, channels: tuple[int, int] = (64, 32), colors: int = 1):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(colors, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, colors * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv3(torch.tanh(self.conv2(torch.tanh(self.conv1(x))))))


@register_model("espcn", paper=ESPCN_PAPER, input="y")
def espcn(scale: int, **kwargs) -> nn.Module:
    """ESPCN 5-3-3 (64, 32 channels, tanh), Y input."""
    return ESPCN(scale, **kwargs)
