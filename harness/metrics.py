"""Full-reference metrics with every knob taken from a ``MetricProfile`` (conventions.md §1–2).

Pure numpy functions.  Pixel values inside this module are on the 0–255 scale: uint8 arrays, or float
arrays produced by ``quantize`` (which maps a model's float [0, 1] output to 0–255 per the profile).

The HR side of a score (its luma, shave and SSIM window statistics) depends only on the HR image, the scale
and the profile: ``prepare_reference`` computes it once, and ``score_pair(reference=...)`` reuses it for
every model scored against that image (``harness.evaluate`` keeps references per process).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import correlate1d
from skimage.metrics import structural_similarity

from harness.profile import MetricProfile

__all__ = [
    "ALL_METRICS",
    "Reference",
    "aggregate",
    "lpips_distance",
    "luma",
    "prepare_reference",
    "psnr",
    "quantize",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "score_pair",
    "shave",
    "ssim",
    "ycbcr_to_rgb",
]

ALL_METRICS = frozenset({"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "lpips"})

# ITU-R BT.601 as MATLAB rgb2ycbcr (conventions.md §1, "colour"), R,G,B in [0, 1]:
# Y = 16 + 65.481 R + 128.553 G + 24.966 B; rows Y, Cb, Cr with offsets 16, 128, 128.
_YCBCR = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
_Y_COEFFS = _YCBCR[0] / 255.0  # for R,G,B on the 0–255 scale


def rgb_to_ycbcr(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` in float: H×W×3 RGB on the 0–255 scale → Y, Cb, Cr on the 0–255 scale."""
    return np.asarray(img, dtype=np.float64) @ (_YCBCR.T / 255.0) + _YCBCR_OFFSET


def ycbcr_to_rgb(img: np.ndarray) -> np.ndarray:
    """Inverse of ``rgb_to_ycbcr`` (MATLAB ``ycbcr2rgb`` in float); RGB on the 0–255 scale, not clipped."""
    return (np.asarray(img, dtype=np.float64) - _YCBCR_OFFSET) @ np.linalg.inv(_YCBCR.T / 255.0)


def rgb_to_y(img: np.ndarray, rounding: str = "float") -> np.ndarray:
    """Y (16–235 range, float64) of an H×W×3 RGB image given as uint8 or float on the 0–255 scale.

    ``rounding='float'`` keeps Y as float (BasicSR/RCAN); ``'round'`` rounds it to integers like MATLAB's
    uint8 ``rgb2ycbcr`` (SelfExSR script, VDSR-era tables).
    """
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"rgb_to_y: expected H×W×3 RGB, got shape {a.shape}")
    y = 16.0 + a @ _Y_COEFFS
    if rounding == "round":
        return np.floor(y + 0.5)  # MATLAB rounds half away from zero (Y > 0 here)
    if rounding != "float":
        raise ValueError(f"rgb_to_y: rounding must be 'float' or 'round', got {rounding!r}")
    return y


def luma(img: np.ndarray, rounding: str = "float", grey: bool = False) -> np.ndarray:
    """The luma the Y metrics score: ``rgb_to_y`` for colour images; for grey images, the grey value itself.

    MATLAB evaluation scripts convert with ``rgb2ycbcr`` only when ``size(im, 3) == 3``: an image stored with
    one channel (Set14's ``bridge``) is its own Y, on the full 0–255 range.  That is what the published
    bicubic Set14 rows use (scoring bridge's BT.601 Y instead reads +1.32 dB on that image, +0.09 dB on the
    Set14 mean).  ``grey=True`` computes full-range BT.601 luma, 0.299 R + 0.587 G + 0.114 B (the Y
    coefficients over 219), which is the grey value for a replicated grey image and still defined for a
    colour SR output of a grey input.
    """
    if not grey:
        return rgb_to_y(img, rounding)
    y = (rgb_to_y(img) - 16.0) * (255.0 / 219.0)
    return np.floor(y + 0.5) if rounding == "round" else y


def quantize(sr: np.ndarray, mode: str = "round") -> np.ndarray:
    """A model's float output in [0, 1] → values on the 0–255 scale, as the profile's ``quantize`` says.

    ``round``: clamp then round to integers (BasicSR ``tensor2img``); ``truncate``: clamp then floor (CARN's
    ``.byte()``); ``none``: clamp only (float scoring, ECBSR).  uint8 input is already quantised.
    """
    if np.asarray(sr).dtype == np.uint8:
        return np.asarray(sr, dtype=np.float64)
    if mode not in ("round", "truncate", "none"):
        raise ValueError(f"quantize: mode must be 'round', 'truncate' or 'none', got {mode!r}")
    x = np.array(sr, dtype=np.float64)  # one copy; every step below works in place
    np.clip(x, 0.0, 1.0, out=x)
    x *= 255.0
    if mode == "round":
        x += 0.5
    if mode != "none":
        np.floor(x, out=x)
    return x


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels on each side (conventions.md §1, "border shave")."""
    if border <= 0:
        return img
    if img.shape[0] <= 2 * border or img.shape[1] <= 2 * border:
        raise ValueError(f"image {img.shape[:2]} too small to shave {border} pixels per side")
    return img[border:-border, border:-border, ...]


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.mean(d * d))


def _psnr_from_mse(mse: float, data_range: float = 255.0) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB of two same-shaped arrays on the 0–255 scale (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    return _psnr_from_mse(_mse(a, b), data_range)


# Wang et al. 2004, Eq. (13) with ssim_index.m's constants: 11×11 Gaussian window σ = 1.5 (radius 5, the
# radius skimage derives from truncate = 3.5), K1 = 0.01, K2 = 0.03, L = 255; population (co)variances.
_SSIM_RADIUS = 5
_SSIM_TAPS = np.exp(-0.5 / 1.5**2 * np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1) ** 2)
_SSIM_TAPS /= _SSIM_TAPS.sum()
_SSIM_C1, _SSIM_C2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2


def _window_mean(a: np.ndarray) -> np.ndarray:
    """Gaussian-weighted mean under the SSIM window at every 'valid' position (window inside the image).

    Separable, rows then columns; the cropped rows are dropped before the second pass, which leaves every
    kept value as skimage's full-size filter-then-crop computes it."""
    r = _SSIM_RADIUS
    rows = correlate1d(a, _SSIM_TAPS, axis=0, mode="reflect")[r:-r]
    return correlate1d(rows, _SSIM_TAPS, axis=1, mode="reflect")[:, r:-r]


@dataclass(frozen=True)
class _Window:
    """One image's SSIM window statistics at the valid positions: local mean μ, μ², local variance σ²."""

    mean: np.ndarray
    mean_sq: np.ndarray  # μ²
    var: np.ndarray  # E[x²] − μ² under the window (population variance)

    @classmethod
    def of(cls, img: np.ndarray) -> _Window:
        if min(img.shape) < 2 * _SSIM_RADIUS + 1:
            raise ValueError(f"image {img.shape} is smaller than the 11×11 SSIM window")
        mean = _window_mean(img)
        mean_sq = mean * mean
        var = _window_mean(img * img)
        var -= mean_sq
        return cls(mean, mean_sq, var)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.mean, self.mean_sq, self.var


def _ssim_wang(x: np.ndarray, y: np.ndarray, y_window: _Window | None = None) -> float:
    """Mean SSIM over the valid map of two 2-D float64 images (x: the test image, y: the reference).

    skimage's terms in its order of operations, computed in place; the reference's statistics may come
    precomputed (``prepare_reference``)."""
    wy = y_window or _Window.of(y)
    wx = _Window.of(x)
    prod = wx.mean * wy.mean
    a2 = _window_mean(x * y)
    a2 -= prod
    a2 *= 2.0
    a2 += _SSIM_C2  # A2 = 2σxy + C2
    prod *= 2.0
    prod += _SSIM_C1  # A1 = 2μxμy + C1
    prod *= a2  # A1·A2
    b1 = wx.mean_sq + wy.mean_sq
    b1 += _SSIM_C1  # B1 = μx² + μy² + C1
    b2 = wx.var + wy.var
    b2 += _SSIM_C2  # B2 = σx² + σy² + C2
    b1 *= b2
    prod /= b1
    return float(np.mean(prod))


def ssim(a: np.ndarray, b: np.ndarray, variant: str = "wang") -> float:
    """SSIM of two images on the 0–255 scale (``b`` the reference); H×W×C gives the mean over channels.

    ``wang``: Wang et al. ``ssim_index`` — 11×11 Gaussian σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, population
    covariance, mean of the 'valid' map (equal to skimage's ``structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)`` to 1e-12, tests; own code so the reference's window statistics
    can be reused); ``skimage-default``: skimage's 7×7 uniform window with sample covariance (reads
    0.006–0.010 higher).
    """
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ: {a.shape} vs {b.shape}")
    if variant not in ("wang", "skimage-default"):
        raise ValueError(f"ssim: variant must be 'wang' or 'skimage-default', got {variant!r}")
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], variant) for c in range(a.shape[2])]))
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if variant == "wang":
        return _ssim_wang(x, y)
    return float(structural_similarity(x, y, data_range=255.0))


def lpips_distance(sr: np.ndarray, hr: np.ndarray, net: str = "alex", version: str = "0.1") -> float:
    """LPIPS between two H×W×3 RGB images on the 0–255 scale, inputs mapped to [-1, 1] (conventions.md §2).

    Raises ``harness.lpips_offline.LpipsUnavailable`` when the backbone weights cannot be found offline.
    """
    import torch

    from harness.lpips_offline import get_lpips_model

    model = get_lpips_model(net, version)

    def tensor(img: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
        return t / 127.5 - 1.0

    with torch.inference_mode():
        return float(model(tensor(sr), tensor(hr)).item())


@dataclass(frozen=True)
class Reference:
    """The HR side of ``score_pair`` for one image at one scale under one profile (see ``prepare_reference``).

    ``shape``: the HR image's; ``y`` / ``rgb``: the shaved HR luma / RGB on the 0–255 scale (None when no
    metric needs it); ``y_window`` / ``rgb_windows``: their SSIM window statistics (Wang SSIM only);
    ``key``: what it was made for."""

    shape: tuple[int, ...]
    y: np.ndarray | None
    y_window: _Window | None
    rgb: np.ndarray | None
    rgb_windows: tuple[_Window, ...] | None
    key: tuple

    def arrays(self) -> list[np.ndarray]:
        out = [a for a in (self.y, self.rgb) if a is not None]
        for w in ([self.y_window] if self.y_window else []) + list(self.rgb_windows or ()):
            out += w.arrays()
        return out


def _reference_key(scale: int, profile: MetricProfile, metrics: Iterable[str], grey: bool) -> tuple:
    return (scale, profile.y_rounding, profile.grey_y, profile.shave_for(scale), profile.ssim,
            tuple(sorted(set(metrics))), grey)


def prepare_reference(hr: np.ndarray, scale: int, profile: MetricProfile,
                      metrics: Iterable[str] = ("psnr_y", "ssim_y"), grey: bool = False) -> Reference:
    """The HR-only part of scoring ``hr`` (H×W×3 uint8, cropped to a multiple of the scale)."""
    wanted = set(metrics)
    key = _reference_key(scale, profile, wanted, grey)
    grey = grey and profile.grey_y == "identity"  # "bt601": score the replicated grey image like colour
    hr255 = np.asarray(hr, dtype=np.float64)
    border = profile.shave_for(scale)
    wang = profile.ssim == "wang"
    y = y_window = rgb = rgb_windows = None
    if wanted & {"psnr_y", "ssim_y"}:
        y = shave(luma(hr255, profile.y_rounding, grey), border)
        if "ssim_y" in wanted and wang:
            y_window = _Window.of(y)
    if wanted & {"psnr_rgb", "ssim_rgb"}:
        rgb = shave(hr255, border)
        if "ssim_rgb" in wanted and wang:
            rgb_windows = tuple(_Window.of(np.ascontiguousarray(rgb[..., c])) for c in range(3))
    return Reference(hr255.shape, y, y_window, rgb, rgb_windows, key)


def _ssim_against(x: np.ndarray, ref: np.ndarray, window: _Window | None, variant: str) -> float:
    return _ssim_wang(x, ref, window) if window is not None else ssim(x, ref, variant)


def score_pair(
    sr: np.ndarray,
    hr: np.ndarray,
    scale: int,
    profile: MetricProfile,
    metrics: Iterable[str] = ("psnr_y", "ssim_y"),
    sr_y: np.ndarray | None = None,
    grey: bool = False,
    reference: Reference | None = None,
) -> dict[str, float]:
    """Score one SR image against its HR image per ``profile``.

    ``sr``: H×W×3 float in [0, 1] (model output, quantised here per ``profile.quantize``) or uint8;
    ``hr``: H×W×3 uint8, already cropped to a multiple of the scale.  ``sr_y``: for luma-only models, their
    own H×W output (Y/255, float): the Y metrics score it (quantised the same way) instead of the Y of the
    rebuilt ``sr``, as the SRCNN/VDSR/FSRCNN evaluation scripts do.  ``grey``: the HR file has one channel
    (see ``luma``).  ``reference``: ``prepare_reference`` of this ``hr`` (computed here when None).  Returns
    the requested metrics plus ``mse_y`` / ``mse_rgb`` (after shaving, for pooled-MSE aggregation) when the
    matching PSNR is requested.
    """
    wanted = set(metrics)
    unknown = wanted - ALL_METRICS
    if unknown:
        raise ValueError(f"score_pair: unknown metrics {sorted(unknown)}; known: {sorted(ALL_METRICS)}")
    if sr.shape != hr.shape:
        raise ValueError(f"score_pair: SR {sr.shape} and HR {hr.shape} differ in shape")
    if reference is None:
        reference = prepare_reference(hr, scale, profile, wanted, grey)
    elif reference.key != _reference_key(scale, profile, wanted, grey) or reference.shape != hr.shape:
        raise ValueError("score_pair: the reference was prepared for another scale, profile, metrics or image")
    grey = grey and profile.grey_y == "identity"
    sr255 = quantize(sr, profile.quantize)
    border = profile.shave_for(scale)
    out: dict[str, float] = {}
    if wanted & {"psnr_y", "ssim_y"}:
        if sr_y is None:
            ys = shave(luma(sr255, profile.y_rounding, grey), border)
        else:
            ys = shave(quantize(sr_y, profile.quantize), border)
        if "psnr_y" in wanted:
            out["mse_y"] = _mse(ys, reference.y)
            out["psnr_y"] = _psnr_from_mse(out["mse_y"])
        if "ssim_y" in wanted:
            out["ssim_y"] = _ssim_against(ys, reference.y, reference.y_window, profile.ssim)
    if wanted & {"psnr_rgb", "ssim_rgb"}:
        rs, rh = shave(sr255, border), reference.rgb
        if "psnr_rgb" in wanted:
            out["mse_rgb"] = _mse(rs, rh)
            out["psnr_rgb"] = _psnr_from_mse(out["mse_rgb"])
        if "ssim_rgb" in wanted:
            windows = reference.rgb_windows
            out["ssim_rgb"] = (float(np.mean([_ssim_wang(np.ascontiguousarray(rs[..., c]), rh[..., c], windows[c])
                                              for c in range(3)]))
                               if windows else ssim(rs, rh, profile.ssim))
    if "lpips" in wanted:
        b = scale if profile.lpips_shave == "scale" else 0
        out["lpips"] = lpips_distance(shave(sr255, b), shave(np.asarray(hr, dtype=np.float64), b), profile.lpips_net,
                                      profile.lpips_version)
    return out


def aggregate(per_image: Iterable[Mapping[str, float]], metric: str, profile: MetricProfile) -> float:
    """Dataset value of ``metric`` from per-image ``score_pair`` dicts (conventions.md §1, "aggregation").

    ``mean``: mean of per-image values.  ``pooled-mse``: PSNR of the mean of per-image MSEs (PSNR metrics
    only; SSIM and LPIPS stay means).  Choice: every image weighs the same (mean of per-image MSE, not
    of all pixels), like the per-image mean it replaces; conventions.md does not pin this down.
    """
    rows = list(per_image)
    if not rows:
        raise ValueError("aggregate: no images")
    if profile.aggregation == "pooled-mse" and metric.startswith("psnr_"):
        key = "mse_" + metric.split("_", 1)[1]
        return _psnr_from_mse(float(np.mean([r[key] for r in rows])))
    return float(np.mean([r[metric] for r in rows]))
