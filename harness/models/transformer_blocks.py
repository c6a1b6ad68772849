"""The CRB paper's non-convolutional comparison modules (UAE Table 2), written from their source papers.

All three map N×C×H×W to N×C×H×W (a pluggable block, ``harness.models.blocks``) and expose
``in_channels`` (the UAE variable f).  Inside they work on channels-last tokens, as their authors do.

- ``ConvFFN`` (IPG [17], the FFN the CRB paper attributes to the ViT line [16]): Linear(C → h) → GELU →
  (+ depth-wise k×k conv → GELU, a residual inside) → Linear(h → C).  IPG's own x4 configuration uses
  ``FFNtype = 'basic-dwconv3'`` (a 3×3 depth-wise conv).  At f = 64 with the CRB paper's reduced MLP
  ratio 2 (h = 128, §4.1) this is 64·128+128 + 128·9+128 + 128·64+64 = 17,856 parameters — Table 2's n
  exactly.  (IPG's default kernel 5 would give 19,904; ratio 4 with kernel 3, 35,648.)
- ``RSTB`` (SwinIR [13]): a residual group of Swin Transformer layers (STL: LN → window MSA with
  relative position bias, shifted on every second layer → + ; LN → MLP → +), then a 3×3 conv, plus the
  group's skip.  SwinIR's own RSTB has 6 STLs, MLP ratio 2, window 8; at f = 64 that is ~250K
  parameters, far from Table 2's 86,784 (see ``RSTB_READINGS`` and uae_table2's notes).
- ``GAL`` (IPG [17], "graph aggregation layer"): post-norm block  x + LN(Grapher(x));  x + LN(ConvFFN(x)).
  The grapher gathers, for every pixel node of a 16×16 group, neighbours among the 32×32 sampled nodes
  (local sampling: the surrounding 32×32 window; global: a dilated grid) through a *degree-flexible*
  graph: each node's degree is proportional to its detail (|x − up(down(x))|, IPG's "interdiff"), the
  cut-off similarity found by IPG's 8-step bisection ("fast graph"); aggregation is cosine-similarity
  attention with a learnable logit scale and a continuous relative-position bias (an MLP 2 → 512 → heads,
  Swin-v2 style).  The graph has no parameters.  At f = 64 with IPG's x4 configuration (MLP ratio 4,
  dwconv3, no CAB branch, ``conv_scale = 0``) and 4 heads this is 56,132 parameters — Table 2's n
  exactly.  Standalone, a GAL builds its own graph from its input (in IPG the group, MGB, builds it once
  for all its GALs — ``IPGGroup`` in ``harness.models.ipg``).

Reshapes (window partition, sampling) are plain functions marked ``torch.fx.wrap`` so that the UAE's
layer count (``harness.uae.count_layers``) sees them as one data-movement node, not as arithmetic.
"""

from __future__ import annotations

import math

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from harness.models.blocks import register_block
from harness.models.registry import register_model

# -- data movement (fx leaves) ----------------------------------------------------------------------


def pad_hw(t: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad a channels-last N×H×W×C tensor at the bottom/right to multiples of ``multiple``."""
    h, w = t.shape[1], t.shape[2]
    return F.pad(t, (0, 0, 0, (-w) % multiple, 0, (-h) % multiple))


def crop_hw(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t[:, : like.shape[1], : like.shape[2], :]


def window_partition(t: torch.Tensor, ws: int) -> torch.Tensor:
    """N×H×W×C → (N·nW)×(ws·ws)×C, windows in row-major order."""
    n, h, w, c = t.shape
    t = t.reshape(n, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return t.reshape(-1, ws * ws, c)


def window_reverse(win: torch.Tensor, ws: int, like: torch.Tensor) -> torch.Tensor:
    n, h, w = like.shape[0], like.shape[1], like.shape[2]
    c = win.shape[-1]
    t = win.reshape(n, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return t.reshape(n, h, w, c)


def dilated_partition(t: torch.Tensor, ws: int) -> torch.Tensor:
    """IPG's global grouping: group (i, j) holds the pixels (i + k·H/ws, j + l·W/ws): (N·nW)×(ws·ws)×C."""
    n, h, w, c = t.shape
    t = t.reshape(n, ws, h // ws, ws, w // ws, c).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(-1, ws * ws, c)


def dilated_reverse(win: torch.Tensor, ws: int, like: torch.Tensor) -> torch.Tensor:
    n, h, w = like.shape[0], like.shape[1], like.shape[2]
    c = win.shape[-1]
    t = win.reshape(n, h // ws, w // ws, ws, ws, c).permute(0, 3, 1, 4, 2, 5)
    return t.reshape(n, h, w, c)


def local_samples(t: torch.Tensor, ws: int, ss: int) -> torch.Tensor:
    """For every ws×ws group, the ss×ss window centred on it (zero-padded): (N·nW)×(ss·ss)×C."""
    n, c = t.shape[0], t.shape[3]
    cols = F.unfold(t.permute(0, 3, 1, 2), kernel_size=ss, stride=ws, padding=(ss - ws) // 2)  # N×(C·ss²)×L
    cols = cols.reshape(n, c, ss * ss, -1).permute(0, 3, 2, 1)
    return cols.reshape(-1, ss * ss, c)


def global_samples(t: torch.Tensor, ws: int, ss: int) -> torch.Tensor:
    """For every dilated group, an ss×ss dilated grid of the image (IPG's global sampling)."""
    n, h, w, c = t.shape
    r = ss // ws
    g = t.reshape(n, ss, h // ss, ss, w // ss, c).permute(0, 2, 4, 1, 3, 5)  # n, H/ss, W/ss, ss, ss, c
    g = g.reshape(n, 1, h // ss, 1, w // ss, ss * ss, c).expand(n, r, h // ss, r, w // ss, ss * ss, c)
    # group index order of dilated_partition: (a, b) over (H/ws, W/ws) with a = i·(H/ss) + p
    return g.reshape(-1, ss * ss, c)


def split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, c = t.shape
    return t.reshape(b, n, heads, c // heads).permute(0, 2, 1, 3)


def merge_heads(t: torch.Tensor) -> torch.Tensor:
    b, h, n, d = t.shape
    return t.permute(0, 2, 1, 3).reshape(b, n, h * d)


def shift_mask(like: torch.Tensor, ws: int, shift: int) -> torch.Tensor:
    """Swin's attention mask for shifted windows: nW×N×N with 0 (same region) or −100."""
    h, w = like.shape[1], like.shape[2]
    img = torch.zeros(1, h, w, 1, device=like.device)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl, :] = cnt
            cnt += 1
    win = window_partition(img, ws).squeeze(-1)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0).to(like.dtype)


def add_window_mask(attn: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    nw = mask.shape[0]
    b, h, n, m = attn.shape
    return (attn.reshape(b // nw, nw, h, n, m) + mask.unsqueeze(1).unsqueeze(0)).reshape(b, h, n, m)


for _fn in (pad_hw, crop_hw, window_partition, window_reverse, dilated_partition, dilated_reverse,
            local_samples, global_samples, split_heads, merge_heads, shift_mask, add_window_mask):
    torch.fx.wrap(_fn.__name__)


# -- ConvFFN ----------------------------------------------------------------------------------------


class DWConv(nn.Module):
    """IPG's ``dwconv``: k×k depth-wise conv → GELU, on N×C×H×W."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class ConvFFN(nn.Module):
    """IPG's ConvFFN: fc1 → GELU → (+ dwconv) → fc2 (no outer residual: the host supplies it)."""

    def __init__(self, channels: int = 64, mlp_ratio: float = 2.0, kernel_size: int = 3, hidden: int | None = None):
        super().__init__()
        hidden = hidden or int(channels * mlp_ratio)
        self.in_channels = channels
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.dwconv = DWConv(hidden, kernel_size)
        self.fc2 = nn.Linear(hidden, channels)

    def forward_tokens(self, t: torch.Tensor) -> torch.Tensor:  # N×H×W×C
        t = self.act(self.fc1(t))
        t = t + self.dwconv(t.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.fc2(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_tokens(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# -- Swin (SwinIR) ----------------------------------------------------------------------------------


class Mlp(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(t)))


def relative_position_index(ws: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)  # 2×N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[..., 0] * (2 * ws - 1) + rel[..., 1]  # N×N in [0, (2ws−1)²)


class WindowAttention(nn.Module):
    """Swin's W-MSA: qkv projection, scaled dot product per window + relative position bias, projection."""

    def __init__(self, channels: int, window: int, heads: int, qkv_bias: bool = True, rel_pos: bool = True):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{heads} heads do not divide {channels} channels")
        self.heads, self.window = heads, window
        self.scale = (channels // heads) ** -0.5
        self.qkv = nn.Linear(channels, 3 * channels, bias=qkv_bias)
        self.proj = nn.Linear(channels, channels)
        self.rel_pos = rel_pos
        if rel_pos:
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)

    def bias(self) -> torch.Tensor:
        n = self.window * self.window
        b = self.relative_position_bias_table[self.relative_position_index.reshape(-1)].reshape(n, n, -1)
        return b.permute(2, 0, 1).unsqueeze(0)

    def forward(self, win: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(win).chunk(3, dim=-1)
        q, k, v = split_heads(q, self.heads), split_heads(k, self.heads), split_heads(v, self.heads)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        if self.rel_pos:
            attn = attn + self.bias()
        if mask is not None:
            attn = add_window_mask(attn, mask)
        return self.proj(merge_heads(torch.softmax(attn, dim=-1) @ v))


class SwinLayer(nn.Module):
    """SwinIR's STL: x + W-MSA(LN(x)) (shifted by window/2 when ``shift``), then x + MLP(LN(x))."""

    def __init__(self, channels: int, heads: int, window: int, mlp_ratio: float, shift: bool, **attn_kwargs):
        super().__init__()
        self.window, self.shift = window, (window // 2 if shift else 0)
        self.pad_multiple = window  # harness.complexity counts at sizes congruent modulo this
        self.norm1 = nn.LayerNorm(channels)
        self.attn = WindowAttention(channels, window, heads, **attn_kwargs)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = Mlp(channels, int(channels * mlp_ratio))

    def mask(self, p: torch.Tensor) -> torch.Tensor:
        """The attention mask of the shifted windows (a subclass with other windows overrides it)."""
        return shift_mask(p, self.window, self.shift)

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # N×H×W×C
        shortcut = t
        p = pad_hw(self.norm1(t), self.window)
        if self.shift:
            p = torch.roll(p, shifts=(-self.shift, -self.shift), dims=(1, 2))
            win = self.attn(window_partition(p, self.window), self.mask(p))
            p = torch.roll(window_reverse(win, self.window, p), shifts=(self.shift, self.shift), dims=(1, 2))
        else:
            p = window_reverse(self.attn(window_partition(p, self.window)), self.window, p)
        t = shortcut + crop_hw(p, shortcut)
        return t + self.mlp(self.norm2(t))


class RSTB(nn.Module):
    """SwinIR's residual Swin Transformer block: x + Conv3×3(STL_depth(...STL_1(x)))."""

    def __init__(self, channels: int = 64, depth: int = 6, heads: int = 4, window: int = 8, mlp_ratio: float = 2.0,
                 **attn_kwargs):
        super().__init__()
        self.in_channels = channels
        self.layers = nn.ModuleList(
            SwinLayer(channels, heads, window, mlp_ratio, shift=bool(i % 2), **attn_kwargs) for i in range(depth))
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)
        for layer in self.layers:
            t = layer(t)
        return x + self.conv(t.permute(0, 3, 1, 2))


# Parameter count of an RSTB at f = 64 under every configuration a reading of SwinIR allows, for the note on
# Table 2's n = 86,784 (tests/test_crb_hosts.py checks the formula against the module).
def rstb_params(channels: int = 64, depth: int = 6, heads: int = 4, window: int = 8, mlp_ratio: float = 2.0,
                qkv_bias: bool = True, rel_pos: bool = True) -> int:
    c, h = channels, int(channels * mlp_ratio)
    stl = 2 * 2 * c + (c * 3 * c + (3 * c if qkv_bias else 0)) + c * c + c + c * h + h + h * c + c
    stl += (2 * window - 1) ** 2 * heads if rel_pos else 0
    return depth * stl + 9 * c * c + c


# -- GAL (IPG) ---------------------------------------------------------------------------------------


def detail_map(t: torch.Tensor) -> torch.Tensor:
    """IPG's detail indicator ('interdiff'): Σ_c |x − up(down(x, 1/2))|, bilinear: N×H×W."""
    x = t.permute(0, 3, 1, 2)
    h, w = x.shape[2], x.shape[3]
    low = F.interpolate(x, size=(h // 2, w // 2), mode="bilinear", align_corners=False)
    return (x - F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)).abs().sum(1)


@torch.no_grad()
def flexible_graph(t: torch.Tensor, window: int, sample: int, top_k: int, global_: bool,
                   diff_scale: float | None = None, steps: int = 8) -> torch.Tensor:
    """IPG's degree-flexible graph (fast form): (N·nW)×1×m×n boolean, True = edge kept.

    Node i of a group gets degree d_i = clamp(m·top_k·δ_i / Σδ, 1, n) (δ: detail); its similarity
    threshold is found by ``steps`` bisection steps between min(D_i) and 1 starting at mean(D_i).
    """
    if global_:
        xs, ys = dilated_partition(t, window), global_samples(t, window, sample)
    else:
        xs, ys = window_partition(t, window), local_samples(t, window, sample)
    d = torch.einsum("bmc,bnc->bmn", F.normalize(xs, dim=-1), F.normalize(ys, dim=-1))
    delta = detail_map(t)
    if diff_scale:
        mu = delta.mean(dim=(-2, -1), keepdim=True)
        delta = mu + (delta - mu) / diff_scale
    part = dilated_partition if global_ else window_partition
    delta = part(delta.unsqueeze(-1), window).squeeze(-1)  # (N·nW)×m
    degree = (delta / delta.sum(-1, keepdim=True) * d.shape[1] * top_k).clamp(1, d.shape[-1]).unsqueeze(-1)
    lo, hi = d.min(-1, keepdim=True)[0], torch.ones_like(d[..., :1])
    mid = d.mean(-1, keepdim=True)
    for _ in range(steps):
        too_many = (d > mid).sum(-1, keepdim=True) > degree
        lo, mid, hi = torch.where(too_many, mid, lo), torch.where(too_many, (mid + hi) / 2, (mid + lo) / 2), \
            torch.where(too_many, hi, mid)
    return (d > mid).unsqueeze(1)


torch.fx.wrap("flexible_graph")


def _ipg_rel_coords(window: int, sample: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous relative-position inputs (log-spaced, as Swin-v2/IPG) and the group→sample index."""
    pad = (sample - window) // 2
    span = sample + window - 1  # displacements −(window−1+pad) … sample−1−pad per axis
    d = torch.arange(span, dtype=torch.float32) - (window - 1 + pad)
    table = torch.stack(torch.meshgrid(d, d, indexing="ij"), -1) / (window - 1) * 8
    table = torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)
    g = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    s = torch.stack(torch.meshgrid(torch.arange(sample), torch.arange(sample), indexing="ij")).flatten(1) - pad
    rel = (s[:, None, :] - g[:, :, None]).permute(1, 2, 0) + (window - 1 + pad)  # m×n×2
    return table.reshape(-1, 2), rel[..., 0] * span + rel[..., 1]


class IPGGrapher(nn.Module):
    """IPG's graph aggregation: cosine-similarity attention over the graph's edges, + relative-position bias."""

    def __init__(self, channels: int, heads: int, window: int = 16, sample: int = 32, global_: bool = False):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{heads} heads do not divide {channels} channels")
        self.heads, self.window, self.sample, self.global_ = heads, window, sample, global_
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.proj_group = nn.Linear(channels, channels)
        self.proj_sample = nn.Linear(channels, 2 * channels)
        self.proj = nn.Linear(channels, channels)
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512), nn.ReLU(), nn.Linear(512, heads, bias=False))
        table, index = _ipg_rel_coords(window, sample)
        self.register_buffer("rel_coords", table, persistent=False)
        self.register_buffer("rel_index", index, persistent=False)

    def rel_pos_bias(self) -> torch.Tensor:
        m, n = self.window * self.window, self.sample * self.sample
        b = self.cpb_mlp(self.rel_coords)[self.rel_index.reshape(-1)].reshape(m, n, -1).permute(2, 0, 1)
        return (16 * torch.sigmoid(b)).unsqueeze(0)

    def forward(self, t: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:  # t: N×H×W×C (padded)
        part = dilated_partition if self.global_ else window_partition
        samples = global_samples if self.global_ else local_samples
        q = split_heads(part(self.proj_group(t), self.window), self.heads)
        k, v = samples(self.proj_sample(t), self.window, self.sample).chunk(2, dim=-1)
        k, v = split_heads(k, self.heads), split_heads(v, self.heads)
        sim = torch.einsum("bhmc,bhnc->bhmn", F.normalize(q, dim=-1), F.normalize(k, dim=-1))
        sim = sim + (-100.0) * (~graph)
        sim = sim * torch.exp(torch.clamp(self.logit_scale, max=4.6052)) + self.rel_pos_bias()
        out = merge_heads(torch.softmax(sim, dim=-1) @ v)
        reverse = dilated_reverse if self.global_ else window_reverse
        return reverse(self.proj(out), self.window, t)


class GAL(nn.Module):
    """IPG's graph aggregation layer (post-norm): x + LN(Grapher(x)); x + LN(ConvFFN(x))."""

    def __init__(self, channels: int = 64, heads: int = 4, window: int = 16, sample: int = 32, mlp_ratio: float = 4.0,
                 kernel_size: int = 3, top_k: int = 256, global_: bool = False, diff_scale: float | None = None):
        super().__init__()
        if sample % window:
            raise ValueError("IPG's sample size must be a multiple of its window (group) size")
        self.in_channels = channels
        self.window, self.sample, self.top_k, self.global_, self.diff_scale = window, sample, top_k, global_, diff_scale
        self.pad_multiple = sample  # harness.complexity counts at sizes congruent modulo this
        self.norm1 = nn.LayerNorm(channels)
        self.grapher = IPGGrapher(channels, heads, window, sample, global_)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = ConvFFN(channels, mlp_ratio, kernel_size)

    def graph(self, t: torch.Tensor) -> torch.Tensor:
        return flexible_graph(t, self.window, self.sample, self.top_k, self.global_, self.diff_scale)

    def forward_tokens(self, t: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:  # padded N×H×W×C
        t = t + self.norm1(self.grapher(t, graph))
        return t + self.norm2(self.mlp.forward_tokens(t))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)
        p = pad_hw(t, self.sample)
        p = self.forward_tokens(p, self.graph(p))
        return crop_hw(p, t).permute(0, 3, 1, 2)


# -- registration --------------------------------------------------------------------------------------

@register_block("convffn")
def _convffn(channels: int, **kwargs) -> nn.Module:
    """IPG's ConvFFN (MLP ratio 2 as the CRB paper's §4.1, dwconv3 as IPG's x4 configuration)."""
    return ConvFFN(channels, **kwargs)


@register_block("rstb")
def _rstb(channels: int, **kwargs) -> nn.Module:
    """SwinIR's RSTB (6 STLs, window 8, MLP ratio 2 as SwinIR; 4 heads at f = 64, a declared choice)."""
    return RSTB(channels, **kwargs)


@register_block("gal")
def _gal(channels: int, **kwargs) -> nn.Module:
    """IPG's GAL (window 16, sample 32, MLP ratio 4, dwconv3, top-k 256 as IPG's x4 configuration; 4 heads)."""
    return GAL(channels, **kwargs)


# Zoo models (scales = (1,): blocks do not upscale), so suites can count and trace them (UAE Table 2).
def _as_model(cls):
    def build(scale: int = 1, **kwargs) -> nn.Module:
        return cls(**kwargs)

    build.__doc__ = cls.__doc__
    return build


register_model("convffn", paper="Tian et al., IPG (CVPR 2024): ConvFFN", scales=(1,))(_as_model(ConvFFN))
register_model("rstb", paper="Liang et al., SwinIR (ICCV-W 2021): RSTB", scales=(1,))(_as_model(RSTB))
register_model("gal", paper="Tian et al., IPG (CVPR 2024): GAL", scales=(1,))(_as_model(GAL))
