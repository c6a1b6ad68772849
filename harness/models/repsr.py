"""RepSR (Wang, Dong, Shan, ACM MM 2022): re-parameterisable blocks with Frozen BN, and the tiny MxCy nets.

Blocks (``harness.models.blocks`` registry; each maps N×C_in×H×W to N×C_out×H×W with a 3×3 receptive
field and has ``deploy() -> nn.Conv2d``, the single merged 3×3 convolution of the inference network):

- ``"repsr"`` — the RepSR block (§3.2, Fig. 2b): a clean residual path (x itself, no BN) plus ``branches``
  expand-and-squeeze paths 3×3Conv(C → w·C) → BN → 1×1Conv(w·C → C) (Eq. 1; ``width`` = the width
  multiplier w, 2 in the paper, Table 6; 2 branches, Table 7).  Merge (§3.3, Algorithm 1, Eq. 2-3): BN
  into its preceding 3×3 conv, then the 1×1 into the 3×3 by a matrix product over the middle channels,
  then +1 on the centre of the kernel diagonal for the residual.  The residual path exists only when
  C_in = C_out (the head and tail layers of a net have branches only).
  Table 5 variants via kwargs: ``residual="none"`` (variant 2), ``residual="bn"`` (3, a BN on the
  residual path), ``branch="c3-bn,c1-bn"`` (4, RepVGG's two branches), ``branch="c3-bn-c1-bn"`` (5),
  ``branch="c1-bn-c3"`` (6: 1×1 expand first; its input is zero-padded *before* the 1×1 conv so that the
  3×3 conv sees the 1×1 output of a zero pixel at the border — the "padding issue" of §3.3 handled the
  way DBB does [10], which makes the merge exact).
- ``"repvgg"`` — RepVGG (Ding et al., CVPR 2021): 3×3Conv-BN + 1×1Conv-BN + BN on the identity (when
  C_in = C_out); convs without bias (BN follows).
- ``"conv3"`` — a plain 3×3 convolution (the plain-VGG baseline; nothing to merge).

Frozen BN (§3.2 item 3, §4.2): every BN here is a ``FrozenBatchNorm2d`` — an ``nn.BatchNorm2d`` that
normalises with mini-batch statistics until ``freeze_stats()`` is called, then with the population
(running) statistics even in train mode, which also stops updating them; its affine γ, β keep training
("we do not freeze the affine parameters in BN").  ``freeze_bn_stats(model)`` (or the nets'
``model.freeze_bn_stats()``) is what a training engine calls at the switch iteration; the nets expose
``frozen_bn_at`` (fraction of the schedule, default 0.9: "only frozen for a very short period (e.g.,
<10%) at the end of training" — the exact point is not stated).  Putting the BN modules in eval mode, as
an engine may, has the same effect.

Networks (``@register_model``): the MxCy template of ECBSR (Zhang et al., ACM MM 2021, ``models/ecbsr.py``
in xindongzhang/ECBSR) that RepSR-Tiny shares ("RepSR-Tiny has the same inference network as ECBSR",
§5.2): a head block (colours → C) + PReLU, M body blocks (C → C) each + PReLU, a tail block (C → colours·s²)
without activation, a global skip that adds the LR input to every one of the s² sub-pixel channels
(= nearest-neighbour upsampling of the input, §3.1 "a cheap nearest neighbor upsampler is adopted as the
global skip connection"), then PixelShuffle(s).  No residual between body blocks other than what a block
has inside (RepSR's clean path).  The deploy form is M + 2 plain 3×3 convs (Table 2's #Conv = M + 2) with
PReLU between them.  Input: Y (1 channel) for the ``y`` models (Table 2 follows ECBSR's Y-only nets);
the ``*_rgb`` models are the same template on RGB (the large nets of Tables 4-7, whose ablations report
RGB PSNR).

Also here: ``edsr_r5c32`` (EDSR [37] at 5 blocks × 32 channels, Table 2 D1) and ``edsr_bn`` (EDSR with BN
in its residual blocks, Table 1), both built on ``harness.models.edsr.EDSR``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.models.blocks import deploy_form, make_block, register_block
from harness.models.edsr import EDSR
from harness.models.registry import register_model

REPSR_PAPER = ("Wang, Dong, Shan, RepSR: Training Efficient VGG-style Super-Resolution Networks with Structural "
               "Re-Parameterization and Batch Normalization (ACM MM 2022)")
ECBSR_PAPER = "Zhang, Zeng, Zhang, Edge-oriented Convolution Block for Real-time Super Resolution on Mobile Devices (ACM MM 2021)"
REPVGG_PAPER = "Ding et al., RepVGG: Making VGG-style ConvNets Great Again (CVPR 2021)"
EDSR_PAPER = "Lim et al., EDSR: Enhanced Deep Residual Networks for Single Image Super-Resolution (CVPR-W 2017)"


# -- Frozen BN ------------------------------------------------------------------------------------------

class FrozenBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that can switch from mini-batch to population statistics in training (RepSR §4.2).

    After ``freeze_stats()`` the forward normalises with ``running_mean``/``running_var`` in train mode
    too (so they stop moving) while γ and β still receive gradients.  The switch is saved with the
    state dict (extra state), so a resumed run keeps it.
    """

    def __init__(self, num_features: int, **kwargs):
        super().__init__(num_features, **kwargs)
        self.stats_frozen = False

    def freeze_stats(self) -> None:
        self.stats_frozen = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stats_frozen:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)

    def get_extra_state(self) -> dict:
        return {"stats_frozen": self.stats_frozen}

    def set_extra_state(self, state: dict) -> None:
        self.stats_frozen = bool(state.get("stats_frozen", False))


def freeze_bn_stats(model: nn.Module) -> int:
    """Switch every FrozenBatchNorm2d of ``model`` to population statistics; returns how many."""
    n = 0
    for m in model.modules():
        if isinstance(m, FrozenBatchNorm2d):
            m.freeze_stats()
            n += 1
    return n


# -- merge algebra (every kernel is returned as a C_out×C_in×3×3 tensor with a C_out bias) ----------------

def bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as y = a·x + c per channel (population statistics, Eq. 4)."""
    a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return a, bn.bias - bn.running_mean * a


def fuse_conv_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d | None):
    """Conv (weight, bias) followed by BN → one conv (Algorithm 1, step 1)."""
    b = bias if bias is not None else torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
    if bn is None:
        return weight, b
    a, c = bn_affine(bn)
    return weight * a.view(-1, 1, 1, 1), b * a + c


def pad_to_3x3(weight: torch.Tensor) -> torch.Tensor:
    """A 1×1 kernel as the centre of a 3×3 one."""
    return F.pad(weight, (1, 1, 1, 1)) if weight.shape[-1] == 1 else weight


def identity_kernel(channels: int, like: torch.Tensor) -> torch.Tensor:
    k = torch.zeros(channels, channels, 3, 3, dtype=like.dtype, device=like.device)
    k[torch.arange(channels), torch.arange(channels), 1, 1] = 1.0
    return k


def compose_kxk_1x1(wk: torch.Tensor, bk: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor):
    """k×k (C_mid×C_in) then 1×1 (C_out×C_mid) → one k×k conv (Eq. 3, Algorithm 1 step 2)."""
    m = w1.flatten(1)  # C_out×C_mid
    return torch.einsum("om,mikl->oikl", m, wk), m @ bk + b1


def compose_1x1_kxk(w1: torch.Tensor, b1: torch.Tensor, wk: torch.Tensor, bk: torch.Tensor):
    """1×1 (C_mid×C_in) on the zero-padded input, then a *valid* k×k (C_out×C_mid) → one padded k×k conv.

    Exact because the 1×1 output at a padded (zero) pixel is b1, which the merged bias accounts for.
    """
    return torch.einsum("omkl,mi->oikl", wk, w1.flatten(1)), bk + torch.einsum("omkl,m->o", wk, b1)


def merged_conv(weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], padding=weight.shape[-1] // 2,
                     dtype=weight.dtype, device=weight.device)
    conv.weight.data.copy_(weight.detach())
    conv.bias.data.copy_(bias.detach())
    return conv


# -- branches --------------------------------------------------------------------------------------------

BRANCH_TYPES = ("c3-bn-c1", "c3-bn-c1-bn", "c1-bn-c3", "c3-bn", "c1-bn")


class _Branch(nn.Module):
    """One linear training-time branch; ``kernel()`` gives its 3×3 equivalent (eval-mode BN)."""

    def __init__(self, kind: str, cin: int, cout: int, mid: int, bias: bool = True):
        super().__init__()
        if kind not in BRANCH_TYPES:
            raise ValueError(f"unknown branch {kind!r}; known: {', '.join(BRANCH_TYPES)}")
        self.kind = kind
        if kind == "c3-bn-c1":  # Eq. 1: BN[(I ⊛ W3 + b3)] ⊛ W1 + b1
            self.conv_a, self.bn_a = nn.Conv2d(cin, mid, 3, padding=1, bias=bias), FrozenBatchNorm2d(mid)
            self.conv_b, self.bn_b = nn.Conv2d(mid, cout, 1), None
        elif kind == "c3-bn-c1-bn":  # Table 5 variant 5: BN after each convolution
            self.conv_a, self.bn_a = nn.Conv2d(cin, mid, 3, padding=1, bias=bias), FrozenBatchNorm2d(mid)
            self.conv_b, self.bn_b = nn.Conv2d(mid, cout, 1, bias=bias), FrozenBatchNorm2d(cout)
        elif kind == "c1-bn-c3":  # Table 5 variant 6: 1×1 expand on the zero-padded input, 3×3 valid squeeze
            self.conv_a, self.bn_a = nn.Conv2d(cin, mid, 1, bias=bias), FrozenBatchNorm2d(mid)
            self.conv_b, self.bn_b = nn.Conv2d(mid, cout, 3, padding=0), None
        else:  # "c3-bn" / "c1-bn": RepVGG's branches (Table 5 variant 4)
            k = 3 if kind == "c3-bn" else 1
            self.conv_a, self.bn_a = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias), FrozenBatchNorm2d(cout)
            self.conv_b, self.bn_b = None, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "c1-bn-c3":
            x = F.pad(x, (1, 1, 1, 1))
        y = self.bn_a(self.conv_a(x))
        if self.conv_b is not None:
            y = self.conv_b(y)
            if self.bn_b is not None:
                y = self.bn_b(y)
        return y

    def kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        wa, ba = fuse_conv_bn(self.conv_a.weight, self.conv_a.bias, self.bn_a)
        if self.conv_b is None:
            return pad_to_3x3(wa), ba
        wb, bb = fuse_conv_bn(self.conv_b.weight, self.conv_b.bias, self.bn_b)
        if self.kind == "c1-bn-c3":
            return compose_1x1_kxk(wa, ba, wb, bb)
        return compose_kxk_1x1(wa, ba, wb, bb)


class RepBlock(nn.Module):
    """Σ branches + residual path; merges into one 3×3 conv (RepSR, RepVGG and the Table 5 variants).

    ``residual``: "clean" (x, RepSR), "bn" (BN(x), RepVGG / Table 5 variant 3) or "none" (variant 2);
    used only when C_in = C_out.  ``branch``: one branch type repeated ``branches`` times, or a
    comma-separated list of types (then ``branches`` is ignored).  ``width``: the expand-and-squeeze
    middle width as a multiple of C_out (Table 6).
    """

    def __init__(self, channels: int, out_channels: int | None = None, *, branches: int = 2, width: int = 2,
                 branch: str = "c3-bn-c1", residual: str = "clean", bias: bool = True):
        super().__init__()
        cout = out_channels or channels
        if residual not in ("clean", "bn", "none"):
            raise ValueError(f"residual must be 'clean', 'bn' or 'none', not {residual!r}")
        kinds = branch.split(",") if "," in branch else [branch] * branches
        mid = width * cout
        self.branches = nn.ModuleList(_Branch(k.strip(), channels, cout, mid, bias) for k in kinds)
        self.residual = residual if channels == cout else "none"
        self.res_bn = FrozenBatchNorm2d(cout) if self.residual == "bn" else None
        self.in_channels, self.out_channels = channels, cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = sum(b(x) for b in self.branches)
        if self.residual == "clean":
            y = y + x
        elif self.residual == "bn":
            y = y + self.res_bn(x)
        return y

    def kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        ws, bs = zip(*(b.kernel() for b in self.branches))
        w, b = sum(ws), sum(bs)
        if self.residual != "none":  # Algorithm 1 step 3: +1 on the kernel diagonal's centre
            eye = identity_kernel(self.out_channels, w)
            if self.residual == "bn":
                a, c = bn_affine(self.res_bn)
                w, b = w + eye * a.view(-1, 1, 1, 1), b + c
            else:
                w = w + eye
        return w, b

    @torch.no_grad()
    def deploy(self) -> nn.Conv2d:
        return merged_conv(*self.kernel())


@register_block("repsr")
def repsr_block(channels: int, out_channels: int | None = None, **kwargs) -> RepBlock:
    """RepSR block: clean residual + 2 × (3×3 expand → BN → 1×1 squeeze), width multiplier 2 (§3.2)."""
    return RepBlock(channels, out_channels, **{"branches": 2, "width": 2, "branch": "c3-bn-c1",
                                               "residual": "clean", **kwargs})


@register_block("repvgg")
def repvgg_block(channels: int, out_channels: int | None = None, **kwargs) -> RepBlock:
    """RepVGG block: 3×3-BN + 1×1-BN + identity-BN, convs without bias (Ding et al. 2021, Fig. 4)."""
    return RepBlock(channels, out_channels, **{"branch": "c3-bn,c1-bn", "residual": "bn", "bias": False, **kwargs})


class PlainConv(nn.Conv2d):
    """A plain 3×3 convolution (plain-VGG baseline): its deploy form is itself."""

    def __init__(self, channels: int, out_channels: int | None = None):
        super().__init__(channels, out_channels or channels, 3, padding=1)


@register_block("conv3")
def plain_block(channels: int, out_channels: int | None = None) -> nn.Module:
    """Plain 3×3 conv."""
    return PlainConv(channels, out_channels)


# -- the MxCy template (ECBSR layout) -----------------------------------------------------------------------

class TinySR(nn.Module):
    """ECBSR's MxCy net with any block: head + M blocks (+ PReLU each), tail, nearest-input skip, shuffle."""

    def __init__(self, scale: int, blocks: int = 4, channels: int = 16, block: str = "repsr", colors: int = 1,
                 frozen_bn_at: float | None = 0.9, **block_kwargs):
        super().__init__()
        self.scale, self.colors, self.frozen_bn_at = scale, colors, frozen_bn_at
        self.head = make_block(block, colors, out_channels=channels, **block_kwargs)
        self.body = nn.ModuleList(make_block(block, channels, **block_kwargs) for _ in range(blocks))
        self.acts = nn.ModuleList(nn.PReLU(channels) for _ in range(blocks + 1))
        self.tail = make_block(block, channels, out_channels=colors * scale * scale, **block_kwargs)
        self.shuffle = nn.PixelShuffle(scale)
        if not any(isinstance(m, FrozenBatchNorm2d) for m in self.modules()):
            self.frozen_bn_at = None  # nothing to freeze (ECB, plain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.acts[0](self.head(x))
        for blk, act in zip(self.body, self.acts[1:]):
            h = act(blk(h))
        # global skip: the input added to each of its s² sub-pixel channels = nearest upsampling (§3.1)
        return self.shuffle(self.tail(h) + x.repeat_interleave(self.scale * self.scale, dim=1))

    def freeze_bn_stats(self) -> int:
        return freeze_bn_stats(self)

    def deploy(self) -> nn.Module:
        """The inference network (a copy): every block replaced by its merged 3×3 conv, PReLUs kept."""
        import copy

        out = copy.deepcopy(self)
        for name in ("head", "tail"):
            if hasattr(getattr(out, name), "deploy"):
                setattr(out, name, getattr(out, name).deploy())
        out.body = nn.ModuleList(b.deploy() if hasattr(b, "deploy") else b for b in out.body)
        out.frozen_bn_at = None
        return out.eval()


def _tiny(block: str, colors: int, defaults: dict | None = None):
    def build(scale: int, blocks: int = 4, channels: int = 16, **kwargs) -> TinySR:
        return TinySR(scale, blocks, channels, block=block, colors=colors, **{**(defaults or {}), **kwargs})
    return build


_TINY = {  # name -> (block, paper, description)
    "repsr": ("repsr", REPSR_PAPER, "RepSR-MxCy (RepSR blocks in ECBSR's MxCy layout), Y input"),
    "repvgg_sr": ("repvgg", REPVGG_PAPER, "RepVGG blocks in ECBSR's MxCy SR layout (RepSR Table 4), Y input"),
    "plain_sr": ("conv3", ECBSR_PAPER, "plain VGG-style MxCy SR net (ECBSR's PlainSR), Y input"),
}
for _name, (_block, _paper, _desc) in _TINY.items():
    register_model(_name, paper=_paper, input="y", description=_desc)(_tiny(_block, 1))
    register_model(f"{_name}_rgb", paper=_paper, input="rgb", description=_desc.replace("Y input", "RGB"))(
        _tiny(_block, 3))


# -- EDSR rows ---------------------------------------------------------------------------------------------

@register_model("edsr_r5c32", paper=EDSR_PAPER, scales=(2, 3, 4))
def edsr_r5c32(scale: int, **kwargs) -> nn.Module:
    """EDSR with 5 residual blocks of 32 channels (RepSR Table 2 D1 'EDSR-R5C32'), EDSR's own layout."""
    return EDSR(scale, **{"num_blocks": 5, "channels": 32, **kwargs})


class BNResidualBlock(nn.Module):
    """EDSR residual block with BN: x + BN(conv(ReLU(BN(conv(x))))) (SRResNet's block, EDSR Fig. 2)."""

    def __init__(self, channels: int, res_scale: float = 1.0):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1), FrozenBatchNorm2d(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1), FrozenBatchNorm2d(channels)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    @torch.no_grad()
    def deploy(self) -> nn.Module:
        """BN folded into each conv (population statistics): conv → ReLU → conv, same residual."""
        out = _FoldedResidualBlock(merged_conv(*fuse_conv_bn(self.conv1.weight, self.conv1.bias, self.bn1)),
                                   merged_conv(*fuse_conv_bn(self.conv2.weight, self.conv2.bias, self.bn2)),
                                   self.res_scale)
        return out


class _FoldedResidualBlock(nn.Module):
    def __init__(self, conv1: nn.Conv2d, conv2: nn.Conv2d, res_scale: float):
        super().__init__()
        self.conv1, self.conv2, self.res_scale = conv1, conv2, res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


class EDSRBN(EDSR):
    """EDSR whose residual blocks carry BN (RepSR Table 1 'w/ BN'; with ``freeze_bn_stats`` 'Proposed')."""

    def __init__(self, scale: int, num_blocks: int = 16, channels: int = 64, res_scale: float = 1.0,
                 frozen_bn_at: float | None = None, **kwargs):
        super().__init__(scale, num_blocks=num_blocks, channels=channels, res_scale=res_scale, **kwargs)
        for i in range(num_blocks):
            self.body[i] = BNResidualBlock(channels, res_scale)
        self.frozen_bn_at = frozen_bn_at

    def freeze_bn_stats(self) -> int:
        return freeze_bn_stats(self)

    def deploy(self) -> nn.Module:
        import copy

        out = copy.deepcopy(self)
        for i, blk in enumerate(out.body):
            if isinstance(blk, BNResidualBlock):
                out.body[i] = blk.deploy()
        return out.eval()


@register_model("edsr_bn", paper=REPSR_PAPER, scales=(2, 3, 4))
def edsr_bn(scale: int, **kwargs) -> nn.Module:
    """EDSR-baseline size (16 blocks, 64 channels) with BN in every residual block (RepSR Table 1)."""
    return EDSRBN(scale, **kwargs)


def is_reparameterisable(model: nn.Module) -> bool:
    """True when the model (or a sub-module) has a ``deploy()`` that changes its structure."""
    return any(callable(getattr(m, "deploy", None)) for m in model.modules())


__all__ = ["FrozenBatchNorm2d", "RepBlock", "TinySR", "deploy_form", "freeze_bn_stats", "is_reparameterisable"]
