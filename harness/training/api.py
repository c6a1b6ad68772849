"""What the rest of the harness calls: ``train_entry`` (obtain's ``train`` branch), ``training_key``
(the run key without training), ``train_job`` (one entry × scale, the unit ``harness.dispatch`` runs).

``reproduce`` for an ``obtain = "train"`` entry uses the finished run with the entry's key (working runs
directory, then ``results/training/``); else it trains it when the budget allows: ``paper`` is refused on
a CPU before any work, and ``smoke``/``short`` are refused on a CPU when the measured step time ×
iterations exceeds the budget's ``cpu_hours_cap`` (the reason gives the estimate and the fix).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path

from torch import nn

from harness import datasets
from harness.measure import MeasureContext
from harness.obtain import NotObtainableError
from harness.suite import Entry, size_text
from harness.training import runs
from harness.training.data import (
    ImageSet,
    fingerprint,
    split_validation,
    training_files,
)
from harness.training.distributed import Dist
from harness.training.engine import Trainer, build_model
from harness.training.progress import Progress
from harness.training.recipes import (
    Budget,
    BudgetError,
    Recipe,
    TrainConfig,
    get_budget,
    get_recipe,
    recipe_name,
    resolve,
)

ON_THE_FLY = {"bicubic", "random_gaussian_blur", "gaussian_blur"}


def label(entry: Entry, scale: int, budget: str) -> str:
    return f"entry {entry.id!r} ×{scale} [{budget} budget]"


def sized_budget(budget: Budget, size, reduced_kwargs: dict | None = None) -> Budget:
    """``budget`` with a table's own iterations, batch and HR patch (``suite.BudgetSize``), and the row's reduced
    model size ``reduced_kwargs`` named; checkpoints and validation at least every tenth / quarter of the run, so
    a short run stays resumable and has a curve."""
    if size is None:
        return budget
    n = size.iterations
    reduced = (f"; the model reduced to {size_text(reduced_kwargs)} for this budget "
               "(the paper's size does not fit here)") if reduced_kwargs else ""
    return dataclasses.replace(
        budget, iterations=n, batch=size.batch, hr_patch=size.hr_patch,
        checkpoint_every=min(budget.checkpoint_every, max(1, n // 10)),
        val_every=min(budget.val_every, max(1, n // 4)) if budget.val_every else 0,
        description=f"{budget.description}; sized for this table ([budgets.{budget.name}] of its suite file){reduced}",
    )


def resolve_entry(entry: Entry, scale: int, budget_name: str, seed: int | None = None) -> tuple[Recipe, Budget, TrainConfig]:
    """(recipe, budget, config without the data fingerprint); ``BudgetError`` when they cannot be combined."""
    from harness.models import get_spec

    size = entry.budget_size(budget_name)
    reduced = size.kwargs_for(entry.id) if size is not None else {}
    recipe, budget = get_recipe(recipe_name(entry)), sized_budget(get_budget(budget_name), size, reduced)
    if seed is None:  # the entry's declared seed (Train.seed), 0 by default
        seed = entry.train.seed if entry.train is not None else 0
    declared = entry.train.dataset if entry.train is not None and "dataset" in entry.train.model_fields_set else None
    kwargs = {**entry.kwargs, **reduced}  # a declared reduced size ([budgets.short].kwargs / row_kwargs)
    cfg = resolve(recipe, budget, model=entry.model, model_kwargs=kwargs, scale=scale,
                  input_kind=get_spec(entry.model).input, dataset=declared, seed=seed)
    frac = frozen_bn_fraction(cfg.model, cfg.scale, json.dumps(cfg.model_kwargs, sort_keys=True))
    if frac is not None:  # the model's own Frozen BN switch, at the same fraction of every budget
        cfg = dataclasses.replace(cfg, frozen_bn_from=max(1, round(frac * cfg.iterations)))
    return recipe, budget, cfg


@functools.lru_cache(maxsize=256)
def frozen_bn_fraction(model: str, scale: int, kwargs: str) -> float | None:
    """The model's ``frozen_bn_at`` (RepSR's Frozen BN: the fraction of training after which its BN layers use
    population statistics), read from an instance (built once per process and configuration)."""
    net = build_model(model, scale, json.loads(kwargs))
    frac = getattr(net, "frozen_bn_at", None)
    if frac is not None and not callable(getattr(net, "freeze_bn_stats", None)):
        raise BudgetError(f"model {model!r} declares frozen_bn_at = {frac} but has no freeze_bn_stats()")
    return float(frac) if frac is not None else None


def _files(cfg: TrainConfig, data_dir: Path | None) -> list[Path]:
    return training_files(cfg.dataset, Path(data_dir or datasets.resolve_data_dir(None)))


def training_key(suite, entry: Entry, scale: int, budget: str, data_dir: Path | None, seed: int | None = None) -> str:
    """The run key ``reproduce`` would use for (entry, scale, budget), computed without training.

    Cost: hashing the training set's files (memoised per file).  Raises ``BudgetError`` (recipe/budget
    cannot be combined) or ``MissingTrainingDataError``.  ``suite`` is accepted for the caller's
    convenience; the key does not depend on it (the same model, recipe and data is one run in every suite).
    """
    _, _, cfg = resolve_entry(entry, scale, budget, seed)
    return TrainConfig.from_dict({**cfg.to_dict(), "data_fingerprint": fingerprint(_files(cfg, data_dir))}).hash()


def _with_fingerprint(cfg: TrainConfig, files: list[Path]) -> TrainConfig:
    return TrainConfig.from_dict({**cfg.to_dict(), "data_fingerprint": fingerprint(files)})


def load_images(cfg: TrainConfig, files: list[Path], cache_dir: Path) -> tuple[ImageSet, ImageSet]:
    train_files, val_files = split_validation(files)
    deg = cfg.degradation
    return (ImageSet.load(train_files, cfg.scale, degradation=deg, cache_dir=cache_dir),
            ImageSet.load(val_files, cfg.scale, degradation=deg, cache_dir=cache_dir))


def estimate_seconds(cfg: TrainConfig, device: str, repeats: int = 2) -> float:
    """Estimated wall time of ``cfg`` on ``device``: median measured step time × iterations (the step time
    is timed once per process for each model and step shape)."""
    step = _step_seconds(cfg.model, cfg.scale, json.dumps(cfg.model_kwargs, sort_keys=True), cfg.input_kind,
                         cfg.batch, cfg.hr_patch, cfg.lr, device, repeats)
    return step * cfg.iterations


@functools.lru_cache(maxsize=256)
def _step_seconds(model: str, scale: int, kwargs: str, input_kind: str, batch: int, hr_patch: int, lr: float,
                  device: str, repeats: int) -> float:
    from harness.training.timing import time_training_step

    net = build_model(model, scale, json.loads(kwargs))
    times = time_training_step(net, input_kind, scale, batch, hr_patch, lr=lr, device=device, repeats=repeats)
    return sorted(times)[len(times) // 2]


def lower_bound_seconds(cfg: TrainConfig) -> float:
    """A lower bound of a run's CPU time from counted multiply-adds, with nothing timed: forward MACs of one
    training patch (counted by fvcore at the patch's own size, deploy form) × 3 (forward + backward) × batch
    × iterations at ``TRAIN_GMACS_PER_S_MAX``.  For models whose single step is too slow to time here."""
    gmacs = _patch_gmacs(cfg.model, cfg.scale, json.dumps(cfg.model_kwargs, sort_keys=True), cfg.input_kind,
                         cfg.hr_patch)
    return 3 * gmacs * cfg.batch * cfg.iterations / TRAIN_GMACS_PER_S_MAX


# The fastest training rate measured here (2 cores, idle): EDSR-type 64-channel 3×3 convs train at
# 0.4 × (3 × forward MACs / 30 G/s), i.e. ≈75 G multiply-adds/s; thin or re-parameterised nets are slower
# (MxCy 11–16×, ECB/RepSR blocks 2×, whose training form the deploy-form count leaves out).  So
# ``lower_bound_seconds`` at this rate stays below every measured step time (13 models, README "Training").
TRAIN_GMACS_PER_S_MAX = 75.0


@functools.lru_cache(maxsize=256)
def _patch_gmacs(model: str, scale: int, kwargs: str, input_kind: str, hr_patch: int) -> float:
    from harness.complexity.counting import count_complexity, input_shape

    shape = input_shape(scale, input_kind, output_hw=(hr_patch, hr_patch))
    return count_complexity(build_model(model, scale, json.loads(kwargs)), scale, input_kind, ptflops=False,
                            shape=shape, method="true-size").gmacs


STEP_TIMING_LIMIT_S = 0.48  # a step whose lower bound exceeds this is not timed (a few steps would take minutes)


def cpu_estimate(cfg: TrainConfig) -> tuple[float, bool]:
    """(seconds, is a lower bound) of ``cfg`` on this CPU: the counted-MACs bound when it is already over the
    budget's CPU cap (certainly over it) or a step is too slow to time, else the timed estimate.  The one
    estimate the short budget's cap is checked with (``reproduce`` up front, ``train``, ``train --estimate``)."""
    bound = lower_bound_seconds(cfg)
    cap = get_budget(cfg.budget).cpu_hours_cap
    if (cap is not None and bound > cap * 3600) or bound / cfg.iterations > STEP_TIMING_LIMIT_S:
        return bound, True
    return estimate_seconds(cfg, "cpu"), False


def check_allowed(recipe: Recipe, budget: Budget, lbl: str, device: str) -> None:
    if budget.needs_gpu and not device.startswith("cuda"):
        raise NotObtainableError(
            f"{lbl}: the paper budget ({recipe.describe()}) needs a GPU and this run is on {device}; run "
            "`python -m harness train SUITE --budget paper --device cuda` on a GPU machine (or --executor slurm, "
            "slurm.toml), or use --budget short (equal-budget comparison, not the paper's values)"
        )


def _reason(recipe: Recipe, budget: Budget, cfg: TrainConfig, rec: dict, record_path: str) -> str:
    run = (f"run {rec['key']} ({rec['iterations']:,} iterations, {rec['wall_s']:.0f} s on {rec.get('device', '?')}, "
           f"final loss {rec['final_loss']:.4g}"
           + (f", held-out {cfg.dataset} PSNR-Y {rec['final_val_psnr']:.2f} dB" if rec.get("final_val_psnr") else "")
           + f"; record {record_path})")
    if budget.is_paper:
        text = f"trained with the paper's schedule ({recipe.describe()}): {run}"
        return text + ("; deviations/assumptions: " + "; ".join(recipe.notes) if recipe.notes else "")
    paper = f"paper: {recipe.describe()}" if recipe.paper_schedule else recipe.source
    return (f"{budget.description}: trained with the {budget.name} budget ({cfg.describe()}; recipe {recipe.name!r}), "
            f"{run}: NOT the paper's schedule, so the value is not the paper's ({paper})")


def paper_needs(recipe: Recipe, entry: Entry, scale: int, suite_id: str) -> str:
    """What a ``paper`` run of this entry needs: the schedule, the data, the GPU, the command."""
    if not recipe.paper_schedule:
        missing = [k for k in ("iterations", "batch", "lr_patch") if getattr(recipe, k) is None]
        return (f"a paper run is impossible as transcribed: recipe {recipe.name!r} ({recipe.source}) does not state "
                f"{', '.join(missing)}")
    declared = entry.train.dataset if entry.train is not None and "dataset" in entry.train.model_fields_set else None
    data = declared or recipe.dataset
    return (f"a paper run needs {data} (`python -m harness datasets` says whether it is here), a GPU and "
            f"{recipe.iterations:,} iterations of batch {recipe.batch} (GPU-hours = iterations ÷ measured GPU steps/s, "
            f"scripts/gpu_checks.py): `python -m harness train {suite_id} --entries {entry.id} --scale {scale} "
            "--budget paper --device cuda` (or --executor slurm)")


def train_entry(ctx: MeasureContext, entry: Entry, scale: int, *, runs_dir: Path | None = None,
                stop_at: int | None = None, dist: Dist | None = None, workers: int = 0,
                deterministic: bool = True, log_every: int | None = None,
                rich: bool = False, cache_dir: Path | None = None) -> tuple[nn.Module, dict]:
    """The trained model of ``entry`` at ``scale`` under ``ctx.budget``: the finished run, else trained here.

    ``info``: ``run_key``, ``iterations``, ``wall_s``, ``final_loss``, ``final_val_psnr``, ``budget``,
    ``reason``, ``record`` (record.json, repo-relative when inside the repo), ``finished``, ``cached``,
    ``config``.  ``rich``: a rich progress bar (a terminal) instead of plain lines to ``ctx.progress``.
    ``cache_dir``: the HR/LR data cache (default ``<runs>/_cache``).  ``stop_at`` stops early (the run stays resumable; ``finished`` is then false).
    """
    lbl = label(entry, scale, ctx.budget)
    try:
        recipe, budget, cfg = resolve_entry(entry, scale, ctx.budget)
    except BudgetError as exc:
        raise NotObtainableError(f"{lbl}: {exc}") from None
    check_allowed(recipe, budget, lbl, ctx.device)  # before any work
    if cfg.degradation not in ON_THE_FLY:
        raise NotObtainableError(f"{lbl}: recipe {recipe.name!r} trains on {cfg.degradation!r} LR images, which "
                                 "harness/training/data.py does not implement")
    files = _files(cfg, ctx.data_dir)
    cfg = _with_fingerprint(cfg, files)
    key = cfg.hash()
    root = runs.runs_dir(runs_dir)
    folder = runs.find_finished(key, root)
    cached = folder is not None
    if cached:
        rec = json.loads((folder / "record.json").read_text())
        model = build_model(cfg.model, cfg.scale, cfg.model_kwargs)
        model.load_state_dict(runs.load_weights(folder))
        model = model.to(ctx.device).eval()
    else:
        folder = root / key
        if not any((folder / "ckpt").glob("iter_*.pt")) and not ctx.device.startswith("cuda") and budget.cpu_hours_cap:
            est, _ = cpu_estimate(cfg)
            if est > budget.cpu_hours_cap * 3600:
                raise NotObtainableError(
                    f"{lbl}: the {budget.name} budget ({cfg.describe()}) would take about {est / 3600:.1f} h on this "
                    f"CPU (measured step time × {cfg.iterations:,} iterations), over the {budget.cpu_hours_cap:g} h "
                    f"CPU cap of the {budget.name} budget; run it on a GPU (`python -m harness train {ctx.suite.id} "
                    f"--entries {entry.id} --budget {budget.name} --device cuda`, or --executor slurm)")
        ctx.progress(f"  training {lbl}: run {key} in {runs.rel(folder)}")
        train_set, val_set = load_images(cfg, files, Path(cache_dir) if cache_dir else root / "_cache")
        trainer = Trainer(cfg, train_set, val_set, folder, key=key, label=lbl, device=ctx.device, dist=dist,
                          workers=workers, deterministic=deterministic, log_every=log_every, stop_at=stop_at,
                          progress=Progress(lbl, cfg.iterations, 0, rich=True) if rich else
                          Progress(lbl, cfg.iterations, 0, write=lambda s: ctx.progress("  " + s)))
        model, rec = trainer.fit()
        if rec["finished"]:
            rec = json.loads((folder / "record.json").read_text()) if (folder / "record.json").exists() else rec
    record_path = runs.rel(folder / "record.json")
    info = {
        "run_key": key, "budget": budget.name, "iterations": rec["iterations"], "target_iterations": cfg.iterations,
        "finished": rec["finished"], "cached": cached, "wall_s": rec["wall_s"], "final_loss": rec["final_loss"],
        "final_val_psnr": rec.get("final_val_psnr"), "record": record_path, "config": cfg.to_dict(),
        "recipe": recipe.name, "device": rec.get("device", ctx.device),
        "weights_sha256": (rec.get("weights") or {}).get("sha256"),
    }
    info["reason"] = _reason(recipe, budget, cfg, rec, record_path)
    if not budget.is_paper:
        info["paper_needs"] = paper_needs(recipe, entry, scale, ctx.suite.id)
        info["reason"] += "; " + info["paper_needs"]
    if not rec["finished"]:
        info["reason"] += f"; stopped after {rec['iterations']:,} of {cfg.iterations:,} iterations (unfinished run)"
    ctx.provenance.setdefault("data", {})[f"{cfg.dataset} (training)"] = cfg.data_fingerprint
    ctx.provenance.setdefault("training", {})[f"{entry.id}_x{scale}"] = {
        k: info[k] for k in ("run_key", "budget", "iterations", "target_iterations", "wall_s", "final_loss", "record")
    } | ({"paper_needs": info["paper_needs"]} if "paper_needs" in info else {})
    return model, info


def entry_scales(suite, entry: Entry) -> list[int]:
    cells = {c.scale for c in entry.paper if getattr(c, "scale", None)}
    return sorted(cells or ({entry.scale} if entry.scale else set()))


def train_job(spec: dict) -> dict:
    """One (suite, entry, scale) training, as a picklable job: ``spec`` holds suite, entry, scale, budget,
    device, data_dir, runs_dir, export, test (datasets to evaluate), stop_at, workers, deterministic.
    Returns the info of ``train_entry`` (without the model), plus ``export`` and ``test`` when asked."""
    from harness.suite import load_suite
    from harness.training import distributed

    suite = load_suite(spec["suite"]) if isinstance(spec["suite"], str) else spec["suite"]
    entry = next(e for e in suite.entries if e.id == spec["entry"])
    device = spec.get("device", "cpu")
    d = spec.get("dist") or distributed.init(device)
    data_dir = Path(spec["data_dir"]) if spec.get("data_dir") else datasets.resolve_data_dir(None)
    ctx = MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=data_dir, weights_dir=None,
                         device=device, budget=spec["budget"],
                         progress=(lambda m: print(m, flush=True)) if d.is_main else (lambda m: None))
    t0, started = time.perf_counter(), time.time()
    model, info = train_entry(ctx, entry, spec["scale"], runs_dir=spec.get("runs_dir"), stop_at=spec.get("stop_at"),
                              dist=d, workers=spec.get("workers", 0),
                              deterministic=spec.get("deterministic", True), log_every=spec.get("log_every"),
                              rich=bool(spec.get("tty_progress")) and d.is_main, cache_dir=spec.get("cache_dir"))
    info["job_s"], info["started_at"], info["ended_at"] = round(time.perf_counter() - t0, 3), started, time.time()
    if d.is_main and info["finished"]:
        folder = runs.find_record(info["run_key"], spec.get("runs_dir"))
        if spec.get("test"):
            info["test"] = _test(model, entry, spec["scale"], suite, data_dir, spec["test"], device, folder)
        if spec.get("export"):
            info["export"] = runs.rel(runs.export(folder, Path(spec["export"])))
    return info


def _test(model, entry: Entry, scale: int, suite, data_dir: Path, names: list[str], device: str,
          folder: Path) -> dict:
    """PSNR/SSIM-Y of the trained model on test sets (the suite's metric profile), added to record.json."""
    from harness.evaluate import evaluate
    from harness.models import get_spec
    from harness.training.checkpoint import atomic_write

    out = {}
    for name in names:
        res = evaluate(model, get_spec(entry.model).input, name, scale, suite.metric_profile, data_dir, device=device)
        base = evaluate("bicubic", "bicubic", name, scale, suite.metric_profile, data_dir)
        out[name] = {"psnr_y": res.means["psnr_y"], "ssim_y": res.means["ssim_y"],
                     "bicubic_psnr_y": base.means["psnr_y"], "protocol": res.reason}
    path = folder / "record.json"
    rec = json.loads(path.read_text())
    rec["test"] = {**rec.get("test", {}), **out}
    atomic_write(path, lambda f: f.write(json.dumps(rec, indent=1).encode()))
    return out
