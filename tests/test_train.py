"""Training engine (harness.train, harness.budgets): smoke runs on T91 with tiny test models, resume,
final-model cache, NaN detection, damaged checkpoints, data errors, the training-time kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import require
from PIL import Image
from torch import nn

from harness import budgets, train
from harness.measure import MeasureContext
from harness.models import registry
from harness.obtain import NotObtainableError, obtain_model
from harness.suite import Entry, PaperCell, Suite, Train

KINDS = ("rgb", "y", "y_upscaled")


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
        self.calls += 1
        out = self.body(x) + F.interpolate(x, scale_factor=self.up, mode="nearest")
        return out * float("nan") if self.nan_after is not None and self.calls > self.nan_after else out


def _tiny(kind: str) -> str:
    return f"_test_train_tiny_{kind}"


@pytest.fixture(scope="module", autouse=True)
def tiny_models():
    """Register the tiny models for this module only (other tests iterate over the zoo)."""
    for kind in KINDS:
        def build(scale: int, kind=kind, **kwargs) -> nn.Module:
            """Tiny test model (tests/test_train.py)."""
            return TinySR(scale, kind, **kwargs)

        registry.register_model(_tiny(kind), paper="test", scales=(2, 3, 4), input=kind)(build)
    yield
    for kind in KINDS:
        registry._REGISTRY.pop(_tiny(kind), None)


@pytest.fixture(autouse=True)
def fast_recipe(monkeypatch):
    # A learning rate high enough for 20 iterations of a tiny model to visibly lower the loss.
    monkeypatch.setitem(budgets.RECIPES, "_test_fast", budgets.Recipe(name="_test_fast", source="test", lr=1e-2))


@pytest.fixture(scope="module")
def t91(data_dir) -> Path:
    """The data dir (conftest: $SRBENCH_DATA_DIR or ../shared/datasets) holding T91/HR; in CI it must."""
    require((data_dir / "T91" / "HR").is_dir(), f"T91 training images not found under {data_dir}")
    return data_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")  # shared: the T91 LR/HR cache is built once per module


def _entry(kind: str = "y_upscaled", recipe: str = "_test_fast", **kwargs) -> Entry:
    return Entry(id=f"tiny_{kind}", row="Tiny", model=_tiny(kind), obtain="train", scale=2,
                 train=Train(recipe=recipe), kwargs=kwargs)


def _ctx(suite_id: str, entry: Entry, data_dir: Path | None, budget: str = "smoke", log=None) -> MeasureContext:
    suite = Suite(id=suite_id, paper="test", table="test", entries=[entry])
    return MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=data_dir, weights_dir=None,
                          budget=budget, progress=(log.append if log is not None else lambda msg: None))


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- budgets ------------------------------------------------------------------------------------------------


def test_budget_presets():
    smoke, short, paper = (budgets.get_budget(n) for n in ("smoke", "short", "paper"))
    assert "SMOKE" in smoke.description and not smoke.needs_gpu and paper.needs_gpu and paper.is_paper
    for b in (smoke, short):
        assert b.dataset == "T91" and all(b.hr_patch % s == 0 for s in (2, 3, 4))
        assert b.hr_patch <= 76  # T91's smallest image, t20 (78×78), cropped to a multiple of 4
    with pytest.raises(budgets.BudgetError, match="known: .*carn"):
        budgets.get_recipe("nope")


def test_schedule_scales_with_the_budget():
    kw = {"model": "m", "model_kwargs": {}, "scale": 4, "input_kind": "rgb"}
    carn = budgets.get_recipe("carn")
    paper = budgets.resolve(carn, budgets.get_budget("paper"), **kw)
    assert (paper.iterations, paper.batch, paper.hr_patch, paper.dataset) == (
        carn.iterations, carn.batch, carn.lr_patch * 4, carn.dataset)
    smoke = budgets.resolve(carn, budgets.get_budget("smoke"), **kw)
    assert smoke.step_every / smoke.iterations == pytest.approx(carn.step_every / carn.iterations, abs=0.05)
    assert smoke.lr_at(smoke.step_every - 1) == carn.lr and smoke.lr_at(smoke.step_every) == carn.lr * carn.gamma
    cos = budgets.resolve(budgets.get_recipe("repsr_large"), budgets.get_budget("short"), **kw)
    period = cos.iterations // cos.cycles
    assert cos.lr_at(0) == cos.lr_at(period) == cos.lr and cos.lr_at(period - 1) < cos.lr / 100
    assert smoke.hash() == budgets.resolve(carn, budgets.get_budget("smoke"), **kw).hash() != cos.hash()
    with pytest.raises(budgets.BudgetError, match="does not declare iterations"):
        budgets.resolve(budgets.get_recipe("default"), budgets.get_budget("paper"), **kw)


def test_paper_budget_is_refused_on_cpu():
    entry = _entry(recipe="carn")
    with pytest.raises(NotObtainableError, match="needs a GPU"):
        train.train_entry(_ctx("t_paper", entry, None, budget="paper"), entry, 2)
    entry = _entry(recipe="default")
    with pytest.raises(NotObtainableError, match="'default'.*does not declare"):
        train.train_entry(_ctx("t_paper", entry, None, budget="paper"), entry, 2)


# --- training on T91 ----------------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("kind", KINDS)
def test_smoke_training_lowers_the_loss(kind, t91, runs):
    entry = _entry(kind)
    ctx = _ctx(f"t_smoke_{kind}", entry, t91)
    model, info = train.train_entry(ctx, entry, 2, runs_dir=runs)
    assert info["finished"] and info["iterations"] == info["target_iterations"] == 20
    assert info["budget"] == "smoke" and "NOT the paper's schedule" in info["reason"]
    assert "smoke" in info["reason"] and "T91" in info["reason"]
    assert Path(info["checkpoint"]) == runs / f"t_smoke_{kind}" / f"tiny_{kind}_x2_smoke" / "ckpt.pt"
    assert Path(info["checkpoint"]).is_file() and np.isfinite(info["final_loss"])
    # The loss on a fixed batch that training never drew is lower than the initial model's.
    cfg = budgets.TrainConfig(**info["config"])
    data = next(v[0] for k, v in ctx.cache.items() if k[0] == "train-data")
    inp, tgt = data.batch(cfg, 10_000)
    assert inp.shape[1] == (3 if kind == "rgb" else 1) and tgt.shape[-1] == cfg.hr_patch
    initial = train.build_model(entry.model, 2, {}, seed=cfg.seed)
    with torch.no_grad():
        before, after = (F.l1_loss(m.eval()(inp), tgt).item() for m in (initial, model))
    assert after < before


@pytest.mark.realdata
def test_resume_equals_uninterrupted_run_and_final_model_is_cached(t91, runs, monkeypatch):
    entry = _entry()
    full, _ = train.train_entry(_ctx("t_full", entry, t91), entry, 2, runs_dir=runs)

    log: list[str] = []
    ctx = _ctx("t_resume", entry, t91, log=log)
    _, info = train.train_entry(ctx, entry, 2, runs_dir=runs, max_iters=10)  # "interrupted" at 10 of 20
    assert (info["iterations"], info["finished"]) == (10, False) and "unfinished" in info["reason"]
    assert torch.load(info["checkpoint"], weights_only=True)["iteration"] == 10
    resumed, info = train.train_entry(ctx, entry, 2, runs_dir=runs)
    assert any("iterations 10..20" in m and "resumed" in m for m in log)
    assert info["finished"] and not info["cached"]
    assert _same_weights(resumed, full)

    again, info = train.train_entry(ctx, entry, 2, runs_dir=runs)  # finished checkpoint: loaded, not retrained
    assert info["cached"] and _same_weights(again, full)
    monkeypatch.setenv("SRBENCH_RUNS_DIR", str(runs))  # what obtain_model's train_entry uses
    got = obtain_model(ctx, entry, 2)
    assert got.input == "y_upscaled" and got.reason == info["reason"] and got.provenance["cached"]


@pytest.mark.realdata
def test_nan_loss_raises_a_clear_error_and_keeps_the_last_good_checkpoint(t91, runs):
    entry = _entry(nan_after=15)  # the 16th forward returns NaN
    ctx = _ctx("t_nan", entry, t91)
    with pytest.raises(train.TrainingDivergedError) as err:
        train.train_entry(ctx, entry, 2, runs_dir=runs)
    msg = str(err.value)
    assert "'tiny_y_upscaled'" in msg and "iteration 16 of 20" in msg and "lower the learning rate" in msg
    assert "last good checkpoint (iteration 10)" in msg
    ckpt = runs / "t_nan" / "tiny_y_upscaled_x2_smoke" / "ckpt.pt"
    assert train.load_checkpoint(ckpt)["iteration"] == 10


@pytest.mark.realdata
def test_truncated_checkpoint_is_moved_aside_and_training_restarts(t91, runs):
    entry = _entry()
    full, _ = train.train_entry(_ctx("t_full2", entry, t91), entry, 2, runs_dir=runs)
    ctx = _ctx("t_trunc", entry, t91)
    _, info = train.train_entry(ctx, entry, 2, runs_dir=runs, max_iters=10)
    ckpt = Path(info["checkpoint"])
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.warns(train.TrainingWarning, match="ckpt.pt: unreadable checkpoint"):
        model, info = train.train_entry(ctx, entry, 2, runs_dir=runs)
    assert ckpt.with_name("ckpt.pt.corrupt").is_file()
    assert info["finished"] and _same_weights(model, full)  # restarted from 0, same seed: same weights


@pytest.mark.realdata
def test_checkpoint_of_another_config_is_replaced(t91, runs):
    slow = _entry(recipe="default")
    train.train_entry(_ctx("t_cfg", slow, t91), slow, 2, runs_dir=runs, max_iters=10)
    fast = _entry()
    with pytest.warns(train.TrainingWarning, match="another configuration"):
        _, info = train.train_entry(_ctx("t_cfg", fast, t91), fast, 2, runs_dir=runs)
    assert info["finished"] and info["config"]["recipe"] == "_test_fast"


# --- data errors (no real data needed) ----------------------------------------------------------------------


def test_image_smaller_than_the_patch_is_named(tmp_path, monkeypatch):
    folder = tmp_path / "T91" / "HR"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, size in (("big.png", 100), ("small.png", 20)):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / name)
    files = sorted(folder.glob("*.png"))
    monkeypatch.setattr(train, "training_files", lambda name, data_dir: files)
    entry = _entry()
    with pytest.raises(train.TrainingDataError, match=r"small\.png: 20×20 .* smaller than the HR training patch 24×24"):
        train.train_entry(_ctx("t_small", entry, tmp_path), entry, 2, runs_dir=tmp_path / "runs")


def test_missing_training_data_is_a_missing_data_cell(tmp_path):
    entry = _entry()
    with pytest.raises(train.MissingTrainingDataError, match="T91") as err:
        train.train_entry(_ctx("t_missing", entry, tmp_path), entry, 2, runs_dir=tmp_path / "runs")
    assert err.value.status == "missing-data"


# --- training-time kind -------------------------------------------------------------------------------------


def test_training_time_is_not_run_with_the_measured_seconds_per_iteration():
    entry = _entry(recipe="carn").model_copy(update={
        "paper": [PaperCell(metric="train_time", value=1.0, printed="(synthetic)", scale=2)]})
    [m] = train.measure_training_time(_ctx("t_time", entry, None), entry)
    assert m.metric == "train_time" and m.status == "not-run" and m.value is None and m.scale == 2
    assert m.extra["seconds_per_iteration"] > 0 and m.extra["device"].startswith("CPU")
    smoke = budgets.get_budget("smoke")
    assert (m.extra["batch"], m.extra["hr_patch"]) == (smoke.batch, smoke.hr_patch)
    assert "wall time" in m.reason and "CPU" in m.reason
