"""Training data: HR patches from a registered training set, degraded to LR, as a torch ``Dataset``.

- **Files**: the HR images of the training set (``harness.datasets`` when ``datasets.toml`` knows it, else
  ``<data_dir>/<name>/HR``), sorted; every ``VAL_STRIDE``-th file (at most ``VAL_COUNT``) is held out for
  validation and never trained on.  The fingerprint (sha256 of names and contents) is part of the run key.
- **Degradation**: ``bicubic`` (MATLAB ``imresize``, ``harness.degradations``) is applied once per image and
  the aligned uint8 HR/LR pairs are cached under ``<runs>/_cache`` (the pre-built LR cache); any other
  declared degradation is applied on the fly to each HR patch — ``random_gaussian_blur`` (STEA §III-B):
  σ ~ U(0.2, s) per patch, 21×21 isotropic Gaussian, MATLAB bicubic ↓s.  (Blurring a patch uses reflection
  padding at its border where a whole-image blur would see neighbouring pixels: declared deviation.)
- **Sampling**: sample ``b`` of iteration ``it`` is a pure function of ``(seed, it, b)`` (own numpy
  generator): a random image, a random aligned window, one of the 8 flips/rot90s.  Hence workers need no
  RNG state, a resumed run draws exactly what an uninterrupted one would, and DDP ranks split the global
  batch by ``b % world`` without overlap.
- **Input kinds** (``harness.models.registry``): ``rgb`` LR RGB, ``y`` LR luma, ``y_upscaled`` luma of the
  bicubic-upscaled uint8 LR — BT.601 Y / 255 as ``harness.metrics.rgb_to_y``, what ``harness.evaluate``
  feeds at test time.  Targets are HR RGB (``rgb``) or HR Y.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from harness import datasets
from harness.degradations import degrade, mod_crop
from harness.images import CorruptDataError, UnsupportedImageError, read_image
from harness.imresize import imresize
from harness.metrics import rgb_to_y
from harness.obtain import ObtainError
from harness.training.recipes import ENGINE_VERSION, VAL_COUNT, VAL_STRIDE, TrainConfig

IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}
BLUR_SIGMA_MIN = 0.2  # STEA §III-B: σ ~ U(0.2, s)


class TrainingError(ObtainError):
    """Training failed; the message names the entry (or file) and what to do."""


class MissingTrainingDataError(TrainingError):
    status = "missing-data"


class TrainingDataError(TrainingError):
    """The training data are there but unusable (corrupt file, image smaller than the patch)."""


class TrainingWarning(UserWarning):
    """A checkpoint or the data cache could not be used and was replaced."""


def training_files(name: str, data_dir: Path) -> list[Path]:
    """Sorted HR images of training set ``name`` (harness.datasets when it knows the set, else ``<name>/HR``)."""
    try:
        return datasets.list_images(name, data_dir)
    except datasets.DatasetError:
        pass  # not in datasets.toml (a local set): plain folder layout below
    except datasets.MissingDataError as exc:
        raise MissingTrainingDataError(f"training set {exc}") from None
    except CorruptDataError as exc:
        raise TrainingDataError(str(exc)) from None
    folder = Path(data_dir) / name / "HR"
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise MissingTrainingDataError(f"training set {name}: no images in {folder}; put its HR images there")
    return files


def split_validation(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """(training files, held-out validation files): every VAL_STRIDE-th file, at most VAL_COUNT, held out."""
    val = [f for i, f in enumerate(files) if i % VAL_STRIDE == 0][:VAL_COUNT] if len(files) > VAL_STRIDE else []
    held = set(val)
    return [f for f in files if f not in held], val


def fingerprint(files: list[Path]) -> str:
    """sha256 over (name, content sha256) of the files, in order (memoised per file by size and mtime)."""
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}  {datasets.file_sha256(p)}\n".encode())
    return h.hexdigest()


def _read_hr(path: Path, scale: int) -> np.ndarray:
    try:
        return mod_crop(read_image(path), scale)
    except (CorruptDataError, UnsupportedImageError) as exc:
        raise TrainingDataError(str(exc)) from None
    except ValueError as exc:  # mod_crop: smaller than the scale
        raise TrainingDataError(f"{path}: {exc}") from None


def luma(a: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB → H×W float32 BT.601 Y / 255 (the registry's Y input convention)."""
    return (rgb_to_y(a) / 255.0).astype(np.float32)


def _atomic_savez(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ImageSet:
    """HR images (uint8 RGB) of one set at one scale, with their bicubic LR when the LR is cached."""

    def __init__(self, names: list[str], hr: list[np.ndarray], lr: list[np.ndarray] | None, scale: int):
        self.names, self.hr, self.lr, self.scale = names, hr, lr, scale

    @classmethod
    def load(cls, files: list[Path], scale: int, *, degradation: str, cache_dir: Path | None) -> ImageSet:
        hr_only = degradation != "bicubic"  # on-the-fly degradations need only HR
        key = f"{fingerprint(files)[:16]}_x{scale}{'_hr' if hr_only else ''}_v{ENGINE_VERSION}"
        path = Path(cache_dir) / f"{key}.npz" if cache_dir else None
        if path is not None and path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    n = len(z["names"])
                    return cls([str(s) for s in z["names"]], [z[f"hr{i}"] for i in range(n)],
                               None if hr_only else [z[f"lr{i}"] for i in range(n)], scale)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                warnings.warn(f"{path}: unreadable data cache ({exc}); rebuilding it", TrainingWarning, stacklevel=2)
        hr = [_read_hr(f, scale) for f in files]
        lr = None if hr_only else [degrade(h, scale, "bicubic") for h in hr]
        out = cls([f.name for f in files], hr, lr, scale)
        if path is not None:
            arrays = {"names": np.array(out.names)}
            for i, h in enumerate(hr):
                arrays[f"hr{i}"] = h
                if lr is not None:
                    arrays[f"lr{i}"] = lr[i]
            _atomic_savez(path, arrays)
        return out

    def check_patch(self, hr_patch: int) -> None:
        small = [(n, h.shape[:2]) for n, h in zip(self.names, self.hr) if min(h.shape[:2]) < hr_patch]
        if small:
            name, (h, w) = small[0]
            more = f" (and {len(small) - 1} more)" if len(small) > 1 else ""
            raise TrainingDataError(
                f"{name}: {w}×{h} (cropped to a multiple of ×{self.scale}) is smaller than the HR training patch "
                f"{hr_patch}×{hr_patch}{more}; remove it from the training set or train with a smaller patch"
            )


def _dihedral(a: np.ndarray, flips: np.ndarray) -> np.ndarray:
    if flips[0]:
        a = a[:, ::-1]
    if flips[1]:
        a = a[::-1]
    if flips[2]:
        a = a.transpose(1, 0, *range(2, a.ndim))
    return a


def _chw(a: np.ndarray) -> torch.Tensor:
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


class PatchDataset(Dataset):
    """Item ``it * batch + b`` is sample ``b`` of iteration ``it``: (input C×h×w, target C×H×W) in [0, 1]."""

    def __init__(self, images: ImageSet, cfg: TrainConfig):
        self.images, self.cfg = images, cfg
        self.kind, self.scale, self.lp = cfg.input_kind, cfg.scale, cfg.hr_patch // cfg.scale
        self.on_the_fly = cfg.degradation != "bicubic"
        if not self.on_the_fly and self.kind != "rgb":  # pre-computed luma planes: a crop is then a slice
            self.hr_y = [luma(h) for h in images.hr]
            src = images.lr if self.kind == "y" else [
                imresize(lr, output_shape=hr.shape[:2]) for lr, hr in zip(images.lr, images.hr)]
            self.in_y = [luma(x) for x in src]

    def __len__(self) -> int:
        return self.cfg.iterations * self.cfg.batch

    def _degrade(self, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.cfg.degradation == "random_gaussian_blur":
            sigma = float(rng.uniform(BLUR_SIGMA_MIN, float(self.scale)))
            return degrade(hr, self.scale, "gaussian_blur", sigma=sigma)
        return degrade(hr, self.scale, self.cfg.degradation)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        it, b = divmod(int(index), self.cfg.batch)
        rng = np.random.default_rng([self.cfg.seed, it, b])
        s, lp = self.scale, self.lp
        i = int(rng.integers(len(self.images.hr)))
        hr = self.images.hr[i]
        lh, lw = hr.shape[0] // s, hr.shape[1] // s
        y, x = int(rng.integers(lh - lp + 1)), int(rng.integers(lw - lp + 1))
        hwin = (slice(y * s, (y + lp) * s), slice(x * s, (x + lp) * s))
        flips = rng.random(3) < 0.5 if self.cfg.augment else np.zeros(3, bool)
        if self.on_the_fly:
            hr_p = hr[hwin]
            lr_p = self._degrade(np.ascontiguousarray(hr_p), rng)
            if self.kind == "rgb":
                inp, tgt = lr_p.astype(np.float32) / 255.0, hr_p.astype(np.float32) / 255.0
            else:
                src = lr_p if self.kind == "y" else imresize(lr_p, output_shape=hr_p.shape[:2])
                inp, tgt = luma(src), luma(hr_p)
        elif self.kind == "rgb":
            inp = self.images.lr[i][y:y + lp, x:x + lp].astype(np.float32) / 255.0
            tgt = hr[hwin].astype(np.float32) / 255.0
        else:
            inp = self.in_y[i][y:y + lp, x:x + lp] if self.kind == "y" else self.in_y[i][hwin]
            tgt = self.hr_y[i][hwin]
        return _chw(_dihedral(inp, flips)), _chw(_dihedral(tgt, flips))


class IterationBatches(Sampler):
    """Batches of iterations ``start..end-1``; rank ``r`` of ``world`` takes samples ``b ≡ r (mod world)``."""

    def __init__(self, batch: int, start: int, end: int, rank: int = 0, world: int = 1):
        self.batch, self.start, self.end, self.rank, self.world = batch, start, end, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for it in range(self.start, self.end):
            yield [it * self.batch + b for b in range(self.rank, self.batch, self.world)]

    def __len__(self) -> int:
        return max(0, self.end - self.start)


def _worker_init(worker_id: int) -> None:
    # Samples carry their own generator (see module docstring); this pins whatever else a worker might draw.
    info = torch.utils.data.get_worker_info()
    np.random.seed(info.seed % 2**32)
    torch.set_num_threads(1)


def make_loader(dataset: PatchDataset, start: int, end: int, *, rank: int = 0, world: int = 1,
                workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_sampler=IterationBatches(dataset.cfg.batch, start, end, rank, world),
                      num_workers=workers, worker_init_fn=_worker_init if workers else None,
                      persistent_workers=False, pin_memory=False)


VAL_DEGRADATION_SEED = 10**9  # the held-out images' blur widths: one draw for every run


def validation_pairs(images: ImageSet, cfg: TrainConfig, size: int = 96) -> list[tuple]:
    """Held-out images as (model input 1×C×h×w, HR Y, bicubic-upscaled LR Y), H×W floats in [0, 1], centre
    crops of ``size`` HR px (the bicubic Y is the baseline a trained model must beat).

    Degraded like the training data (bicubic, or the on-the-fly degradation with a fixed per-image seed).
    The seed does not depend on the run's training seed: a seed repeat is validated on the same LR images,
    so its curve compares with the other runs' (runs before this used ``[cfg.seed, 10**9, n]``).
    """
    out = []
    s = cfg.scale
    for n, hr in enumerate(images.hr):
        side = min(size, *hr.shape[:2]) // s * s
        y0, x0 = (hr.shape[0] - side) // 2 // s * s, (hr.shape[1] - side) // 2 // s * s
        hr_c = np.ascontiguousarray(hr[y0:y0 + side, x0:x0 + side])
        if cfg.degradation == "bicubic":
            lr = degrade(hr_c, s, "bicubic")
        else:
            lr = PatchDataset._degrade(_Deg(cfg), hr_c, np.random.default_rng([VAL_DEGRADATION_SEED, n]))
        if cfg.input_kind == "rgb":
            inp = lr.astype(np.float32) / 255.0
        else:
            inp = luma(lr if cfg.input_kind == "y" else imresize(lr, output_shape=hr_c.shape[:2]))
        out.append((_chw(inp)[None], luma(hr_c), luma(imresize(lr, output_shape=hr_c.shape[:2]))))
    return out


class _Deg:  # the two attributes PatchDataset._degrade reads
    def __init__(self, cfg: TrainConfig):
        self.cfg, self.scale = cfg, cfg.scale
