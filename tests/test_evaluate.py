"""Evaluation loop and the `metrics` kind: golden bicubic rows, input kinds, tiling, bad inputs, statuses."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import harness.evaluate as ev
from harness import obtain
from harness import prepared as prep
from harness.datasets import MissingDataError
from harness.degradations import degrade, mod_crop
from harness.evaluate import ImageError, evaluate, measure_metrics, run_model
from harness.images import CorruptDataError, read_image
from harness.lpips_offline import LpipsUnavailable
from harness.measure import MeasureContext
from harness.metrics import score_pair
from harness.profile import PROFILES, MetricProfile
from harness.results import judge, resolve_tolerance
from harness.suite import Entry, PaperCell, Suite, load_suite

BASICSR = PROFILES["basicsr"]
FLOAT = MetricProfile(quantize="none")  # lets float pipelines be compared without rounding noise


class Nearest(nn.Module):
    """Identity-like SR: nearest-neighbour upsampling (any channel count)."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


class Identity(nn.Module):
    def forward(self, x):
        return x.clone()


def _ctx(data_dir, entries, profile=BASICSR, **kw) -> MeasureContext:
    suite = Suite(id="t", paper="test", table="T", entries=entries)
    return MeasureContext(suite=suite, profile=profile, data_dir=data_dir, weights_dir=None, **kw)


def _entry(scale=4, datasets=(), cells=(("Set5", "psnr_y"), ("Set5", "ssim_y")), id="m") -> Entry:
    paper = [PaperCell(dataset=d, metric=m, value=1.0, printed="1.0") for d, m in cells]
    return Entry(id=id, row="M", model="bicubic", obtain="compute", scale=scale, datasets=list(datasets), paper=paper)


# --- golden rows ------------------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.slow
def test_bicubic_baseline_reproduces_the_published_rows(data_dir):
    """All 12 (dataset, scale) rows of suites/bicubic_baseline.toml within the match band (~50 s on 2 cores).

    Measured (psnr_y/ssim_y, delta to the printed row): Set5 33.673/0.9303, 30.403/0.8689, 28.429/0.8111;
    Set14 30.230/0.8691, 27.537/0.7745, 25.994/0.7029; B100 29.560/0.8434, 27.209/0.7391, 25.961/0.6681;
    Urban100 26.876/0.8405, 24.458/0.7352, 23.140/0.6581 — all within ±0.013 dB and ±0.0007.
    """
    suite = load_suite("bicubic_baseline")
    ctx = MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=data_dir, weights_dir=None)
    checked = 0
    t0 = time.perf_counter()
    for entry in suite.entries:
        got = {(m.dataset, m.scale, m.metric): m for m in measure_metrics(ctx, entry)}
        for cell in entry.paper:
            m = got[(cell.dataset, cell.scale, cell.metric)]
            assert m.status is None, m.reason
            # the catalog's match band (printed half-unit + the 0.013 dB / 0.0007 noise floor these rows define)
            tol = resolve_tolerance(suite, cell, cell.metric)
            assert judge(cell.value, m.value, tol)[0] == "match", f"{entry.id} {cell.dataset} {cell.metric}: {m.value} vs {cell.value}"
            assert "MATLAB-bicubic LR, Y BT.601 float, grey images: grey value as Y, SR rounded" in m.reason and f"shave {cell.scale}" in m.reason
            assert set(m.extra["timing"]) >= {"io", "degradation", "forward", "metrics"}
            checked += 1
    assert checked == 24
    assert set(ctx.provenance["data"]) == {"Set5", "Set14", "B100", "Urban100"}
    print(f"bicubic baseline, 12 rows: {time.perf_counter() - t0:.1f} s")


# --- input kinds and LR sources ---------------------------------------------------------------------------


@pytest.mark.realdata
def test_rgb_path_matches_a_numpy_computation(data_dir):
    res = evaluate(Nearest(3), "rgb", "Set5", 3, BASICSR, data_dir, metrics={"psnr_y", "psnr_rgb", "ssim_rgb"})
    path = data_dir / "benchmark" / "Set5" / "HR" / "bird.png"
    hr = mod_crop(read_image(path), 3)
    sr = np.repeat(np.repeat(degrade(hr, 3), 3, axis=0), 3, axis=1)
    want = score_pair(sr, hr, 3, BASICSR, {"psnr_y", "psnr_rgb", "ssim_rgb"})
    row = next(r for r in res.per_image if r["image"] == "bird.png")
    for k in ("psnr_y", "psnr_rgb", "ssim_rgb"):
        assert row[k] == pytest.approx(want[k], abs=1e-9)
    assert res.n_images == 5 and res.means["psnr_y"] == pytest.approx(np.mean([r["psnr_y"] for r in res.per_image]))


@pytest.mark.realdata
def test_y_upscaled_identity_equals_bicubic(data_dir):
    """An identity model on bicubic-upscaled Y scores what bicubic scores (float profile, grey image included)."""
    metrics = {"psnr_y", "ssim_y", "psnr_rgb"}
    for name in ("Set5", "Set14"):
        bic = evaluate("bicubic", "bicubic", name, 2, FLOAT, data_dir, metrics=metrics)
        ident = evaluate(Identity(), "y_upscaled", name, 2, FLOAT, data_dir, metrics=metrics)
        for k in metrics:  # RGB: Cb/Cr come from the same bicubic image, so the rebuilt RGB is that image
            assert ident.means[k] == pytest.approx(bic.means[k], abs=2e-4), (name, k)


@pytest.mark.realdata
def test_y_path_scores_the_models_own_luma(data_dir):
    res = evaluate(Nearest(2), "y", "Set5", 2, BASICSR, data_dir, metrics={"psnr_y", "psnr_rgb"})
    from harness.metrics import rgb_to_y

    path = data_dir / "benchmark" / "Set5" / "HR" / "head.png"
    hr = mod_crop(read_image(path), 2)
    y_lr = rgb_to_y(degrade(hr, 2)).astype(np.float32) / 255
    y_sr = np.repeat(np.repeat(y_lr, 2, axis=0), 2, axis=1)
    want = score_pair(hr / 255.0, hr, 2, BASICSR, {"psnr_y"}, sr_y=y_sr)["psnr_y"]
    assert next(r for r in res.per_image if r["image"] == "head.png")["psnr_y"] == pytest.approx(want, abs=1e-6)
    assert all(np.isfinite(r["psnr_rgb"]) for r in res.per_image)


@pytest.mark.realdata
def test_dataset_lr_files_equal_matlab_bicubic_on_set5(data_dir):
    files = MetricProfile(lr="dataset-files")
    for s in (2, 4):
        a = evaluate("bicubic", "bicubic", "Set5", s, BASICSR, data_dir).means
        b = evaluate("bicubic", "bicubic", "Set5", s, files, data_dir).means
        assert a == b  # the harness LR is bit-exact with the shipped files
    with pytest.raises(MissingDataError, match="LR file"):
        evaluate("bicubic", "bicubic", "Set14", 2, files, data_dir)


# --- tiling -----------------------------------------------------------------------------------------------


def _small_fcn(scale=2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale), nn.Sigmoid(),
    ).eval()


def test_tiled_inference_equals_untiled():
    model = _small_fcn()
    x = torch.rand(1, 3, 37, 53)
    full = run_model(model, x)
    tiled = run_model(model, x, tile=16, tile_overlap=3)  # receptive-field radius of 3 convs: 3
    assert tiled.shape == full.shape == (1, 3, 74, 106)
    torch.testing.assert_close(tiled, full, atol=1e-6, rtol=0)
    short = run_model(model, x, tile=16, tile_overlap=1)  # too little context: visible seams
    assert (short - full).abs().max() > 1e-3


@pytest.mark.realdata
def test_tiled_evaluation_matches_untiled(data_dir):
    model = _small_fcn(4)
    whole = evaluate(model, "rgb", "Set5", 4, BASICSR, data_dir)
    tiled = evaluate(model, "rgb", "Set5", 4, BASICSR, data_dir, tile=40, tile_overlap=4)
    for k, v in whole.means.items():
        assert tiled.means[k] == pytest.approx(v, abs=1e-6)


# --- prepared images (harness.prepared) -------------------------------------------------------------------


def test_uint8_input_tensor_is_bit_identical_to_float64_division():
    v = np.arange(256, dtype=np.uint8)
    img = np.stack([v, v[::-1], v], 1)[None].repeat(3, 0)  # every value in every channel
    want = torch.from_numpy(np.ascontiguousarray((img / 255.0).transpose(2, 0, 1), dtype=np.float32))[None]
    got = ev._to_tensor(img, "cpu")
    assert got.is_contiguous() and got.dtype == torch.float32 and torch.equal(got, want)


@pytest.mark.parametrize("kind", ["rgb", "y", "y_upscaled", "bicubic"])
def test_prepared_images_are_reused_and_change_nothing(tmp_path, monkeypatch, kind):
    """A second evaluation of the same files finds them prepared (io ≈ 0) and scores identically to an
    evaluation with the cache off; a file rewritten in place is prepared again."""
    rng = np.random.default_rng(7)
    path = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 256, (48, 40, 3)).astype(np.uint8)).save(path)
    model = "bicubic" if kind == "bicubic" else Nearest(1 if kind == "y_upscaled" else 4)
    prep.clear()
    run = lambda profile=BASICSR: evaluate(model, kind, "Set5", 4, profile, tmp_path, images=[path],
                                           metrics=("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"))
    first, second = run(), run()
    assert second.per_image == first.per_image and second.timing["io"] < first.timing["io"]
    monkeypatch.setenv("SRBENCH_EVAL_CACHE_MB", "0")
    assert run().per_image == first.per_image
    monkeypatch.delenv("SRBENCH_EVAL_CACHE_MB")
    assert run(PROFILES["selfexsr"]).per_image != first.per_image  # the profile is part of the key
    Image.fromarray(rng.integers(0, 256, (40, 48, 3)).astype(np.uint8)).save(path)  # same name, new content
    assert run().per_image != first.per_image


def test_prepared_images_are_read_only_and_the_cache_is_bounded(tmp_path, monkeypatch):
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "a.png")
    how = prep.Preparation(4, "y", BASICSR, ("psnr_y", "ssim_y"))
    prep.clear()
    img, hit = prep.prepare(tmp_path / "a.png", None, how)
    assert not hit and prep.prepare(tmp_path / "a.png", None, how)[1]
    with pytest.raises(ValueError, match="read-only"):
        img.hr[0, 0, 0] = 1
    Image.fromarray(np.full((64, 64, 3), 30, np.uint8)).save(tmp_path / "b.png")
    monkeypatch.setenv("SRBENCH_EVAL_CACHE_MB", str(img.nbytes * 1.5 / 2**20))  # room for one image
    prep.clear()
    prep.prepare(tmp_path / "a.png", None, how)
    prep.prepare(tmp_path / "b.png", None, how)  # does not fit: not kept, and a.png is not evicted for it
    assert prep.prepare(tmp_path / "a.png", None, how)[1] and not prep.prepare(tmp_path / "b.png", None, how)[1]
    monkeypatch.setenv("SRBENCH_EVAL_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="SRBENCH_EVAL_CACHE_MB='lots'"):
        prep.prepare(tmp_path / "a.png", None, how)


# --- bad inputs -------------------------------------------------------------------------------------------


def test_image_smaller_than_scale_or_window_names_the_file(tmp_path):
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageError, match="tiny.png.*smaller than the scale"):
        evaluate("bicubic", "bicubic", "Set5", 4, BASICSR, tmp_path, images=[tmp_path / "tiny.png"])
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(ImageError, match="small.png"):  # 8×8 after shaving 4: no 11×11 SSIM window fits
        evaluate("bicubic", "bicubic", "Set5", 4, BASICSR, tmp_path, images=[tmp_path / "small.png"])


def test_a_missing_image_is_a_data_error_naming_the_file(tmp_path):
    with pytest.raises(CorruptDataError, match="gone.png.*re-download or restore"):
        evaluate("bicubic", "bicubic", "Set5", 4, BASICSR, tmp_path, images=[tmp_path / "gone.png"])


def test_wrong_model_output_size_is_an_error(tmp_path):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ImageError, match="a.png.*model output is 10×10"):
        evaluate(Identity(), "rgb", "Set5", 4, BASICSR, tmp_path, images=[tmp_path / "a.png"])
    with pytest.raises(ValueError, match="input kind"):
        evaluate(Identity(), "lab", "Set5", 4, BASICSR, tmp_path, images=[tmp_path / "a.png"])


# --- the metrics kind -------------------------------------------------------------------------------------


@pytest.fixture
def fake_obtain(monkeypatch):
    """Stand-in for harness.obtain.obtain_model: a model per scale, or an ObtainError to raise."""
    table: dict = {}

    def obtain_model(ctx, entry, scale):
        got = table.get(scale, obtain.Obtained("bicubic", "rgb", "MATLAB-bicubic upscaling"))
        if isinstance(got, Exception):
            raise got
        return got

    monkeypatch.setattr(obtain, "obtain_model", obtain_model)
    return table


@pytest.mark.realdata
def test_measure_metrics_statuses(data_dir, tmp_path, fake_obtain, monkeypatch):
    entry = _entry(scale=4, datasets=["Set14"], cells=[("Set5", "psnr_y"), ("Set5", "lpips"), ("Manga109", "psnr_y")])
    msgs = []
    ctx = _ctx(data_dir, [entry], progress=msgs.append)

    def no_lpips(*a, **k):
        raise LpipsUnavailable("no ImageNet alex weights")

    monkeypatch.setattr(ev, "get_lpips_model", no_lpips)
    got = {(m.dataset, m.metric): m for m in measure_metrics(ctx, entry)}
    assert set(got) == {("Set5", "psnr_y"), ("Set5", "lpips"), ("Manga109", "psnr_y"), ("Set14", "psnr_y"),
                        ("Set14", "ssim_y")}
    assert got[("Set5", "psnr_y")].status is None and got[("Set5", "psnr_y")].value > 20
    assert got[("Set5", "psnr_y")].extra["n_images"] == 5
    assert got[("Set5", "lpips")].status == "not-run"
    assert got[("Set5", "lpips")].reason.startswith("lpips unavailable: no ImageNet alex weights")
    assert got[("Manga109", "psnr_y")].status == "missing-data" and "manga109.org" in got[("Manga109", "psnr_y")].reason
    assert got[("Set14", "ssim_y")].status is None  # entry.datasets: psnr_y and ssim_y at least
    assert set(ctx.provenance["data"]) == {"Set5", "Set14"}
    assert any("Set14" in m for m in msgs)
    assert any(re.search(r"Set14: image 11/14 \(.*\), ETA \d+:\d\d:\d\d$", m) for m in msgs)  # long work shows an ETA


@pytest.mark.realdata
def test_measure_metrics_obtain_errors_and_model_failures(data_dir, fake_obtain):
    fake_obtain[2] = obtain.MissingWeightsError("weights carn/carn_m.pth not found under /w: get them from ...")

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    fake_obtain[3] = obtain.Obtained(Broken(), "rgb", "trained")
    entries = [_entry(scale=s, id=f"m{s}") for s in (2, 3, 4)]
    ctx = _ctx(data_dir, entries)
    by_scale = {e.scale: measure_metrics(ctx, e) for e in entries}
    assert {m.status for m in by_scale[2]} == {"missing-weights"} and "get them" in by_scale[2][0].reason
    assert {m.status for m in by_scale[3]} == {"error"} and "boom" in by_scale[3][0].reason
    assert {m.status for m in by_scale[4]} == {None}


def test_measure_metrics_without_data(tmp_path, fake_obtain):
    entry = _entry()
    got = measure_metrics(_ctx(tmp_path, [entry]), entry)
    assert {m.status for m in got} == {"missing-data"} and "benchmark.tar" in got[0].reason
    got = measure_metrics(_ctx(None, [entry]), entry)
    assert {m.status for m in got} == {"missing-data"} and "--data-dir" in got[0].reason


@pytest.mark.realdata
def test_a_test_set_that_is_not_here_is_reported_without_obtaining_the_model(data_dir, fake_obtain):
    """Missing data is known before the model is needed: a trained row whose weights are gone must not be
    re-trained (nor a checkpoint loaded) only to report that Manga109 is missing."""
    fake_obtain[4] = AssertionError("obtain_model called for a test set that is not here")
    entry = _entry(scale=4, cells=[("Manga109", "psnr_y"), ("Manga109", "ssim_y")])
    got = measure_metrics(_ctx(data_dir, [entry]), entry)
    assert {m.status for m in got} == {"missing-data"} and "manga109.org" in got[0].reason
    fake_obtain[4] = obtain.Obtained("bicubic", "rgb", "MATLAB-bicubic upscaling")
    both = _entry(scale=4, cells=[("Manga109", "psnr_y"), ("Set5", "psnr_y")])
    got = {m.dataset: m for m in measure_metrics(_ctx(data_dir, [both]), both)}
    assert got["Manga109"].status == "missing-data" and got["Set5"].status is None and got["Set5"].value > 20


def test_measure_metrics_respects_dataset_restriction(tmp_path, fake_obtain):
    entry = _entry(datasets=["B100"])
    got = measure_metrics(_ctx(tmp_path, [entry], datasets={"B100"}), entry)
    assert {m.dataset for m in got} == {"B100"}


# --- re-use of an identical evaluation across suites (harness.evalcache) ------------------------------------


@pytest.mark.realdata
def test_identical_evaluation_is_reused_across_suites_and_only_then(data_dir, tmp_path, fake_obtain, monkeypatch):
    """Two suites printing the same trained row score it once: the second cell equals the first and names the
    run, suite and entry that measured it.  Another degradation, another run key, --force (eval_reuse off) or
    SRBENCH_EVAL_REUSE=0 each measure again."""
    monkeypatch.setenv("SRBENCH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SRBENCH_EVAL_REUSE", "1")
    calls = []
    real = ev._evaluate_degradations
    monkeypatch.setattr(ev, "_evaluate_degradations", lambda *a, **k: calls.append(a[3]) or real(*a, **k))

    class Half(nn.Module):  # a deterministic "trained" model: bicubic-upscaled input, dimmed
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic") * 0.5

    fake_obtain[2] = obtain.Obtained(Half(), "rgb", "trained", {"run_key": "k1", "iterations": 10, "finished": True})
    entry = _entry(scale=2, id="row_a")
    first = {m.metric: m for m in measure_metrics(_ctx(data_dir, [entry], run_id="R1"), entry)}
    assert len(calls) == 1 and "reused" not in first["psnr_y"].extra
    other = _entry(scale=2, id="row_b")
    ctx_b = _ctx(data_dir, [other], run_id="R2")
    ctx_b.suite.id = "another_table"
    again = {m.metric: m for m in measure_metrics(ctx_b, other)}
    assert len(calls) == 1  # not evaluated again
    assert again["psnr_y"].value == first["psnr_y"].value and again["ssim_y"].value == first["ssim_y"].value
    assert again["psnr_y"].extra["per_image"] == first["psnr_y"].extra["per_image"]
    assert {k: again["psnr_y"].extra["reused"][k] for k in ("run", "suite", "entry")} == {
        "run": "R1", "suite": "t", "entry": "row_a"}
    # anything the numbers depend on differs: evaluated again
    blurred = _entry(scale=2, id="row_c")
    blurred.degradation, blurred.degradation_params = "gaussian8", {"downsample": "matlab", "pad": "reflect"}
    measure_metrics(_ctx(data_dir, [blurred]), blurred)
    assert len(calls) == 2
    fake_obtain[2] = obtain.Obtained(Half(), "rgb", "trained", {"run_key": "k2", "iterations": 10, "finished": True})
    measure_metrics(_ctx(data_dir, [entry]), entry)
    assert len(calls) == 3
    measure_metrics(_ctx(data_dir, [entry], eval_reuse=False), entry)
    assert len(calls) == 4
    monkeypatch.setenv("SRBENCH_EVAL_REUSE", "0")
    measure_metrics(_ctx(data_dir, [entry]), entry)
    assert len(calls) == 5
    # a model without a run key or weights checksum is never re-used
    fake_obtain[2] = obtain.Obtained(Half(), "rgb", "random weights")
    monkeypatch.setenv("SRBENCH_EVAL_REUSE", "1")
    measure_metrics(_ctx(data_dir, [entry]), entry)
    measure_metrics(_ctx(data_dir, [entry]), entry)
    assert len(calls) == 7
    # a damaged store is ignored and replaced
    for f in (tmp_path / "runs" / "evals").glob("*.json"):
        f.write_text("{trunc")
    fake_obtain[2] = obtain.Obtained(Half(), "rgb", "trained", {"run_key": "k1", "iterations": 10, "finished": True})
    assert {m.metric: m.value for m in measure_metrics(_ctx(data_dir, [entry]), entry)} == {
        "psnr_y": first["psnr_y"].value, "ssim_y": first["ssim_y"].value}
    assert len(calls) == 8
    # a retrain of the same run key with other weights (not bit-identical on a CPU) is evaluated again;
    # the same weights again are re-used
    for sha, n in (("aa", 9), ("bb", 10), ("aa", 10)):
        fake_obtain[2] = obtain.Obtained(Half(), "rgb", "trained", {"run_key": "k1", "iterations": 10,
                                                                     "finished": True, "weights_sha256": sha})
        measure_metrics(_ctx(data_dir, [entry]), entry)
        assert len(calls) == n, sha
