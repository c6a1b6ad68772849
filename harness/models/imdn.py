"""IMDN and IMDN-RTC (Hui, Gao, Yang, Wang: "Lightweight image super-resolution with information
multi-distillation network", ACM MM 2019), compared in RepSR Table 2.

IMDN (Sec. 3, Fig. 2–3), on LR RGB in [0, 1]: a 3×3 conv (3 → 64), 6 information multi-distillation
blocks (IMDB), a 1×1 conv + leaky ReLU fusing the concatenated outputs of all blocks, a 3×3 conv, a
global residual from the first conv, and a sub-pixel upsampler (one 3×3 conv to 3·s² maps,
PixelShuffle(s)).  An IMDB (Fig. 3): the *progressive refinement module* — four 3×3 convs; after each of
the first three (leaky ReLU 0.05) a quarter of the channels is distilled and the remaining three
quarters go on; the fourth conv maps the remainder to a quarter — then the four distilled parts are
concatenated, reweighted by *contrast-aware channel attention* (CCA: per-channel standard deviation +
mean → 1×1 (C → C/16) → ReLU → 1×1 → sigmoid), fused by a 1×1 conv and added to the block input.

IMDN-RTC: the authors' ultra-light version that won the AI-in-RTC 2019 SR challenge (IMDN repository,
``IMDN_RTC``): 12 channels, 5 IMDBs without CCA, no all-block fusion — a 1×1 conv after the last block,
a residual from the first conv — and the same upsampler.  Its released checkpoint (``model_RTC.pth``)
is a **×2** model: its upsampler conv has 12 = 3·2² output maps.

Parameter counts (with biases): IMDN ×4 715,176 (weights only 712,896); IMDN-RTC ×2 20,190 (×4: 24,114).
RepSR Table 2 prints 667.40K for IMDN and 21.00K for IMDN-RTC; neither convention reproduces them.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from harness.models.common import conv2d
from harness.models.registry import Checkpoint, register_model

__all__ = ["IMDN", "IMDBlock"]

IMDN_PAPER = "Hui et al., IMDN (ACM MM 2019)"


class ContrastChannelAttention(nn.Module):
    """CCA layer: channel weights from the contrast (std + mean) of each feature map."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.down = nn.Conv2d(channels, channels // reduction, 1)
        self.up = nn.Conv2d(channels // reduction, channels, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return x * torch.sigmoid(self.up(self.relu(self.down(std + mean))))


class IMDBlock(nn.Module):
    """Information multi-distillation block: progressive refinement, (CCA), 1×1 fusion, residual."""

    def __init__(self, channels: int, distillation_rate: float = 0.25, attention: bool = True):
        super().__init__()
        self.distilled = int(channels * distillation_rate)
        self.remaining = channels - self.distilled
        self.refine = nn.ModuleList([
            conv2d(channels, channels, 3),
            conv2d(self.remaining, channels, 3),
            conv2d(self.remaining, channels, 3),
            conv2d(self.remaining, self.distilled, 3),
        ])
        self.act = nn.LeakyReLU(0.05)
        self.cca = ContrastChannelAttention(self.distilled * 4) if attention else nn.Identity()
        self.fuse = conv2d(self.distilled * 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distilled, h = [], x
        for conv in self.refine[:-1]:
            d, h = torch.split(self.act(conv(h)), (self.distilled, self.remaining), dim=1)
            distilled.append(d)
        distilled.append(self.refine[-1](h))
        return self.fuse(self.cca(torch.cat(distilled, dim=1))) + x


class IMDN(nn.Module):
    """IMDN (defaults) or IMDN-RTC (``channels=12, num_blocks=5, attention=False, aggregate=False``)."""

    def __init__(self, scale: int = 4, channels: int = 64, num_blocks: int = 6, attention: bool = True,
                 aggregate: bool = True):
        super().__init__()
        self.scale = scale
        self.head = conv2d(3, channels, 3)
        self.blocks = nn.ModuleList(IMDBlock(channels, attention=attention) for _ in range(num_blocks))
        # IMDN: 1×1 fusion of all block outputs + leaky ReLU, then a 3×3 conv; RTC: a 1×1 conv on the last.
        self.aggregate = (
            nn.Sequential(conv2d(channels * num_blocks, channels, 1), nn.LeakyReLU(0.05)) if aggregate else None
        )
        self.tail = conv2d(channels, channels, 3 if aggregate else 1)
        self.upsampler = nn.Sequential(conv2d(channels, 3 * scale * scale, 3), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = h = self.head(x)
        outputs = []
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        if self.aggregate is not None:
            h = self.aggregate(torch.cat(outputs, dim=1))
        return self.upsampler(self.tail(h) + features)

    def convert_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Zheng222/IMDN names (``IMDN``: fea_conv, IMDB{i}.c{j}, cca.conv_du, c.0, LR_conv, upsampler.0;
        ``IMDN_RTC``: model.0, model.1.sub.{i}.c{j}, model.1.sub.5, model.2) → this module's names."""
        n = len(self.blocks)
        out: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            key = re.sub(r"^IMDB(\d+)\.", lambda m: f"blocks.{int(m[1]) - 1}.", key)
            key = re.sub(rf"^model\.1\.sub\.({'|'.join(map(str, range(n)))})\.", r"blocks.\1.", key)
            key = re.sub(r"^(blocks\.\d+)\.c([1-4])\.", lambda m: f"{m[1]}.refine.{int(m[2]) - 1}.", key)
            key = re.sub(r"^(blocks\.\d+)\.c5\.", r"\1.fuse.", key)
            key = re.sub(r"\.cca\.conv_du\.0\.", ".cca.down.", key)
            key = re.sub(r"\.cca\.conv_du\.2\.", ".cca.up.", key)
            for old, new in ((r"^fea_conv\.", "head."), (r"^model\.0\.", "head."), (r"^c\.0\.", "aggregate.0."),
                             (r"^LR_conv\.", "tail."), (rf"^model\.1\.sub\.{n}\.", "tail."),
                             (r"^model\.2\.", "upsampler.0.")):
                key = re.sub(old, new, key)
            out[key] = value
        return out


@register_model(
    "imdn",
    paper=IMDN_PAPER,
    scales=(2, 3, 4),
    input="rgb",
    checkpoints={4: Checkpoint(
        file="imdn/IMDN_x4.pth",
        sha256="e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714",
        format="torch-state-dict",
        provenance="IMDN authors' release (Zheng222/IMDN, checkpoints/IMDN_x4.pth)",
        note="keys prefixed 'module.' (DataParallel)",
    )},
)
def imdn(scale: int = 4, **kwargs) -> IMDN:
    """IMDN (64 channels, 6 IMDBs with CCA) on LR RGB; x4: 715,176 params with biases."""
    return IMDN(scale=scale, **kwargs)


@register_model(
    "imdn_rtc",
    paper=IMDN_PAPER + ", IMDN-RTC (AI in RTC 2019 challenge winner)",
    scales=(2, 3, 4),
    input="rgb",
    checkpoints={2: Checkpoint(
        file="imdn/model_RTC.pth",
        sha256="5696ca25971477a93f2a3f3b235039e30afefff1bb560efdc48c0f880635a2ab",
        format="torch-state-dict",
        provenance="IMDN authors' release (Zheng222/IMDN, checkpoints/model_RTC.pth)",
        note="a x2 model (upsampler conv 12 -> 3*2^2 maps); no x4 IMDN-RTC weights are published",
    )},
)
def imdn_rtc(scale: int = 2, **kwargs) -> IMDN:
    """IMDN-RTC (12 channels, 5 IMDBs without CCA) on LR RGB; x2: 20,190 params with biases."""
    kwargs = {"channels": 12, "num_blocks": 5, "attention": False, "aggregate": False, **kwargs}
    return IMDN(scale=scale, **kwargs)
