"""Dataset registry, data-dir lookup, checksums, fingerprints, fetch instructions, and image I/O."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import datasets as ds
from harness import util
from harness.datasets import CorruptDataError, MissingDataError
from harness.images import UnsupportedImageError, is_grey, read_image, write_png

BENCH = {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100}


# --- registry ---------------------------------------------------------------------------------------------


def test_registry_lists_every_dataset_with_source_and_licence():
    names = set(ds.list_datasets())
    assert names == {"Set5", "Set14", "B100", "Urban100", "Manga109", "DIV2K", "Flickr2K", "DF2K", "291", "T91",
                     "Potsdam", "BelT", "RealWorld38"}
    for name in names:
        d = ds.get_dataset(name)
        assert d.title and d.licence
        assert d.sources or d.splits or d.how, name  # a way to get it, always
    for name in ("Manga109", "Potsdam", "BelT"):
        assert ds.get_dataset(name).access == "application"
    assert ds.get_dataset("RealWorld38").access == "no-ground-truth"
    reg = ds._registry()
    assert reg.sources["benchmark"].hash == "md5:4ace41d33c2384b97e6b320cd0afd6ba"
    assert reg.sources["benchmark"].url.startswith("https://cv.snu.ac.kr/")
    assert reg.sources["div2k_valid_hr"].hash.endswith("20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc")
    assert ds.get_dataset("DIV2K").split("train").count == 800
    assert ds.get_dataset("DIV2K").split(None).hr == "DIV2K/DIV2K_valid_HR"  # default split
    assert ds.get_dataset("Potsdam").split("train").range == (0, 700)
    assert ds.get_dataset("Potsdam").split("test").count == 300
    with pytest.raises(ds.DatasetError, match="unknown dataset"):
        ds.get_dataset("Set6")
    with pytest.raises(ds.DatasetError, match="no split"):
        ds.get_dataset("DIV2K").split("test")


def test_resolve_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("SRBENCH_DATA_DIR", str(tmp_path / "env"))
    assert ds.resolve_data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert ds.resolve_data_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("SRBENCH_DATA_DIR")
    cache = ds.resolve_data_dir()
    assert "srbench" in str(cache) and cache.name == "datasets"


# --- real data --------------------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("name", [*BENCH, "T91"])
def test_shared_sets_are_present_and_verified(data_dir, name):
    present, verified, n, reason = ds.dataset_status(name, data_dir)
    assert present and verified, reason
    assert n == ds.get_dataset(name).count
    files = ds.list_images(name, data_dir)
    assert files == sorted(files) and len(files) == n


@pytest.mark.realdata
def test_fingerprint_is_stable_and_hashes_once(data_dir):
    first = ds.fingerprint("Set5", data_dir)
    hits = util._sha256_memo.cache_info().hits
    assert ds.fingerprint("Set5", data_dir) == first and len(first) == 64
    assert util._sha256_memo.cache_info().hits > hits  # memoised by (path, size, mtime)
    assert ds.fingerprint("Set14", data_dir) != first


@pytest.mark.realdata
def test_shipped_lr_files(data_dir):
    hr = ds.list_images("Set5", data_dir)[0]
    assert ds.lr_path("Set5", data_dir, hr, 4).name == f"{hr.stem}x4.png"
    with pytest.raises(MissingDataError, match="benchmark.tar"):
        ds.lr_path("Set14", data_dir, ds.list_images("Set14", data_dir)[0], 2)  # not in ../shared
    with pytest.raises(MissingDataError, match="ships no LR"):
        ds.lr_path("T91", data_dir, ds.list_images("T91", data_dir)[0], 2)


@pytest.mark.realdata
def test_datasets_table(data_dir):
    rows = {r["name"]: r for r in ds.datasets_table(data_dir)}
    assert rows["Set5"]["status"] == "verified"
    assert rows["Manga109"]["status"] == "missing" and "manga109.org" in rows["Manga109"]["detail"]
    assert rows["DIV2K/valid"]["status"] == "missing" and "DIV2K_valid_HR.zip" in rows["DIV2K/valid"]["detail"]


# --- bad data ---------------------------------------------------------------------------------------------


def _copy_set5(src_dir: Path, dst: Path, sums: bool = True) -> Path:
    hr = dst / "benchmark" / "Set5" / "HR"
    hr.mkdir(parents=True)
    lines = []
    for p in sorted((src_dir / "benchmark" / "Set5" / "HR").glob("*.png")):
        shutil.copy(p, hr / p.name)
        lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  ./benchmark/Set5/HR/{p.name}")
    if sums:
        (dst / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return hr


def test_missing_dataset_says_what_where_and_how(tmp_path):
    present, verified, n, _ = ds.dataset_status("Set5", tmp_path)
    assert (present, verified, n) == (False, False, 0)
    with pytest.raises(MissingDataError) as exc:
        ds.list_images("Set5", tmp_path)
    msg = str(exc.value)
    assert "https://cv.snu.ac.kr/research/EDSR/benchmark.tar" in msg and "4ace41d3" in msg
    assert str(tmp_path / "benchmark" / "Set5" / "HR") in msg
    with pytest.raises(MissingDataError, match="manga109.org"):
        ds.list_images("Manga109", tmp_path)


@pytest.mark.realdata
def test_checksum_mismatch_names_the_file(data_dir, tmp_path):
    hr = _copy_set5(data_dir, tmp_path)
    assert ds.dataset_status("Set5", tmp_path).verified
    victim = hr / "bird.png"
    img = read_image(victim)
    img[0, 0, 0] ^= 1
    Image.fromarray(img).save(victim)  # still a valid PNG, different bytes
    with pytest.raises(CorruptDataError, match="bird.png"):
        ds.list_images("Set5", tmp_path)
    st = ds.dataset_status("Set5", tmp_path)
    assert st.present and not st.verified and st.corrupt and "bird.png" in st.reason
    assert {r["name"]: r["status"] for r in ds.datasets_table(tmp_path)}["Set5"] == "corrupt"


@pytest.mark.realdata
def test_wrong_sums_file_and_missing_listed_file(data_dir, tmp_path):
    hr = _copy_set5(data_dir, tmp_path)
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(sums.read_text().replace(sums.read_text()[:8], "00000000", 1))  # first hash wrong
    with pytest.raises(CorruptDataError, match="baby.png"):
        ds.fingerprint("Set5", tmp_path)
    _copy_set5(data_dir, tmp_path / "again")
    (tmp_path / "again" / "benchmark" / "Set5" / "HR" / "head.png").unlink()
    with pytest.raises(MissingDataError, match="expected 5 images"):
        ds.list_images("Set5", tmp_path / "again")
    assert hr.is_dir()


@pytest.mark.realdata
def test_unverified_without_sums_file(data_dir, tmp_path):
    _copy_set5(data_dir, tmp_path, sums=False)
    present, verified, n, reason = ds.dataset_status("Set5", tmp_path)
    assert present and not verified and n == 5 and "SHA256SUMS" in reason
    assert len(ds.list_images("Set5", tmp_path)) == 5  # usable, provenance weaker


@pytest.mark.realdata
def test_urban100_naming_variants(data_dir, tmp_path):
    src = ds.list_images("Urban100", data_dir)
    edsr = tmp_path / "benchmark" / "Urban100" / "HR"
    edsr.mkdir(parents=True)
    for p in src:
        (edsr / p.name.replace("img_", "img")).symlink_to(p)
    files = ds.list_images("Urban100", tmp_path)
    assert len(files) == 100 and files[0].name == "img001.png"


def test_split_by_range(tmp_path):
    hr = tmp_path / "Potsdam" / "HR"
    hr.mkdir(parents=True)
    tiny = np.zeros((2, 2, 3), np.uint8)
    for i in range(1000):
        Image.fromarray(tiny).save(hr / f"p{i:04d}.png")
    train = ds.list_images("Potsdam", tmp_path, "train")
    test = ds.list_images("Potsdam", tmp_path)  # default split: test
    assert len(train) == 700 and len(test) == 300
    assert train[-1].name == "p0699.png" and test[0].name == "p0700.png"


def test_fetch_offline_and_on_application(tmp_path, monkeypatch):
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(MissingDataError) as exc:
        ds.fetch("Set14", tmp_path)
    msg = str(exc.value)
    assert "https://cv.snu.ac.kr/research/EDSR/benchmark.tar" in msg and "md5:4ace41d3" in msg
    assert str(tmp_path / "benchmark" / "Set14" / "HR") in msg
    with pytest.raises(MissingDataError, match="cannot be downloaded automatically"):
        ds.fetch("Potsdam", tmp_path)


def test_fetch_unpacks_into_the_layout(tmp_path, monkeypatch):
    """pooch is asked for the pinned archive and its processor unpacks into the data dir's layout."""
    import tarfile

    import pooch

    src = tmp_path / "src" / "benchmark" / "Set5" / "HR"
    src.mkdir(parents=True)
    for i in range(5):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(src / f"im{i}.png")
    archive = tmp_path / "benchmark.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "src" / "benchmark", arcname="benchmark")
    calls = []

    def fake_retrieve(url, known_hash=None, path=None, processor=None, **kw):
        calls.append((url, known_hash))
        return processor(str(archive), "download", None)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    data = tmp_path / "data"
    files = ds.fetch("Set5", data)
    assert calls == [("https://cv.snu.ac.kr/research/EDSR/benchmark.tar", "md5:4ace41d33c2384b97e6b320cd0afd6ba")]
    assert [f.name for f in files] == [f"im{i}.png" for i in range(5)]
    assert files[0].parent == data / "benchmark" / "Set5" / "HR"


# --- image I/O --------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_grey_image_is_replicated(data_dir):
    path = data_dir / "benchmark" / "Set14" / "HR" / "bridge.png"  # stored as a one-channel PNG
    img = read_image(path)
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    assert is_grey(path) and not is_grey(data_dir / "benchmark" / "Set14" / "HR" / "zebra.png")


def test_rgba_la_palette_and_16bit(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10  # nearly transparent red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png")[0, 0], [200, 0, 0])  # alpha dropped, no compositing
    la = np.zeros((4, 5, 2), np.uint8)
    la[..., 0] = 77
    Image.fromarray(la, "LA").save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_image(tmp_path / "b.png")[0, 0], [77, 77, 77])
    assert is_grey(tmp_path / "b.png")
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "c.png")
    assert read_image(tmp_path / "c.png").shape == (4, 5, 3)
    Image.fromarray(np.full((4, 5), 1000, np.uint16)).save(tmp_path / "d.png")
    with pytest.raises(UnsupportedImageError, match="d.png"):
        read_image(tmp_path / "d.png")
    (tmp_path / "e.png").write_bytes(_png_rgb48(np.full((2, 3, 3), 1000, ">u2")))
    with pytest.raises(UnsupportedImageError, match="e.png"):  # Pillow would silently keep the high bytes
        read_image(tmp_path / "e.png")


def _png_rgb48(pixels: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = pixels.shape[:2]
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_truncated_and_garbage_files_name_the_file(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(CorruptDataError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(CorruptDataError, match="junk.png"):
        read_image(tmp_path / "junk.png")


def test_write_png_is_atomic_and_round_trips(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (9, 7, 3)).astype(np.uint8)
    out = write_png(tmp_path / "sub" / "x.png", img)
    np.testing.assert_array_equal(read_image(out), img)
    assert [p.name for p in out.parent.iterdir()] == ["x.png"]  # no temporary file left behind
    with pytest.raises(TypeError):
        write_png(tmp_path / "y.png", img.astype(np.float32))
