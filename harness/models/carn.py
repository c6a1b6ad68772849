"""CARN and CARN-M (Ahn, Kang, Sohn: "Fast, accurate, and lightweight super-resolution with cascading
residual network", ECCV 2018), and the cascading ablations of its Table 2.

Architecture (Sec. 3.1, Fig. 2–3, Eq. 1–4), on LR RGB in [0, 1] with the DIV2K mean subtracted:

- entry conv 3×3 (3 → 64), giving H^0;
- B = 3 **cascading blocks**.  Inside block i, U = 3 residual blocks R (Eq. 1: ReLU(f(ReLU(f(H))) + H));
  local cascading (Eq. 3): B^{i,0} = H^{i-1}, and after each residual block the concatenation of
  everything so far, [B^{i,0}, …, R_u(B^{i,u-1})], is fused by a 1×1 conv + ReLU into B^{i,u};
- global cascading (Eq. 4): the same scheme one level up — after block b the concatenation
  [H^0, …, block_b(H^{b-1})] is fused by a 1×1 conv + ReLU into H^b;
- upsampler (sub-pixel conv + ReLU per stage) and exit conv 3×3 (64 → 3), then the mean is added back.

The released models are multi-scale (Sec. 4.2–4.3): one network holds a ×2, a ×3 and a ×4 upsampler
branch and each batch uses one.  ``create_model("carn", 4)`` builds all three branches and
``forward(x)`` uses ×4; ``forward(x, scale=2)`` or setting ``model.scale`` switches branch.

CARN-M (Sec. 3.2, Fig. 3(b)/(d), "G4R" of Fig. 5): residual blocks replaced by *residual-E* blocks —
two 3×3 group convolutions (groups = 4) and a 1×1 convolution — and each cascading block made
recursive: its one residual-E block is applied U = 3 times with shared weights (the released
``carn_m.pth`` has one ``b{i}.b1`` per block; the three blocks are not shared with each other).  The
upsampler's convolutions are group convolutions too (groups = 4), as in the release.

Table 2 ablations (names in the paper → registry): "Baseline" (plain ResNet: no local, no global
cascading) → ``carn_baseline``; "CARN-NL" (no local cascading) → ``carn_nl``; "CARN-NG" (no global
cascading) → ``carn_ng``; "CARN" → ``carn``.  Without local cascading a block is three plain residual
blocks in sequence; without global cascading the blocks are chained directly.

Parameter counts (conventions.md §3; the paper uses two conventions):

==============  =========================================  ==========  ========
model           convention                                 measured    printed
==============  =========================================  ==========  ========
carn            with biases, all three upsampler branches  1,591,939   1,592K
carn_m          weights only, all three branches           412,032     412K
carn_baseline   with biases, all three branches            1,443,715   1,444K
carn_nl         with biases, all three branches            1,480,771   1,481K
carn_ng         with biases, all three branches            1,554,883   1,555K
==============  =========================================  ==========  ========

(CARN weights only: 1,588,608; CARN-M with biases: 414,787.)  The mean shifts are fixed buffers and
counted nowhere.  ``branch_params(scale)``, ``upsampler_branches()`` and ``count_params(all_branches=False)``
give the share of one upsampler branch, for "one branch" vs "all branches" comparisons.  Mult-Adds for a
1280×720 output (convolutions only) reproduce Table 1 too: CARN 222.8G ×2 / 90.9G ×4, CARN-M 91.2G ×2 /
32.5G ×4.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn

from harness.models.common import (
    DIV2K_RGB_MEAN,
    MeanShift,
    MultiScaleUpsampler,
    conv2d,
    count_parameters,
)
from harness.models.registry import Checkpoint, register_model

__all__ = ["CARN", "CascadingBlock", "EfficientResidualBlock", "ResidualBlock"]

CARN_PAPER = "Ahn et al., CARN (ECCV 2018)"


class ResidualBlock(nn.Module):
    """Residual block of Eq. 1 / Fig. 3(a): ReLU(conv2(ReLU(conv1(x))) + x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv2d(channels, channels, 3)
        self.conv2 = conv2d(channels, channels, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.relu(self.conv1(x))) + x)


class EfficientResidualBlock(nn.Module):
    """Residual-E block (Sec. 3.2, Fig. 3(b)): two 3×3 group convs and a 1×1 conv, then the residual."""

    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        self.conv1 = conv2d(channels, channels, 3, groups=groups)
        self.conv2 = conv2d(channels, channels, 3, groups=groups)
        self.pointwise = conv2d(channels, channels, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.relu(self.pointwise(h) + x)


def _cascade(x: torch.Tensor, stages: list[Callable[[torch.Tensor], torch.Tensor]],
             fusions: nn.ModuleList, relu: nn.Module) -> torch.Tensor:
    """Cascading (Eq. 3 locally, Eq. 4 globally): out_u = ReLU(fuse_u([x, s_1(out_0), …, s_u(out_{u-1})]))."""
    cat = out = x
    for stage, fuse in zip(stages, fusions):
        cat = torch.cat([cat, stage(out)], dim=1)
        out = relu(fuse(cat))
    return out


class CascadingBlock(nn.Module):
    """U residual(-E) blocks with local cascading (Fig. 3(c)); ``shared``: one block used U times (Fig. 3(d))."""

    def __init__(self, channels: int, num_units: int, make_unit: Callable[[], nn.Module], *,
                 shared: bool = False, local_cascade: bool = True):
        super().__init__()
        self.num_units = num_units
        self.units = nn.ModuleList(make_unit() for _ in range(1 if shared else num_units))
        self.fusions = nn.ModuleList(
            conv2d((u + 2) * channels, channels, 1) for u in range(num_units if local_cascade else 0)
        )
        self.relu = nn.ReLU()

    def unit(self, u: int) -> nn.Module:
        return self.units[u % len(self.units)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stages = [self.unit(u) for u in range(self.num_units)]
        if not self.fusions:  # no local cascading: plain residual blocks in sequence
            for stage in stages:
                x = stage(x)
            return x
        return _cascade(x, stages, self.fusions, self.relu)


class CARN(nn.Module):
    """CARN family on LR RGB in [0, 1]; multi-scale (×2/×3/×4 branches) unless ``multi_scale=False``."""

    def __init__(self, scale: int = 4, *, channels: int = 64, num_blocks: int = 3, num_units: int = 3,
                 multi_scale: bool = True, local_cascade: bool = True, global_cascade: bool = True,
                 efficient: bool = False, groups: int = 1, shared_units: bool = False,
                 rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN):
        super().__init__()
        if efficient:
            def make_unit() -> nn.Module:
                return EfficientResidualBlock(channels, groups)
        else:
            def make_unit() -> nn.Module:
                return ResidualBlock(channels)
        self.sub_mean = MeanShift(rgb_mean, sign=-1)
        self.add_mean = MeanShift(rgb_mean, sign=+1)
        self.entry = conv2d(3, channels, 3)
        self.blocks = nn.ModuleList(
            CascadingBlock(channels, num_units, make_unit, shared=shared_units, local_cascade=local_cascade)
            for _ in range(num_blocks)
        )
        self.fusions = nn.ModuleList(
            conv2d((b + 2) * channels, channels, 1) for b in range(num_blocks if global_cascade else 0)
        )
        self.relu = nn.ReLU()
        self.upsampler = MultiScaleUpsampler(
            channels, (2, 3, 4) if multi_scale else (scale,), groups=groups, act=nn.ReLU
        )
        self.exit = conv2d(channels, 3, 3)
        self.scale = scale

    # -- scale / branch selection -----------------------------------------------------------------
    @property
    def scale(self) -> int:
        return self._scale

    @scale.setter
    def scale(self, value: int) -> None:
        self.upsampler.branch(value)  # raises for a scale without a branch
        self._scale = value

    @property
    def scales(self) -> tuple[int, ...]:
        return self.upsampler.scales

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        h = self.entry(self.sub_mean(x))
        if self.fusions:  # global cascading (Eq. 4)
            h = _cascade(h, list(self.blocks), self.fusions, self.relu)
        else:
            for block in self.blocks:
                h = block(h)
        h = self.upsampler(h, self.scale if scale is None else scale)
        return self.add_mean(self.exit(h))

    # -- parameter counting (conventions.md §3) -----------------------------------------------------
    def upsampler_branches(self) -> dict[int, nn.Module]:
        """{scale: upsampler branch} — all branches of the multi-scale model (one when single-scale)."""
        return {s: self.upsampler.branch(s) for s in self.upsampler.scales}

    def branch_params(self, scale: int, *, biases: bool = True) -> int:
        """Parameters of the ×``scale`` upsampler branch alone."""
        return count_parameters(self.upsampler.branch(scale), biases=biases)

    def count_params(self, *, biases: bool = True, all_branches: bool = True) -> int:
        """All parameters, or (``all_branches=False``) those used at ``self.scale`` (one upsampler branch)."""
        others = [] if all_branches else [
            self.upsampler.branch(s) for s in self.upsampler.scales if s != self.scale
        ]
        return count_parameters(self, biases=biases, exclude=others)

    # -- published checkpoints ----------------------------------------------------------------------
    def convert_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """nmhkahn/CARN-pytorch names → this module's names (CARN and CARN-M releases).

        ``b{i}.b{u}.body.{0,2,4}`` → ``blocks.{i-1}.units.{u-1}.{conv1,conv2,pointwise}``,
        ``b{i}.c{u}.body.0`` → ``blocks.{i-1}.fusions.{u-1}``, ``c{b}.body.0`` → ``fusions.{b-1}``,
        ``upsample.up{s}.body.{3k}`` → ``upsampler.branches.x{s}.stages.{k}.conv`` (``upsample.up`` of a
        single-scale release → the model's own scale); the frozen ``sub_mean``/``add_mean`` convolutions
        are checked against the model's mean and dropped.
        """
        unit_param = {"0": "conv1", "2": "conv2", "4": "pointwise"}
        out: dict[str, torch.Tensor] = {}
        legacy_means = {}
        for key, value in state.items():
            if m := re.fullmatch(r"(sub_mean|add_mean)\.shifter\.(weight|bias)", key):
                legacy_means.setdefault(m[1], {})[m[2]] = value
            elif m := re.fullmatch(r"b(\d+)\.b(\d+)\.body\.(\d)\.(weight|bias)", key):
                out[f"blocks.{int(m[1]) - 1}.units.{int(m[2]) - 1}.{unit_param[m[3]]}.{m[4]}"] = value
            elif m := re.fullmatch(r"b(\d+)\.c(\d+)\.body\.0\.(weight|bias)", key):
                out[f"blocks.{int(m[1]) - 1}.fusions.{int(m[2]) - 1}.{m[3]}"] = value
            elif m := re.fullmatch(r"c(\d+)\.body\.0\.(weight|bias)", key):
                out[f"fusions.{int(m[1]) - 1}.{m[2]}"] = value
            elif m := re.fullmatch(r"upsample\.up(\d*)\.body\.(\d+)\.(weight|bias)", key):
                branch = m[1] or str(self.scale)
                out[f"upsampler.branches.x{branch}.stages.{int(m[2]) // 3}.conv.{m[3]}"] = value
            else:
                out[key] = value  # entry.*, exit.*, or already this module's names
        for name, params in legacy_means.items():
            getattr(self, name).check_legacy(params["weight"], params["bias"])
        return out


_CARN_M = Checkpoint(
    file="carn/carn_m.pth",
    sha256="d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff",
    format="torch-state-dict",
    provenance="CARN authors' release (nmhkahn/CARN-pytorch, MIT), checkpoint/carn_m.pth",
    note="one multi-scale model: x2/x3/x4 upsampler branches in the same file",
)


@register_model("carn", paper=CARN_PAPER, scales=(2, 3, 4), input="rgb")
def carn(scale: int = 4, **kwargs) -> CARN:
    """CARN, multi-scale; 1,591,939 params with biases, all 3 branches — CARN Table 1: 1,592K."""
    return CARN(scale=scale, **kwargs)


@register_model("carn_m", paper=CARN_PAPER, scales=(2, 3, 4), input="rgb", checkpoints={s: _CARN_M for s in (2, 3, 4)})
def carn_m(scale: int = 4, **kwargs) -> CARN:
    """CARN-M (residual-E, groups 4, recursive blocks), multi-scale; 412,032 weights — Table 1: 412K."""
    kwargs = {"efficient": True, "groups": 4, "shared_units": True, **kwargs}
    return CARN(scale=scale, **kwargs)


@register_model("carn_baseline", paper=CARN_PAPER, scales=(2, 3, 4), input="rgb")
def carn_baseline(scale: int = 4, **kwargs) -> CARN:
    """Table 2 "Baseline": CARN without local and global cascading (ResNet); 1,443,715 params — 1,444K."""
    return CARN(scale=scale, local_cascade=False, global_cascade=False, **kwargs)


@register_model("carn_nl", paper=CARN_PAPER, scales=(2, 3, 4), input="rgb")
def carn_nl(scale: int = 4, **kwargs) -> CARN:
    """Table 2 "CARN-NL": CARN without local cascading; 1,480,771 params with biases — 1,481K."""
    return CARN(scale=scale, local_cascade=False, **kwargs)


@register_model("carn_ng", paper=CARN_PAPER, scales=(2, 3, 4), input="rgb")
def carn_ng(scale: int = 4, **kwargs) -> CARN:
    """Table 2 "CARN-NG": CARN without global cascading; 1,554,883 params with biases — 1,555K."""
    return CARN(scale=scale, global_cascade=False, **kwargs)
