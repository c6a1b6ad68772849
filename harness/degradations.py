"""Named degradations HR → LR: ``degrade(hr_uint8, scale, name="bicubic", **params) -> lr_uint8``.

``bicubic`` (conventions.md §1, "HR preparation"): crop HR to a multiple of the scale from the top-left,
then MATLAB ``imresize(HR, 1/s, 'bicubic')`` on the uint8 RGB image (``harness.imresize``).

``gaussian_blur`` — the STEA paper's LabNet test degradation (papers/002, §III-B "Data Preprocessing of
LabNet", Eq. (2) y = (x ⊗ k)↓s without noise): an isotropic Gaussian kernel of size 21×21, then downsampling.
Test kernels: "we uniformly select 8 blur kernels from the ranges [0.80, 1.60], [1.35, 2.40], and [1.8, 3.2]"
for ×2, ×3, ×4.  This is the "Gaussian8" protocol of IKC (Gu et al., CVPR 2019) that the paper's Table II
compares against (IKC, DANv1/v2, DCLS numbers).  What we implement and what the paper leaves open:

- widths: ``numpy.linspace(lo, hi, 8)`` per scale, i.e. ×2: 0.80…1.60 step 0.1143; ×3: 1.35…2.40 step 0.15;
  ×4: 1.80…3.20 step 0.2.  *Ambiguity*: the paper calls the quantity "variance", but the ranges are those
  IKC gives as kernel *width* σ (standard deviation); we treat them as σ (``sigma``).
- every test HR image is degraded with each of the 8 kernels (the test set is 8× the images, metrics
  averaged over all).  *Ambiguity*: the paper does not say whether each image gets all 8 kernels or one.
- kernel: ``exp(-(x²+y²)/(2σ²))`` on the integer grid -10…10, normalised to sum 1 (IKC/DAN code).
- blur: correlation with reflection padding (torch ``ReflectionPad2d``, edge not repeated = scipy 'mirror'),
  in float on the 0–255 scale.
- downsampling: MATLAB bicubic ``imresize(·, 1/s)`` of the blurred image, as IKC's and DAN's test-set
  scripts do, then rounded to uint8.  *Ambiguity*: Eq. (2)'s "↓s" could also be direct s-fold subsampling
  (``x[::s, ::s]``, the other mode in DCLS/DAN code); available as ``downsample="s-fold"``.
- the HR image is cropped to a multiple of the scale first, as for ``bicubic``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from harness.imresize import imresize

__all__ = ["DEGRADATIONS", "degrade", "gaussian8_sigmas", "gaussian_kernel", "mod_crop"]

# STEA §III-B test ranges of the kernel width per scale (see module docstring on "variance" vs σ).
GAUSSIAN8_RANGES: dict[int, tuple[float, float]] = {2: (0.80, 1.60), 3: (1.35, 2.40), 4: (1.80, 3.20)}
GAUSSIAN8_COUNT = 8
KERNEL_SIZE = 21


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an image from the top-left so that height and width are multiples of ``scale``."""
    h, w = img.shape[:2]
    hc, wc = h - h % scale, w - w % scale
    if hc == 0 or wc == 0:
        raise ValueError(f"image {h}×{w} is smaller than the scale ×{scale}")
    return img[:hc, :wc, ...]


def gaussian8_sigmas(scale: int) -> list[float]:
    """The 8 test kernel widths for ``scale`` (uniformly spaced over STEA §III-B's range)."""
    if scale not in GAUSSIAN8_RANGES:
        raise ValueError(f"Gaussian8 kernels are defined for ×{sorted(GAUSSIAN8_RANGES)}, not ×{scale}")
    lo, hi = GAUSSIAN8_RANGES[scale]
    return [float(s) for s in np.linspace(lo, hi, GAUSSIAN8_COUNT)]


def gaussian_kernel(sigma: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """Isotropic Gaussian kernel of odd ``size``, normalised to sum 1."""
    if size % 2 != 1 or sigma <= 0:
        raise ValueError(f"gaussian_kernel: need odd size and sigma > 0, got size={size}, sigma={sigma}")
    ax = np.arange(size) - size // 2
    k = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma**2))
    return k / k.sum()


def _bicubic(hr: np.ndarray, scale: int) -> np.ndarray:
    return imresize(mod_crop(hr, scale), scale=1.0 / scale)


def _gaussian_blur(
    hr: np.ndarray, scale: int, sigma: float, kernel_size: int = KERNEL_SIZE, downsample: str = "bicubic"
) -> np.ndarray:
    hr = mod_crop(hr, scale).astype(np.float64)
    # The isotropic Gaussian is separable: gaussian_kernel(σ) = outer(k1, k1) with k1 its normalised 1-D
    # profile, so two 1-D passes (2·21 taps) equal the 21×21 correlation at a tenth of the cost.
    k1 = gaussian_kernel(sigma, kernel_size).sum(axis=1)
    blurred = ndimage.correlate1d(ndimage.correlate1d(hr, k1, axis=0, mode="mirror"), k1, axis=1, mode="mirror")
    if downsample == "bicubic":
        lr = imresize(blurred, scale=1.0 / scale)
    elif downsample == "s-fold":
        lr = blurred[::scale, ::scale]
    else:
        raise ValueError(f"gaussian_blur: downsample must be 'bicubic' or 's-fold', got {downsample!r}")
    return np.clip(np.floor(lr + 0.5), 0, 255).astype(np.uint8)


DEGRADATIONS: dict[str, Callable[..., np.ndarray]] = {
    "bicubic": _bicubic,
    "gaussian_blur": _gaussian_blur,
}


def degrade(hr_uint8: np.ndarray, scale: int, name: str = "bicubic", **params) -> np.ndarray:
    """Apply degradation ``name`` to a uint8 H×W×3 HR image; returns the uint8 LR image."""
    if name not in DEGRADATIONS:
        raise KeyError(f"unknown degradation {name!r}; known: {', '.join(sorted(DEGRADATIONS))}")
    if hr_uint8.dtype != np.uint8:
        raise TypeError(f"degrade: expected a uint8 HR image, got {hr_uint8.dtype}")
    return DEGRADATIONS[name](hr_uint8, scale, **params)
