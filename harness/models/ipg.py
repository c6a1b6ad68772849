"""IPG (Tian et al., "Image Processing GNN: Breaking Rigidity in Super-Resolution", CVPR 2024) at the CRB
paper's scaled-down setting, with a pluggable block (CRB paper Tables 5-6).

Layout of IPG's code (``IPG_arch.py``, x4 options): SwinIR's classical frame (``harness.models.srformer.
TransformerSR``) around G groups (MGB): each group builds its two degree-flexible graphs once from its
input (local and global sampling, ``transformer_blocks.flexible_graph``) and runs D GALs alternating local
('GN') and global ('GS') graph aggregation, then a 3×3 conv, plus the group's skip.  IPG's x4 options:
6 groups × 6 GALs, window (group) 16, sample 32, top-k 256, dwconv3 ConvFFN, detail scaling
``diff_scales = [10, 1.5, 1.5, 1.5, 1.5, 1.5]``, no CAB branch; the image is padded to a multiple of 32.

Settings (CRB paper §4.1, line 268): "IPG's embedding dimension is reduced to 20 with the number of heads set
to 4 accordingly", MLP ratio 4 → 2.  Everything else is IPG's x4 configuration above (declared).
``block=None`` is IPG; ``block="crb"`` etc. appends one registry block to every group after its conv
(inside its skip; where the CRB paper inserts its modules is not stated).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.blocks import make_block
from harness.models.registry import register_model
from harness.models.srformer import TransformerSR
from harness.models.transformer_blocks import GAL, flexible_graph

IPG_PAPER = "Tian et al., IPG (CVPR 2024)"
IPG_DIFF_SCALES = (10.0, 1.5, 1.5, 1.5, 1.5, 1.5)


class IPGGroup(nn.Module):
    """IPG's MGB: graphs built once per group, GALs (GN, GS, GN, ...), conv 3×3, inserted block, + skip."""

    def __init__(self, channels: int, depth: int, heads: int, window: int, sample: int, mlp_ratio: float,
                 top_k: int, diff_scale: float | None, block: str | None, block_kwargs: dict | None):
        super().__init__()
        self.window, self.sample, self.top_k, self.diff_scale = window, sample, top_k, diff_scale
        self.layers = nn.ModuleList(GAL(channels, heads, window, sample, mlp_ratio, top_k=top_k, global_=bool(i % 2),
                                        diff_scale=diff_scale) for i in range(depth))
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.inserted = make_block(block, channels, **(block_kwargs or {})) if block else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N×C×H×W, H and W multiples of ``sample``
        t = x.permute(0, 2, 3, 1)
        graphs = [flexible_graph(t, self.window, self.sample, self.top_k, g, self.diff_scale) for g in (False, True)]
        for layer in self.layers:
            t = layer.forward_tokens(t, graphs[int(layer.global_)])
        return x + self.inserted(self.conv(t.permute(0, 3, 1, 2)))


class IPG(TransformerSR):
    def __init__(self, scale: int, channels: int = 20, groups: int = 6, depth: int = 6, heads: int = 4,
                 window: int = 16, sample: int = 32, mlp_ratio: float = 2.0, top_k: int = 256,
                 diff_scales: tuple[float, ...] = IPG_DIFF_SCALES, block: str | None = None,
                 block_kwargs: dict | None = None, colors: int = 3):
        layers = [IPGGroup(channels, depth, heads, window, sample, mlp_ratio, top_k,
                           diff_scales[i] if i < len(diff_scales) else None, block, block_kwargs)
                  for i in range(groups)]
        super().__init__(scale, channels, layers, sample, colors)
        self.block = block


@register_model("ipg_scaled", paper=IPG_PAPER, scales=(2, 3, 4))
def ipg_scaled(scale: int, **kwargs) -> nn.Module:
    """IPG scaled down as in the CRB paper §4.1 (embedding 20, 4 heads, MLP ratio 2; IPG's 6×6 GALs otherwise)."""
    return IPG(scale, **kwargs)
