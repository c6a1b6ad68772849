"""EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution", CVPR-W 2017).

Architecture as in the authors' code (sanghyun-son/EDSR-PyTorch, ``model/edsr.py``)::

    x -> MeanShift(-) -> head conv 3x3 (3 -> f) -> [body: B blocks, conv 3x3] (+ head output)
      -> upsampler (pixel shuffle) -> tail conv 3x3 (f -> 3) -> MeanShift(+)

- Upsampler (Sec. 3.1): ×2 and ×4 are one or two stages of conv 3×3 (f -> 4f) + PixelShuffle(2);
  ×3 is one stage of conv 3×3 (f -> 9f) + PixelShuffle(3).  No activation inside the upsampler.
- Blocks: ``block=`` names any block of the registry (``harness.models.blocks``): ``"rb"`` is EDSR's
  residual block (the default); ``"crb"``, ``"dcrb"``, ``"rcab"`` (``harness.models.crb``), ``"convffn"``,
  ``"rstb"``, ``"gal"`` (``harness.models.transformer_blocks``) swap in the CRB paper's modules (its
  Tables 3-6 use EDSR as a backbone).  ``edsr_crb``, ``edsr_dcrb``, ``edsr_rcab`` are kept as aliases of
  ``edsr_baseline`` with that block (suites and tests name them).
- Sizes: ``edsr_baseline`` is B = 16, F = 64 (the CRB paper's Tables 3-4 do not state EDSR's size; this is
  the assumption, consistent with Table 2's f = 64); ``edsr`` is the full B = 32, F = 256, residual
  scaling 0.1 (Table 5's caption: EDSR "retains [its] full hyper-parameter configuration").
- Range (registry input convention): the network takes RGB in [0, 1] and returns RGB in [0, 1]; inside
  it works in EDSR's 0-255 range with the DIV2K mean subtracted, like the authors' ``rgb_range=255``.
- ``MeanShift`` here is a fixed affine map held in buffers, not a frozen 1×1 conv as in the authors'
  code: it has no parameters and no MACs, so parameter counts and Mult-Adds count the learned network
  only (the authors' version adds 2 × 12 frozen parameters and 2 × 9 MACs per pixel, ~0.01 G at 720p).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.blocks import make_block
from harness.models.common import DIV2K_RGB_MEAN, MeanShift, PixelShuffleUpsampler
from harness.models.registry import register_model

EDSR_PAPER = "Lim et al., EDSR: Enhanced Deep Residual Networks for Single Image Super-Resolution (CVPR-W 2017)"
CRB_PAPER = "Cheng et al., Optimization of Module Transferability in SISR (UAE, CRB, DCRB)"

# Blocks whose builders take EDSR's residual scaling (harness.models.crb); others get it only if asked.
RES_SCALED_BLOCKS = ("rb", "crb", "dcrb", "rcab")


def body_block(block: str, channels: int, res_scale: float = 1.0, block_kwargs: dict | None = None) -> nn.Module:
    """One body block from the block registry (``harness.models.blocks``), with EDSR's residual scaling."""
    kw = dict(block_kwargs or {})
    if res_scale != 1.0 and block in RES_SCALED_BLOCKS:
        kw.setdefault("res_scale", res_scale)
    return make_block(block, channels, **kw)


class EDSR(nn.Module):
    """EDSR with a pluggable body block (``block=`` any name in the block registry; default EDSR's RB).

    ``cycles`` (CRB/DCRB ε) and ``reduction`` (RCAB) are shorthands for ``block_kwargs``.
    """

    def __init__(self, scale: int, num_blocks: int = 16, channels: int = 64, res_scale: float = 1.0,
                 block: str = "rb", cycles: int | None = None, reduction: int | None = None,
                 block_kwargs: dict | None = None, colors: int = 3, rgb_range: float = 255.0):
        super().__init__()
        kw = dict(block_kwargs or {})
        if cycles is not None:
            kw["cycles"] = cycles
        if reduction is not None:
            kw["reduction"] = reduction
        self.scale = scale
        self.block = block
        self.rgb_range = float(rgb_range)
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, sign=-1, rgb_range=rgb_range)
        self.head = nn.Conv2d(colors, channels, 3, padding=1)
        self.body = nn.Sequential(
            *[body_block(block, channels, res_scale, kw) for _ in range(num_blocks)],
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.tail = nn.Sequential(PixelShuffleUpsampler(channels, scale), nn.Conv2d(channels, colors, 3, padding=1))
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, sign=1, rgb_range=rgb_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))  # [0, 1] -> EDSR's 0-255 range, mean removed
        x = x + self.body(x)  # global residual (EDSR Fig. 3)
        return self.add_mean(self.tail(x)) / self.rgb_range


# EDSR paper Sec. 4: the baseline has B = 16, F = 64, no residual scaling; the full EDSR B = 32, F = 256,
# residual scaling 0.1.
@register_model("edsr_baseline", paper=EDSR_PAPER, scales=(2, 3, 4))
def edsr_baseline(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline: 16 residual blocks, 64 channels."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, **kwargs})


@register_model("edsr", paper=EDSR_PAPER, scales=(2, 3, 4))
def edsr(scale: int, **kwargs) -> nn.Module:
    """EDSR: 32 residual blocks, 256 channels, residual scaling 0.1."""
    return EDSR(scale, **{"num_blocks": 32, "channels": 256, "res_scale": 0.1, **kwargs})


@register_model("edsr_crb", paper=CRB_PAPER, scales=(2, 3, 4))
def edsr_crb(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline backbone with cycle residual blocks (CRB, ε = 2) in place of RB (CRB paper Table 4)."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, "block": "crb", **kwargs})


@register_model("edsr_dcrb", paper=CRB_PAPER, scales=(2, 3, 4))
def edsr_dcrb(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline backbone with depth-wise cycle residual blocks (DCRB) (CRB paper Table 4)."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, "block": "dcrb", **kwargs})


@register_model("edsr_rcab", paper=CRB_PAPER, scales=(2, 3, 4))
def edsr_rcab(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline backbone with RCAN's RCAB in place of RB (CRB paper Table 3)."""
    return EDSR(scale, **{"num_blocks": 16, "channels": 64, "block": "rcab", **kwargs})
