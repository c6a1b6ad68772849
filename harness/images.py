"""Image I/O at the edge of the harness: every image becomes uint8 H×W×3 RGB, or a clear error.

Decisions (documented because they change pixel values):

- grey (``L``, ``1``, ``LA``) images are replicated to 3 channels (what models are fed); ``is_grey`` tells
  the scorer, which then uses the grey value itself as Y like MATLAB scripts do (Set14's ``bridge.png``;
  see ``harness.metrics.luma``);
- alpha (``RGBA``, ``LA``, palette with transparency) is **dropped**, not composited: the colour channels
  are kept as stored.  SR benchmarks have no transparent images, and compositing on black or white would
  invent pixel values that the dataset's other tools (cv2.imread, MATLAB imread) never see;
- palette (``P``) and other 8-bit modes (``CMYK``, ``YCbCr``) are converted to RGB by Pillow;
- 16-bit images (``I;16``, 48-bit RGB) are **refused** with ``UnsupportedImageError``: scaling them to 8 bits
  is a choice (shift vs. rescale) that would silently define the ground truth;
- unreadable or truncated files raise ``CorruptDataError`` naming the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["CorruptDataError", "UnsupportedImageError", "is_grey", "read_image", "write_png"]


class CorruptDataError(RuntimeError):
    """A data file is unreadable, truncated or fails its checksum; the message names the file."""


class UnsupportedImageError(ValueError):
    """A readable image in a format the harness refuses to guess about (e.g. 16-bit)."""


_WIDE = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 H×W×3 RGB (see the module docstring for mode handling)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            # 48-bit RGB PNGs open as mode "RGB" (Pillow keeps the high bytes): only the raw mode tells.
            wide_rgb = any(";16" in str(t.args) for t in im.tile)
            im.load()  # decode now: truncation surfaces here, not later
            if im.mode in _WIDE or wide_rgb:
                raise UnsupportedImageError(
                    f"{path}: {im.mode} image with more than 8 bits per sample is not supported; "
                    "convert to 8-bit RGB PNG explicitly"
                )
            # Pillow's convert("RGB") replicates grey, expands palettes and discards alpha without compositing.
            return np.array(im.convert("RGB"))
    except UnsupportedImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptDataError(f"{path}: unreadable or truncated image ({exc}); re-download or restore it") from exc


def is_grey(path: str | Path) -> bool:
    """True when the file stores one colour channel (grey, with or without alpha); reads the header only.

    ``read_image`` returns such images as 3 equal channels; the metrics need to know (``metrics.luma``).
    """
    try:
        with Image.open(path) as im:
            return im.mode in {"1", "L", "LA", "La"} or im.mode in _WIDE
    except (UnidentifiedImageError, OSError) as exc:
        raise CorruptDataError(f"{path}: unreadable image ({exc})") from exc


def write_png(path: str | Path, img: np.ndarray) -> Path:
    """Write uint8 H×W×3 (or H×W) as PNG atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise TypeError(f"write_png: expected uint8, got {arr.dtype} (quantise first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(arr).save(f, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
