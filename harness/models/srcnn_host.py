"""SRCNN as a host for a pluggable block (CRB paper Table 5 lists SRCNN [1] among its Potsdam baselines).

SRCNN 9-5-5 (``harness.models.srcnn``) on bicubic-upscaled Y: conv 9×9 (1 → 64) → ReLU → [block at 64
channels] → conv 5×5 (64 → 32) → ReLU → conv 5×5 (32 → 1).  ``block=None`` (default) is plain SRCNN (the same
57,184 weights + 97 biases as the zoo's ``srcnn``); a registry block (``"crb"``, ...) is inserted after the
patch-extraction layer, the only place SRCNN has a 64-channel feature map — a declared choice: the CRB paper
shows no SRCNN variant with its modules.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.blocks import make_block
from harness.models.registry import register_model
from harness.models.srcnn import SRCNN, SRCNN_PAPER


class SRCNNHost(SRCNN):
    def __init__(self, block: str | None = None, block_kwargs: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.block = block
        n1 = self.conv1.out_channels
        self.inserted = make_block(block, n1, **(block_kwargs or {})) if block else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inserted(self.relu(self.conv1(x)))
        return self.conv3(self.relu(self.conv2(h)))


@register_model("srcnn_host", paper=SRCNN_PAPER, scales=(2, 3, 4), input="y_upscaled")
def srcnn_host(scale: int = 4, **kwargs) -> nn.Module:
    """SRCNN 9-5-5 with an optional block after its first layer (``block=``; None: plain SRCNN)."""
    return SRCNNHost(**kwargs)
