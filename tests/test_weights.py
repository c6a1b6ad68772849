"""Published weights: resolution of the weights dir, sha256 verification, the four decoders, and that every
registered checkpoint loads strictly into its zoo model and super-resolves sensibly.

The real files are read from $SRBENCH_WEIGHTS_DIR or ../shared/weights.  When they are missing the tests
skip on a developer machine and FAIL in CI (CI=true), like the real-data tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import weights
from harness.models import get_spec, list_models
from harness.weights import (
    CorruptWeightsError,
    IncompatibleWeightsError,
    MissingWeightsError,
    UnsafeWeightsError,
    load_pretrained,
    read_checkpoint,
    resolve_weights_dir,
)

REPO = Path(__file__).resolve().parent.parent

PUBLISHED = [  # (model, scale) of every checkpoint the zoo registers
    (name, scale) for name in list_models() for scale in sorted(get_spec(name).checkpoints)
]


def _copy(weights_dir: Path, rel: str, dest_root: Path) -> Path:
    """Copy one weights file or folder to the same relative place under dest_root (writable copies)."""
    src, dst = weights_dir / rel, dest_root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        dst.mkdir(exist_ok=True)
        for f in src.iterdir():
            shutil.copyfile(f, dst / f.name)
    else:
        shutil.copyfile(src, dst)
    return dst


# -- weights directory -----------------------------------------------------------------------------

def test_resolve_weights_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "env"))
    assert resolve_weights_dir(tmp_path / "arg") == tmp_path / "arg"  # --weights-dir first
    assert resolve_weights_dir() == tmp_path / "env"  # then the environment
    monkeypatch.delenv(weights.ENV_VAR)
    cached = resolve_weights_dir()  # then the per-user cache
    assert cached.name == "weights" and "srbench" in str(cached)


def test_every_registered_checkpoint_is_in_shared_sha256sums(weights_dir):
    sums = weights._published_sums(weights_dir)
    assert PUBLISHED, "the zoo registers no checkpoints"
    for name, scale in PUBLISHED:
        ckpt = get_spec(name).checkpoints[scale]
        if weights.FORMATS[ckpt.format].members:
            digests = {m: sums[f"{ckpt.file}/{m}"] for m in weights.FORMATS[ckpt.format].members}
            assert weights._manifest_digest(digests) == ckpt.sha256, name
        else:
            assert sums[ckpt.file] == ckpt.sha256, f"{name} x{scale}"


# -- loading every published checkpoint ------------------------------------------------------------

@pytest.mark.parametrize("name,scale", PUBLISHED)
def test_published_checkpoint_loads_strictly_and_round_trips(name, scale, weights_dir):
    model, info = load_pretrained(name, scale, weights_dir)
    ckpt = get_spec(name).checkpoints[scale]
    assert info["sha256"] == ckpt.sha256 and info["file"] == ckpt.file and info["scale"] == scale
    assert info["third_party"] == ckpt.third_party and info["provenance"] == ckpt.provenance
    assert model.checkpoint_info == info and not model.training
    # every published tensor ends up, unchanged, in the model's state (file → state dict → model)
    raw = read_checkpoint(ckpt, weights_dir)
    converted = model.convert_checkpoint(raw) if hasattr(model, "convert_checkpoint") else raw
    state = model.state_dict()
    assert set(converted) == set(state)
    for key, value in converted.items():
        assert torch.equal(state[key], value), key


def test_fsrcnn_weights_are_labelled_third_party(weights_dir):
    _, info = load_pretrained("fsrcnn", 3, weights_dir)
    assert info["third_party"] is True and "yjn870" in info["provenance"]


def test_carn_m_file_serves_three_scales_and_drops_frozen_means(weights_dir):
    m2, _ = load_pretrained("carn_m", 2, weights_dir)
    m4, _ = load_pretrained("carn_m", 4, weights_dir)
    assert torch.equal(m2.entry.weight, m4.entry.weight)
    assert m2.scale == 2 and m4.scale == 4
    raw = read_checkpoint(get_spec("carn_m").checkpoints[4], weights_dir)
    assert "sub_mean.shifter.bias" in raw and not any("mean" in k for k in m4.state_dict())


def test_carn_converter_rejects_a_foreign_mean(weights_dir):
    raw = read_checkpoint(get_spec("carn_m").checkpoints[4], weights_dir)
    raw["sub_mean.shifter.bias"] = torch.tensor([-0.5, -0.5, -0.5])
    model = get_spec("carn_m").builder(scale=4)
    with pytest.raises(ValueError, match="mean shift"):
        model.convert_checkpoint(raw)


def test_vdsr_matlab_layout(weights_dir):
    """model.weight{i} is h×w×in×out: filter (r, c) of output k, input d is W[r, c, d, k]."""
    from scipy.io import loadmat

    model, _ = load_pretrained("vdsr", 3, weights_dir)
    mat = loadmat(weights_dir / "vdsr/VDSR_Official.mat", struct_as_record=False, squeeze_me=False)
    w1 = mat["model"][0, 0].weight[0, 1]  # second layer, 3×3×64×64
    assert torch.equal(model.convs[1].weight[5, 7], torch.from_numpy(np.ascontiguousarray(w1[:, :, 7, 5])))
    w_last = mat["model"][0, 0].weight[0, 19]  # 3×3×64 (trailing out = 1 dropped by MATLAB)
    assert model.convs[19].weight.shape == (1, 64, 3, 3)
    assert torch.equal(model.convs[19].weight[0, 9], torch.from_numpy(np.ascontiguousarray(w_last[:, :, 9])))


def test_srcnn_text_is_column_major(weights_dir):
    """The first values of weights_conv1.txt are W1(1,1), W1(2,1): rows 0 and 1 of column 0 of filter 1."""
    model, _ = load_pretrained("srcnn", 4, weights_dir)
    values = (weights_dir / "srcnn_x4/weights_conv1.txt").read_text().split()[2:5]  # after the header "81 64"
    w = model.conv1.weight[0, 0]
    assert [w[0, 0].item(), w[1, 0].item(), w[2, 0].item()] == pytest.approx([float(v) for v in values], abs=1e-7)


def test_lapsrn_levels_follow_the_dagnn_layer_order(weights_dir):
    """The x4 model names its first (x2) level 'level2': it must land in levels.0."""
    raw = read_checkpoint(get_spec("lapsrn").checkpoints[4], weights_dir)
    model, _ = load_pretrained("lapsrn", 4, weights_dir)
    assert torch.equal(model.levels[0].features[0].weight, raw["level2_conv1_f"])
    assert torch.equal(model.levels[1].image_up.weight, raw["level1_img_up_f"])


# -- failures: missing, corrupt, unsafe, incompatible ----------------------------------------------

def test_missing_file_names_file_path_and_source(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        load_pretrained("carn_m", 4, tmp_path)
    msg = str(err.value)
    assert "carn/carn_m.pth" in msg and str(tmp_path / "carn" / "carn_m.pth") in msg
    assert "nmhkahn/CARN-pytorch" in msg  # where to get it


def test_missing_member_of_a_directory_checkpoint(weights_dir, tmp_path):
    folder = _copy(weights_dir, "srcnn_x4", tmp_path)
    (folder / "biases_conv2.txt").unlink()
    with pytest.raises(MissingWeightsError, match="biases_conv2.txt"):
        load_pretrained("srcnn", 4, tmp_path)


def test_no_published_checkpoint_at_that_scale(weights_dir):
    with pytest.raises(MissingWeightsError, match="no published checkpoint"):
        load_pretrained("drrn", 4, weights_dir)
    with pytest.raises(MissingWeightsError, match="published: x4"):
        load_pretrained("srcnn", 2, weights_dir)


@pytest.mark.parametrize("rel,name,scale", [
    ("fsrcnn_yjn870/fsrcnn_x2.pth", "fsrcnn", 2),
    ("vdsr/VDSR_Official.mat", "vdsr", 4),
])
def test_truncated_file_is_corrupt(weights_dir, tmp_path, rel, name, scale):
    path = _copy(weights_dir, rel, tmp_path)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(CorruptWeightsError) as err:
        load_pretrained(name, scale, tmp_path)
    assert str(path) in str(err.value) and "download it again" in str(err.value)


def test_flipped_byte_is_corrupt_even_after_a_cached_good_hash(weights_dir, tmp_path):
    path = _copy(weights_dir, "fsrcnn_yjn870/fsrcnn_x4.pth", tmp_path)
    load_pretrained("fsrcnn", 4, tmp_path)  # verified and cached
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a new mtime invalidates the cache
    with pytest.raises(CorruptWeightsError, match="fsrcnn_x4.pth"):
        load_pretrained("fsrcnn", 4, tmp_path)


def test_corrupt_member_of_a_directory_checkpoint_is_named(weights_dir, tmp_path):
    folder = _copy(weights_dir, "srcnn_x4", tmp_path)
    shutil.copyfile(weights_dir / "SHA256SUMS", tmp_path / "SHA256SUMS")
    text = (folder / "weights_conv3.txt").read_text()
    (folder / "weights_conv3.txt").write_text(text.replace("-0.0", "+0.0", 1))
    with pytest.raises(CorruptWeightsError, match="weights_conv3.txt"):
        load_pretrained("srcnn", 4, tmp_path)


def test_repeated_verification_uses_the_digest_cache(weights_dir, monkeypatch):
    ckpt = get_spec("carn_m").checkpoints[4]
    weights.verify_checkpoint(ckpt, weights_dir)

    def no_hashing(*args, **kwargs):
        raise AssertionError("the file was hashed again")

    monkeypatch.setattr(weights.hashlib, "sha256", no_hashing)
    weights.verify_checkpoint(ckpt, weights_dir)


def test_decoders_reject_unreadable_files(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x80\x02 not really a pickle")
    for fmt in ("torch-state-dict", "matlab-struct", "matconvnet-dagnn"):
        with pytest.raises(CorruptWeightsError, match="bad.bin") as err:
            weights.FORMATS[fmt].decode(bad)
        assert not isinstance(err.value, UnsafeWeightsError)  # garbage is corrupt, not "unsafe"
    folder = tmp_path / "srcnn"
    folder.mkdir()
    for member in weights.FORMATS["srcnn-text"].members:
        (folder / member).write_text("2 2\n1 2 3\n")  # header announces 4 values, 3 present
    with pytest.raises(CorruptWeightsError, match="announces 4 values"):
        weights.FORMATS["srcnn-text"].decode(folder)


class _Payload:  # an arbitrary Python object: must never be unpickled
    pass


def test_torch_files_with_python_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "extra": _Payload()}, path)
    with pytest.raises(UnsafeWeightsError, match="evil.pth"):
        weights.FORMATS["torch-state-dict"].decode(path)


def test_torch_decoder_unwraps_and_strips_module_prefix(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {"module.conv.weight": torch.ones(2)}, "epoch": 3}, path)
    assert list(weights.FORMATS["torch-state-dict"].decode(path)) == ["conv.weight"]


def test_architecture_kwargs_that_do_not_fit_are_reported(weights_dir):
    with pytest.raises(IncompatibleWeightsError, match="sha256 verified"):
        load_pretrained("fsrcnn", 2, weights_dir, d=32)


# -- the loaded models super-resolve (conversion bugs show as bicubic-level or garbage PSNR) ---------

def _y(img: np.ndarray) -> np.ndarray:
    from harness.metrics import rgb_to_y

    return rgb_to_y(img)


@pytest.mark.realdata
@pytest.mark.parametrize("name,scale,min_gain", [
    ("srcnn", 4, 1.0), ("fsrcnn", 4, 1.0), ("vdsr", 4, 1.5), ("lapsrn", 4, 1.5), ("carn_m", 4, 2.0),
    ("fsrcnn", 2, 2.0), ("lapsrn", 2, 2.5), ("carn_m", 3, 2.5), ("imdn", 4, 2.0), ("imdn_rtc", 2, 2.0),
])
def test_published_models_beat_bicubic_on_set5_bird(name, scale, min_gain, weights_dir, data_dir):
    """Y-PSNR on Set5 'bird' (MATLAB-bicubic LR shipped with Set5), shave = scale, vs bicubic upscaling."""
    from harness.images import read_image
    from harness.imresize import imresize
    from harness.metrics import psnr, shave

    set5 = data_dir / "benchmark" / "Set5"
    hr = read_image(set5 / "HR" / "bird.png")
    hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    lr = read_image(set5 / "LR_bicubic" / f"X{scale}" / f"birdx{scale}.png")
    model, _ = load_pretrained(name, scale, weights_dir)
    kind = get_spec(name).input
    with torch.no_grad():
        if kind == "rgb":
            out = model(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy()
            sr_y = _y(np.clip(np.round(out * 255), 0, 255))
        else:
            lr_y = _y(lr) / 255
            x = imresize(lr_y, scale) if kind == "y_upscaled" else lr_y
            sr_y = np.clip(np.round(model(torch.from_numpy(x)[None, None].float())[0, 0].numpy() * 255), 0, 255)
    bicubic_y = np.clip(np.round(imresize(_y(lr) / 255, scale) * 255), 0, 255)
    hr_y = _y(hr)
    gain = psnr(shave(sr_y, scale), shave(hr_y, scale)) - psnr(shave(bicubic_y, scale), shave(hr_y, scale))
    assert gain >= min_gain, f"{name} x{scale}: only {gain:.2f} dB over bicubic"
