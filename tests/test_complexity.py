"""Complexity counting (harness/complexity.py): published figures, analytic sums, counter agreement, exactness.

The figures reproduced here are architecture facts (SRCNN 9-5-5: 57,184 weights, 52.7 G Mult-Adds at
720p, CARN Table 1); everything else is compared against sums computed in the test from layer shapes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.complexity import (
    X3_DEFAULT,
    ComplexityError,
    _fvcore_counts,
    _ptflops,
    count_complexity,
    count_params,
    explain_macs,
    explain_params,
    extrapolate_counts,
    input_shape,
    measure_complexity,
    meta_copy,
    printed_tolerance,
)
from harness.measure import MeasureContext
from harness.models import create_model, get_spec, list_models
from harness.suite import Entry, PaperCell, Suite

REPO = Path(__file__).resolve().parent.parent
HR = 720 * 1280


def conv_macs(cin: int, cout: int, k: int, pixels: int, groups: int = 1) -> int:
    """Multiply-accumulates of a k×k convolution producing ``pixels`` output pixels."""
    return k * k * (cin // groups) * cout * pixels


# -- published figures --------------------------------------------------------------------------------

def _srcnn_955() -> nn.Module:
    if "srcnn" in list_models():
        assert get_spec("srcnn").input == "y_upscaled"
        return create_model("srcnn", 4)
    return nn.Sequential(nn.Conv2d(1, 64, 9, padding=4), nn.ReLU(), nn.Conv2d(64, 32, 5, padding=2), nn.ReLU(),
                         nn.Conv2d(32, 1, 5, padding=2))


def test_srcnn_955_reproduces_57k_and_52_7g():
    threads = torch.get_num_threads()
    c = count_complexity(_srcnn_955(), 4, "y_upscaled")
    assert torch.get_num_threads() == threads  # counting runs single-threaded, then restores the setting
    assert c.lr_shape == (1, 1, 720, 1280)  # SRCNN filters the bicubic-upscaled HR-size Y image
    assert c.params_weights == c.params_nobias == 9 * 9 * 64 + 5 * 5 * 64 * 32 + 5 * 5 * 32 == 57_184
    assert c.params == 57_184 + 64 + 32 + 1
    assert c.macs_fvcore == 57_184 * HR
    assert f"{c.macs_fvcore / 1e9:.1f}G" == "52.7G"
    assert "conv/linear weights only" in explain_params(57_000, c, "57K")
    assert explain_macs(52.7, c, "52.7G").startswith("printed 52.7G is reproduced by fvcore MACs")


# -- EDSR-baseline against the analytic per-layer sum ---------------------------------------------------

def edsr_baseline_analytic(scale: int, h: int, w: int) -> int:
    """EDSR-baseline (16 RB, 64 ch) MACs for an LR input h×w, from its layer shapes (Lim et al. Fig. 3)."""
    lr = h * w
    total = conv_macs(3, 64, 3, lr)  # head
    total += 16 * 2 * conv_macs(64, 64, 3, lr) + conv_macs(64, 64, 3, lr)  # 16 RBs + body conv
    if scale == 3:
        total += conv_macs(64, 9 * 64, 3, lr)
    else:
        for stage in range({2: 1, 4: 2}[scale]):  # conv 64->256 at the current size, then ×2 shuffle
            total += conv_macs(64, 256, 3, lr * 4 ** stage)
    return total + conv_macs(64, 3, 3, lr * scale * scale)  # tail on the HR grid


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_baseline_720p_equals_analytic_sum(scale):
    c = count_complexity(create_model("edsr_baseline", scale), scale, "rgb", "ceil")
    h, w = -(-720 // scale), -(-1280 // scale)
    assert c.lr_shape == (1, 3, h, w)
    assert c.macs_fvcore == edsr_baseline_analytic(scale, h, w)
    assert c.by_operator == {"conv": c.macs_fvcore}
    if scale == 4:
        assert c.params == 1_517_571  # EDSR-baseline ×4, "1.5M"
    assert c.ptflops_aten_residual == 0  # independent true-size count on the meta device agrees
    assert c.convs == c.conv_calls == 36 + (scale == 4)
    if scale == 3:
        assert c.x3["floor"] == edsr_baseline_analytic(3, 240, 426)
        assert c.x3["ceil"] == edsr_baseline_analytic(3, 240, 427)


def test_shared_weights_count_per_call():
    # CRB (ε = 2) runs each RB body twice with the same weights: MACs and #Conv count each call, params once.
    c = count_complexity(create_model("edsr_crb", 4), 4, "rgb", ptflops=False)
    lr = 180 * 320
    assert c.macs_fvcore == edsr_baseline_analytic(4, 180, 320) + 16 * 2 * conv_macs(64, 64, 3, lr)
    assert (c.convs, c.conv_calls, c.params) == (37, 16 * 4 + 5, 1_517_571)


# -- fvcore vs ptflops --------------------------------------------------------------------------------

class ConvOnly(nn.Module):
    """Convs with bias (plain, depth-wise, dilated, strided) and nn.ReLU modules."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16)
        self.c2 = nn.Conv2d(16, 8, 3, padding=1, stride=2)
        self.c3 = nn.Conv2d(8, 3 * 8 * 8, 1)  # then pixel shuffle ×8: ×4 overall
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.c1(x))
        x = self.relu(self.dw(x))
        x = self.relu(self.c2(x))
        return F.pixel_shuffle(self.c3(x), 8)


def test_fvcore_and_ptflops_agree_after_documented_terms():
    c = count_complexity(ConvOnly(), 4, "rgb")
    lr, half = 180 * 320, 90 * 160
    macs = conv_macs(3, 16, 3, lr) + conv_macs(16, 16, 3, lr, groups=16) + conv_macs(16, 8, 3, half) \
        + conv_macs(8, 192, 1, half)
    bias = 16 * lr + 16 * lr + 8 * half + 192 * half
    relu_elements = 16 * lr + 16 * lr + 8 * half
    assert c.macs_fvcore == macs  # depth-wise: C_in/groups; dilation does not change the count
    assert c.macs_bias == bias
    assert c.macs_ptflops_aten - c.macs_bias == c.macs_fvcore
    # ptflops' default backend: bias, plus each nn.ReLU output counted twice (module hook + F.relu patch)
    assert c.macs_ptflops - c.macs_bias - 2 * relu_elements == c.macs_fvcore
    assert c.zero_ops.get("aten::pixel_shuffle") == 1 and not c.uncounted_ops


def test_transposed_conv_counted_per_input_pixel_with_per_output_alternative():
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1),
                        nn.ConvTranspose2d(8, 1, 9, stride=4, padding=4, output_padding=3))
    c = count_complexity(net, 4, "y")
    lr = 180 * 320
    assert c.by_operator == {"conv": conv_macs(1, 8, 3, lr), "conv_transpose": 81 * 8 * lr}
    assert c.macs_deconv_per_output == conv_macs(1, 8, 3, lr) + 81 * 8 * HR
    assert c.macs_ptflops_aten - c.macs_bias == c.macs_fvcore  # ptflops also counts per input pixel


# -- attention --------------------------------------------------------------------------------------------

class Attention(nn.Module):
    """Global self-attention over the h·w tokens of a 1×1-conv embedding, in one of three forms."""

    def __init__(self, form: str, dim: int = 8):
        super().__init__()
        self.form, self.qkv, self.proj = form, nn.Conv2d(3, 3 * dim, 1), nn.Conv2d(dim, 3, 1)

    def forward(self, x):
        n, _, h, w = x.shape
        q, k, v = self.qkv(x).flatten(2).transpose(1, 2).chunk(3, dim=-1)  # (n, hw, dim) each
        scale = q.shape[-1] ** -0.5
        if self.form == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v)
        elif self.form == "matmul":
            out = torch.softmax(q @ k.transpose(1, 2) * scale, dim=-1) @ v
        else:
            attn = torch.softmax(torch.einsum("bld,bsd->bls", q, k) * scale, dim=-1)
            out = torch.einsum("bls,bsd->bld", attn, v)
        return self.proj(out.transpose(1, 2).reshape(n, -1, h, w))


def test_attention_counts_the_same_as_matmul_einsum_and_sdpa():
    # Count at a 64×96 output (16×24 LR, 384 tokens) so the true size can be traced too.
    def count(form):
        counts, _ = _fvcore_counts(Attention(form).eval(), (1, 3, 16, 24))
        return sum(v for k, v in counts.items() if k.startswith("op:"))

    tokens, dim = 16 * 24, 8
    expected = conv_macs(3, 24, 1, tokens) + conv_macs(8, 3, 1, tokens) + 2 * tokens * tokens * dim  # QKᵀ, AV
    forms = ("sdpa", "matmul", "einsum")
    assert {f: count(f) for f in forms} == dict.fromkeys(forms, expected)


def test_sdpa_is_zero_without_the_handler():
    # The reason the handler exists: fvcore alone sees no MACs in SDPA (conventions.md §3).
    from fvcore.nn import FlopCountAnalysis

    fa = FlopCountAnalysis(Attention("sdpa").eval(), (torch.zeros(1, 3, 8, 8),))
    fa.unsupported_ops_warnings(False)
    assert fa.total() == conv_macs(3, 24, 1, 64) + conv_macs(8, 3, 1, 64)
    assert "aten::scaled_dot_product_attention" in fa.unsupported_ops()


def test_global_attention_extrapolates_with_degree_two_at_720p():
    c = count_complexity(Attention("sdpa"), 4, "rgb", ptflops=False)
    tokens = 180 * 320
    assert "degree 2" in c.method
    assert c.macs_fvcore == conv_macs(3, 24, 1, tokens) + conv_macs(8, 3, 1, tokens) + 2 * tokens**2 * 8


# -- memory-light counting == true-size counting ------------------------------------------------------------

class SmallSR(nn.Module):
    """A small SR net with the parts that could break linearity: stride, deconv, pooling (CA), shuffle."""

    def __init__(self, scale: int):
        super().__init__()
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1)
        self.ca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 8, 1),
                                nn.Sigmoid())
        self.tail = nn.Sequential(nn.Conv2d(8, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x):
        x = self.head(x)
        y = self.up(self.down(x))[..., : x.shape[-2], : x.shape[-1]]
        return self.tail(x + y * self.ca(y))


@pytest.mark.parametrize("scale", [3, 4])
def test_extrapolated_count_equals_true_size_count(scale):
    model = SmallSR(scale)
    small = count_complexity(model, scale, "rgb", "ceil", method="extrapolate")
    full = count_complexity(model, scale, "rgb", "ceil", method="true-size")
    assert "extrapolated exactly" in small.method and full.method == "fvcore traced at the true size"
    for field in ("macs_fvcore", "macs_bias", "macs_deconv_per_output", "by_operator", "elementwise_fvcore",
                  "per_module", "conv_calls", "x3", "macs_ptflops", "macs_ptflops_aten"):
        assert getattr(small, field) == getattr(full, field), field
    assert small.elementwise_fvcore["adaptive_avg_pool2d"] > 0  # fvcore counts pooling; excluded from MACs


def test_ptflops_on_meta_equals_ptflops_on_real_tensors():
    model = SmallSR(4).eval()
    shape = input_shape(4, "rgb")
    for backend in ("pytorch", "aten"):
        assert _ptflops(meta_copy(model), shape, backend) == _ptflops(model, shape, backend)
    assert all(p.device.type == "cpu" for p in model.parameters())  # the meta copy left the model alone


def test_extrapolation_rejects_counts_that_are_not_polynomial():
    with pytest.raises(ComplexityError, match="not a polynomial"):
        extrapolate_counts(lambda hw: Counter({"op:x": 2 ** (hw[0] // 8)}), (720, 1280))


# -- ×3 conventions ----------------------------------------------------------------------------------------

def test_x3_conventions_and_area_interpolation():
    c = count_complexity(create_model("edsr_baseline", 3), 3, "rgb", "area")
    assert X3_DEFAULT == "area"
    assert c.lr_shape == (1, 3, 240.0, 1280 / 3)
    assert c.x3["floor"] < c.x3["area"] < c.x3["ceil"]
    # LR pixels = 1280·720/9 for the LR part; the tail conv on exactly 1280×720 HR pixels
    per_lr_pixel = edsr_baseline_analytic(3, 1, 1) - conv_macs(64, 3, 3, 9)
    assert c.macs_fvcore == per_lr_pixel * 102_400 + conv_macs(64, 3, 3, HR)
    assert input_shape(3, "y", "floor") == (1, 1, 240, 426) and input_shape(3, "y", "ceil") == (1, 1, 240, 427)


# -- parameters and protocols ---------------------------------------------------------------------------

class MultiScale(nn.Module):
    """A CARN-like multi-scale model: one body, an upsampler branch per scale."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        self.body = nn.Conv2d(3, 16, 3, padding=1)
        self.up = nn.ModuleDict({str(s): nn.Sequential(nn.Conv2d(16, 3 * s * s, 3, padding=1), nn.PixelShuffle(s))
                                 for s in (2, 3, 4)})

    def upsampler_branches(self):
        return {int(s): m for s, m in self.up.items()}

    def forward(self, x):
        return self.up[str(self.scale)](self.body(x))


def test_explain_params_names_the_convention():
    c = count_complexity(MultiScale(4), 4, "rgb", ptflops=False)
    weights = 3 * 9 * 16 + sum(16 * 9 * 3 * s * s for s in (2, 3, 4))
    assert c.params_nobias == weights and c.params == weights + 16 + 3 * (4 + 9 + 16)
    assert "parameters without biases, all 3 upsampler branches" in explain_params(weights, c)
    one = c.params - 16 * 9 * 3 * (4 + 9) - 3 * (4 + 9)
    text = explain_params(one, c)
    assert text.startswith("printed") and "all parameters (weights and biases), only the ×4 upsampler branch" in text
    assert explain_params(c.params * 2, c).startswith("no counting convention reproduces")
    assert count_params(MultiScale(2)) == c.params


def test_printed_tolerance():
    assert printed_tolerance("1,592K", 1_592_000) == 500
    assert printed_tolerance("52.7G", 52.7, unit=1e9) == pytest.approx(0.05)
    assert printed_tolerance("9,788.7", 9788.7, unit=1e9) == pytest.approx(0.05)
    assert printed_tolerance("57.00", 57_000) == pytest.approx(5)  # a column printed in K


class Reparam(nn.Module):
    """Training form: 3×3 + 1×1 branches; ``fuse()`` returns one 3×3 conv (the protocol of deploy_model)."""

    def __init__(self):
        super().__init__()
        self.k3, self.k1 = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.k3(x) + self.k1(x)

    def fuse(self):
        fused = nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            fused.weight.copy_(self.k3.weight + F.pad(self.k1.weight, (1, 1, 1, 1)))
            fused.bias.copy_(self.k3.bias + self.k1.bias)
        return fused


def test_counts_use_the_deploy_form():
    model = Reparam()
    c = count_complexity(model, 2, "rgb", ptflops=False)  # a 3->3 "SR" net at LR size: 640×360
    x = torch.rand(1, 3, 5, 5)
    torch.testing.assert_close(model.fuse()(x), model(x))
    assert (c.convs, c.params, c.params_train_form, c.deployed) == (1, 84, 84 + 12, "fuse()")
    assert c.macs_fvcore == conv_macs(3, 3, 3, 360 * 640)


# -- the runner's kind ------------------------------------------------------------------------------------

def _ctx(entry: Entry) -> MeasureContext:
    suite = Suite(id="t", paper="p", table="T", entries=[entry])
    return MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=None, weights_dir=None)


def test_measure_complexity_kind():
    entry = Entry(id="edsr", row="EDSR", model="edsr_baseline", obtain="compute", scale=4, measure=["convs"],
                  paper=[PaperCell(metric="multadds", value=114.2, printed="114.2G"),
                         PaperCell(metric="params", value=1_518_000, printed="1,518K")])
    got = {m.metric: m for m in measure_complexity(_ctx(entry), entry)}
    assert set(got) == {"params", "multadds", "convs"}
    assert got["params"].value == 1_517_571 and got["params"].extra["params_nobias"] == 1_514_880
    assert "printed 1,518K is reproduced by all parameters" in got["params"].reason
    assert got["multadds"].value == pytest.approx(114.2304768)
    assert "fvcore" in got["multadds"].reason and "ptflops" in got["multadds"].reason
    assert "input 3×180×320" in got["multadds"].reason
    assert got["multadds"].extra["lr_shape"] == (1, 3, 180, 320)
    assert got["convs"].value == 37 and all(m.status is None for m in got.values())
    json.dumps([m.extra for m in got.values()])  # cells must be JSON-serialisable


def test_measure_complexity_blocks_bicubic_and_paper_only():
    block = Entry(id="crb", row="CRB", model="crb", obtain="compute", kwargs={"channels": 64},
                  paper=[PaperCell(metric="params", value=73856, printed="73,856")])
    (m,) = measure_complexity(_ctx(block), block)
    assert (m.metric, m.value, m.scale) == ("params", 73_856, None)
    bicubic = Entry(id="bic", row="Bicubic", model="bicubic", obtain="compute", scale=4)
    paper = Entry(id="x", row="X", obtain="paper-only", reason="no code", scale=4,
                  paper=[PaperCell(metric="params", value=1, printed="1")])
    assert measure_complexity(_ctx(bicubic), bicubic) == [] == measure_complexity(_ctx(paper), paper)


# -- the whole zoo: a measurement, recorded in the output -----------------------------------------------------

def test_zoo_counting_cost_and_consistency(record_property):
    """Counts every registered model at every scale in a fresh process; records wall/CPU time and peak RSS.

    Time and memory are recorded, not asserted (2 shared cores make them noisy; the target is under a
    minute and 2 GiB).  What is asserted: every count succeeds, and the independent true-size ptflops
    count agrees (aten − bias == fvcore) wherever no attention op is involved.
    """
    from harness.models import list_models

    # Transformer / graph hosts and full-size networks take minutes each on 2 cores; the suites count them at
    # 720p in `reproduce`, and their own tests (test_crb_hosts, test_stea_models) count them at small sizes.
    heavy = {"ipg_scaled", "srformer_scaled", "labnet", "realnet", "rcan", "edsr"}
    models = [m for m in list_models() if m not in heavy]
    proc = subprocess.run([sys.executable, "-m", "harness.complexity", "--json", *models], cwd=REPO,
                          capture_output=True, text=True, timeout=1800, check=False,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    for key in ("wall_s", "cpu_s", "peak_rss_mib", "counts"):
        record_property(key, report[key] if key != "counts" else len(report[key]))
    print(f"\nzoo counting: {len(report['counts'])} model/scale counts, wall {report['wall_s']:.1f} s, "
          f"CPU {report['cpu_s']:.1f} s, peak RSS {report['peak_rss_mib']:.0f} MiB")
    errors = [r for r in report["counts"] if "error" in r]
    assert not errors, errors
    for r in report["counts"]:
        if not {"scaled_dot_product_attention", "einsum"} & set(r["by_operator"]):
            assert r["ptflops_aten_residual"] in (0, None), r
