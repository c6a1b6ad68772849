"""RepSR / ECBSR / RepVGG / SESR blocks: exact merges, Frozen BN, deploy-form complexity, the reparam kind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.models import create_model
from harness.models.blocks import block_names, deploy_form, make_block
from harness.models.repsr import FrozenBatchNorm2d, freeze_bn_stats
from harness.reparam import GOAL, measure_reparam, reparam_error


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only spin on the shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# every re-parameterisable block and the Table 5 variants: (block name, kwargs)
BLOCKS = [
    ("repsr", {}),
    ("repsr", {"residual": "none"}),  # Table 5 variant 2
    ("repsr", {"residual": "bn"}),  # variant 3
    ("repsr", {"branch": "c3-bn,c1-bn"}),  # variant 4
    ("repsr", {"branch": "c3-bn-c1-bn"}),  # variant 5
    ("repsr", {"branch": "c1-bn-c3"}),  # variant 6 (1×1 first: the padding issue)
    ("repsr", {"width": 1, "branches": 1}),  # Tables 6/7 extremes
    ("repsr", {"width": 4, "branches": 4}),
    ("repvgg", {}),
    ("ecb", {}),
    ("ecb", {"with_idt": True}),
    ("sesr", {}),
    ("sesr", {"kernel_size": 5, "residual": True}),
]


def _moved_bn(module: nn.Module, in_ch: int, seed: int = 0) -> None:
    """Random BN affines and running statistics moved by train-mode forwards (as the reparam kind does)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.rand(m.bias.shape, generator=g) - 0.1)
        module.train()
        for _ in range(3):
            module(torch.randn(4, in_ch, 9, 9, generator=g) * 2 + 0.5)
    module.eval()


@pytest.mark.parametrize("name,kwargs", BLOCKS, ids=[f"{n}-{k}" for n, k in BLOCKS])
@pytest.mark.parametrize("cin,cout", [(6, 6), (3, 8)])
def test_block_merge_is_exact(name, kwargs, cin, cout):
    torch.manual_seed(1)
    block = make_block(name, cin, out_channels=cout, **kwargs)
    _moved_bn(block, cin)
    merged = block.deploy()
    assert isinstance(merged, nn.Conv2d) and merged.out_channels == cout
    x = torch.randn(2, cin, 7, 11)  # odd sizes: the border pixels are where a wrong pad shows
    with torch.no_grad():
        assert (block(x) - merged(x)).abs().max().item() < GOAL


def test_block_registry_has_every_block():
    assert {"repsr", "repvgg", "ecb", "sesr", "conv3"} <= set(block_names())


def test_merge_check_catches_a_wrong_merge():
    """The comparison is not vacuous: dropping the residual or using batch statistics breaks it."""
    torch.manual_seed(2)
    block = make_block("repsr", 8)
    _moved_bn(block, 8)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        wrong = block.deploy()
        wrong.weight[:, :, 1, 1] -= torch.eye(8)  # forget Algorithm 1 step 3
        assert (block(x) - wrong(x)).abs().max().item() > 1e-2
        block.train()  # training form with mini-batch statistics ≠ the population-statistics merge
        assert (block(x) - block.deploy()(x)).abs().max().item() > 1e-3


def test_frozen_bn_uses_population_statistics_and_keeps_affine_training():
    bn = FrozenBatchNorm2d(4)
    bn.train()
    bn(torch.randn(8, 4, 5, 5) * 3 + 2)
    mean = bn.running_mean.clone()
    x = torch.randn(8, 4, 5, 5) * 5 - 1
    model = nn.Sequential(bn)
    assert freeze_bn_stats(model) == 1
    y = bn(x)  # train mode, frozen: population statistics, running stats unchanged
    assert torch.equal(bn.running_mean, mean)
    ref = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + bn.eps)
    assert torch.allclose(y, ref * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1), atol=1e-6)
    y.sum().backward()
    assert bn.weight.grad is not None and bn.bias.grad is not None  # affine not frozen (§4.2)
    state = bn.state_dict()
    fresh = FrozenBatchNorm2d(4)
    fresh.load_state_dict(state)
    assert fresh.stats_frozen  # the switch survives a checkpoint


@pytest.mark.parametrize("name", ["repsr", "ecbsr", "repvgg_sr", "plain_sr", "repsr_rgb"])
def test_mxcy_network_layout(name):
    torch.manual_seed(0)
    model = create_model(name, 4, blocks=3, channels=8)
    colors = 3 if name.endswith("_rgb") else 1
    x = torch.rand(1, colors, 10, 7)
    assert model(x).shape == (1, colors, 40, 28)
    deployed = deploy_form(model)
    convs = [m for m in deployed.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 + 2  # #Conv = M + 2 (RepSR Table 2)
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    # the global skip is nearest upsampling: a network whose convs output zero returns the input upscaled
    with torch.no_grad():
        for c in convs:
            c.weight.zero_()
            c.bias.zero_()
        assert torch.equal(deployed(x), x.repeat_interleave(4, 2).repeat_interleave(4, 3))


def test_networks_merge_exactly():
    for name, kwargs in [("repsr", {"blocks": 2, "channels": 8}), ("ecbsr", {"blocks": 2, "channels": 8}),
                         ("repvgg_sr", {"blocks": 2, "channels": 8}), ("sesr", {"blocks": 2, "channels": 8}),
                         ("edsr_bn", {"num_blocks": 2, "channels": 8}),
                         ("repsr_rgb", {"blocks": 2, "channels": 8, "branch": "c1-bn-c3"})]:
        torch.manual_seed(0)
        model = create_model(name, 4, **kwargs)
        channels = 3 if name in ("edsr_bn", "repsr_rgb") else 1
        r = reparam_error(model, channels)
        assert r["max_abs_diff"] < GOAL and r["max_abs_diff_fp64"] < 1e-10, (name, r)
        assert r["deploy_form_convs"] <= r["train_form_convs"]  # edsr_bn: BN folded, convs kept


def test_complexity_counts_the_deploy_form():
    from harness.complexity import count_complexity

    c = count_complexity(create_model("ecbsr", 4, blocks=4, channels=8), 4, "y", ptflops=False)
    # deploy form: 1→8, 4 × 8→8, 8→16 3×3 convs with biases + 5 PReLU(8) = 3,624 (Table 2 A3 prints 3.70K)
    assert c.params == 3624 and c.params_train_form > 4 * c.params
    assert c.conv_calls == 6 and c.convs == 6
    assert c.macs_fvcore == (9 * 8 + 4 * 9 * 64 + 9 * 128) * 180 * 320
    s = count_complexity(create_model("sesr", 4, blocks=5, channels=16), 4, "y", ptflops=False)
    assert s.params_weights == 18320 and s.conv_calls == 7  # SESR-M5C16: printed 18.32K, 7


def test_reparam_kind_and_catalog():
    from harness.catalog import get_metric
    from harness.kinds import get_kind
    from harness.suite import Entry

    assert get_kind("reparam").function() is measure_reparam
    assert get_metric("reparam_err").evidence == "exactness"
    entry = Entry(id="t", row="t", model="repsr", obtain="compute", scale=4, kwargs={"blocks": 2, "channels": 4})
    (m,) = measure_reparam(None, entry)
    assert m.metric == "reparam_err" and m.value < GOAL and m.extra["per_size"]
    plain = Entry(id="p", row="p", model="plain_sr", obtain="compute", scale=4, kwargs={"blocks": 1, "channels": 4})
    (p,) = measure_reparam(None, plain)
    assert p.value is None and p.status == "not-run"
