"""CRB paper modules and hosts: each UAE module's n/l/k (Table 2), the block registry, every host with every
block on a tiny input, and host parameter counts (analytic where the architecture fixes them)."""

from __future__ import annotations

import pytest
import torch

from harness.models import create_model
from harness.models.blocks import block_names, make_block
from harness.models.transformer_blocks import (
    GAL,
    RSTB,
    ConvFFN,
    detail_map,
    flexible_graph,
    rstb_params,
    window_partition,
)
from harness.uae import measure_variables

CRB_BLOCKS = ["rb", "crb", "dcrb", "rcab", "convffn", "rstb", "gal", "srresnet_rb"]
CONV = 64 * 64 * 9 + 64  # one 3×3 64→64 conv with bias


def test_every_crb_block_is_registered_and_keeps_the_shape():
    assert set(CRB_BLOCKS) <= set(block_names())
    x = torch.rand(1, 64, 9, 7)
    small = {"rstb": {"depth": 2, "window": 4}, "gal": {"window": 4, "sample": 8}}
    for name in CRB_BLOCKS:
        blk = make_block(name, 64, **small.get(name, {})).eval()
        with torch.no_grad():
            y = blk(x)
        assert y.shape == x.shape and torch.isfinite(y).all(), name


def test_convffn_reproduces_table2_exactly():
    v = measure_variables(ConvFFN(64, mlp_ratio=2, kernel_size=3))
    assert v == {"uae_k": 1, "uae_n": 17_856, "uae_l": 6, "uae_f": 64}  # printed k 1, n 17,856, l 6
    assert sum(p.numel() for p in ConvFFN(64, kernel_size=5).parameters()) == 19_904  # IPG's default kernel


def test_gal_parameters_reproduce_table2_and_its_depth_is_counted():
    v = measure_variables(GAL(64, heads=4, mlp_ratio=4, kernel_size=3))
    assert (v["uae_k"], v["uae_n"], v["uae_f"]) == (3, 56_132, 64)  # printed k 3, n 56,132
    assert v["uae_l"] == 25  # printed 21: see uae_table2's note
    assert measure_variables(GAL(64, heads=8, mlp_ratio=4))["uae_n"] == 56_132 + 4 * 513  # 1 + 512 per head


def test_rstb_closest_reading_and_the_formula():
    v = measure_variables(RSTB(64, depth=1, mlp_ratio=4, heads=1, window=8))
    assert (v["uae_k"], v["uae_n"], v["uae_l"]) == (3, 87_137, 16)  # printed 3, 86,784, 11
    assert v["uae_n"] - 86_784 == 353
    for kw in ({}, {"depth": 2, "heads": 2, "window": 7}, {"depth": 1, "mlp_ratio": 4, "rel_pos": False}):
        assert sum(p.numel() for p in RSTB(64, **kw).parameters()) == rstb_params(64, **kw), kw
    assert rstb_params(64, depth=1, mlp_ratio=4, rel_pos=False) == 86_784 + 128  # one LayerNorm too many
    assert measure_variables(RSTB(64, depth=2, window=4))["uae_l"] == 2 * 14 + 2  # an STL is 14 ops (+mask add)+conv+skip


def test_shifted_windows_differ_from_unshifted():
    torch.manual_seed(0)
    a = RSTB(16, depth=2, heads=2, window=4).eval()
    b = RSTB(16, depth=2, heads=2, window=4).eval()
    b.load_state_dict(a.state_dict())
    b.layers[1].shift = 0
    x = torch.rand(1, 16, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))


def test_flexible_graph_gives_detail_rich_nodes_more_edges():
    torch.manual_seed(0)
    t = torch.randn(1, 16, 16, 8)
    g = flexible_graph(t, window=8, sample=16, top_k=8, global_=False)  # (N·nW)×1×m×n
    assert g.dtype == torch.bool and g.shape == (4, 1, 64, 256)
    degree = g.sum(-1).float().squeeze(1).flatten()
    detail = window_partition(detail_map(t).unsqueeze(-1), 8).flatten()
    order = detail.argsort()
    assert degree[order[-64:]].mean() > 2 * degree[order[:64]].mean()  # IPG's degree flexibility
    assert abs(degree.mean().item() - 8) < 4  # mean degree ≈ top_k (bisection to 8 steps)


HOSTS = {  # name: (tiny kwargs, input kind)
    "edsr_baseline": ({"num_blocks": 2}, "rgb"),
    "edsr": ({"num_blocks": 2, "channels": 32}, "rgb"),
    "srresnet": ({"num_blocks": 2}, "rgb"),
    "rcan": ({"num_groups": 1, "num_blocks": 2}, "rgb"),
    "srcnn_host": ({}, "y_upscaled"),
    "srformer_scaled": ({"groups": 1, "depth": 2, "window": 4}, "rgb"),
    "ipg_scaled": ({"groups": 1, "depth": 2, "window": 4, "sample": 8, "top_k": 8}, "rgb"),
}
SMALL_BLOCK = {"rstb": {"depth": 1, "window": 4, "heads": 2}, "gal": {"window": 4, "sample": 8, "heads": 2, "top_k": 8}}


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_every_host_runs_with_every_block(host):
    kwargs, kind = HOSTS[host]
    torch.manual_seed(0)
    for block in CRB_BLOCKS:
        model = create_model(host, 4, block=block, block_kwargs=SMALL_BLOCK.get(block, {}), **kwargs).eval()
        assert model.block == block
        x = torch.rand(1, 3, 6, 5) if kind == "rgb" else torch.rand(1, 1, 24, 20)
        with torch.no_grad():
            y = model(x)
        expected = (1, 3, 24, 20) if kind == "rgb" else (1, 1, 24, 20)
        assert tuple(y.shape) == expected and torch.isfinite(y).all(), (host, block)


def test_aliases_equal_the_host_with_the_block():
    for alias, block in (("edsr_crb", "crb"), ("edsr_dcrb", "dcrb"), ("edsr_rcab", "rcab")):
        a, b = create_model(alias, 4), create_model("edsr_baseline", 4, block=block)
        assert [tuple(p.shape) for p in a.parameters()] == [tuple(p.shape) for p in b.parameters()]


def _n(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_edsr_host_param_counts():
    head, body_conv = 3 * 64 * 9 + 64, CONV
    up4 = 2 * (64 * 256 * 9 + 256) + (64 * 3 * 9 + 3)
    rb = 2 * CONV
    assert _n(create_model("edsr_baseline", 4)) == head + 16 * rb + body_conv + up4 == 1_517_571
    assert _n(create_model("edsr_baseline", 4, block="crb")) == 1_517_571  # CRB shares RB's weights
    assert _n(create_model("edsr_baseline", 4, block="dcrb")) == head + 16 * 1_280 + body_conv + up4
    assert _n(create_model("edsr_baseline", 4, block="convffn")) == head + 16 * 17_856 + body_conv + up4
    assert _n(create_model("edsr", 4)) == 43_089_923  # EDSR's published 43M
    assert _n(create_model("edsr", 4, block="crb")) == 43_089_923


def test_other_host_param_counts():
    assert _n(create_model("rcan", 4)) == 15_592_355  # RCAN's published 15.59M
    assert _n(create_model("srresnet", 4)) == 1_550_659  # SRResNet ≈ 1.5M (Ledig et al.)
    assert _n(create_model("srcnn_host", 4)) == 57_281  # 57,184 weights + 97 biases, the zoo's SRCNN
    assert _n(create_model("srresnet", 4, block="dcrb")) == _n(create_model("srresnet", 4)) - 16 * (2 * CONV + 4 * 64 + 64) + 16 * 1_280
    srf, ipg = create_model("srformer_scaled", 4), create_model("ipg_scaled", 4)
    assert (srf.groups[0].layers[0].mlp.fc1.out_features, srf.conv_first.out_channels) == (128, 64)  # §4.1
    assert (ipg.conv_first.out_channels, ipg.groups[0].layers[0].grapher.heads) == (20, 4)  # §4.1
    assert ipg.groups[0].layers[0].mlp.fc1.out_features == 40  # MLP ratio 2
    assert _n(create_model("srformer_scaled", 4, block="crb")) - _n(srf) == 4 * 2 * CONV  # one CRB per group
    assert _n(create_model("ipg_scaled", 4, block="dcrb")) - _n(ipg) == 6 * 2 * (20 * 9 + 20)
