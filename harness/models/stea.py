"""MLFR, LSTEA blocks, LabNet and RealNet of the STEA paper (../shared/papers/002_c14ca8e1fcc2e418.txt, §II-B–D).

The attention family (NLA, NLSA, FTEA/STEA/TTEA, DWC(V)) and the derivation of STEA are in
``harness.models.attention``.  Figures 2, 4–6 and the equations are lost in the text extraction, and
the printed LSTEA block counts of LabNet are lost too ("{, , , , , }", §III-B), so every width, kernel
size and count below is a *declared reading*: the suite entries (suites/stea_table1.toml, 4, 5, 8) say
which, why, and how far the counts land from the printed params / FLOPs.

- ``MLFR`` (Eq. 16–19): for each dilation d ∈ ``dilations`` a branch Concat(DConv_d(X), DWConv_k(X)) →
  1×1 fusion 2C→C (Eq. 16, 17); a 1×1 bypass conv (Eq. 18); Concat of the branches and the bypass →
  1×1 fusion (n+1)C→C (Eq. 19).  DConv_d is a full 3×3 conv with dilation d; the depth-wise conv that
  "fills the dilation" has kernel k = 2d−1 (the holes of a dilation-d 3×3 kernel lie inside the
  (2d−1)² window between its outer taps) — declared, the printed k values are lost.
- ``LSTEABlock`` (§II-C): x + CA(Fuse(Concat(Local(LN x), MLFR(STEA(LN x))))), then x + GDFN(LN x).
  Local = two 3×3 depth-wise convs with GELU; CA = RCAN channel attention (reduction 16); GDFN =
  Restormer's gated depth-wise FFN [24] (expansion 2.66, no bias).
- ``LabNet`` (§II-C, Fig. 2): 3×3 head conv; a 3-level U-Net of six LSTEA modules (encoder 1, encoder 2,
  bottleneck, decoder 2, decoder 1, refinement: the six lost numbers) with Restormer's pixel-unshuffle
  down- and pixel-shuffle up-sampling and 1×1 skip fusion; reconstruction 3×3 conv → PixelShuffle(s)
  → 3×3 conv.
- ``RealNet`` (§II-D, §III-C, Fig. 6): two 3×3 head convs; denoising and deblurring branches of 4
  modules × 5 LSTEA blocks; an Adapter between consecutive modules (the other branch's features →
  3×3 conv → scaled by the adjustable α (into the deblurring branch) or β (into the denoising branch)
  → Concat → 1×1 fusion → channel attention); Fusion: γ·denoise, δ·deblur → Concat → 1×1 conv to
  3s² channels → PixelShuffle(s) → 3×3 conv.  α, β, γ, δ are user-adjustable buffers (not trained),
  default 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.models.attention import (
    NonLocalAttention,
    NonLocalSparseAttention,
    TaylorAttention,
)
from harness.models.blocks import register_block
from harness.models.registry import register_model

STEA_PAPER = ("Image Super-Resolution with Taylor Expansion Approximation and Large Field Reception "
              "(STEA, MLFR, LabNet, RealNet)")

ATTENTIONS = ("none", "nla", "nlsa", "ftea", "stea", "ttea")


class LayerNorm2d(nn.Module):
    """Channel-wise LayerNorm of a B×C×H×W map (per pixel over C), with affine weight and bias."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class ChannelAttention(nn.Module):
    """RCAN channel attention: x · sigmoid(W₂ ReLU(W₁ pool(x))), reduction 16."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x)


class GDFN(nn.Module):
    """Restormer's gated-Dconv feed-forward network [24]: 1×1 C→2h, 3×3 DW, GELU gate, 1×1 h→C (no bias)."""

    def __init__(self, channels: int, expansion: float = 2.66, bias: bool = False):
        super().__init__()
        hidden = int(channels * expansion)
        self.project_in = nn.Conv2d(channels, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class MLFR(nn.Module):
    """Multi-scale large field reception, Eq. (16)–(19); see the module docstring for the declared reading."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = (6, 4, 2), dw_kernels: tuple[int, ...] | None = None,
                 branch_ratio: float = 1.0):
        super().__init__()
        dilations = tuple(dilations)
        if not dilations:
            raise ValueError("MLFR needs at least one dilation")
        kernels = tuple(dw_kernels) if dw_kernels is not None else tuple(2 * d - 1 for d in dilations)
        if len(kernels) != len(dilations):
            raise ValueError("one depth-wise kernel size per dilation")
        c, cb = channels, max(1, round(channels * branch_ratio))
        self.dilations, self.dw_kernels = dilations, kernels
        self.dconv = nn.ModuleList(nn.Conv2d(c, cb, 3, padding=d, dilation=d) for d in dilations)
        self.dwconv = nn.ModuleList(nn.Conv2d(c, c, k, padding=k // 2, groups=c) for k in kernels)
        self.branch_fuse = nn.ModuleList(nn.Conv2d(cb + c, cb, 1) for _ in dilations)  # Eq. (17)
        self.bypass = nn.Conv2d(c, cb, 1)  # Eq. (18)
        self.out = nn.Conv2d(cb * (len(dilations) + 1), c, 1)  # Eq. (19)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [f(torch.cat([dc(x), dw(x)], dim=1)) for dc, dw, f in zip(self.dconv, self.dwconv, self.branch_fuse)]
        return self.out(torch.cat([*branches, self.bypass(x)], dim=1))


def make_attention(kind: str, channels: int, *, dwc_v: bool = True, dwc_kernel: int = 11, heads: int = 1,
                   nla_reduction: int = 2, nlsa_reduction: int = 4) -> nn.Module | None:
    if kind == "none":
        return None
    if kind == "nla":
        return NonLocalAttention(channels, reduction=nla_reduction)
    if kind == "nlsa":
        return NonLocalSparseAttention(channels, reduction=nlsa_reduction)
    orders = {"ftea": 1, "stea": 2, "ttea": 3}
    if kind not in orders:
        raise ValueError(f"attention must be one of {ATTENTIONS}, not {kind!r}")
    return TaylorAttention(channels, order=orders[kind], dwc_v=dwc_v, dwc_kernel=dwc_kernel, heads=heads)


class LSTEABlock(nn.Module):
    """LSTEA block (§II-C): LN → local DW branch ‖ attention → MLFR; 1×1 fusion; CA; residual; LN → GDFN."""

    def __init__(self, channels: int, attention: str = "stea", mlfr: tuple[int, ...] | None = (6, 4, 2),
                 dwc_v: bool = True, dwc_kernel: int = 11, heads: int = 1, mlfr_branch_ratio: float = 1.0,
                 ffn_expansion: float = 2.66):
        super().__init__()
        self.norm1 = LayerNorm2d(channels)
        self.local = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.GELU(),
                                   nn.Conv2d(channels, channels, 3, padding=1, groups=channels))
        self.attn = make_attention(attention, channels, dwc_v=dwc_v, dwc_kernel=dwc_kernel, heads=heads)
        self.mlfr = MLFR(channels, tuple(mlfr), branch_ratio=mlfr_branch_ratio) if mlfr else None
        self.merge = nn.Conv2d(2 * channels, channels, 1)
        self.ca = ChannelAttention(channels)
        self.norm2 = LayerNorm2d(channels)
        self.ffn = GDFN(channels, ffn_expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        g = y
        if self.attn is not None:
            g = self.attn(g)
        if self.mlfr is not None:
            g = self.mlfr(g)
        x = x + self.ca(self.merge(torch.cat([self.local(y), g], dim=1)))
        return x + self.ffn(self.norm2(x))


def _module(channels: int, n: int, **block) -> nn.Sequential:
    return nn.Sequential(*(LSTEABlock(channels, **block) for _ in range(n)))


class LabNet(nn.Module):
    """LabNet (§II-C, Fig. 2): head conv, U-Net of six LSTEA modules, conv → PixelShuffle → conv."""

    def __init__(self, scale: int = 4, channels: int = 48, blocks: tuple[int, ...] = (4, 6, 8, 6, 4, 4),
                 heads: tuple[int, int, int] = (2, 4, 8), **block):
        super().__init__()
        if len(blocks) != 6:
            raise ValueError("LabNet has six LSTEA modules (encoder 1, encoder 2, bottleneck, decoder 2, decoder 1, "
                             f"refinement), got {len(blocks)} counts")
        c = channels
        self.scale = scale
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.enc1 = _module(c, blocks[0], heads=heads[0], **block)
        self.down1 = nn.Sequential(nn.Conv2d(c, c // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))
        self.enc2 = _module(2 * c, blocks[1], heads=heads[1], **block)
        self.down2 = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1, bias=False), nn.PixelUnshuffle(2))
        self.latent = _module(4 * c, blocks[2], heads=heads[2], **block)
        self.up2 = nn.Sequential(nn.Conv2d(4 * c, 8 * c, 3, padding=1, bias=False), nn.PixelShuffle(2))
        self.skip2 = nn.Conv2d(4 * c, 2 * c, 1, bias=False)
        self.dec2 = _module(2 * c, blocks[3], heads=heads[1], **block)
        self.up1 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, padding=1, bias=False), nn.PixelShuffle(2))
        self.skip1 = nn.Conv2d(2 * c, c, 1, bias=False)
        self.dec1 = _module(c, blocks[4], heads=heads[0], **block)
        self.refine = _module(c, blocks[5], heads=heads[0], **block)
        self.tail = nn.Sequential(nn.Conv2d(c, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale),
                                  nn.Conv2d(3, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4  # two 2× down-samplings need sides divisible by 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        f0 = self.head(x)
        e1 = self.enc1(f0)
        e2 = self.enc2(self.down1(e1))
        z = self.latent(self.down2(e2))
        d2 = self.dec2(self.skip2(torch.cat([self.up2(z), e2], dim=1)))
        d1 = self.dec1(self.skip1(torch.cat([self.up1(d2), e1], dim=1)))
        out = self.tail(self.refine(d1) + f0)
        return out[..., : h * self.scale, : w * self.scale]


class Adapter(nn.Module):
    """RealNet Adapter (§II-D): Concat(own, ratio·Conv3×3(other)) → 1×1 fusion → channel attention."""

    def __init__(self, channels: int):
        super().__init__()
        self.cross = nn.Conv2d(channels, channels, 3, padding=1)
        self.merge = nn.Conv2d(2 * channels, channels, 1)
        self.ca = ChannelAttention(channels)

    def forward(self, own: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
        return self.ca(self.merge(torch.cat([own, ratio * self.cross(other)], dim=1)))


class RealNet(nn.Module):
    """RealNet (§II-D, §III-C): denoising and deblurring branches of 4 modules × 5 LSTEA blocks, Adapters, Fusion.

    ``alpha``/``beta``: per-Adapter proportions of the deblurring features fed to the denoising branch
    (β) and of the denoising features fed to the deblurring branch (α); ``gamma``/``delta``: Fusion's
    proportions of the final denoising / deblurring outputs.  All adjustable after training
    (``set_proportions``); they are buffers, not parameters.
    """

    def __init__(self, scale: int = 4, channels: int = 92, modules: int = 4, blocks_per_module: int = 5, **block):
        super().__init__()
        c = channels
        self.scale = scale
        self.head_dn = nn.Conv2d(3, c, 3, padding=1)
        self.head_db = nn.Conv2d(3, c, 3, padding=1)
        self.denoise = nn.ModuleList(_module(c, blocks_per_module, **block) for _ in range(modules))
        self.deblur = nn.ModuleList(_module(c, blocks_per_module, **block) for _ in range(modules))
        self.adapt_dn = nn.ModuleList(Adapter(c) for _ in range(modules - 1))
        self.adapt_db = nn.ModuleList(Adapter(c) for _ in range(modules - 1))
        self.register_buffer("alpha", torch.ones(modules - 1))
        self.register_buffer("beta", torch.ones(modules - 1))
        self.register_buffer("gamma", torch.ones(()))
        self.register_buffer("delta", torch.ones(()))
        self.fusion = nn.Conv2d(2 * c, 3 * scale * scale, 1)
        self.tail = nn.Sequential(nn.PixelShuffle(scale), nn.Conv2d(3, 3, 3, padding=1))

    def set_proportions(self, alpha=None, beta=None, gamma=None, delta=None) -> None:
        for name, val in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("delta", delta)):
            if val is not None:
                buf = getattr(self, name)
                buf.copy_(torch.as_tensor(val, dtype=buf.dtype).expand_as(buf))

    def forward(self, x: torch.Tensor, x_deblur: torch.Tensor | None = None) -> torch.Tensor:
        dn = self.head_dn(x)
        db = self.head_db(x if x_deblur is None else x_deblur)
        for i, (m_dn, m_db) in enumerate(zip(self.denoise, self.deblur)):
            dn, db = m_dn(dn), m_db(db)
            if i < len(self.adapt_dn):
                dn, db = (self.adapt_dn[i](dn, db, self.beta[i]), self.adapt_db[i](db, dn, self.alpha[i]))
        y = self.fusion(torch.cat([self.gamma * dn, self.delta * db], dim=1))
        return self.tail(y)


# -- registration ------------------------------------------------------------------------------------------

def _as_tuple(v):
    return None if v is None or v is False else tuple(v)


@register_block("lstea")
def _lstea_block(channels: int, **kwargs) -> nn.Module:
    if "mlfr" in kwargs:
        kwargs["mlfr"] = _as_tuple(kwargs["mlfr"])
    return LSTEABlock(channels, **kwargs)


@register_block("mlfr")
def _mlfr_block(channels: int, dilations=(6, 4, 2), **kwargs) -> nn.Module:
    return MLFR(channels, tuple(dilations), **kwargs)


@register_block("taylor_attention")
def _taylor_block(channels: int, **kwargs) -> nn.Module:
    return TaylorAttention(channels, **kwargs)


@register_block("nla")
def _nla_block(channels: int, **kwargs) -> nn.Module:
    return NonLocalAttention(channels, **kwargs)


@register_block("nlsa")
def _nlsa_block(channels: int, **kwargs) -> nn.Module:
    return NonLocalSparseAttention(channels, **kwargs)


@register_model("stea_attention", paper=STEA_PAPER, scales=(1,))
def stea_attention(scale: int = 1, channels: int = 48, order: int = 2, dwc_v: bool = True, heads: int = 2, **kwargs) -> nn.Module:
    """FTEA / STEA / TTEA attention module (order 1 / 2 / 3, optional DWC(V)) — Table IV's rows."""
    return TaylorAttention(channels, order=order, dwc_v=dwc_v, heads=heads, **kwargs)


@register_model("stea_mlfr", paper=STEA_PAPER, scales=(1,))
def stea_mlfr(scale: int = 1, channels: int = 48, dilations=(6, 4, 2), **kwargs) -> nn.Module:
    """MLFR module with the given dilations — Table V's rows."""
    return MLFR(channels, tuple(dilations), **kwargs)


@register_model("lstea_block", paper=STEA_PAPER, scales=(1,))
def lstea_block(scale: int = 1, channels: int = 48, **kwargs) -> nn.Module:
    """One LSTEA block (§II-C)."""
    return _lstea_block(channels, **kwargs)


@register_model("labnet", paper=STEA_PAPER, scales=(2, 3, 4))
def labnet(scale: int = 4, channels: int = 48, blocks=(4, 6, 8, 6, 4, 4), mlfr=(6, 4, 2), **kwargs) -> nn.Module:
    """LabNet (§II-C): U-Net of LSTEA modules with STEA + MLFR, blind SR in lab scenarios."""
    return LabNet(scale, channels, tuple(blocks), mlfr=_as_tuple(mlfr), **kwargs)


@register_model("realnet", paper=STEA_PAPER, scales=(4,))
def realnet(scale: int = 4, channels: int = 92, heads: int = 4, mlfr=(6, 4, 2), **kwargs) -> nn.Module:
    """RealNet (§II-D): denoising + deblurring branches of 4×5 LSTEA blocks, Adapters, Fusion (×4 only).

    Width 92 is fitted to Table VIII's "Without NLA" row (4 M, 17 G at 64×64 → 256×256); heads 4.
    """
    return RealNet(scale, channels, mlfr=_as_tuple(mlfr), heads=heads, **kwargs)
