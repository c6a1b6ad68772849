"""The CARN Table 1–2 model zoo: every model builds at its scales, maps its input kind to the right output
shape, and reproduces the parameter count printed in CARN Table 1 / Table 2 under a stated convention.

The printed numbers are taken from the paper (../shared/papers/003_fd1aef94d4cd4422.txt, Table 1 at
lines 171–209, Table 2 after line 213), not from the code: the point is that the architecture rebuilds
the count.  A printed "57K" is matched by rounding the measured count to thousands.
"""

from __future__ import annotations

import pytest
import torch

from harness.models import create_model, get_spec, list_models
from harness.models.carn import CARN
from harness.models.common import MeanShift, MultiScaleUpsampler, count_parameters

ZOO = ["srcnn", "fsrcnn", "vdsr", "drcn", "lapsrn", "drrn", "memnet", "srdensenet",
       "carn", "carn_m", "carn_baseline", "carn_nl", "carn_ng", "imdn", "imdn_rtc"]

EXPECTED_SPECS = {  # name: (input kind, scales)
    "srcnn": ("y_upscaled", (2, 3, 4)),
    "fsrcnn": ("y", (2, 3, 4)),
    "vdsr": ("y_upscaled", (2, 3, 4)),
    "drcn": ("y_upscaled", (2, 3, 4)),
    "lapsrn": ("y", (2, 4, 8)),
    "drrn": ("y_upscaled", (2, 3, 4)),
    "memnet": ("y_upscaled", (2, 3, 4)),
    "srdensenet": ("y", (4,)),
    "carn": ("rgb", (2, 3, 4)),
    "carn_m": ("rgb", (2, 3, 4)),
    "carn_baseline": ("rgb", (2, 3, 4)),
    "carn_nl": ("rgb", (2, 3, 4)),
    "carn_ng": ("rgb", (2, 3, 4)),
    "imdn": ("rgb", (2, 3, 4)),
    "imdn_rtc": ("rgb", (2, 3, 4)),
}

# Conventions (keyword arguments of count_parameters); see each model's docstring.
WEIGHTS_ONLY = {"biases": False, "norms": False, "activations": False}
WITH_BIASES = {"biases": True}

# (model, scale, printed, convention, source)
PRINTED_PARAMS = [
    ("srcnn", 4, "57K", WEIGHTS_ONLY, "Table 1, SRCNN [6]"),
    ("fsrcnn", 4, "12K", WEIGHTS_ONLY, "Table 1, FSRCNN [7]"),
    ("vdsr", 4, "665K", WEIGHTS_ONLY, "Table 1, VDSR [20]"),
    ("drcn", 4, "1,774K", WEIGHTS_ONLY, "Table 1, DRCN [21]"),
    ("lapsrn", 4, "813K", WEIGHTS_ONLY, "Table 1 x4, LapSRN [24]"),
    ("drrn", 4, "297K", WEIGHTS_ONLY, "Table 1, DRRN [35]"),
    ("memnet", 4, "677K", WEIGHTS_ONLY, "Table 1, MemNet [36]"),
    ("carn", 4, "1,592K", WITH_BIASES, "Table 1 and Table 2, CARN (all three upsampler branches)"),
    ("carn_m", 4, "412K", WEIGHTS_ONLY, "Table 1, CARN-M (all three upsampler branches)"),
    ("carn_baseline", 4, "1,444K", WITH_BIASES, "Table 2, Baseline"),
    ("carn_nl", 4, "1,481K", WITH_BIASES, "Table 2, CARN-NL"),
    ("carn_ng", 4, "1,555K", WITH_BIASES, "Table 2, CARN-NG"),
    pytest.param("srdensenet", 4, "2,015K", WEIGHTS_ONLY, "Table 1, SRDenseNet [37]",
                 marks=pytest.mark.xfail(strict=True, reason="SRDenseNet's count is not reproducible from its "
                                                             "published description (2,142K; see srdensenet.py)")),
]

# Exact counts under the stated convention (regression guard; the paper rounds to thousands).
EXACT_PARAMS = {
    "srcnn": 57_184, "fsrcnn": 12_464, "vdsr": 664_704, "drcn": 1_774_096, "lapsrn": 812_768,
    "drrn": 297_216, "memnet": 676_998, "carn": 1_591_939, "carn_m": 412_032, "carn_baseline": 1_443_715,
    "carn_nl": 1_480_771, "carn_ng": 1_554_883, "srdensenet": 2_141_568,
}


def _printed_to_int(printed: str) -> int:
    assert printed.endswith("K")
    return int(printed[:-1].replace(",", "")) * 1000


def _small_input(kind: str, scale: int, h: int = 4, w: int = 3) -> tuple[torch.Tensor, tuple[int, ...]]:
    """An input of the model's kind and the output shape it must produce."""
    if kind == "rgb":
        return torch.rand(1, 3, h, w), (1, 3, scale * h, scale * w)
    if kind == "y":
        return torch.rand(1, 1, h, w), (1, 1, scale * h, scale * w)
    x = torch.rand(1, 1, scale * h, scale * w)  # y_upscaled: HR-size input, same-size output
    return x, tuple(x.shape)


def test_zoo_models_are_registered_with_their_input_and_scales():
    assert set(ZOO) <= set(list_models())
    for name, (kind, scales) in EXPECTED_SPECS.items():
        spec = get_spec(name)
        assert (spec.input, spec.scales) == (kind, scales), name
        assert spec.paper and spec.description, name


@pytest.mark.parametrize("name", ZOO)
def test_builds_and_forward_shape_at_every_scale(name):
    spec = get_spec(name)
    torch.manual_seed(0)
    for scale in spec.scales:
        model = create_model(name, scale).eval()
        x, shape = _small_input(spec.input, scale)
        with torch.no_grad():
            y = model(x)
        assert tuple(y.shape) == shape, f"{name} x{scale}"
        assert torch.isfinite(y).all()


def test_unsupported_scale_is_refused():
    with pytest.raises(ValueError):
        create_model("srdensenet", 2)
    with pytest.raises(ValueError):
        create_model("lapsrn", 3)


@pytest.mark.parametrize("name,scale,printed,convention,source", PRINTED_PARAMS)
def test_param_count_reproduces_carn_table(name, scale, printed, convention, source):
    model = create_model(name, scale)
    measured = count_parameters(model, **convention)
    assert round(measured / 1000) * 1000 == _printed_to_int(printed), (
        f"{name}: {measured:,} under {convention} vs printed {printed} ({source})"
    )


@pytest.mark.parametrize("name", sorted(EXACT_PARAMS))
def test_exact_param_counts(name):
    model = create_model(name, 4)
    convention = WITH_BIASES if name in ("carn", "carn_baseline", "carn_nl", "carn_ng") else WEIGHTS_ONLY
    assert count_parameters(model, **convention) == EXACT_PARAMS[name]


def test_imdn_counts_match_the_released_state_dicts():
    """RepSR Table 2 prints 667.40K / 21.00K; the architectures match the released files' 715,176 / 20,190."""
    assert count_parameters(create_model("imdn", 4)) == 715_176
    assert count_parameters(create_model("imdn_rtc", 2)) == 20_190


def test_carn_conventions_differ_as_conventions_md_says():
    """conventions.md §3: CARN-M's 412K excludes biases, CARN's 1,592K includes them (all branches)."""
    carn, carn_m = create_model("carn", 4), create_model("carn_m", 4)
    assert round(count_parameters(carn, biases=False) / 1000) == 1589  # would print 1,589K
    assert round(count_parameters(carn_m) / 1000) == 415  # with biases CARN-M would print 415K


def test_carn_multiscale_branches_and_scale_selection():
    torch.manual_seed(0)
    model = create_model("carn_m", 4).eval()
    assert model.scale == 4 and model.scales == (2, 3, 4)
    assert set(model.upsampler_branches()) == {2, 3, 4}
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        assert model(x).shape[-2:] == (24, 20)
        assert model(x, scale=3).shape[-2:] == (18, 15)
        model.scale = 2
        assert model(x).shape[-2:] == (12, 10)
    with pytest.raises(ValueError):
        model.scale = 8
    # one branch vs all branches: the other two branches' share is left out
    model.scale = 4
    all_b = model.count_params(biases=False)
    one_b = model.count_params(biases=False, all_branches=False)
    assert all_b - one_b == model.branch_params(2, biases=False) + model.branch_params(3, biases=False)
    # CARN-M x2 branch: group conv 64 -> 256 (groups 4): 9·16·256 weights
    assert model.branch_params(2, biases=False) == 9 * 16 * 256


def test_carn_single_scale_option():
    model = create_model("carn", 3, multi_scale=False)
    assert model.scales == (3,)
    assert model(torch.rand(1, 3, 4, 4)).shape[-2:] == (12, 12)


def test_carn_m_shares_residual_e_blocks_within_each_cascading_block():
    model = create_model("carn_m", 4)
    assert all(len(block.units) == 1 for block in model.blocks)  # recursive: one residual-E, used 3 times
    assert model.blocks[0].units[0] is not model.blocks[1].units[0]  # blocks themselves are not shared
    assert model.blocks[0].units[0].conv1.groups == 4


def test_carn_ablations_differ_only_in_cascading_convs():
    """Table 2: the topologies are the same; only the 1×1 cascading convolutions come and go."""
    def fusions(m: CARN) -> tuple[int, int]:
        return len(m.fusions), sum(len(b.fusions) for b in m.blocks)

    assert fusions(create_model("carn", 4)) == (3, 9)
    assert fusions(create_model("carn_nl", 4)) == (3, 0)
    assert fusions(create_model("carn_ng", 4)) == (0, 9)
    assert fusions(create_model("carn_baseline", 4)) == (0, 0)


def test_recursive_weights_are_shared():
    drcn = create_model("drcn", 2, recursions=3, channels=8)
    assert count_parameters(drcn) == count_parameters(create_model("drcn", 2, recursions=5, channels=8)) - 2
    drrn = create_model("drrn", 2, num_units=3, channels=8)
    more = create_model("drrn", 2, num_units=9, channels=8)
    bn = 2 * 2 * 8  # two BN layers (γ, β) per extra unit
    assert count_parameters(more) - count_parameters(drrn) == 6 * bn
    mem = create_model("memnet", 2, num_memory_blocks=2, recursions=2, channels=8)
    mem_more = create_model("memnet", 2, num_memory_blocks=2, recursions=4, channels=8)
    # only BN layers and the wider gate inputs grow with R; the residual convs are shared
    assert count_parameters(mem_more, biases=False, norms=False) - count_parameters(mem, biases=False, norms=False) \
        == 2 * 2 * 8 * 8


def test_intermediate_predictions_for_deep_supervision():
    x = torch.rand(1, 1, 10, 10)
    drcn = create_model("drcn", 2, recursions=4, channels=8).eval()
    memnet = create_model("memnet", 2, num_memory_blocks=3, recursions=2, channels=8).eval()
    lapsrn = create_model("lapsrn", 4, channels=8, depth=2).eval()
    with torch.no_grad():
        assert len(drcn.forward_all(x)) == 4
        assert len(memnet.forward_all(x)) == 3
        pyramid = lapsrn.forward_pyramid(x)
    assert [p.shape[-1] for p in pyramid] == [20, 40]


def test_lapsrn_image_branch_starts_bilinear():
    """A LapSRN with zero residuals upsamples like a bilinear ×2 (Sec. 3.1 initialisation)."""
    level = create_model("lapsrn", 2).levels[0]
    x = torch.rand(1, 1, 6, 6)
    up = level.image_up(x)
    ref = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)


def test_meanshift_is_a_buffer_and_inverts():
    sub, add = MeanShift(sign=-1), MeanShift(sign=+1)
    assert count_parameters(sub) == 0 and len(list(sub.buffers())) == 2
    x = torch.rand(1, 3, 4, 4)
    assert torch.allclose(add(sub(x)), x)
    w, b = sub.legacy_conv()
    assert w.shape == (3, 3, 1, 1) and torch.allclose(b, -torch.tensor([0.4488, 0.4371, 0.4040]))
    edsr_style = MeanShift(sign=-1, rgb_range=255)
    assert torch.allclose(edsr_style.shift.flatten(), -255 * torch.tensor([0.4488, 0.4371, 0.4040]))


def test_multiscale_upsampler_shapes():
    up = MultiScaleUpsampler(4, (2, 3, 4, 8))
    x = torch.rand(1, 4, 3, 5)
    for s in (2, 3, 4, 8):
        assert up(x, s).shape == (1, 4, 3 * s, 5 * s)
    assert len(up.branch(8).stages) == 3


def test_state_dict_round_trip():
    """Saving and loading a zoo model's state reproduces it exactly (the published-weights path relies on it)."""
    torch.manual_seed(0)
    for name in ("carn_m", "lapsrn", "fsrcnn", "memnet"):
        a = create_model(name, 4).eval()
        b = create_model(name, 4).eval()
        b.load_state_dict(a.state_dict(), strict=True)
        x, _ = _small_input(get_spec(name).input, 4)
        with torch.no_grad():
            assert torch.equal(a(x), b(x)), name
