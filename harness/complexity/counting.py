"""Complexity columns: parameters, Mult-Adds / FLOPs for a 1280×720 output, #Conv (conventions.md §3).

Conventions (each one is recorded with every count):

- **params**: all parameters, ``sum(p.numel())``; also without biases, trainable only, per top-level
  sub-module, and per upsampler branch for multi-scale models (protocol: ``branch_param_counts``).
- **Mult-Adds** (CARN's definition; RepSR/ECBSR "FLOPs" are the same number): multiply-accumulates of
  convolutions, linear layers, matmul / bmm / einsum and attention, for one image whose *output* is
  1280×720.  Bias and element-wise ops (activations, residual adds, pixel shuffle, pooling, norms) are
  excluded.  fvcore's ``FlopCountAnalysis`` is the primary counter: one multiply-add is one "flop" there.
- **Input tensor**: ``rgb`` models take 3×(720/s)×(1280/s), ``y`` models 1×(720/s)×(1280/s),
  ``y_upscaled`` models (SRCNN, VDSR) the HR-size 1×720×1280.  For ×3, 1280/3 is not an integer:
  ``x3_rounding`` = "ceil" (427×240), "floor" (426×240), or "area" (LR pixels = 1280·720/9: the count
  interpolated between floor and ceil, exact because a conv net's count is affine in each side).
  Every ×3 count records all three; CARN's Table 1 (CARN 118.8 G at ×3) is reproduced only by "area".
- **Deconvolution**: fvcore and ptflops count a transposed conv per *input* pixel (k²·C_in·C_out MACs
  per LR pixel — the true number).  Counting it per *output* pixel instead (as if it were a conv on the
  HR grid) is what reproduces CARN's FSRCNN figures (6.0 / 5.0 / 4.6 G); both totals are recorded.
- **Attention**: fvcore counts matmul and bmm exactly, but generic einsums only to 4 significant
  digits (it parses np.einsum_path's printed report), so two-operand einsums get an exact handler here.
  Nothing counts ``F.scaled_dot_product_attention`` (fvcore, ptflops, thop all give 0), so a handler is
  registered: QKᵀ plus AV = L·S·(E + E_v) per batch and head (scaling and softmax are element-wise,
  excluded; a causal mask is not halved).  Depth-wise and dilated convs are counted by fvcore's conv rule
  (C_in/groups per output; dilation does not change the count).
- **ptflops** (cross-check, at the true size on the meta device): the default ``pytorch`` backend, as
  authors run it, adds bias and counts activations (an ``nn.ReLU`` twice: module hook + ``F.relu``
  patch), pooling and up-sampling; it misses ``@``, einsum, SDPA and functional convs.  Its ``aten``
  backend counts conv / mm / bmm MACs plus bias (on the meta device SDPA and einsum decompose to bmm and
  are counted), so ``aten − bias == fvcore`` checks the extrapolation below at the true size.
- **#Conv** (RepSR Table 2): convolutions *executed* in one forward of the deploy form of the model
  (after re-parameterisation, ``deploy_model``) — a layer whose weights are reused (CARN-M's recursive
  block, a CRB) counts once per call, which is how RepSR's CARN-M figure is counted; for plain VGG-style
  nets calls and layers coincide.  The number of conv layers (``nn.Conv*`` / ``nn.ConvTranspose*``
  modules with trainable weights) is recorded beside it.

Counting at 720p without gigabytes: fvcore traces with ``torch.jit`` on real tensors, and jit tracing
fails on meta tensors (meta kernels receive traced sizes).  So fvcore counts at small sizes
h = r + M·j with r = H mod M, and the count at the true size is obtained by exact polynomial
interpolation in (j_h, j_w): every stride, padding or window division by a divisor of M is affine in j,
so a conv net's count has degree 1 in each of j_h, j_w (degree 2 for global attention over h·w tokens).
The polynomial is fitted with rational arithmetic on a grid and accepted only if it reproduces a
held-out size exactly and gives an integer; ptflops at the true size on the meta device is an
independent check.  ``tests/test_complexity.py`` proves extrapolated == true-size counts on small nets.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from itertools import product
from typing import Any

import torch
from torch import nn

OUTPUT_HW = (720, 1280)  # (H, W) of the output image the papers assume ("720p")
X3_ROUNDINGS = ("ceil", "floor", "area")
X3_DEFAULT = "area"  # what CARN's ×3 Mult-Adds imply (module doc); "ceil"/"floor" count a real tensor
COMPLEXITY_METRICS = ("params", "params_nobias", "multadds", "flops", "convs")

# fvcore operator keys (by_operator) that are multiply-accumulates; everything else fvcore counts by
# default (norms, pooling, up-sampling) is element-wise and excluded from Mult-Adds (conventions.md §3).
MAC_OPERATORS = frozenset({
    "conv", "conv_transpose", "linear", "addmm", "mm", "matmul", "bmm", "baddbmm", "einsum",
    "scaled_dot_product_attention",
})

# Ops with no multiply-accumulates by convention (element-wise, reductions, data movement, interpolation).
# An op that is neither handled nor listed here is reported in ``uncounted_ops``: it may hide MACs.
ZERO_OPS = frozenset((
    "add", "sub", "rsub", "mul", "div", "neg", "pow", "sqrt", "rsqrt", "exp", "log", "abs", "sign", "reciprocal",
    "square", "clamp", "clamp_min", "clamp_max", "minimum", "maximum", "where", "fill", "zero", "lerp", "addcmul",
    "addcdiv", "floor", "ceil", "round", "trunc", "floor_divide", "remainder", "fmod", "relu", "relu6",
    "leaky_relu", "prelu", "elu", "selu", "celu", "gelu", "silu", "sigmoid", "tanh", "hardtanh", "hardswish",
    "hardsigmoid", "softplus", "mish", "softmax", "log_softmax", "threshold", "rrelu", "glu", "mean", "sum", "max",
    "min", "amax", "amin", "std", "var", "norm", "linalg_vector_norm", "frobenius_norm", "cumsum", "argmax",
    "argmin", "sort", "topk", "pixel_shuffle", "pixel_unshuffle", "cat", "concat", "stack", "view", "reshape",
    "permute", "transpose", "flatten", "unflatten", "contiguous", "clone", "expand", "expand_as", "repeat",
    "repeat_interleave", "pad", "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "replication_pad1d",
    "replication_pad2d", "roll", "flip", "rot90", "unfold", "fold", "im2col", "col2im", "chunk", "split",
    "split_with_sizes", "unbind", "narrow", "slice", "select", "index", "index_select", "gather", "scatter",
    "squeeze", "unsqueeze", "t", "numpy_T", "detach", "to", "type_as", "dropout", "feature_dropout",
    "alpha_dropout", "zeros", "ones", "empty", "full", "arange", "linspace", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like", "new_zeros", "new_ones", "new_empty", "new_full",
    "masked_fill", "copy", "Int", "size", "numel", "ScalarImplicit", "eq", "ne", "lt", "gt", "le", "ge",
    "logical_and", "logical_or", "logical_not", "bitwise_not", "__and__", "__or__", "max_pool1d", "max_pool2d",
    "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "upsample_nearest1d", "upsample_nearest2d", "upsample_bilinear2d",
    "upsample_bicubic2d", "upsample_linear1d", "grid_sampler", "affine_grid_generator", "batch_norm", "group_norm",
    "layer_norm", "instance_norm", "local_response_norm", "nonzero",
))


class ComplexityError(RuntimeError):
    """The count could not be made exact (the message says why and what to try)."""


# -- parameters ---------------------------------------------------------------------------------------

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _is_bias(name: str) -> bool:
    return name == "bias" or name.endswith(".bias")


def count_params(model: nn.Module, bias: bool = True, trainable_only: bool = False) -> int:
    """Parameters of ``model`` (all of them by default; conventions.md §3)."""
    return sum(
        p.numel() for n, p in model.named_parameters()
        if (bias or not _is_bias(n)) and (p.requires_grad or not trainable_only)
    )


def count_layer_weights(model: nn.Module) -> int:
    """Weights of conv and linear layers only: no biases, no PReLU / normalisation parameters.

    The count older papers print (SRCNN's 57K, FSRCNN's 12K are the conv kernels alone).
    """
    layers = (*_CONV_TYPES, nn.Linear)
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, layers) and m.weight is not None)


def branch_param_counts(model: nn.Module) -> dict[int, dict[str, int]]:
    """Parameters of each upsampler branch of a multi-scale model (CARN, MDSR), by scale.

    Protocol (either form): ``model.upsampler_branches() -> {scale: nn.Module}`` (preferred: every
    count is available), or ``model.branch_params(scale, biases=True) -> int`` with ``model.scales``
    (as ``harness.models.carn`` has; its weights-only count is taken as the no-bias count).  Counts then
    say "all branches" (CARN's 1,592K) or "the branch of this scale only".  Other models: {}.
    """
    fn = getattr(model, "upsampler_branches", None)
    if callable(fn):
        return {int(s): _param_counts(m) for s, m in fn().items()}
    per_branch, scales = getattr(model, "branch_params", None), getattr(model, "scales", None)
    if callable(per_branch) and scales and len(tuple(scales)) > 1:
        out = {}
        for s in scales:
            nobias = int(per_branch(s, biases=False))
            out[int(s)] = {"params": int(per_branch(s)), "params_nobias": nobias, "params_weights": nobias}
        return out
    return {}


def deploy_model(model: nn.Module) -> tuple[nn.Module, str]:
    """The inference form of a re-parameterisable model (RepSR / ECBSR / RepVGG) and how it was made.

    Protocol: a model with ``fuse() -> nn.Module`` returns its deploy form (itself fused in place, or a
    new module).  Otherwise every sub-module with ``switch_to_deploy()`` (RepVGG, DBB) or
    ``reparameterize()`` is called, in place, on a deep copy.  Other models are returned as built.
    """
    fuse = getattr(model, "fuse", None)
    if callable(fuse):
        return fuse(), "fuse()"
    if any(callable(getattr(m, "deploy", None)) for m in model.modules() if m is not model):  # models.blocks
        from harness.models.blocks import deploy_form

        return deploy_form(model), "deploy() (re-parameterised: merged deploy form, harness.models.blocks)"
    names = ("switch_to_deploy", "reparameterize")
    if any(callable(getattr(m, n, None)) for m in model.modules() for n in names):
        deployed = copy.deepcopy(model)
        for m in list(deployed.modules()):
            for n in names:
                if callable(getattr(m, n, None)):
                    getattr(m, n)()
                    break
        return deployed, "switch_to_deploy()/reparameterize() on a copy"
    return model, "as built"


def _param_counts(model: nn.Module) -> dict[str, int]:
    return {"params": count_params(model), "params_nobias": count_params(model, bias=False),
            "params_weights": count_layer_weights(model)}


def count_convs(model: nn.Module) -> tuple[int, int]:
    """(convolution layers with trainable weights, frozen ones such as a MeanShift 1×1 conv)."""
    convs = [m for m in model.modules() if isinstance(m, _CONV_TYPES)]
    trainable = sum(1 for m in convs if m.weight.requires_grad)
    return trainable, len(convs) - trainable


# -- input shapes ---------------------------------------------------------------------------------------

def _channels(input_kind: str) -> int:
    if input_kind == "rgb":
        return 3
    if input_kind in ("y", "y_upscaled"):
        return 1
    raise ValueError(f"unknown input kind {input_kind!r}; known: rgb, y, y_upscaled")


def input_shape(scale: int, input_kind: str, x3_rounding: str = "ceil",
                output_hw: tuple[int, int] = OUTPUT_HW) -> tuple[int, int, int, int]:
    """N×C×H×W of the tensor fed to the model for an output of ``output_hw`` ("floor"/"ceil" only)."""
    if x3_rounding not in ("ceil", "floor"):
        raise ValueError(f"input_shape needs x3_rounding 'ceil' or 'floor' (a tensor), not {x3_rounding!r}")
    c = _channels(input_kind)
    if input_kind == "y_upscaled":
        return (1, c, *output_hw)
    rnd = math.ceil if x3_rounding == "ceil" else math.floor
    return (1, c, *(int(rnd(d / scale)) for d in output_hw))


# -- fvcore with the handlers this module adds ----------------------------------------------------------

def _shape(val) -> list[int] | None:
    from fvcore.nn.jit_handles import get_shape

    return get_shape(val)


def _prod(xs: Iterable[int]) -> int:
    return math.prod(int(x) for x in xs)


def _handles(side: Counter) -> dict[str, Callable]:
    """fvcore handles: conv split into conv / conv_transpose, SDPA, baddbmm; bias MACs on the side."""
    from fvcore.nn.jit_handles import (
        addmm_flop_jit,
        conv_flop_jit,
        einsum_flop_jit,
        linear_flop_jit,
    )

    def conv(inputs, outputs):
        counts = conv_flop_jit(inputs, outputs)
        out_shape = _shape(outputs[0])
        side["conv_calls"] += 1
        if _shape(inputs[2]) is not None:  # bias: one add per output element
            side["bias"] += _prod(out_shape)
        if inputs[6].toIValue():  # transposed: fvcore counts per input pixel; record per output too
            w = _shape(inputs[1])
            side["deconv_per_input"] += counts["conv"]
            side["deconv_per_output"] += out_shape[0] * _prod(w) * _prod(out_shape[2:])
            return Counter({"conv_transpose": counts["conv"]})
        return counts

    def linear(inputs, outputs):
        if _shape(inputs[2]) is not None:
            side["bias"] += _prod(_shape(outputs[0]))
        return linear_flop_jit(inputs, outputs)

    def addmm(inputs, outputs):
        side["bias"] += _prod(_shape(outputs[0]))
        return addmm_flop_jit(inputs, outputs)

    def sdpa(inputs, outputs):
        # scaled_dot_product_attention(q (…, L, E), k (…, S, E), v (…, S, Ev), …): QKᵀ + AV.
        q, k, v = (_shape(x) for x in inputs[:3])
        return _prod(q[:-1]) * k[-2] * (q[-1] + v[-1])

    def einsum(inputs, outputs):
        # fvcore reads generic einsums from np.einsum_path's report, printed to 4 significant digits;
        # a two-operand einsum is exactly one MAC per combination of all its indices.
        equation = inputs[0].toIValue().replace(" ", "")
        terms = equation.split("->")[0].split(",")
        shapes = [_shape(v) for v in inputs[1].node().inputs()]
        if len(terms) != 2 or "..." in equation or any(sh is None for sh in shapes):
            side["einsum_approximate"] += 1
            return einsum_flop_jit(inputs, outputs)
        sizes = {ch: n for term, sh in zip(terms, shapes) for ch, n in zip(term, sh)}
        return _prod(sizes.values())

    def baddbmm(inputs, outputs):
        a, b = _shape(inputs[1]), _shape(inputs[2])
        return _prod(a) * b[-1]

    return {
        "aten::_convolution": conv,
        "aten::linear": linear,
        "aten::addmm": addmm,
        "aten::scaled_dot_product_attention": sdpa,
        "aten::einsum": einsum,
        "aten::baddbmm": baddbmm,
    }


def _op_name(op: str) -> str:
    name = op.split("::", 1)[-1]
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


def _fvcore_counts(model: nn.Module, shape: tuple[int, ...]) -> tuple[Counter, Counter]:
    """fvcore at one concrete shape on real tensors: (extrapolable counters, unsupported-op occurrences).

    Keys: ``op:<operator>`` (fvcore by_operator), ``mod:<child>`` (MACs of each top-level sub-module),
    ``side:<name>`` (bias MACs, conv calls, deconvolution per input/output pixel).
    """
    from harness.compat import ensure_torchvision

    ensure_torchvision()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fvcore.nn import FlopCountAnalysis

    side: Counter = Counter()
    with torch.no_grad():
        fa = FlopCountAnalysis(model, (torch.zeros(shape),))
        fa.set_op_handle(**_handles(side))
        fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_module = fa.by_module_and_operator()
            unsupported = fa.unsupported_ops()
    counts: Counter = Counter()
    for op, n in per_module[""].items():
        counts[f"op:{op}"] += n
    children = {name for name, _ in model.named_children()}
    for name, ops in per_module.items():
        if name in children:
            counts[f"mod:{name}"] = sum(n for op, n in ops.items() if op in MAC_OPERATORS)
    for k, n in side.items():
        counts[f"side:{k}"] = n
    return counts, Counter(unsupported)


# -- exact extrapolation from small sizes ---------------------------------------------------------------

def _lagrange(nodes: list[int], x: int) -> list[Fraction]:
    out = []
    for i, xi in enumerate(nodes):
        w = Fraction(1)
        for k, xk in enumerate(nodes):
            if k != i:
                w *= Fraction(x - xk, xi - xk)
        out.append(w)
    return out


def _interpolate(samples: dict[tuple[int, int], Counter], nodes: list[int], at: tuple[int, int]) -> dict[str, Fraction]:
    """Tensor-product Lagrange interpolation of every counter on the grid ``nodes × nodes`` at ``at``."""
    lh, lw = _lagrange(nodes, at[0]), _lagrange(nodes, at[1])
    keys = set().union(*samples.values())
    out: dict[str, Fraction] = {}
    for key in keys:
        out[key] = sum((lh[i] * lw[k] * samples[(a, b)].get(key, 0)
                        for (i, a), (k, b) in product(enumerate(nodes), enumerate(nodes))), Fraction(0))
    return out


@dataclass
class _Extrapolated:
    counts: dict[str, int]
    how: str
    degree: int


def extrapolate_counts(counter: Callable[[tuple[int, int]], Counter], target_hw: tuple[int, int], *,
                       modulus: int = 8, min_side: int = 8, max_degree: int = 2) -> _Extrapolated:
    """Exact counts at ``target_hw`` from counts at small sizes congruent to it modulo ``modulus``.

    ``counter((h, w))`` returns integer counters at one size.  Sizes are h = r_h + M·j, w = r_w + M·j
    for j on a grid; the counters are interpolated as polynomials of degree d ≤ ``max_degree`` in each of
    (j_h, j_w) and accepted only if a held-out size (outside the grid in both sides, asymmetric) is
    reproduced exactly and the values at the target are integers.  Sizes are kept small: fvcore runs the
    model for real while it traces.
    """
    (H, W), M = target_hw, modulus
    r = (H % M, W % M)
    j0 = max(1, math.ceil((min_side - min(r)) / M))
    cache: dict[tuple[int, int], Counter] = {}

    def at(jh: int, jw: int) -> Counter:
        if (jh, jw) not in cache:
            cache[(jh, jw)] = counter((r[0] + M * jh, r[1] + M * jw))
        return cache[(jh, jw)]

    for attempt in range(3):  # a model may reject the smallest sizes (valid convs, down-sampling)
        try:
            at(j0, j0)
            break
        except (RuntimeError, ValueError) as exc:
            if attempt == 2:
                raise ComplexityError(f"the model fails at small sizes (h, w ≈ {r[0] + M * j0}): {exc}") from exc
            j0 += 1

    target = ((H - r[0]) // M, (W - r[1]) // M)
    reasons = []
    for degree in range(1, max_degree + 1):
        nodes = list(range(j0, j0 + degree + 1))
        grid = {(a, b): at(a, b) for a, b in product(nodes, nodes)}
        held_out = (j0 + degree + 1, j0 + degree + 2)
        predicted, actual = _interpolate(grid, nodes, held_out), at(*held_out)
        bad = [k for k in set(predicted) | set(actual) if predicted.get(k, 0) != actual.get(k, 0)]
        if bad:
            reasons.append(f"degree {degree}: the held-out size disagrees on {sorted(bad)[:4]}")
            continue
        values = {k: Fraction(v) for k, v in cache[target].items()} if target in cache \
            else _interpolate(grid, nodes, target)
        if any(v.denominator != 1 for v in values.values()):
            reasons.append(f"degree {degree}: non-integer value at the target")
            continue
        hs = sorted({r[0] + M * a for a, _ in cache})
        ws = sorted({r[1] + M * b for _, b in cache})
        how = (f"fvcore at {len(cache)} small sizes (h in {hs}, w in {ws}; ≡ target mod {M}), extrapolated "
               f"exactly as a polynomial of degree {degree} in each side, verified on a held-out size")
        return _Extrapolated({k: int(v) for k, v in values.items() if v}, how, degree)
    raise ComplexityError(
        f"counts are not a polynomial of degree ≤ {max_degree} in the image sides ({'; '.join(reasons)}); "
        "count at the true size (method='true-size') if memory allows"
    )


# -- ptflops at the true size on the meta device --------------------------------------------------------

def _ptflops(model: nn.Module, shape: tuple[int, ...], backend: str) -> int | None:
    """ptflops MACs for one input of ``shape``, on the model's device (a meta copy computes nothing)."""
    from harness.compat import ensure_torchvision

    ensure_torchvision()
    from ptflops import get_model_complexity_info

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), torch.no_grad(), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = get_model_complexity_info(
            model, tuple(shape[1:]), as_strings=False, print_per_layer_stat=False, backend=backend,
            input_constructor=lambda res: torch.empty((1, *res), device=device),
        )
    return None if macs is None else int(macs)


# -- the result -----------------------------------------------------------------------------------------

@dataclass
class Complexity:
    """Everything counted for one model at one scale (numbers are MACs unless named params/convs)."""

    scale: int
    input_kind: str
    x3_rounding: str
    lr_shape: tuple[float, ...]  # N×C×H×W counted; for "area" the fractional LR size
    params: int  # all parameters of the deploy form
    params_nobias: int
    params_trainable: int
    params_weights: int  # conv/linear weights only (no biases, PReLU or norm parameters)
    params_train_form: int  # before re-parameterisation (== params when the model has none)
    branch_params: dict[int, dict[str, int]]  # multi-scale models: scale -> params, params_nobias, params_weights
    macs_fvcore: float  # Mult-Adds: conv/linear/matmul/einsum/SDPA, bias and element-wise excluded
    macs_bias: float  # one add per output element of biased conv/linear layers
    macs_deconv_per_output: float  # macs_fvcore with transposed convs counted per output pixel
    macs_ptflops: float | None  # ptflops default (pytorch) backend
    macs_ptflops_aten: float | None  # ptflops aten backend: MACs + bias, no activations
    ptflops_aten_residual: float | None  # macs_ptflops_aten − macs_bias − macs_fvcore (0: counts agree)
    by_operator: dict[str, float]  # fvcore MACs per operator
    elementwise_fvcore: dict[str, float]  # what fvcore also counts by default, excluded here
    per_module: dict[str, dict[str, float]]  # top-level sub-module -> params, params_nobias, macs
    convs: int  # conv layers (modules with trainable weights) of the deploy form
    convs_frozen: int
    conv_calls: int  # convolutions executed in one forward (shared weights count each call): #Conv
    uncounted_ops: dict[str, int]  # ops without a handler that are not zero by convention
    zero_ops: dict[str, int]  # ops that are zero by convention (element-wise, pixel shuffle, ...)
    x3: dict[str, float] = field(default_factory=dict)  # ×3: MACs under each rounding convention
    deployed: str = "as built"
    method: str = ""
    notes: list[str] = field(default_factory=list)
    counted_for: str = "a 1280×720 output"  # or "the stated input N×C×H×W" (suite count.input)

    @property
    def gmacs(self) -> float:
        return self.macs_fvcore / 1e9

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a cell's reason: the count, its convention and the cross-check."""
        dims = "×".join(f"{d:g}" if float(d).is_integer() else f"{d:.2f}" for d in self.lr_shape[1:])
        text = (f"fvcore MACs {self.macs_fvcore / 1e9:.4f} G for {self.counted_for}, input {dims} "
                f"({self.input_kind}), bias and element-wise excluded")
        if self.macs_ptflops is not None:
            text += (f"; ptflops {self.macs_ptflops / 1e9:.4f} G (default backend: incl. bias "
                     f"{self.macs_bias / 1e9:.4f} G and activations)")
        return text


def _combine(parts: list[tuple[float, dict]]) -> dict[str, Any]:
    """Weighted sum of the MAC fields of counts at several shapes (bilinear interpolation for "area")."""
    def mix(get):
        vals = [get(c) for _, c in parts]
        if any(v is None for v in vals):
            return None
        total = sum((Fraction(w) * v for (w, _), v in zip(parts, vals)), Fraction(0))
        return int(total) if total.denominator == 1 else float(total)

    def mix_dict(get):
        keys = set().union(*(get(c) for _, c in parts))
        return {k: mix(lambda c, k=k: get(c).get(k, 0)) for k in sorted(keys)}

    return {
        **{k: mix(lambda c, k=k: c[k]) for k in
           ("macs_fvcore", "macs_bias", "macs_deconv_per_output", "macs_ptflops", "macs_ptflops_aten",
            "ptflops_aten_residual")},
        "by_operator": mix_dict(lambda c: c["by_operator"]),
        "elementwise_fvcore": mix_dict(lambda c: c["elementwise_fvcore"]),
        "per_module": mix_dict(lambda c: c["per_module"]),
    }


# -- counting -------------------------------------------------------------------------------------------

def count_complexity(model: nn.Module, scale: int, input_kind: str, x3_rounding: str = X3_DEFAULT, *,
                     method: str = "extrapolate", modulus: int = 8, ptflops: bool = True,
                     shape: tuple[int, ...] | None = None) -> Complexity:
    """Count params, Mult-Adds (fvcore, ptflops), #Conv of ``model`` for a 1280×720 output at ``scale``.

    ``method``: "extrapolate" (default: fvcore at small sizes, exact interpolation, see module doc) or
    "true-size" (fvcore traces real tensors of the full size: memory-heavy, for tests and checks).
    When 1280/s or 720/s is not an integer (×3), both integer LR sizes are counted and ``x3`` records
    the MACs under every rounding convention; ``x3_rounding`` picks the one reported.  ``shape``: count
    at this N×C×H×W input instead (a paper's stated input, or a block's feature map), no 720p convention.
    """
    if x3_rounding not in X3_ROUNDINGS:
        raise ValueError(f"x3_rounding must be one of {X3_ROUNDINGS}, not {x3_rounding!r}")
    if method not in ("extrapolate", "true-size"):
        raise ValueError(f"method must be 'extrapolate' or 'true-size', not {method!r}")
    train_params = count_params(model)
    # Window/graph models pad their input to a multiple (``pad_multiple``): count at sizes congruent modulo it,
    # else sizes that all pad to one size would fit a constant and extrapolate wrongly.
    modulus = math.lcm(modulus, *(int(getattr(m, "pad_multiple", 1)) for m in model.modules()))
    deployed, how = deploy_model(model)
    floor, ceil = input_shape(scale, input_kind, "floor"), input_shape(scale, input_kind, "ceil")
    if shape is not None:
        floor = ceil = tuple(int(d) for d in shape)
    exact = floor == ceil
    # LR size under "area": the fractional 720/s × 1280/s (the HR size itself for y_upscaled models)
    area_hw = OUTPUT_HW if input_kind == "y_upscaled" else tuple(Fraction(d, scale) for d in OUTPUT_HW)

    was_training, threads = deployed.training, torch.get_num_threads()
    deployed.eval()
    # One thread: the small traced forwards gain nothing from intra-op threads, and on shared cores
    # OpenMP spin-waiting made counting ~8× slower (measured: 127 s vs 15 s for four zoo models).
    torch.set_num_threads(1)
    try:
        counted: dict[tuple, dict] = {}
        meta = meta_copy(deployed) if ptflops else None

        def at(shape: tuple[int, ...]) -> dict:
            if shape not in counted:
                counted[shape] = _count_at(deployed, meta, shape, method, modulus)
            return counted[shape]

        if exact:
            values = base = at(floor)
            x3: dict[str, float] = {}
        else:
            # bilinear in (h, w) between the floor and ceil sizes; exact for counts affine in each side
            th, tw = (a - f for a, f in zip(area_hw, floor[2:]))
            corners = [((1 - th) * (1 - tw), floor[2], floor[3]), ((1 - th) * tw, floor[2], ceil[3]),
                       (th * (1 - tw), ceil[2], floor[3]), (th * tw, ceil[2], ceil[3])]
            area = _combine([(w, at((*floor[:2], h, wd))) for w, h, wd in corners if w])
            x3 = {"ceil": at(ceil)["macs_fvcore"], "floor": at(floor)["macs_fvcore"], "area": area["macs_fvcore"]}
            base = at(ceil) if x3_rounding == "ceil" else at(floor)
            values = area if x3_rounding == "area" else base
    finally:
        deployed.train(was_training)
        torch.set_num_threads(threads)

    lr_shape = (*floor[:2], *(float(d) for d in area_hw)) if x3_rounding == "area" and not exact else base["shape"]
    per_module = {
        name: {"params": count_params(child), "params_nobias": count_params(child, bias=False),
               "macs": values["per_module"].get(name, 0)}
        for name, child in deployed.named_children()
    }
    own = sum(p.numel() for p in deployed.parameters(recurse=False))
    if own:
        per_module["(own parameters)"] = {"params": own, "params_nobias": own, "macs": 0}
    convs, frozen = count_convs(deployed)

    notes = list(base["notes"])
    if x3_rounding == "area" and not exact and any(c["degree"] > 1 for c in counted.values()):
        notes.append("counts are not affine in the image sides (attention?): the 'area' value is an "
                     "interpolation, not an exact count; see x3 for the integer sizes")
    if x3_rounding == "area" and not exact:
        notes.append(f"'area' LR size {float(area_hw[0]):g}×{float(area_hw[1]):.3f}: counts interpolated "
                     f"between {floor[2:]} and {ceil[2:]} (exact for counts affine in each side)")
    if values["macs_deconv_per_output"] != values["macs_fvcore"]:
        notes.append("transposed convs counted per input pixel (fvcore, ptflops); per output pixel the "
                     f"total is {values['macs_deconv_per_output'] / 1e9:.4f} G")
    if base["uncounted"]:
        notes.append(f"ops without a MAC handler, not counted: {dict(base['uncounted'])}")
    if base["einsum_approximate"]:
        notes.append(f"{base['einsum_approximate']} einsum(s) with 3+ operands or '...': fvcore's count, "
                     "read from np.einsum_path to 4 significant digits")

    return Complexity(
        scale=scale, input_kind=input_kind, x3_rounding=x3_rounding, lr_shape=lr_shape,
        params=count_params(deployed), params_nobias=count_params(deployed, bias=False),
        params_trainable=count_params(deployed, trainable_only=True), params_train_form=train_params,
        params_weights=count_layer_weights(deployed),
        branch_params=branch_param_counts(deployed),
        macs_fvcore=values["macs_fvcore"], macs_bias=values["macs_bias"],
        macs_deconv_per_output=values["macs_deconv_per_output"],
        macs_ptflops=values["macs_ptflops"], macs_ptflops_aten=values["macs_ptflops_aten"],
        ptflops_aten_residual=values["ptflops_aten_residual"], by_operator=values["by_operator"],
        elementwise_fvcore=values["elementwise_fvcore"],
        per_module=per_module, convs=convs, convs_frozen=frozen, conv_calls=base["conv_calls"],
        uncounted_ops=dict(base["uncounted"]), zero_ops=dict(base["zero"]), x3=x3,
        deployed=how, method=base["method"], notes=notes,
        counted_for=f"the stated input {'×'.join(map(str, floor))}" if shape is not None else "a 1280×720 output",
    )


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device, made without copying any parameter or buffer data."""
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def _count_at(model: nn.Module, meta: nn.Module | None, shape: tuple[int, ...], method: str,
              modulus: int) -> dict:
    """fvcore (extrapolated or true-size) and ptflops (``meta`` copy, true size) at one input shape."""
    n, ch, H, W = shape
    notes: list[str] = []
    if method == "true-size":
        counts, unsupported = _fvcore_counts(model, shape)
        how, degree = "fvcore traced at the true size", 1
    else:
        last_unsupported: list[Counter] = []

        def counter(hw):
            c, u = _fvcore_counts(model, (n, ch, *hw))
            last_unsupported[:] = [u]
            return c

        try:
            ex = extrapolate_counts(counter, (H, W), modulus=modulus)
        except ComplexityError:
            if modulus >= 32:
                raise
            ex = extrapolate_counts(counter, (H, W), modulus=32)
        counts, unsupported, how, degree = ex.counts, last_unsupported[0], ex.how, ex.degree

    by_op = {k[3:]: v for k, v in counts.items() if k.startswith("op:")}
    macs_ops = {k: v for k, v in by_op.items() if k in MAC_OPERATORS}
    macs = sum(macs_ops.values())
    side = {k[5:]: v for k, v in counts.items() if k.startswith("side:")}
    deconv_alt = macs - side.get("deconv_per_input", 0) + side.get("deconv_per_output", 0)

    pt = pt_aten = None
    if meta is not None:
        try:
            pt = _ptflops(meta, shape, "pytorch")
            pt_aten = _ptflops(meta, shape, "aten")
        except Exception as exc:  # noqa: BLE001 — a cross-check must not sink the count
            notes.append(f"ptflops failed on the meta device: {type(exc).__name__}: {exc}")
        if pt is None and not notes:
            notes.append("ptflops returned no count (its forward failed on the meta device)")
        # independent check at the true size: ptflops' aten backend counts conv/mm/bmm MACs plus bias
        residual = None if pt_aten is None else pt_aten - side.get("bias", 0) - macs
        if residual:
            notes.append(f"ptflops(aten) − bias − fvcore = {residual:,} MACs at the true size (0 expected: "
                         "an op one of the two counters does not see)")

    uncounted = Counter({op: k for op, k in unsupported.items() if _op_name(op) not in ZERO_OPS})
    zero = Counter({op: k for op, k in unsupported.items() if _op_name(op) in ZERO_OPS})
    return {
        "shape": tuple(shape), "macs_fvcore": macs, "macs_bias": side.get("bias", 0),
        "macs_deconv_per_output": deconv_alt, "macs_ptflops": pt, "macs_ptflops_aten": pt_aten,
        "by_operator": macs_ops, "elementwise_fvcore": {k: v for k, v in by_op.items() if k not in MAC_OPERATORS},
        "per_module": {k[4:]: v for k, v in counts.items() if k.startswith("mod:")},
        "conv_calls": side.get("conv_calls", 0), "uncounted": uncounted, "zero": zero,
        "einsum_approximate": side.get("einsum_approximate", 0),
        "method": how, "degree": degree, "notes": notes,
        "ptflops_aten_residual": None if pt_aten is None else pt_aten - side.get("bias", 0) - macs,
    }
