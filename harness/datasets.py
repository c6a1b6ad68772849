"""Dataset registry (datasets.toml): where each set lives, how to get it, and whether the copy is intact.

- ``resolve_data_dir(arg)``: ``--data-dir``, else ``$SRBENCH_DATA_DIR``, else the per-user cache
  (``platformdirs.user_cache_path("srbench") / "datasets"``);
- ``list_images(name, data_dir, split)``: sorted HR image paths (verified against the data dir's
  ``SHA256SUMS`` when there is one), ``lr_path`` for the LR files a dataset ships;
- ``dataset_status`` / ``datasets_table``: present? verified? how many images? why not?;
- ``fingerprint``: sha256 over the sorted "relative path  sha256" lines of a dataset's HR files (provenance);
- ``fetch``: download and unpack the official archives with pooch, or say exactly what to do by hand.

Verification is cheap: a file is hashed once per process, memoised by (path, size, mtime).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.images import CorruptDataError
from harness.util import sha256_file

__all__ = [
    "REGISTRY_PATH",
    "CorruptDataError",
    "Dataset",
    "DatasetError",
    "MissingDataError",
    "dataset_status",
    "datasets_table",
    "fetch",
    "fingerprint",
    "get_dataset",
    "list_datasets",
    "list_images",
    "lr_path",
    "resolve_data_dir",
    "verify",
]

REGISTRY_PATH = Path(__file__).resolve().parent.parent / "datasets.toml"
IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}
SUMS_FILE = "SHA256SUMS"


class MissingDataError(FileNotFoundError):
    """A dataset (or some of its files) is not in the data dir; the message says how to get it."""


class DatasetError(ValueError):
    """datasets.toml is malformed or a dataset/split name is unknown."""


# --- registry ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    url: str
    hash: str = ""  # pooch "alg:hex"; empty: no known pin
    unpack: str = "."  # folder (relative to the data dir) the archive is unpacked into
    note: str = ""


class Split(_Strict):
    hr: str | None = None  # own folder; None: the dataset's folder
    lr: str | None = None
    count: int | None = None
    range: tuple[int, int] | None = None  # [start, stop) of the dataset's sorted HR file list
    sources: list[str] = Field(default_factory=list)


class Dataset(_Strict):
    name: str
    title: str
    access: Literal["download", "application", "no-ground-truth"]
    licence: str
    url: str = ""
    how: str = ""  # manual instructions (for application/no-ground-truth, or where no archive fits)
    sources: list[str] = Field(default_factory=list)
    hr: str | None = None  # for no-ground-truth sets: the folder of the input images
    lr: str | None = None
    count: int | None = None
    naming: str = ""
    splits: dict[str, Split] = Field(default_factory=dict)
    default_split: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Dataset:
        if self.default_split is not None and self.default_split not in self.splits:
            raise ValueError(f"default_split {self.default_split!r} is not one of its splits {list(self.splits)}")
        for sname, s in self.splits.items():
            if s.hr is None and self.hr is None:
                raise ValueError(f"split {sname!r} has no hr folder and the dataset has none")
        if not self.splits and self.hr is None:
            raise ValueError("needs 'hr' (folder of HR images) or [splits]")
        return self

    def split(self, split: str | None) -> Split:
        """The effective split: named, else the default, else the whole dataset."""
        split = split or self.default_split
        if split is None:
            return Split(hr=self.hr, lr=self.lr, count=self.count, sources=self.sources)
        if split not in self.splits:
            raise DatasetError(f"dataset {self.name!r} has no split {split!r}; splits: {', '.join(self.splits)}")
        s = self.splits[split]
        count = s.count if s.count is not None or s.range is None else s.range[1] - s.range[0]
        return Split(
            hr=s.hr or self.hr, lr=s.lr or self.lr, count=count, range=s.range, sources=s.sources or self.sources
        )


class _Registry(_Strict):
    sources: dict[str, Source] = Field(default_factory=dict)
    datasets: dict[str, Dataset]

    @model_validator(mode="after")
    def _sources_known(self) -> _Registry:
        for d in self.datasets.values():
            for sid in d.sources + [s for sp in d.splits.values() for s in sp.sources]:
                if sid not in self.sources:
                    raise ValueError(f"dataset {d.name!r}: unknown source {sid!r}")
        return self


@lru_cache(maxsize=4)
def _registry(path: Path = REGISTRY_PATH) -> _Registry:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        for name, d in raw.get("datasets", {}).items():
            d.setdefault("name", name)
        return _Registry.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise DatasetError(f"{path}: invalid dataset registry: {exc}") from None


def list_datasets() -> list[str]:
    return list(_registry().datasets)


def get_dataset(name: str) -> Dataset:
    reg = _registry()
    if name not in reg.datasets:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(reg.datasets)}")
    return reg.datasets[name]


def resolve_data_dir(arg: str | os.PathLike | None = None) -> Path:
    """Data directory: explicit argument, else $SRBENCH_DATA_DIR, else the per-user cache (contract.md)."""
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get("SRBENCH_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return platformdirs.user_cache_path("srbench") / "datasets"


# --- instructions -----------------------------------------------------------------------------------------


def how_to_get(name: str, data_dir: Path, split: str | None = None) -> str:
    """One paragraph: what to download, from where, and where to put it."""
    ds = get_dataset(name)
    sp = ds.split(split)
    target = Path(data_dir) / (sp.hr or "")
    if ds.access != "download" or not sp.sources:
        return f"{ds.title}: {ds.how or ds.url} (expected under {target}; licence: {ds.licence})"
    reg = _registry()
    parts = []
    for sid in sp.sources:
        src = reg.sources[sid]
        pin = f" ({src.hash})" if src.hash else ""
        parts.append(f"{src.url}{pin} unpacked into {Path(data_dir) / src.unpack}")
    return (
        f"{ds.title}: download {'; '.join(parts)} so that {target} holds the images "
        f"(or call harness.datasets.fetch({name!r}, {str(data_dir)!r})); licence: {ds.licence}"
    )


# --- files, checksums -------------------------------------------------------------------------------------


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per process for a given (path, size, mtime) (harness.util)."""
    return sha256_file(path)


@lru_cache(maxsize=16)
def _sums(sums_path: str, size: int, mtime_ns: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in Path(sums_path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        digest, _, rel = line.strip().partition(" ")
        rel = rel.strip().lstrip("*")
        out[os.path.normpath(rel)] = digest.lower()
    return out


def _load_sums(data_dir: Path) -> dict[str, str] | None:
    path = Path(data_dir) / SUMS_FILE
    if not path.is_file():
        return None
    st = path.stat()
    return _sums(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _rel(path: Path, data_dir: Path) -> str:
    return os.path.normpath(os.path.relpath(path, data_dir))


def verify(files: list[Path], data_dir: Path) -> tuple[bool, str]:
    """Check files against ``data_dir/SHA256SUMS``: (all listed and matching, reason if not).

    A listed file whose hash differs raises ``CorruptDataError`` naming it; files absent from the list are
    reported as unverified (False) — the data is usable, its provenance is weaker.
    """
    sums = _load_sums(data_dir)
    if sums is None:
        return False, f"no {SUMS_FILE} in {data_dir}: files not verified"
    unlisted = []
    for p in files:
        rel = _rel(p, data_dir)
        expected = sums.get(rel)
        if expected is None:
            unlisted.append(rel)
            continue
        actual = file_sha256(p)
        if actual != expected:
            raise CorruptDataError(
                f"{p}: sha256 {actual} does not match {expected} in {Path(data_dir) / SUMS_FILE}; "
                "the file is corrupt or was changed — restore it from the official source"
            )
    if unlisted:
        return False, f"{len(unlisted)} file(s) not listed in {SUMS_FILE} (e.g. {unlisted[0]})"
    return True, f"{len(files)} files match {SUMS_FILE}"


def _raw_images(ds: Dataset, sp: Split, data_dir: Path) -> list[Path]:
    files = _images_in(Path(data_dir) / sp.hr)
    if sp.range is not None:
        files = files[sp.range[0]: sp.range[1]]
    return files


def _check(ds: Dataset, sp: Split, data_dir: Path, files: list[Path]) -> tuple[bool, str]:
    """Completeness (count, files SHA256SUMS lists under the folder) and checksums; see ``verify``."""
    if sp.count is not None and len(files) != sp.count:
        raise MissingDataError(
            f"{ds.name}: expected {sp.count} images in {data_dir / sp.hr}, found {len(files)}. "
            f"{how_to_get(ds.name, data_dir)}"
        )
    sums = _load_sums(data_dir)
    if sums is not None and sp.range is None:
        folder = os.path.normpath(sp.hr)
        have = {_rel(p, data_dir) for p in files}
        gone = sorted(
            r for r in sums
            if os.path.dirname(r) == folder and Path(r).suffix.lower() in IMAGE_SUFFIXES and r not in have
        )
        if gone:
            raise MissingDataError(
                f"{ds.name}: {len(gone)} file(s) listed in {data_dir / SUMS_FILE} are missing "
                f"(e.g. {gone[0]}). {how_to_get(ds.name, data_dir)}"
            )
    return verify(files, data_dir)


def list_images(name: str, data_dir: str | os.PathLike, split: str | None = None, *, check: bool = True) -> list[Path]:
    """Sorted HR image paths of a dataset (split), or ``MissingDataError`` saying how to get them.

    With ``check`` (default) the image count is compared with the registry's and the files are verified
    against the data dir's SHA256SUMS when there is one (``CorruptDataError`` on a mismatch).
    """
    data_dir = Path(data_dir)
    ds = get_dataset(name)
    sp = ds.split(split)
    files = _raw_images(ds, sp, data_dir)
    if not files:
        raise MissingDataError(f"{name}: no images in {data_dir / sp.hr}. {how_to_get(name, data_dir, split)}")
    if check:
        _check(ds, sp, data_dir, files)
    return files


def lr_path(name: str, data_dir: str | os.PathLike, hr_path: Path, scale: int, split: str | None = None) -> Path:
    """The LR file the dataset ships for ``hr_path`` at ``scale`` (``MissingDataError`` if absent)."""
    data_dir = Path(data_dir)
    ds = get_dataset(name)
    sp = ds.split(split)
    if sp.lr is None:
        raise MissingDataError(f"{name} ships no LR images; use the profile's lr = 'matlab-bicubic'")
    path = data_dir / sp.lr.format(stem=Path(hr_path).stem, scale=scale)
    if not path.is_file():
        raise MissingDataError(f"{name}: LR file {path} not found. {how_to_get(name, data_dir, split)}")
    verify([path], data_dir)  # a mismatch raises; an unlisted file is fine
    return path


@dataclass(frozen=True)
class DatasetStatus:
    present: bool
    verified: bool
    n_images: int
    reason: str
    corrupt: bool = False  # a file failed its checksum or cannot be read

    def __iter__(self):  # unpack as (present, verified, n_images, reason)
        return iter((self.present, self.verified, self.n_images, self.reason))


def dataset_status(name: str, data_dir: str | os.PathLike, split: str | None = None) -> DatasetStatus:
    """(present, verified, n_images, reason) — never raises for missing or corrupt data."""
    data_dir = Path(data_dir)
    ds = get_dataset(name)
    sp = ds.split(split)
    files = _raw_images(ds, sp, data_dir)
    try:
        if not files:
            raise MissingDataError(f"no images in {data_dir / sp.hr}")
        ok, why = _check(ds, sp, data_dir, files)
    except MissingDataError as exc:
        return DatasetStatus(False, False, len(files), str(exc))
    except CorruptDataError as exc:
        return DatasetStatus(True, False, len(files), str(exc), corrupt=True)
    if ds.access == "no-ground-truth":
        why += "; no ground truth (visual comparison only)"
    return DatasetStatus(True, ok, len(files), why)


def fingerprint(name: str, data_dir: str | os.PathLike, split: str | None = None) -> str:
    """sha256 of the sorted lines "relative/path  sha256" of the dataset's HR files (result provenance)."""
    data_dir = Path(data_dir)
    files = list_images(name, data_dir, split)
    lines = sorted(f"{_rel(p, data_dir)}  {file_sha256(p)}" for p in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def datasets_table(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One row per dataset (and split) for ``python -m harness datasets`` / ``list``.

    Keys: ``name`` ("DIV2K/valid" for a split), ``status`` (verified, unverified, missing, corrupt),
    ``detail`` (the reason, or how to get a missing set), plus the raw fields.
    """
    data_dir = resolve_data_dir(data_dir)
    rows = []
    for name in list_datasets():
        ds = get_dataset(name)
        for split in list(ds.splits) or [None]:
            st = dataset_status(name, data_dir, split)
            if not st.present:
                status, detail = "missing", how_to_get(name, data_dir, split)
            elif st.corrupt:
                status, detail = "corrupt", st.reason
            else:
                status, detail = ("verified" if st.verified else "unverified"), st.reason
            rows.append({
                "name": f"{name}/{split}" if split else name, "dataset": name, "split": split,
                "status": status, "detail": detail, "access": ds.access, "present": st.present,
                "verified": st.verified, "images": st.n_images, "expected": ds.split(split).count,
                "licence": ds.licence,
            })
    return rows


# --- download ---------------------------------------------------------------------------------------------


def fetch(name: str, data_dir: str | os.PathLike, split: str | None = None) -> list[Path]:
    """Download and unpack the dataset's official archives with pooch; returns its images.

    Archives are kept under ``data_dir/.downloads``.  Datasets that need an application or have no
    archive, and any download failure (offline machine, changed URL, hash mismatch), raise
    ``MissingDataError`` with the manual instructions.
    """
    import pooch

    data_dir = Path(data_dir)
    ds = get_dataset(name)
    sp = ds.split(split)
    if ds.access != "download" or not sp.sources:
        raise MissingDataError(f"{name} cannot be downloaded automatically. {how_to_get(name, data_dir, split)}")
    reg = _registry()
    for sid in sp.sources:
        src = reg.sources[sid]
        extract = str((data_dir / src.unpack).resolve())
        unpack = pooch.Untar(extract_dir=extract) if ".tar" in src.url else pooch.Unzip(extract_dir=extract)
        try:
            pooch.retrieve(src.url, known_hash=src.hash or None, path=data_dir / ".downloads", processor=unpack,
                           progressbar=False)
        except Exception as exc:  # network errors, HTTP errors, hash mismatch (ValueError)
            raise MissingDataError(
                f"could not download {src.url} ({type(exc).__name__}: {exc}). Download it by hand"
                f"{' and check ' + src.hash if src.hash else ''}, and unpack it into {data_dir / src.unpack} "
                f"so that {data_dir / sp.hr} holds the {name} images."
            ) from exc
    return list_images(name, data_dir, split)
