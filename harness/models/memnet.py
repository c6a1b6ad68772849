"""MemNet (Tai, Yang, Liu, Xu: "MemNet: a persistent memory network for image restoration", ICCV 2017).

On the bicubic-upscaled luma (Sec. 3, Fig. 1–2): a feature-extraction conv (FENet) gives B_0; M memory
blocks follow, each

- a **recursive unit**: one residual building block applied R times with shared weights
  (Eq. 4–5: H^r = G(H^{r-1}) + H^{r-1}, H^0 = B_{m-1}), its R outputs are the *short-term memory*;
- a **gate unit**: a 1×1 conv over the concatenation of the long-term memory [B_0, …, B_{m-1}] and the
  short-term memory [H^1, …, H^R], i.e. (m + R)·C → C maps (Eq. 6), giving B_m.

Multi-supervision (Sec. 3.2, Eq. 9–10): a shared reconstruction conv turns every B_m into a residual,
y_m = x + recon(B_m), and the output is the learned weighted sum Σ_m w_m · y_m.  ``forward_all`` returns
the M intermediate predictions for training.

Every convolution is a pre-activation unit BN → ReLU → conv (Sec. 3.1); the authors' Caffe model
(MemNet_M6R6_80C64) shares the residual convs within a memory block and the reconstruction conv across
outputs (``Recon_w``), with separate BN per unrolled use — reproduced here; ``batch_norm=False`` drops BN.
The ensemble weights start at 1/M.

The registered model is MemNet M6R6 (6 memory blocks × 6 recursions, 64 channels, 80 conv layers) of
CARN Table 1.  Parameter count (printed 677K): conv weights 9·64 + 6·2·9·64·64 + Σ_m (m+6)·64·64
+ 9·64 = 676,992, plus the 6 ensemble weights = 676,998 → 677K, **weights only** (biases and BN
affines are not counted; with biases 678,215).  No published weights are available here.

Mult-Adds: CARN Table 1's 623.9G is 676,992 × 1280·720 — the parameter count times the pixels, i.e.
every shared convolution counted once.  The network as run applies each memory block's residual convs
R = 6 times and the reconstruction conv M = 6 times: 2,665G for a 720p output.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.common import PreActConv, SharedResidualBody, conv2d
from harness.models.registry import register_model

__all__ = ["MemNet"]

MEMNET_PAPER = "Tai et al., MemNet (ICCV 2017)"


class MemoryBlock(nn.Module):
    """Recursive unit (R shared residual blocks) + gate unit over long- and short-term memory."""

    def __init__(self, channels: int, recursions: int, num_long_term: int, batch_norm: bool):
        super().__init__()
        self.recursive_unit = SharedResidualBody(channels, recursions, batch_norm=batch_norm)
        self.gate = PreActConv((num_long_term + recursions) * channels, channels, 1, batch_norm=batch_norm)

    def forward(self, long_term: list[torch.Tensor]) -> torch.Tensor:
        h = long_term[-1]
        short_term = []
        for r in range(self.recursive_unit.recursions):
            h = self.recursive_unit(h, r) + h
            short_term.append(h)
        return self.gate(torch.cat(long_term + short_term, dim=1))


class MemNet(nn.Module):
    """MemNet M{num_memory_blocks}R{recursions}, ``channels`` maps, on bicubic-upscaled Y."""

    def __init__(self, num_memory_blocks: int = 6, recursions: int = 6, channels: int = 64,
                 batch_norm: bool = True):
        super().__init__()
        self.fenet = PreActConv(1, channels, batch_norm=batch_norm)
        self.blocks = nn.ModuleList(
            MemoryBlock(channels, recursions, m + 1, batch_norm) for m in range(num_memory_blocks)
        )
        # ReconNet: one conv shared by all M outputs, BN per output.
        self.recon_norms = nn.ModuleList(
            nn.BatchNorm2d(channels) if batch_norm else nn.Identity() for _ in range(num_memory_blocks)
        )
        self.relu = nn.ReLU()
        self.recon = conv2d(channels, 1, 3)
        self.ensemble = nn.Parameter(torch.full((num_memory_blocks,), 1.0 / num_memory_blocks))

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The M intermediate predictions y_m = x + recon(B_m) (multi-supervision, Eq. 9)."""
        memory = [self.fenet(x)]  # long-term memory B_0, B_1, …
        preds = []
        for block, norm in zip(self.blocks, self.recon_norms):
            memory.append(block(memory))
            preds.append(x + self.recon(self.relu(norm(memory[-1]))))
        return preds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(w * p for w, p in zip(self.ensemble, self.forward_all(x)))


@register_model("memnet", paper=MEMNET_PAPER, scales=(2, 3, 4), input="y_upscaled")
def memnet(scale: int = 4, **kwargs) -> MemNet:
    """MemNet M6R6 (64 channels, 80 layers) on bicubic-upscaled Y; 676,998 weights — CARN Table 1: 677K."""
    return MemNet(**kwargs)
