"""SRFormer (Zhou et al., "SRFormer: Permuted Self-Attention for Single Image Super-Resolution", ICCV 2023)
at the CRB paper's scaled-down setting, with a pluggable block (CRB paper Tables 5-6).

SwinIR-style layout (§3.1 of SRFormer): conv 3×3 (3 → C) → LN (patch norm) → G permuted-self-attention
groups (each: D PABs → conv 3×3, plus the group's skip) → LN → conv 3×3, plus the long skip → classical
pixel-shuffle upsampler (conv 3×3 C → 64 + LeakyReLU, conv 64 → 256 + PixelShuffle(2) per ×2, conv 64 → 3).
The image is reflect-padded to a multiple of the window and the output cropped; the DIV2K mean is removed.

PAB (§3.2): x + PSA(LN(x)) in (shifted, every second layer) S×S windows, then x + MLP(LN(x)).  PSA: queries
from all S² tokens (Linear C → C); keys and values from Linear C → C/2 whose outputs of each 2×2 token
patch are permuted into the channel axis, giving S²/4 key/value tokens of C channels; relative position
bias over the (S−1)² displacements between a query and a 2×2 key patch ("aligned" index); projection.

Settings (CRB paper §4.1, line 268): dimension 64 and MLP ratio 2 are stated.  Not stated, declared here:
SRFormer-light's layout of 4 groups × 6 PABs with window 16 (a window the harness's exact 720p counting
handles; classical SRFormer's 6 × 6 with window 24 is ``groups=6, window=24``), 4 heads (64 / 4 = 16 per
head; SRFormer's 6 heads do not divide 64).

``block=None`` (default) is SRFormer itself; ``block="crb"`` etc. appends one registry block to every group,
after its 3×3 conv and inside its skip — a declared choice: the CRB paper does not say where it inserts
CRB/DCRB into SRFormer and IPG.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from harness.models.blocks import make_block
from harness.models.common import DIV2K_RGB_MEAN, MeanShift
from harness.models.registry import register_model
from harness.models.transformer_blocks import (
    SwinLayer,
    merge_heads,
    split_heads,
    window_partition,
)

SRFORMER_PAPER = "Zhou et al., SRFormer (ICCV 2023)"


def pad_image(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad N×C×H×W at the bottom/right to multiples of ``multiple`` (reflect, as SwinIR; replicate if too small)."""
    ph, pw = (-x.shape[2]) % multiple, (-x.shape[3]) % multiple
    mode = "reflect" if ph < x.shape[2] and pw < x.shape[3] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def permute_kv(kv: torch.Tensor, ws: int) -> torch.Tensor:
    """(B_, S², C/2) → (B_, S²/4, 2C): the C/2 channels of each 2×2 token patch moved into one token."""
    b, n, c2 = kv.shape
    t = kv.reshape(b, ws // 2, 2, ws // 2, 2, c2).permute(0, 1, 3, 2, 4, 5)
    return t.reshape(b, n // 4, 4 * c2)


def permuted_shift_mask(like: torch.Tensor, ws: int, shift: int) -> torch.Tensor:
    """Shifted-window mask between S² queries and the S²/4 key patches: nW×S²×(S²/4), 0 or −100."""
    h, w = like.shape[1], like.shape[2]
    img = torch.zeros(1, h, w, 1, device=like.device)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl, :] = cnt
            cnt += 1
    q = window_partition(img, ws).squeeze(-1)  # nW×S²
    k = window_partition(img[:, ::2, ::2, :], ws // 2).squeeze(-1)  # nW×S²/4: label of each 2×2 patch
    diff = q.unsqueeze(2) - k.unsqueeze(1)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0).to(like.dtype)


def add_mask(attn: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    nw = mask.shape[0]
    b, h, n, m = attn.shape
    return (attn.reshape(b // nw, nw, h, n, m) + mask.unsqueeze(1).unsqueeze(0)).reshape(b, h, n, m)


for _fn in (permute_kv, permuted_shift_mask, add_mask):
    torch.fx.wrap(_fn.__name__)


def aligned_index(ws: int) -> torch.Tensor:
    p = ws // 2
    q = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1) // 2  # 2×S²
    k = torch.stack(torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")).flatten(1)  # 2×S²/4
    rel = (q[:, :, None] - k[:, None, :]).permute(1, 2, 0) + (p - 1)
    return rel[..., 0] * (2 * p - 1) + rel[..., 1]


class PSA(nn.Module):
    """Permuted self-attention (SRFormer §3.2)."""

    def __init__(self, channels: int, window: int, heads: int):
        super().__init__()
        if channels % heads or channels % 4 or window % 2:
            raise ValueError("PSA needs heads | C, 4 | C and an even window")
        self.window, self.heads = window, heads
        self.scale = (channels // heads) ** -0.5
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(channels, channels // 2)
        self.proj = nn.Linear(channels, channels)
        p = window // 2
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * p - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", aligned_index(window), persistent=False)

    def forward(self, win: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q = split_heads(self.q(win), self.heads)
        k, v = permute_kv(self.kv(win), self.window).chunk(2, dim=-1)
        k, v = split_heads(k, self.heads), split_heads(v, self.heads)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        n = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)].reshape(n, n // 4, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            attn = add_mask(attn, mask)
        return self.proj(merge_heads(torch.softmax(attn, dim=-1) @ v))


class PAB(SwinLayer):
    """Permuted self-attention block: x + PSA(LN(x)) (shifted windows every second block); x + MLP(LN(x)).

    The layer is SwinIR's (``SwinLayer``: pad, optional cyclic shift, window attention, MLP) with the
    permuted self-attention and its own shift mask in place of W-MSA.
    """

    def __init__(self, channels: int, heads: int, window: int, mlp_ratio: float, shift: bool):
        super().__init__(channels, heads, window, mlp_ratio, shift)
        self.attn = PSA(channels, window, heads)

    def mask(self, p: torch.Tensor) -> torch.Tensor:
        return permuted_shift_mask(p, self.window, self.shift)


class TokenGroup(nn.Module):
    """A residual group of token layers (N×H×W×C → same) → conv 3×3 → optional inserted block, + skip."""

    def __init__(self, layers: list[nn.Module], channels: int, block: str | None, block_kwargs: dict | None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.inserted = make_block(block, channels, **(block_kwargs or {})) if block else nn.Identity()

    def run_layers(self, t: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            t = layer(t)
        return t

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N×C×H×W
        t = self.run_layers(x.permute(0, 2, 3, 1))
        return x + self.inserted(self.conv(t.permute(0, 3, 1, 2)))


class TransformerSR(nn.Module):
    """SwinIR's classical layout around a list of residual groups (SRFormer, IPG)."""

    def __init__(self, scale: int, channels: int, groups: list[nn.Module], pad_multiple: int, colors: int = 3,
                 upsample_feats: int = 64):
        super().__init__()
        self.scale, self.pad_multiple = scale, pad_multiple
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, sign=-1)
        self.conv_first = nn.Conv2d(colors, channels, 3, padding=1)
        self.patch_norm = nn.LayerNorm(channels)
        self.groups = nn.ModuleList(groups)
        self.norm = nn.LayerNorm(channels)
        self.conv_after_body = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(channels, upsample_feats, 3, padding=1),
                                                  nn.LeakyReLU(inplace=True))
        from harness.models.common import PixelShuffleUpsampler

        self.upsample = PixelShuffleUpsampler(upsample_feats, scale)
        self.conv_last = nn.Conv2d(upsample_feats, colors, 3, padding=1)
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, sign=1)

    def _ln(self, norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        for g in self.groups:
            x = g(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        x = pad_image(self.sub_mean(x), self.pad_multiple)
        f = self.conv_first(x)
        f = f + self.conv_after_body(self._ln(self.norm, self.body(self._ln(self.patch_norm, f))))
        y = self.conv_last(self.upsample(self.conv_before_upsample(f)))
        return self.add_mean(y)[:, :, : h * self.scale, : w * self.scale]


class SRFormer(TransformerSR):
    def __init__(self, scale: int, channels: int = 64, groups: int = 4, depth: int = 6, heads: int = 4,
                 window: int = 16, mlp_ratio: float = 2.0, block: str | None = None,
                 block_kwargs: dict | None = None, colors: int = 3):
        layers = [TokenGroup([PAB(channels, heads, window, mlp_ratio, shift=bool(i % 2)) for i in range(depth)],
                             channels, block, block_kwargs) for _ in range(groups)]
        super().__init__(scale, channels, layers, window, colors)
        self.block = block


@register_model("srformer_scaled", paper=SRFORMER_PAPER, scales=(2, 3, 4))
def srformer_scaled(scale: int, **kwargs) -> nn.Module:
    """SRFormer scaled down as in the CRB paper §4.1 (dim 64, MLP ratio 2; 4×6 PABs, window 16, 4 heads)."""
    return SRFormer(scale, **kwargs)
