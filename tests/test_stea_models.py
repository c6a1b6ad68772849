"""STEA paper models (harness/models/attention.py, stea.py): the Taylor expansion approaches softmax
attention order by order, the linear form is exactly the expansion, NLSA with one bucket is non-local
attention, shapes, the parameter counts of the declared readings, and counting at a stated input.

Printed numbers: ../shared/papers/002_c14ca8e1fcc2e418.txt, Table IV (lines 140-145), Table V (146-153).
"""

from __future__ import annotations

import math

import pytest
import torch

from harness.complexity import count_complexity, count_params, measure_complexity
from harness.measure import MeasureContext
from harness.models import create_model
from harness.models.attention import (
    NonLocalSparseAttention,
    TaylorAttention,
    softmax_attention,
    taylor_attention,
    taylor_kernel_error,
)
from harness.models.blocks import make_block
from harness.suite import Count, Entry, PaperCell, Suite


def _qkv(n=96, d=4, e=5, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(2, n, d, generator=g, dtype=torch.float64), dim=-1) * scale
    k = torch.nn.functional.normalize(torch.randn(2, n, d, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(2, n, e, generator=g, dtype=torch.float64)
    return q, k, v


def _errors(scale):
    q, k, v = _qkv(scale=scale)
    exact = softmax_attention(q, k, v)
    return [float((taylor_attention(q, k, v, order) - exact).abs().max()) for order in (1, 2, 3, 4)]


def test_taylor_error_falls_with_order_ftea_stea_ttea():
    # unit-norm Q, K scaled to |q·k| ≤ 1: the range where the truncated expansion of exp is accurate
    e1, e2, e3, e4 = _errors(1.0)
    print(f"\nmax |Taylor − softmax attention|, |q·k| ≤ 1: FTEA {e1:.2e}  STEA {e2:.2e}  TTEA {e3:.2e}  order4 {e4:.2e}")
    assert e1 > 3 * e2 > 9 * e3 > 27 * e4
    assert e3 < 2e-2
    # the kernel remainder obeys the Lagrange bound e^{|s|} |s|^{p+1} / (p+1)!
    q, k, _ = _qkv()
    for p in (1, 2, 3):
        assert taylor_kernel_error(q, k, p) <= math.e / math.factorial(p + 1) + 1e-12


def test_taylor_error_is_large_when_scores_are_large():
    # outside the moderate range the first order kernel 1 + s goes negative: the expansion is not valid
    e_small, e_large = _errors(1.0)[1], _errors(4.0)[1]
    assert e_large > 10 * e_small


def test_linear_form_is_exactly_the_expansion():
    # Eq. (10): the separated form φ(Q)(φ(K)ᵀV) equals the N×N computation Σ S^{∘n}/n! V
    q, k, v = _qkv(n=40, d=3, e=2, scale=1.5)
    s = q @ k.transpose(-2, -1)
    for p in (1, 2, 3):
        kern = sum(s ** n / math.factorial(n) for n in range(p + 1))
        direct = (kern @ v) / kern.sum(-1, keepdim=True)
        assert torch.allclose(taylor_attention(q, k, v, p), direct, atol=1e-12)
    lam = 7.0  # a given denominator λ (Eq. 7), constant term dropped (Eq. 9)
    kern = s + s * s / 2
    assert torch.allclose(taylor_attention(q, k, v, 2, keep_constant=False, denominator=lam), kern @ v / lam, atol=1e-12)


def test_exact_form_module_approaches_softmax_with_order():
    x = torch.randn(1, 8, 6, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errs = []
    for order in (1, 2, 3):
        torch.manual_seed(0)  # the exact form has the same parameters at every order: same weights
        m = TaylorAttention(8, order=order, dwc_v=False, heads=2, form="exact").double()
        with torch.no_grad():
            # the module's own softmax attention: same normalised Q, K (temperature 1), V and projection
            qh, kh = (torch.nn.functional.normalize(m._heads(t), dim=-1) for t in (m.q(x), m.k(x)))
            soft = softmax_attention(qh, kh, m._heads(m.v(x))).transpose(-2, -1).reshape(1, 8, 6, 7)
            errs.append(float((m(x) - m.proj(soft)).abs().max()))
    assert errs[0] > errs[1] > errs[2]


def test_nlsa_with_one_bucket_is_non_local_attention():
    torch.manual_seed(1)
    m = NonLocalSparseAttention(8, reduction=2, chunk_size=30, n_hashes=1).double()
    x = torch.randn(1, 8, 5, 6, dtype=torch.float64)  # 30 tokens = one chunk: every token in one bucket
    emb = m.match(x).flatten(2).transpose(1, 2)
    asm = m.assembly(x).flatten(2).transpose(1, 2)
    att = torch.softmax(emb @ torch.nn.functional.normalize(emb, dim=-1).transpose(1, 2), dim=-1)
    ref = (att @ asm).transpose(1, 2).reshape(1, 8, 5, 6) + x
    assert torch.allclose(m(x), ref, atol=1e-10)


# -- declared readings: parameter counts (suites/stea_table4.toml, stea_table5.toml) ------------------------

def test_attention_module_params_of_the_declared_reading():
    # C = 48, heads 2: Q, K, V, output 1×1 convs + λ block = FTEA; DWC(V) 11×11 depth-wise, no bias
    counts = [count_params(create_model("stea_attention", 1, **kw)) for kw in
              ({"order": 1, "dwc_v": False}, {"order": 1}, {"order": 2}, {"order": 3})]
    assert counts == [10_622, 16_430, 18_854, 21_278]
    assert round(counts[0], -2) == 10_600 and round(counts[1], -2) == 16_400  # printed 10.6K, 16.4K


def test_mlfr_params_of_the_declared_reading():
    counts = [count_params(create_model("stea_mlfr", 1, dilations=d)) for d in ((6,), (6, 4), (6, 4, 2))]
    assert counts == [38_304, 68_448, 96_672]
    m = make_block("mlfr", 48, dilations=(6, 4, 2))
    assert m.dw_kernels == (11, 7, 3)


def test_network_shapes_and_variants():
    x = torch.rand(1, 3, 10, 14)  # sides not divisible by 4: LabNet pads and crops
    lab = create_model("labnet", 4, channels=8, blocks=(1, 1, 1, 1, 1, 1), heads=(1, 2, 4))
    assert lab(x).shape == (1, 3, 40, 56)
    assert create_model("labnet", 2, channels=8, blocks=(1, 0, 1, 0, 1, 0), heads=(1, 1, 1),
                        attention="ftea", dwc_v=False, mlfr=(6,))(x).shape == (1, 3, 20, 28)
    for att in ("none", "nla", "nlsa", "ttea"):
        net = create_model("realnet", 4, channels=8, heads=1, modules=2, blocks_per_module=1, attention=att, mlfr=None)
        assert net(x).shape == (1, 3, 40, 56), att
    blk = make_block("lstea", 16, attention="stea", mlfr=[6, 4], heads=2)
    assert blk(torch.rand(2, 16, 9, 9)).shape == (2, 16, 9, 9)


def test_realnet_proportions_are_adjustable():
    torch.manual_seed(0)
    net = create_model("realnet", 4, channels=8, heads=1, modules=2, blocks_per_module=1, mlfr=None).eval()
    x, x2 = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        y1 = net(x)
        net.set_proportions(beta=0.0, gamma=2.0)
        y2 = net(x)
        net.set_proportions(gamma=0.0, delta=0.0)
        y0, y0b = net(x), net(x2)
    assert not torch.allclose(y1, y2)
    assert torch.allclose(y0, y0b)  # nothing of either branch reaches the output: it no longer depends on x
    assert not torch.allclose(y1, net.set_proportions(gamma=1.0, delta=1.0, beta=1.0) or net(x2))
    assert count_params(net) == sum(p.numel() for p in net.parameters())  # α..δ are buffers, not parameters


# -- counting at a stated input (suite count.input) ----------------------------------------------------------

def test_count_at_stated_input_equals_analytic_macs():
    c, n, h = 48, 64 * 64, 2
    m = create_model("stea_attention", 1, order=1, dwc_v=False)
    got = count_complexity(m, 1, "rgb", shape=(1, c, 64, 64), method="true-size", ptflops=False)
    analytic = 4 * c * c * n + 2 * n * c * (c // h)  # Q, K, V, proj + Kᵀ V and Q (Kᵀ V) per head
    pooled = c * (c // 4) * 2  # the λ block on the pooled vector
    assert got.macs_fvcore == analytic + pooled
    assert "stated input 1×48×64×64" in got.summary()


def test_measure_complexity_uses_count_input_for_a_block():
    entry = Entry(id="ftea", row="FTEA", model="stea_attention", obtain="compute",
                  kwargs={"order": 1, "dwc_v": False}, count=Count(input=[1, 48, 64, 64]),
                  paper=[PaperCell(metric="params", value=10600, printed="10.6K", tolerance=50),
                         PaperCell(metric="flops", value=0.033, printed="33", tolerance=0.0005)])
    suite = Suite(id="t", paper="p", table="T", entries=[entry])
    ctx = MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=None, weights_dir=None)
    got = {m.metric: m for m in measure_complexity(ctx, entry)}
    assert got["params"].value == 10_622
    assert got["flops"].value == pytest.approx((4 * 48 * 48 * 4096 + 2 * 4096 * 48 * 24 + 1152) / 1e9)
    with pytest.raises(ValueError):
        Count(input=[1, 48, 64])
