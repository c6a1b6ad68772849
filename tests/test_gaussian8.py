"""The Gaussian8 blind-SR test protocol (harness.degradations 'gaussian8') and its per-image × per-kernel results.

Facts pinned here come from the IKC-family code cited in harness/degradations.py: IKC's
``isotropic_gaussian_kernel`` formula on the 21×21 grid −10…10, blur = correlation after torch reflection
padding (``BatchBlur``), MATLAB-bicubic downsampling of the float blurred image (DAN/DCLS ``b_Bicubic``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.degradations import (
    blur,
    degrade,
    gaussian8_lr,
    gaussian8_sigmas,
    gaussian_kernel,
    mod_crop,
)
from harness.evaluate import measure_metrics
from harness.images import read_image
from harness.imresize import imresize
from harness.measure import MeasureContext
from harness.profile import PROFILES
from harness.suite import Entry, PaperCell, Suite


def test_kernel_is_ikc_isotropic_gaussian():
    for sigma in (0.8, 1.35, 3.2):
        ax = np.arange(-21 // 2 + 1.0, 21 // 2 + 1.0)  # IKC: np.arange(-l // 2 + 1., l // 2 + 1.) = −10…10
        xx, yy = np.meshgrid(ax, ax)
        want = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
        np.testing.assert_allclose(gaussian_kernel(sigma), want / want.sum(), rtol=0, atol=1e-15)
    assert gaussian_kernel(2.6).shape == (21, 21)


def test_widths_are_linspace_of_the_printed_ranges():
    # DCLS generate_mod_blur_LR_bic.py: `for sig in np.linspace(1.8, 3.2, 8)`; IKC: [1.8, 2.0, ..., 3.2]
    np.testing.assert_allclose(gaussian8_sigmas(4), [1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2])
    np.testing.assert_allclose(gaussian8_sigmas(3), np.linspace(1.35, 2.40, 8))
    np.testing.assert_allclose(gaussian8_sigmas(2), np.linspace(0.80, 1.60, 8))


def test_blur_equals_torch_reflection_pad_conv2d():
    """Our separable blur = IKC/DCLS BatchBlur: F.pad(mode='reflect', 10) then a 21×21 conv2d, per channel."""
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (40, 37, 3))
    sigma = 2.2
    k = torch.from_numpy(gaussian_kernel(sigma))[None, None]
    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[:, None]  # C×1×H×W
    want = F.conv2d(F.pad(x, (10, 10, 10, 10), mode="reflect"), k)[:, 0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(blur(img, sigma, "reflect"), want, atol=1e-9)
    # the other pads differ from it at the border only
    for pad in ("symmetric", "replicate", "zero"):
        other = blur(img, sigma, pad)
        np.testing.assert_allclose(other[12:-12, 12:-12], want[12:-12, 12:-12], atol=1e-9)
        assert np.abs(other - want).max() > 1e-3
    with pytest.raises(ValueError, match="pad"):
        blur(img, sigma, "wrap")


def test_downsamplers():
    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (50, 47, 3), dtype=np.uint8)  # mod-crop to 48×44 at ×4
    b = blur(mod_crop(hr, 4), 1.8)
    matlab = gaussian8_lr(hr, 4, 1.8, downsample="matlab")
    np.testing.assert_array_equal(matlab, np.clip(np.floor(imresize(b, scale=0.25) + 0.5), 0, 255))
    sfold = gaussian8_lr(hr, 4, 1.8, downsample="s-fold")
    np.testing.assert_array_equal(sfold, np.clip(np.floor(b[::4, ::4] + 0.5), 0, 255))
    pil = gaussian8_lr(hr, 4, 1.8, downsample="ikc-pil")
    for lr in (matlab, sfold, pil):
        assert lr.shape == (12, 11, 3) and lr.dtype == np.uint8
    assert np.abs(pil.astype(int) - matlab).mean() < 2  # PIL bicubic ≈ MATLAB bicubic (both antialiased a=-0.5)
    with pytest.raises(ValueError, match="downsample"):
        gaussian8_lr(hr, 4, 1.8, downsample="nearest")


@pytest.mark.realdata
def test_gaussian8_on_a_real_set5_image(data_dir):
    """head.png (280×280): shape, dtype, brightness kept, blur grows with σ, legacy name gives the same LR."""
    hr = read_image(data_dir / "benchmark" / "Set5" / "HR" / "head.png")
    bic = degrade(hr, 4)
    roughness = []
    for sigma in gaussian8_sigmas(4):
        lr = degrade(hr, 4, "gaussian8", sigma=sigma)
        assert lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3) == bic.shape and lr.dtype == np.uint8
        assert abs(lr.astype(float).mean() - bic.astype(float).mean()) < 1.0  # kernel sums to 1
        roughness.append(np.abs(np.diff(lr.astype(float), axis=1)).mean())
        # the earlier name (MATLAB-bicubic reading) is the same image
        np.testing.assert_array_equal(lr, degrade(hr, 4, "gaussian_blur", sigma=sigma))
    assert roughness[0] < np.abs(np.diff(bic.astype(float), axis=1)).mean()
    assert all(a > b for a, b in itertools.pairwise(roughness))  # wider kernel, smoother LR


@pytest.mark.realdata
def test_gaussian8_cell_is_the_mean_of_every_image_kernel_score(data_dir):
    """extra.per_image_kernel holds 5 images × 8 kernels; their mean is the cell value (~10 s)."""
    paper = [PaperCell(dataset="Set5", metric=m, value=1.0, printed="1.0") for m in ("psnr_y", "ssim_y")]
    entry = Entry(id="bic", row="Bicubic", model="bicubic", obtain="compute", scale=4, paper=paper,
                  degradation="gaussian8", degradation_params={"downsample": "matlab"})
    suite = Suite(id="t", paper="test", table="T", entries=[entry])
    ctx = MeasureContext(suite=suite, profile=PROFILES["basicsr"], data_dir=data_dir, weights_dir=None)
    got = measure_metrics(ctx, entry)
    assert {m.metric for m in got} == {"psnr_y", "ssim_y"}
    for m in got:
        assert m.status is None, m.reason
        pik = m.extra["per_image_kernel"]
        assert sorted(pik) == ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
        assert all(len(v) == 8 for v in pik.values())
        assert len({v for vs in pik.values() for v in vs}) == 40  # every kernel scored separately
        np.testing.assert_allclose(m.extra["kernel_sigmas"], gaussian8_sigmas(4))
        assert np.mean([v for vs in pik.values() for v in vs]) == pytest.approx(m.value, abs=1e-9)
        for img, vs in pik.items():
            assert m.extra["per_image"][img] == pytest.approx(np.mean(vs), abs=1e-12)
        assert "mean over 8 kernels" in m.reason
