"""Training engine (harness.training): recipes and budgets, a real smoke run on T91, run keys, finished-run
reuse (runs dir and committed results/training), divergence, damaged checkpoints, data errors, timing kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import require
from PIL import Image
from torch import nn

from harness.measure import MeasureContext
from harness.models import registry
from harness.obtain import NotObtainableError
from harness.suite import Entry, PaperCell, Suite, Train
from harness.training import api, checkpoint, recipes, runs
from harness.training.data import (
    MissingTrainingDataError,
    TrainingDataError,
    TrainingWarning,
    split_validation,
    validation_pairs,
)
from harness.training.engine import TrainingDivergedError
from harness.training.timing import measure_training_time


class TinySR(nn.Module):
    """Two 3×3 convs on a residual path; ``nan_after`` makes every forward after that many return NaN."""

    def __init__(self, scale: int, kind: str, nan_after: int | None = None):
        super().__init__()
        c = 3 if kind == "rgb" else 1
        self.up = 1 if kind == "y_upscaled" else scale
        self.body = nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, c * self.up**2, 3, padding=1), nn.PixelShuffle(self.up))
        self.nan_after, self.calls = nan_after, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        out = self.body(x) + F.interpolate(x, scale_factor=self.up, mode="nearest")
        return out * float("nan") if self.nan_after is not None and self.calls > self.nan_after else out


KINDS = ("rgb", "y", "y_upscaled")


@pytest.fixture(scope="module", autouse=True)
def tiny_models():
    for kind in KINDS:
        def build(scale: int, kind=kind, **kwargs) -> nn.Module:
            """Tiny test model (tests/test_training_engine.py)."""
            return TinySR(scale, kind, **kwargs)

        registry.register_model(f"_tt_{kind}", paper="test", scales=(2, 3, 4), input=kind)(build)
    yield
    for kind in KINDS:
        registry._REGISTRY.pop(f"_tt_{kind}", None)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on the shared 2-core machines two threads mostly spin-wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def fast_recipe(monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, "_fast", recipes.Recipe(name="_fast", source="test", lr=1e-2))


@pytest.fixture(scope="module")
def t91(data_dir) -> Path:
    require((data_dir / "T91" / "HR").is_dir(), f"T91 training images not found under {data_dir}")
    return data_dir


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")  # the T91 HR/LR cache, built once for the module


def _entry(kind="y", recipe="_fast", **kwargs) -> Entry:
    return Entry(id=f"tiny_{kind}", row="Tiny", model=f"_tt_{kind}", obtain="train", scale=2,
                 train=Train(recipe=recipe), kwargs=kwargs)


def _ctx(entry: Entry, data_dir, budget="smoke", device="cpu") -> MeasureContext:
    suite = Suite(id="t_train", paper="test", table="test", entries=[entry])
    return MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=data_dir, weights_dir=None,
                          budget=budget, device=device)


# --- recipes and budgets -------------------------------------------------------------------------------------


def test_budgets_and_schedules_are_data():
    smoke, short, paper = (recipes.get_budget(n) for n in ("smoke", "short", "paper"))
    assert paper.is_paper and paper.needs_gpu and not short.needs_gpu
    for b in (smoke, short):
        assert b.dataset == "T91" and all(b.hr_patch % s == 0 for s in (2, 3, 4)) and b.hr_patch <= 76
    kw = {"model": "m", "model_kwargs": {}, "scale": 4, "input_kind": "rgb"}
    carn = recipes.get_recipe("carn")
    cfg = recipes.resolve(carn, smoke, **kw)  # halving every N, scaled to the same fraction of training
    assert cfg.lr_at(cfg.step_every - 1) == carn.lr and cfg.lr_at(cfg.step_every) == carn.lr * 0.5
    tiny = recipes.resolve(recipes.get_recipe("repsr_tiny"), short, **kw)  # multistep
    n = short.iterations
    assert tiny.milestones == (n // 2, n * 8 // 10, n * 9 // 10, n * 95 // 100)
    assert tiny.lr_at(n // 2 - 1) == 4e-4 and tiny.lr_at(n // 2) == 2e-4 and tiny.lr_at(n - 1) == 4e-4 / 16
    cos = recipes.resolve(recipes.get_recipe("repsr_large"), short, **kw)  # cosine with restarts
    period = cos.iterations // cos.cycles
    assert cos.lr_at(0) == cos.lr_at(period) == cos.lr and cos.lr_at(period - 1) < cos.lr / 100
    assert cfg.hash() == recipes.resolve(carn, smoke, **kw).hash() != cos.hash()
    with pytest.raises(recipes.BudgetError, match="does not declare iterations"):
        recipes.resolve(recipes.get_recipe("default"), paper, **kw)
    with pytest.raises(recipes.BudgetError, match="known: .*carn"):
        recipes.get_recipe("nope")
    for r in (r for r in recipes.RECIPES.values() if not r.name.startswith("_")):  # unstated choices declared
        assert r.source and (r.paper_schedule or r.notes), r.name


def test_paper_budget_is_refused_on_cpu_before_any_work(tmp_path, cache):
    entry = _entry(recipe="carn")
    # data_dir points nowhere: the refusal must come before the data are looked at
    with pytest.raises(NotObtainableError, match="needs a GPU.*--device cuda"):
        api.train_entry(_ctx(entry, tmp_path / "nothing", budget="paper"), entry, 2, runs_dir=tmp_path, cache_dir=cache)
    assert not any(tmp_path.iterdir())


def test_validation_images_are_held_out():
    files = [Path(f"t{i:02d}.png") for i in range(91)]
    train, val = split_validation(files)
    assert len(val) == recipes.VAL_COUNT and not set(val) & set(train) and len(train) + len(val) == 91


# --- a real smoke run ----------------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("kind", KINDS)
def test_smoke_run_records_logs_and_is_reused(kind, t91, tmp_path, cache):
    entry = _entry(kind)
    ctx = _ctx(entry, t91)
    key = api.training_key(ctx.suite, entry, 2, "smoke", t91)
    model, info = api.train_entry(ctx, entry, 2, runs_dir=tmp_path, cache_dir=cache, log_every=1)
    assert info["run_key"] == key and info["finished"] and not info["cached"] and info["iterations"] == 20
    assert info["budget"] == "smoke" and "NOT the paper's schedule" in info["reason"] and key in info["reason"]
    run = tmp_path / key
    rec = json.loads((run / "record.json").read_text())
    for field in ("key", "config", "iterations", "wall_s", "final_loss", "final_val_psnr", "device", "torch"):
        assert field in rec, field
    assert rec["validation"]["images"] and np.isfinite(rec["final_val_psnr"])
    log = [json.loads(ln) for ln in (run / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log[:-1]] == list(range(1, 21)) and log[-1]["final"]
    assert all({"loss", "lr", "it_s"} <= set(r) for r in log[:-1])
    assert np.mean([r["loss"] for r in log[-6:-1]]) < np.mean([r["loss"] for r in log[:5]])  # it learns
    assert len(checkpoint.checkpoints(run)) <= recipes.BUDGETS["smoke"].keep_checkpoints
    # Same command again: the finished run is used, not retrained (a NaN model would fail if it trained).
    model2, info2 = api.train_entry(_ctx(entry, t91), entry, 2, runs_dir=tmp_path, cache_dir=cache)
    assert info2["cached"] and info2["run_key"] == key
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    # The key changes with what changes the weights
    assert api.training_key(ctx.suite, _entry(kind, recipe="default"), 2, "smoke", t91) != key
    assert api.training_key(ctx.suite, entry, 2, "short", t91) != key


@pytest.mark.realdata
def test_committed_run_is_its_record_and_log_and_counts_as_finished(t91, tmp_path, cache, monkeypatch):
    from harness.runner import effective_budget

    entry = _entry("y")
    _, info = api.train_entry(_ctx(entry, t91), entry, 2, runs_dir=tmp_path / "a", cache_dir=cache)
    out = runs.export(tmp_path / "a" / info["run_key"], tmp_path / "committed")
    assert sorted(p.name for p in out.iterdir()) == sorted(runs.COMMITTED_FILES)  # text only, no weights
    monkeypatch.setattr(runs, "COMMITTED_DIR", tmp_path / "committed")
    monkeypatch.setenv("SRBENCH_RUNS_DIR", str(tmp_path / "empty"))  # a fresh clone: no working runs
    assert runs.find_record(info["run_key"]) == out and runs.find_finished(info["run_key"]) is None
    # the smoke run is finished (committed): a smaller request never outranks it, a larger one is not faked
    assert effective_budget(_ctx(entry, t91).suite, entry, "smoke", t91) == "smoke"


@pytest.mark.realdata
def test_nan_loss_names_iteration_loss_and_last_good_checkpoint(t91, tmp_path, cache):
    entry = _entry("y", nan_after=15)
    with pytest.raises(TrainingDivergedError, match=r"became nan at iteration 16 .*iter_00000010\.pt"):
        api.train_entry(_ctx(entry, t91), entry, 2, runs_dir=tmp_path, cache_dir=cache)
    key = api.training_key(None, entry, 2, "smoke", t91)
    assert [i for i, _ in checkpoint.checkpoints(tmp_path / key)] == [10]


@pytest.mark.realdata
def test_damaged_checkpoint_is_moved_aside_and_the_previous_one_used(t91, tmp_path, cache):
    entry = _entry("y")
    api.train_entry(_ctx(entry, t91), entry, 2, runs_dir=tmp_path, cache_dir=cache, stop_at=20)
    key = api.training_key(None, entry, 2, "smoke", t91)
    run = tmp_path / key
    (run / "record.json").unlink()
    newest = checkpoint.checkpoints(run)[-1][1]
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(TrainingWarning, match="unreadable checkpoint"):
        state, _path = checkpoint.latest(run, key)
    assert state["iteration"] == 10 and (run / "ckpt" / "iter_00000020.pt.corrupt").exists()


def test_small_image_and_missing_data_are_named(tmp_path, cache):
    (tmp_path / "Tiny" / "HR").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "Tiny" / "HR" / f"{i}.png")
    entry = Entry(id="tiny", row="T", model="_tt_y", obtain="train", scale=2,
                  train=Train(recipe="_fast", dataset="Tiny"))
    smoke = recipes.BUDGETS["smoke"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(recipes.BUDGETS, "smoke", recipes.Budget(**{**smoke.__dict__, "dataset": None}))
        with pytest.raises(TrainingDataError, match=r"0\.png: 20×20 .*smaller than the HR training patch 24"):
            api.train_entry(_ctx(entry, tmp_path), entry, 2, runs_dir=tmp_path / "runs", cache_dir=cache)
    with pytest.raises(MissingTrainingDataError, match="T91"):
        api.train_entry(_ctx(_entry("y"), tmp_path / "empty"), _entry("y"), 2, runs_dir=tmp_path / "runs", cache_dir=cache)


def test_short_budget_refuses_a_model_too_slow_for_the_cpu_cap(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(api, "estimate_seconds", lambda cfg, device: 10 * 3600.0)
    monkeypatch.setattr(api, "_files", lambda cfg, d: [])
    entry = _entry("y")
    with pytest.raises(NotObtainableError, match=r"about 10\.0 h on this CPU.*--device cuda"):
        api.train_entry(_ctx(entry, tmp_path, budget="short"), entry, 2, runs_dir=tmp_path, cache_dir=cache)


def test_training_time_kind_is_not_run_with_seconds_per_iteration():
    entry = Entry(id="t", row="T", model="_tt_rgb", obtain="train", scale=2, train=Train(recipe="carn"),
                  paper=[PaperCell(metric="train_time", value=1.0, printed="1h", scale=2)])
    m, step = measure_training_time(_ctx(entry, None), entry)
    assert m.status == "not-run" and m.extra["seconds_per_iteration"] > 0 and "not comparable" in m.reason
    # v2: the per-iteration time as its own measured cell, with its repeats (the ratio claims' noise band)
    assert step.metric == "train_step" and step.status == "measured" and step.value == m.extra["seconds_per_iteration"]
    assert len(step.extra["repeat_values"]) >= 3 and "only ratios" in step.reason


def test_plain_progress_lines_carry_loss_lr_rate_and_eta():
    from harness.training.progress import Progress

    lines: list[str] = []
    p = Progress("fsrcnn ×4", 20_000, 0, write=lines.append, every_s=0)
    p.update(1_200, 0.00123, 1e-3, 20.0)
    assert lines == ["[fsrcnn ×4] it 1,200/20,000 (6.0%) loss 0.00123 lr 0.001 20.0 it/s ETA 0:15:40"]


COMMITTED_FSRCNN = Entry(id="fsrcnn_x4_trained", row="FSRCNN (trained here)", model="fsrcnn", obtain="train", scale=4,
                         train=Train(recipe="fsrcnn"))


@pytest.mark.realdata
def test_committed_fsrcnn_short_run_is_reused_and_beats_bicubic(t91, tmp_path, monkeypatch):
    """The committed FSRCNN ×4 short run (results/training/<key>/) and the cells made from it: reproduce
    re-uses them on a clone without training (and without the weights, which are not committed)."""
    import shutil

    from harness.runner import RunOptions, run_suite
    from harness.suite import load_suite

    key = api.training_key(None, COMMITTED_FSRCNN, 4, "short", t91)
    folder = runs.COMMITTED_DIR / key
    require(folder.is_dir(), f"committed run {folder} missing (python -m harness train carn_table1 --entries "
                             "fsrcnn_x4_trained --budget short --test Set5 --export results/training)")
    rec = json.loads((folder / "record.json").read_text())
    set5 = rec["test"]["Set5"]
    assert set5["psnr_y"] - set5["bicubic_psnr_y"] >= 0.8
    results = tmp_path / "results"
    shutil.copytree(runs.REPO / "results" / "records" / "carn_table1", results / "records" / "carn_table1")
    monkeypatch.setenv("SRBENCH_RUNS_DIR", str(tmp_path / "no-runs"))
    monkeypatch.setattr(api, "Trainer", None)  # training would crash: the recorded cells must be used
    out = run_suite(load_suite("carn_table1"), RunOptions(entries={"fsrcnn_x4_trained"}, only={"metrics"},
                                                          results_dir=results, data_dir=t91, progress=False),
                    report=lambda m: None)
    assert out.ran == [] and out.skipped == ["fsrcnn_x4_trained:metrics"]
    cells = [c for c in out.doc["cells"] if c["entry"] == "fsrcnn_x4_trained"]
    assert cells and all(c["budget"] == "short" and c["training"]["run_key"] == key for c in cells)
    set5_cell = next(c for c in cells if (c["dataset"], c["metric"]) == ("Set5", "psnr_y"))
    # the same model measured twice (by train --test and by reproduce): equal to far below a printed unit
    assert set5_cell["measured"] == pytest.approx(set5["psnr_y"], abs=1e-3)


def _cfg(**kw) -> recipes.TrainConfig:
    cfg = recipes.resolve(recipes.get_recipe("stea_labnet"), recipes.get_budget("smoke"), model="m",
                          model_kwargs={}, scale=2, input_kind="rgb")
    return recipes.TrainConfig.from_dict({**cfg.to_dict(), **kw})


def test_on_the_fly_blur_degradation_and_deterministic_samples():
    from harness.training.data import ImageSet, IterationBatches, PatchDataset

    rng = np.random.default_rng(0)
    hr = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    blur = PatchDataset(ImageSet(["a", "b", "c"], hr, None, 2), _cfg())  # STEA: random Gaussian blur per patch
    x, y = blur[5]
    assert x.shape == (3, 12, 12) and y.shape == (3, 24, 24)
    assert torch.equal(blur[5][0], x) and not torch.equal(blur[6][0], x)  # a pure function of the index
    from harness.degradations import degrade

    bic = PatchDataset(ImageSet(["a", "b", "c"], hr, [degrade(h, 2) for h in hr], 2), _cfg(degradation="bicubic"))
    xb, yb = bic[5]
    assert torch.equal(yb, y) and not torch.equal(xb, x)  # same HR window, a different LR
    # DDP: the ranks' shares of each global batch are disjoint and together the single-process batch
    one = list(IterationBatches(4, 3, 5))
    two = [list(IterationBatches(4, 3, 5, rank=r, world=2)) for r in (0, 1)]
    assert [sorted(a + b) for a, b in zip(*two)] == one == [[12, 13, 14, 15], [16, 17, 18, 19]]


@pytest.mark.realdata
def test_a_model_with_extra_state_trains_and_reloads(t91, tmp_path, cache):
    """Frozen BN keeps its switch as module extra state (a dict in the state dict): training, EMA-free eval
    and reloading must carry it, not treat it as a tensor (RepSR Table 1's BN rows)."""
    entry = Entry(id="bn", row="BN", model="edsr_bn", obtain="train", scale=2, train=Train(recipe="_fast"),
                  kwargs={"num_blocks": 1, "channels": 8})
    model, info = api.train_entry(_ctx(entry, t91), entry, 2, runs_dir=tmp_path, cache_dir=cache)
    assert info["finished"] and any(not torch.is_tensor(v) for v in model.state_dict().values())
    _, info2 = api.train_entry(_ctx(entry, t91), entry, 2, runs_dir=tmp_path, cache_dir=cache)
    assert info2["cached"]


@pytest.mark.realdata
def test_a_declared_seed_is_another_run(t91):
    """A seed repeat (Train.seed) is its own training run: the claims' noise band comes from such repeats."""
    a = _entry("y")
    b = Entry(**{**a.model_dump(), "id": "tiny_y_seed1", "train": Train(recipe="_fast", seed=1)})
    suite = _ctx(a, t91).suite
    assert api.training_key(suite, a, 2, "smoke", t91) != api.training_key(suite, b, 2, "smoke", t91)
    assert api.resolve_entry(b, 2, "smoke")[2].seed == 1


@pytest.mark.realdata
def test_labnet_trains_on_random_blur_and_is_scored_under_gaussian8(t91, tmp_path, monkeypatch):
    """STEA's blind-SR path, small: a tiny LabNet trained on T91 patches blurred on the fly (recipe stea_labnet,
    §III-B, smoke budget) and scored on Set5 ×4 under Gaussian8 through the runner — each cell the mean over
    images × the 8 kernels, every image × kernel score kept."""
    from harness.degradations import gaussian8_sigmas
    from harness.runner import RunOptions, run_suite

    monkeypatch.setenv("SRBENCH_RUNS_DIR", str(tmp_path / "runs"))
    entry = Entry(id="labnet_tiny", row="LabNet (tiny)", model="labnet", obtain="train", scale=4,
                  kwargs={"channels": 8, "blocks": [1, 1, 1, 1, 1, 1], "heads": [1, 2, 4]},
                  train=Train(recipe="stea_labnet", dataset="T91"), degradation="gaussian8",
                  paper=[PaperCell(metric="psnr_y", value=31.0, printed="31.00", dataset="Set5")])
    suite = Suite(id="t_stea", paper="test", table="test", entries=[entry])
    out = run_suite(suite, RunOptions(only={"metrics"}, results_dir=tmp_path / "results", data_dir=t91,
                                      progress=False), report=lambda m: None)
    assert out.errors == [] and out.ran == ["labnet_tiny:metrics"]
    cell = next(c for c in out.doc["cells"] if c["metric"] == "psnr_y")
    assert cell["status"] == "under-budget" and np.isfinite(cell["measured"])
    assert "gaussian8 LR: mean over 8 kernels" in cell["reason"] and "recipe 'stea_labnet'" in cell["reason"]
    assert cell["extra"]["kernel_sigmas"] == pytest.approx(gaussian8_sigmas(4))
    assert cell["training"]["budget"] == "smoke"
    rec = json.loads((tmp_path / "runs" / cell["training"]["run_key"] / "record.json").read_text())
    assert rec["config"]["degradation"] == "random_gaussian_blur" and rec["config"]["model"] == "labnet"
    per = cell["extra"]["per_image_kernel"]
    assert len(per) == 5 and all(len(v) == len(gaussian8_sigmas(4)) == 8 for v in per.values())
    assert cell["measured"] == pytest.approx(np.mean([np.mean(v) for v in per.values()]), abs=1e-9)


def test_validation_images_do_not_depend_on_the_training_seed():
    """A seed repeat is validated on the same blurred LR images as its row, so their curves compare; the blur
    width still differs from image to image (the same HR twice gets two different LR images)."""
    from harness.training.data import ImageSet

    hr = np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    images = ImageSet(names=["a", "a_again"], hr=[hr, hr.copy()], lr=None, scale=4)
    cfgs = [recipes.resolve(recipes.get_recipe("stea_labnet"), recipes.get_budget("smoke"), model="labnet",
                            model_kwargs={}, scale=4, input_kind="rgb", seed=s) for s in (0, 1)]
    seed0, seed1 = (validation_pairs(images, c) for c in cfgs)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(seed0, seed1))
    assert not np.array_equal(seed0[0][0], seed0[1][0])


def test_a_run_outside_the_repository_is_named_without_the_machine_path(tmp_path, monkeypatch):
    """Cells name their training record: inside the repository relative to it, inside $SRBENCH_RUNS_DIR as
    runs/<key>/… (no machine path in committed results), anything else as given."""
    monkeypatch.setenv("SRBENCH_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert runs.rel(tmp_path / "elsewhere" / "abc" / "record.json") == "runs/abc/record.json"
    assert runs.rel(runs.REPO / "results" / "training" / "abc" / "record.json") == "results/training/abc/record.json"
    assert runs.rel(tmp_path / "other" / "record.json") == str(tmp_path / "other" / "record.json")


@pytest.mark.realdata
def test_frozen_bn_switches_at_the_models_fraction_and_is_in_the_run_key(t91, tmp_path, cache):
    """RepSR §4.2: a model declaring ``frozen_bn_at`` trains with batch statistics, then from that fraction of
    the run with population statistics (γ/β still train).  The switch iteration is part of the run key, so a
    run made without it is never taken for one made with it; models without a switch keep their keys."""
    from harness.models.repsr import FrozenBatchNorm2d

    kw = {"num_blocks": 1, "channels": 8}
    bn = Entry(id="bn", row="BN", model="edsr_bn", obtain="train", scale=2, train=Train(recipe="_fast"), kwargs=kw)
    frozen = Entry(id="fbn", row="Frozen BN", model="edsr_bn", obtain="train", scale=2, train=Train(recipe="_fast"),
                   kwargs={**kw, "frozen_bn_at": 0.5})
    cfg_bn, cfg_frozen = api.resolve_entry(bn, 2, "smoke")[2], api.resolve_entry(frozen, 2, "smoke")[2]
    assert cfg_bn.frozen_bn_from is None
    assert cfg_frozen.frozen_bn_from == cfg_frozen.iterations // 2
    tiny = api.resolve_entry(Entry(id="r", row="R", model="repsr", obtain="train", scale=4,
                                   train=Train(recipe="_fast")), 4, "smoke")[2]
    assert tiny.frozen_bn_from == round(0.9 * tiny.iterations)  # TinySR's default switch
    ecb = api.resolve_entry(Entry(id="e", row="E", model="ecbsr", obtain="train", scale=4,
                                  train=Train(recipe="_fast")), 4, "smoke")[2]
    assert ecb.frozen_bn_from is None  # nothing to freeze: no switch, the key of before
    m_bn, _ = api.train_entry(_ctx(bn, t91), bn, 2, runs_dir=tmp_path, cache_dir=cache)
    m_fr, _ = api.train_entry(_ctx(frozen, t91), frozen, 2, runs_dir=tmp_path, cache_dir=cache)
    layers = lambda m: [x for x in m.modules() if isinstance(x, FrozenBatchNorm2d)]
    assert layers(m_fr) and all(x.stats_frozen for x in layers(m_fr))
    assert not any(x.stats_frozen for x in layers(m_bn))
    # the same init and patches up to the switch, different weights after it
    a, b = m_bn.state_dict(), m_fr.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if torch.is_tensor(a[k]))
