"""Building blocks shared by several zoo models (no models are registered here).

- ``conv2d``: a convolution with "same" padding, the layer every SR network here is made of.
- ``MeanShift``: subtract / add the training set's RGB mean (CARN, EDSR).  The mean is a *buffer*, not a
  parameter: it is fixed, so parameter counts leave it out, as the papers do.  Published checkpoints store
  it as a frozen 1×1 convolution (``sub_mean.weight``/``bias`` or ``sub_mean.shifter.*``);
  ``MeanShift.check_legacy`` compares such entries with the buffer before a converter drops them.
- ``PixelShuffleUpsampler``: the sub-pixel upsampler of ESPCN/EDSR/CARN: one conv + PixelShuffle(3) for
  ×3, log2(s) stages of conv + PixelShuffle(2) for ×2, ×4, ×8; optional activation after each shuffle
  (CARN has a ReLU there, EDSR none), optional group convolution (CARN-M, group 4).
- ``MultiScaleUpsampler``: one ``PixelShuffleUpsampler`` branch per scale (CARN's multi-scale model,
  MDSR); the branch used is chosen per call.
- ``PreActConv``: BN → ReLU → Conv, the pre-activation unit of DRRN and MemNet (both use it for every
  convolution of their Caffe models).
- ``SharedResidualBody``: the residual function G = PreActConv ∘ PreActConv whose two convolutions are
  shared by every recursion while BN statistics are kept per unrolled recursion (DRRN's residual units,
  MemNet's recursive unit).
- ``count_parameters``: parameter counts under the conventions papers use (with or without biases and
  normalisation affines) — see conventions.md §3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "DIV2K_RGB_MEAN",
    "MeanShift",
    "MultiScaleUpsampler",
    "PixelShuffleUpsampler",
    "PreActConv",
    "SharedResidualBody",
    "conv2d",
    "count_parameters",
]

# Mean RGB of DIV2K's training images on a [0, 1] scale (the value in CARN's and EDSR's code).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)

_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm,
               nn.InstanceNorm2d)


def conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    bias: bool = True,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> nn.Conv2d:
    """k×k convolution, stride 1, padded to keep the spatial size (odd k)."""
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias, groups=groups,
        padding_mode=padding_mode,
    )


class MeanShift(nn.Module):
    """x − sign·mean (``sign=-1``: subtract, the network's first op) or x + mean (``sign=+1``: the last op).

    ``rgb_range`` is the range the network sees (1 for [0, 1] inputs as CARN, 255 for EDSR's 0–255).
    """

    def __init__(self, mean: Iterable[float] = DIV2K_RGB_MEAN, sign: int = -1, rgb_range: float = 1.0,
                 std: Iterable[float] = (1.0, 1.0, 1.0)):
        super().__init__()
        if sign not in (-1, 1):
            raise ValueError("MeanShift sign must be -1 (subtract) or +1 (add)")
        mean_t = torch.tensor(tuple(mean), dtype=torch.float32)
        std_t = torch.tensor(tuple(std), dtype=torch.float32)
        # y = x / std + sign·rgb_range·mean / std, per channel — EDSR's frozen 1×1 convolution, as buffers.
        self.register_buffer("scale", (1.0 / std_t).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", (sign * rgb_range * mean_t / std_t).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift

    def legacy_conv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The equivalent frozen 1×1 convolution (weight C×C×1×1, bias C) that published checkpoints store."""
        c = self.shift.shape[1]
        weight = torch.diag(self.scale.flatten()).view(c, c, 1, 1)
        return weight, self.shift.flatten().clone()

    def check_legacy(self, weight: torch.Tensor, bias: torch.Tensor, *, atol: float = 1e-4) -> None:
        """Raise ``ValueError`` when a checkpoint's frozen mean-shift conv differs from this module."""
        ref_w, ref_b = self.legacy_conv()
        if weight.shape != ref_w.shape or bias.shape != ref_b.shape:
            raise ValueError(f"mean shift shapes {tuple(weight.shape)}/{tuple(bias.shape)} != "
                             f"{tuple(ref_w.shape)}/{tuple(ref_b.shape)}")
        if not (torch.allclose(weight.float(), ref_w, atol=atol) and torch.allclose(bias.float(), ref_b, atol=atol)):
            raise ValueError(f"mean shift in checkpoint (bias {bias.flatten().tolist()}) differs from the "
                             f"model's ({ref_b.tolist()})")


class _ShuffleStage(nn.Module):
    """conv(C → C·r²) → PixelShuffle(r) → optional activation."""

    def __init__(self, channels: int, factor: int, groups: int, act: Callable[[], nn.Module] | None, bias: bool):
        super().__init__()
        self.conv = conv2d(channels, channels * factor * factor, 3, groups=groups, bias=bias)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = act() if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class PixelShuffleUpsampler(nn.Module):
    """Sub-pixel upsampler (Shi et al., ESPCN, CVPR 2016): ×3 in one stage, ×2^k in k stages of ×2."""

    def __init__(self, channels: int, scale: int, *, groups: int = 1,
                 act: Callable[[], nn.Module] | None = None, bias: bool = True):
        super().__init__()
        if scale == 3:
            factors = [3]
        elif scale >= 2 and scale & (scale - 1) == 0:
            factors = [2] * int(math.log2(scale))
        else:
            raise ValueError(f"PixelShuffleUpsampler supports x3 and powers of two, not x{scale}")
        self.scale = scale
        self.stages = nn.ModuleList(_ShuffleStage(channels, f, groups, act, bias) for f in factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x


class MultiScaleUpsampler(nn.Module):
    """One ``PixelShuffleUpsampler`` branch per scale, named ``branches.x2``, ``branches.x3``, …"""

    def __init__(self, channels: int, scales: Iterable[int] = (2, 3, 4), **kwargs):
        super().__init__()
        self.branches = nn.ModuleDict(
            {f"x{s}": PixelShuffleUpsampler(channels, s, **kwargs) for s in sorted(set(scales))}
        )

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(int(k[1:]) for k in self.branches)

    def branch(self, scale: int) -> PixelShuffleUpsampler:
        try:
            return self.branches[f"x{scale}"]
        except KeyError:
            raise ValueError(f"no x{scale} upsampler branch (has {self.scales})") from None

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        return self.branch(scale)(x)


class PreActConv(nn.Module):
    """Pre-activation unit BN → ReLU → Conv (He et al., "Identity mappings", ECCV 2016).

    DRRN (Tai et al., CVPR 2017, Fig. 2/Sec. 3) and MemNet (Tai et al., ICCV 2017, Sec. 3) use it for every
    convolution, the first one included (their Caffe models normalise the input image too).
    ``batch_norm=False`` keeps ReLU → Conv (the BN-free variant several re-implementations train).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, batch_norm: bool = True,
                 bias: bool = True):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()
        self.conv = conv2d(in_channels, out_channels, kernel_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.relu(self.norm(x)))


class SharedResidualBody(nn.Module):
    """G_r(h) = conv_b(ReLU(BN_b,r(conv_a(ReLU(BN_a,r(h)))))) for recursion r = 0..R-1.

    conv_a/conv_b (3×3, C → C) are shared by all R recursions ("recursive learning"); the BN layers are
    not — the DRRN and MemNet Caffe models name a BatchNorm per unrolled unit but share the convolution
    weights.  The caller adds the identity branch (DRRN: the block's entry output; MemNet: the input).
    """

    def __init__(self, channels: int, recursions: int, *, batch_norm: bool = True):
        super().__init__()
        self.recursions = recursions
        self.conv_a = conv2d(channels, channels, 3)
        self.conv_b = conv2d(channels, channels, 3)
        norm = (lambda: nn.BatchNorm2d(channels)) if batch_norm else nn.Identity
        self.norms_a = nn.ModuleList(norm() for _ in range(recursions))
        self.norms_b = nn.ModuleList(norm() for _ in range(recursions))
        self.relu = nn.ReLU()

    def forward(self, h: torch.Tensor, r: int) -> torch.Tensor:
        h = self.conv_a(self.relu(self.norms_a[r](h)))
        return self.conv_b(self.relu(self.norms_b[r](h)))


def count_parameters(module: nn.Module, *, biases: bool = True, norms: bool = True, activations: bool = True,
                     exclude: Iterable[nn.Module] = ()) -> int:
    """Number of distinct parameters of ``module`` (shared tensors counted once).

    ``biases=False`` leaves out every parameter named ``bias`` (the "weights only" convention of most
    papers in CARN Table 1); ``norms=False`` leaves out the affine parameters of normalisation layers
    (BN's γ/β are not counted by DRRN or MemNet); ``activations=False`` leaves out learnable activation
    parameters (PReLU slopes, not counted by FSRCNN).  ``exclude``: sub-modules whose parameters are
    left out (e.g. the upsampler branches not used at one scale).
    """
    skip: set[int] = set()
    for sub in exclude:
        skip.update(id(p) for p in sub.parameters())
    for sub in module.modules():
        if (not norms and isinstance(sub, _NORM_TYPES)) or (not activations and isinstance(sub, nn.PReLU)):
            skip.update(id(p) for p in sub.parameters())
    seen: set[int] = set()
    total = 0
    for name, p in module.named_parameters(remove_duplicate=False):
        if id(p) in seen or id(p) in skip:
            continue
        seen.add(id(p))
        if not biases and name.rsplit(".", 1)[-1] == "bias":
            continue
        total += p.numel()
    return total
