"""The model-independent part of scoring one image, done once per process.

A suite scores many models on the same test images.  Decoding the HR file, cropping it, degrading it to
the LR input, the bicubic upscale that Y models take their colour from, their luma input, and the HR side
of the metrics (luma, shave, SSIM window statistics: ``metrics.prepare_reference``) depend only on the
files, the scale, the degradation, the input kind and the profile — so ``harness.evaluate`` asks this
module for them and pays for each once.

Entries are keyed by every file's resolved path, size and modification time (a changed file is a miss) and
by every setting the work depends on.  The cache is bounded by bytes, ``SRBENCH_EVAL_CACHE_MB`` (default
1024; 0 turns it off), and keeps what it holds once full rather than evicting: a suite scores entry after
entry on the same sequence of images, and for a sequence longer than the cache, least-recently-used
eviction would throw out every image just before its next use.  Nothing here is written to disk.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from harness.degradations import degrade, mod_crop
from harness.images import CorruptDataError, is_grey, read_image
from harness.imresize import imresize
from harness.metrics import Reference, luma, prepare_reference
from harness.profile import MetricProfile

__all__ = ["ImageError", "Preparation", "PreparedImage", "cache_limit_bytes", "clear", "matlab_y_input", "prepare"]

DEFAULT_CACHE_MB = 1024


class ImageError(ValueError):
    """One image cannot be evaluated (too small for the scale or the SSIM window, LR of the wrong size...)."""


@dataclass(frozen=True)
class PreparedImage:
    hr: np.ndarray  # H×W×3 uint8, cropped to a multiple of the scale
    grey: bool  # the HR file stores one channel (metrics.luma)
    lr: np.ndarray  # uint8 LR: the degradation of ``hr`` or the dataset's LR file
    reference: Reference  # the HR side of score_pair
    upscaled: np.ndarray | None  # MATLAB bicubic of ``lr`` to the HR size (Y kinds' colour; the bicubic row)
    y_input: np.ndarray | None  # a Y model's input, Y/255 float64
    seconds: dict[str, float] = field(default_factory=dict)  # io, degradation, metrics: the cost of a miss

    @property
    def nbytes(self) -> int:
        arrays = (self.hr, self.lr, self.upscaled, self.y_input, *self.reference.arrays())
        return sum(a.nbytes for a in arrays if a is not None)


def matlab_y_input(hr: np.ndarray, scale: int, input_kind: str, grey: bool) -> np.ndarray:
    """The luma input of the SRCNN/VDSR MATLAB test code: HR Y in double, bicubic down (and, for
    ``y_upscaled``, back up), never quantised — not the Y of a uint8 RGB LR image."""
    y = luma(np.asarray(hr, dtype=np.float64), grey=grey) / 255.0
    low = imresize(y, scale=1.0 / scale)
    return low if input_kind == "y" else imresize(low, output_shape=y.shape)


def _stat(path: Path | None) -> tuple | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError as exc:
        raise CorruptDataError(f"{path}: cannot be read ({exc}); re-download or restore it") from None
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Preparation:
    """What one ``evaluate`` call prepares for every image (the part of the cache key that is not a file)."""

    scale: int
    input_kind: str  # evaluate.INPUT_KINDS
    profile: MetricProfile
    metrics: tuple[str, ...]
    degradation: str = "bicubic"
    params: tuple[tuple[str, Any], ...] = ()  # the degradation's parameters, sorted

    @cached_property
    def key(self) -> tuple:
        return (self.scale, self.input_kind, self.profile.digest(), self.metrics, self.degradation,
                json.dumps(self.params, default=str))


def _build(hr_path: Path, lr_path: Path | None, how: Preparation) -> PreparedImage:
    scale, kind, profile = how.scale, how.input_kind, how.profile
    t0 = time.perf_counter()
    hr, grey = read_image(hr_path), is_grey(hr_path)
    lr = read_image(lr_path) if lr_path else None
    t1 = time.perf_counter()
    hr = mod_crop(hr, scale)
    if lr is None:
        lr = degrade(hr, scale, how.degradation, **dict(how.params))
    elif lr.shape[:2] != (hr.shape[0] // scale, hr.shape[1] // scale):
        raise ImageError(f"LR file {lr_path} is {lr.shape[0]}×{lr.shape[1]}, expected HR/{scale}")
    upscaled = y_input = None
    if kind != "rgb":  # bicubic and Y kinds: the MATLAB bicubic upscale of the uint8 LR
        upscaled = imresize(lr, output_shape=hr.shape[:2])
    if kind in ("y", "y_upscaled"):
        if profile.y_model_input == "matlab-y":
            y_input = matlab_y_input(hr, scale, kind, grey)
        else:
            y_input = luma(lr if kind == "y" else upscaled, grey=grey) / 255.0
    t2 = time.perf_counter()
    reference = prepare_reference(hr, scale, profile, how.metrics, grey)
    t3 = time.perf_counter()
    for a in (hr, lr, upscaled, y_input, *reference.arrays()):  # shared by every later caller: read-only
        if a is not None:
            a.flags.writeable = False
    return PreparedImage(hr, grey, lr, reference, upscaled, y_input,
                         {"io": t1 - t0, "degradation": t2 - t1, "metrics": t3 - t2})


class _Cache:
    def __init__(self) -> None:
        self.items: dict[tuple, PreparedImage] = {}
        self.bytes = 0

    def get(self, key: tuple) -> PreparedImage | None:
        return self.items.get(key)

    def put(self, key: tuple, item: PreparedImage, limit: int) -> None:
        if self.bytes + item.nbytes <= limit:  # full: keep what is held (module docstring)
            self.items[key] = item
            self.bytes += item.nbytes

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0


_CACHE = _Cache()


def cache_limit_bytes() -> int:
    raw = os.environ.get("SRBENCH_EVAL_CACHE_MB", str(DEFAULT_CACHE_MB))
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"SRBENCH_EVAL_CACHE_MB={raw!r}: give a number of megabytes (0 turns the cache off)") from None
    return max(0, int(mb * 2**20))


def clear() -> None:
    """Forget every prepared image (tests; a long process that changes data files in place)."""
    _CACHE.clear()


def prepare(hr_path: Path, lr_path: Path | None, how: Preparation) -> tuple[PreparedImage, bool]:
    """(the prepared image, whether it came from the cache) for one HR file and, when the profile reads LR
    files, its LR file.  Raises ``ImageError`` for an LR file of the wrong size."""
    hr_path, lr_path = Path(hr_path), Path(lr_path) if lr_path else None
    limit = cache_limit_bytes()
    key = (_stat(hr_path), _stat(lr_path), how.key) if limit else None
    item = _CACHE.get(key) if limit else None
    if item is not None:
        return item, True
    item = _build(hr_path, lr_path, how)
    if limit:
        _CACHE.put(key, item, limit)
    return item, False
