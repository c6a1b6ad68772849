"""ECBSR (Zhang, Zeng, Zhang, "Edge-oriented Convolution Block for Real-time SR on Mobile Devices", ACM MM 2021).

The edge-oriented convolution block (ECB) as in the authors' code (xindongzhang/ECBSR ``models/ecb.py``),
re-implemented here: the sum of five linear branches, each a 3×3 receptive field,

- a 3×3 conv;
- 1×1 conv (C_in → ⌊d·C_out⌋, depth multiplier d = 2) then 3×3 conv (→ C_out);
- 1×1 conv (C_in → C_out) then a per-channel scaled Sobel-x, Sobel-y or Laplacian depth-wise 3×3 filter
  (learnable scale and bias per channel, fixed mask);
- the identity when ``with_idt`` and C_in = C_out (ECBSR's ``--idt_ecbsr``; its configs and README
  commands use 0, the default here).

ECBSR pads the 1×1 outputs with the 1×1 bias ("explicitly padding with bias") so the merge is exact; the
same result is had here by zero-padding the *input* before the 1×1 conv (the 1×1 of a zero pixel is its
bias).  ``deploy()`` returns the merged 3×3 conv (ECBSR's ``rep_params``).  No activation inside the
block: the MxCy template (``harness.models.repsr.TinySR``) puts the PReLU after it, as ECB's ``act``.

``ecbsr`` / ``ecbsr_rgb``: ECB blocks in the MxCy layout — ECBSR's net (``models/ecbsr.py``): ECB(colours → C),
M × ECB(C → C), ECB(C → colours·s², linear), + the input (nearest skip), PixelShuffle(s).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.models.blocks import register_block
from harness.models.registry import register_model
from harness.models.repsr import ECBSR_PAPER, _tiny, compose_1x1_kxk, merged_conv

SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


class _SeqConv(nn.Module):
    """1×1 conv on the zero-padded input, then a valid 3×3: a learned conv or a scaled fixed edge filter."""

    def __init__(self, cin: int, cout: int, mask: tuple | None = None, depth_multiplier: float = 2.0):
        super().__init__()
        if mask is None:
            mid = int(cout * depth_multiplier)
            self.conv1 = nn.Conv2d(cin, mid, 1)
            self.conv3 = nn.Conv2d(mid, cout, 3)
            self.mask = None
        else:
            self.conv1 = nn.Conv2d(cin, cout, 1)
            self.conv3 = None
            # ECBSR initialises scale and bias with N(0, 1e-3²)
            self.scale = nn.Parameter(torch.randn(cout, 1, 1, 1) * 1e-3)
            self.bias = nn.Parameter(torch.randn(cout) * 1e-3)
            self.register_buffer("mask", torch.tensor(mask).expand(cout, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.pad(x, (1, 1, 1, 1)))
        if self.mask is None:
            return self.conv3(y)
        return F.conv2d(y, self.scale * self.mask, self.bias, groups=y.shape[1])

    def kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mask is None:
            w3, b3 = self.conv3.weight, self.conv3.bias
        else:  # the depth-wise filter as a dense diagonal 3×3 kernel
            c = self.mask.shape[0]
            w3 = torch.zeros(c, c, 3, 3, dtype=self.scale.dtype, device=self.scale.device)
            w3[torch.arange(c), torch.arange(c)] = (self.scale * self.mask)[:, 0]
            b3 = self.bias
        return compose_1x1_kxk(self.conv1.weight, self.conv1.bias, w3, b3)


class ECB(nn.Module):
    """Edge-oriented convolution block (training form); ``deploy()`` → one 3×3 conv."""

    def __init__(self, channels: int, out_channels: int | None = None, *, depth_multiplier: float = 2.0,
                 with_idt: bool = False):
        super().__init__()
        cout = out_channels or channels
        self.conv3x3 = nn.Conv2d(channels, cout, 3, padding=1)
        self.conv1x1_3x3 = _SeqConv(channels, cout, depth_multiplier=depth_multiplier)
        self.conv1x1_sbx = _SeqConv(channels, cout, SOBEL_X)
        self.conv1x1_sby = _SeqConv(channels, cout, SOBEL_Y)
        self.conv1x1_lpl = _SeqConv(channels, cout, LAPLACIAN)
        self.with_idt = bool(with_idt) and channels == cout
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (self.conv3x3(x) + self.conv1x1_3x3(x) + self.conv1x1_sbx(x) + self.conv1x1_sby(x)
             + self.conv1x1_lpl(x))
        return y + x if self.with_idt else y

    def kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = self.conv3x3.weight, self.conv3x3.bias
        for seq in (self.conv1x1_3x3, self.conv1x1_sbx, self.conv1x1_sby, self.conv1x1_lpl):
            ws, bs = seq.kernel()
            w, b = w + ws, b + bs
        if self.with_idt:
            c = self.out_channels
            eye = torch.zeros_like(w)
            eye[torch.arange(c), torch.arange(c), 1, 1] = 1.0
            w = w + eye
        return w, b

    @torch.no_grad()
    def deploy(self) -> nn.Conv2d:
        return merged_conv(*self.kernel())


@register_block("ecb")
def ecb_block(channels: int, out_channels: int | None = None, **kwargs) -> ECB:
    """ECBSR's edge-oriented convolution block (3×3, 1×1-3×3, 1×1-Sobel-x/y, 1×1-Laplacian)."""
    return ECB(channels, out_channels, **kwargs)


register_model("ecbsr", paper=ECBSR_PAPER, input="y",
               description="ECBSR-MxCy (ECB blocks, PReLU, nearest skip, pixel shuffle), Y input")(_tiny("ecb", 1))
register_model("ecbsr_rgb", paper=ECBSR_PAPER, input="rgb",
               description="ECBSR-MxCy layout on RGB (RepSR Table 4 large net)")(_tiny("ecb", 3))
