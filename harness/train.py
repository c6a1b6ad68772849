"""Training engine for suite entries with ``obtain = "train"`` (recipes and budgets: harness.budgets).

``train_entry(ctx, entry, scale) -> (model, info)`` is what ``harness.obtain`` calls; ``info["reason"]`` is
the cell's reason and says which budget trained the model and that smoke/short runs are not the paper's.

Data: the HR images of the training set (``<data_dir>/<name>/HR``, through ``harness.datasets`` when it knows
the set) are cropped to a multiple of the scale and degraded once with MATLAB-bicubic ``degrade``; the
aligned uint8 HR/LR (and, for ``y_upscaled`` models, bicubic-upscaled LR) images are cached on disk under
``runs/_cache``.  Each iteration draws random aligned patches seeded by (seed, iteration), with random flips
and 90° rotations, and feeds the model its input kind (harness.models.registry): ``rgb`` LR RGB, ``y`` LR
luma, ``y_upscaled`` luma of the bicubic-upscaled LR (BT.601 Y / 255, as ``harness.metrics.rgb_to_y``).
The upscaled LR is MATLAB ``imresize`` of the uint8 LR RGB back to HR size, rounded to uint8, then Y — the
input ``harness.evaluate`` feeds at test time (SRCNN's MATLAB code upscales float Y instead: on T91 ×3 that
differs by 0.15 grey levels on average, up to ~13 where uint8 clipping of bicubic overshoot differs).
Targets are HR RGB or Y.
The runs directory is ``$SRBENCH_RUNS_DIR``, else ``<repo>/runs`` (git-ignored).

Checkpoints (``runs/<suite>/<entry>_x<scale>_<budget>/ckpt.pt``, written atomically every
``checkpoint_every`` iterations and at the end) hold the model, the optimiser, the iteration, the torch RNG
state and the config hash:

- re-running resumes from the checkpoint; on CPU the result equals an uninterrupted run bit for bit;
- a finished checkpoint of the same config (suite, entry, scale, budget, recipe, data, engine) is the
  cached trained model: it is loaded, not retrained;
- a checkpoint of another config is replaced (``TrainingWarning``);
- an unreadable (truncated, corrupt) checkpoint is moved aside to ``ckpt.pt.corrupt`` and training
  restarts from iteration 0 with a ``TrainingWarning`` naming it: an unattended run goes on, the evidence
  is kept;
- a NaN/Inf loss (or non-finite weights) raises ``TrainingDivergedError`` naming the entry, the iteration
  and the fix; the last good checkpoint is kept.

``measure_training_time`` is the runner's ``training-time`` kind (metric ``train_time``).
"""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness import budgets, datasets
from harness.budgets import TrainConfig
from harness.degradations import degrade, mod_crop
from harness.images import CorruptDataError, UnsupportedImageError, read_image
from harness.imresize import imresize
from harness.measure import MeasureContext, Measurement
from harness.metrics import rgb_to_y
from harness.obtain import NotObtainableError, ObtainError
from harness.suite import Entry, Train

__all__ = [
    "RUNS_DIR",
    "MissingTrainingDataError",
    "TrainingData",
    "TrainingDataError",
    "TrainingDivergedError",
    "TrainingError",
    "TrainingWarning",
    "build_model",
    "load_checkpoint",
    "measure_training_time",
    "run_training",
    "save_checkpoint",
    "time_training_step",
    "train_entry",
    "training_files",
]

RUNS_DIR = Path(__file__).resolve().parent.parent / "runs"  # git-ignored (/runs/)
CKPT_FORMAT = 1
IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}


class TrainingError(ObtainError):
    """Training failed; the message names the entry (or file) and what to do."""


class MissingTrainingDataError(TrainingError):
    status = "missing-data"


class TrainingDataError(TrainingError):
    """The training data are there but unusable (corrupt file, image smaller than the patch)."""


class TrainingDivergedError(TrainingError):
    """The loss (or the weights) became NaN/Inf."""


class TrainingWarning(UserWarning):
    """A checkpoint (or the data cache) could not be used: training restarted from iteration 0 (or rebuilt it)."""


# --- data ---------------------------------------------------------------------------------------------------


def training_files(name: str, data_dir: Path) -> list[Path]:
    """HR images of training set ``name``: via harness.datasets when it knows the set, else ``<name>/HR``."""
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


def _fingerprint(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}  {hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def _read_hr(path: Path, scale: int) -> np.ndarray:
    try:
        return mod_crop(read_image(path), scale)
    except (CorruptDataError, UnsupportedImageError) as exc:
        raise TrainingDataError(str(exc)) from None
    except ValueError as exc:  # mod_crop: smaller than the scale
        raise TrainingDataError(f"{path}: {exc}") from None


def _luma(a: np.ndarray) -> np.ndarray:
    return (rgb_to_y(a) / 255.0).astype(np.float32)[..., None]  # BT.601 Y / 255 (registry input convention)


class TrainingData:
    """Aligned uint8 HR / LR (/ upscaled LR) images of one training set at one scale, and a patch sampler."""

    def __init__(self, names: list[str], hr: list[np.ndarray], lr: list[np.ndarray],
                 up: list[np.ndarray] | None, scale: int):
        self.names, self.hr, self.lr, self.up, self.scale = names, hr, lr, up, scale

    @classmethod
    def load(cls, files: list[Path], scale: int, *, cache_dir: Path, key: str, upscaled: bool) -> TrainingData:
        """Degrade ``files`` once (MATLAB bicubic) and cache the pairs as ``cache_dir/<key>.npz``."""
        path = Path(cache_dir) / f"{key}_x{scale}{'_up' if upscaled else ''}_v{budgets.ENGINE_VERSION}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    n = len(z["names"])
                    return cls([str(s) for s in z["names"]], [z[f"hr{i}"] for i in range(n)],
                               [z[f"lr{i}"] for i in range(n)],
                               [z[f"up{i}"] for i in range(n)] if upscaled else None, scale)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                warnings.warn(f"{path}: unreadable data cache ({exc}); rebuilding it", TrainingWarning, stacklevel=2)
        hr = [_read_hr(f, scale) for f in files]
        lr = [degrade(h, scale, "bicubic") for h in hr]
        up = [imresize(l, output_shape=h.shape[:2]) for l, h in zip(lr, hr)] if upscaled else None
        data = cls([str(f) for f in files], hr, lr, up, scale)
        arrays = {"names": np.array(data.names)}
        for i in range(len(hr)):
            arrays[f"hr{i}"], arrays[f"lr{i}"] = hr[i], lr[i]
            if up is not None:
                arrays[f"up{i}"] = up[i]
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, lambda f: np.savez(f, **arrays))
        return data

    def check_patch(self, hr_patch: int) -> None:
        small = [(n, h.shape[:2]) for n, h in zip(self.names, self.hr) if min(h.shape[:2]) < hr_patch]
        if small:
            name, (h, w) = small[0]
            more = f" (and {len(small) - 1} more)" if len(small) > 1 else ""
            raise TrainingDataError(
                f"{name}: {w}×{h} (cropped to a multiple of ×{self.scale}) is smaller than the HR training patch "
                f"{hr_patch}×{hr_patch}{more}; remove it from the training set or train with a smaller patch"
            )

    def batch(self, cfg: TrainConfig, it: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input and target patches of iteration ``it`` (N×C×h×w float in [0, 1]); a pure function of it."""
        rng = np.random.default_rng([cfg.seed, it])
        s, lp = self.scale, cfg.hr_patch // self.scale
        inputs, targets = [], []
        for _ in range(cfg.batch):
            i = int(rng.integers(len(self.hr)))
            lh, lw = self.lr[i].shape[:2]
            y, x = int(rng.integers(lh - lp + 1)), int(rng.integers(lw - lp + 1))
            hr_win = (slice(y * s, (y + lp) * s), slice(x * s, (x + lp) * s))
            tgt = self.hr[i][hr_win]
            inp = self.up[i][hr_win] if cfg.input_kind == "y_upscaled" else self.lr[i][y:y + lp, x:x + lp]
            if cfg.augment:  # random horizontal/vertical flip and transpose: the 8 dihedral transforms
                flips = rng.random(3) < 0.5
                inp, tgt = _dihedral(inp, flips), _dihedral(tgt, flips)
            if cfg.input_kind == "rgb":
                inputs.append(inp.astype(np.float32) / 255.0)
                targets.append(tgt.astype(np.float32) / 255.0)
            else:
                inputs.append(_luma(inp))
                targets.append(_luma(tgt))
        return _nchw(inputs), _nchw(targets)


def _dihedral(a: np.ndarray, flips: np.ndarray) -> np.ndarray:
    if flips[0]:
        a = a[:, ::-1]
    if flips[1]:
        a = a[::-1]
    if flips[2]:
        a = a.transpose(1, 0, 2)
    return a


def _nchw(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2)))


# --- checkpoints --------------------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path`` (tensors on CPU); None when absent, or unreadable (moved aside, warning)."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
            raise ValueError("not a harness training checkpoint")
        return state
    except Exception as exc:  # noqa: BLE001 — a damaged file raises RuntimeError, EOFError, UnpicklingError, …
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        warnings.warn(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); moved to {aside}, "
                      "training restarts from iteration 0", TrainingWarning, stacklevel=2)
        return None


# --- training -----------------------------------------------------------------------------------------------


def build_model(name: str, scale: int, kwargs: dict, seed: int = 0) -> nn.Module:
    """Zoo model ``name`` initialised from ``seed`` (the global torch RNG is left untouched)."""
    from harness.models import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model(name, scale, **kwargs)


def _finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def run_training(cfg: TrainConfig, data: TrainingData, run_dir: Path, *, label: str, device: str = "cpu",
                 max_iters: int | None = None, progress: Callable[[str], None] = lambda msg: None,
                 ) -> tuple[nn.Module, dict]:
    """Train (or resume, or load the finished run) in ``run_dir``; stop early after ``max_iters`` if given."""
    ckpt = Path(run_dir) / "ckpt.pt"
    cfg_hash = cfg.hash()
    model = build_model(cfg.model, cfg.scale, cfg.model_kwargs, cfg.seed).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    loss_fn = F.l1_loss if cfg.loss == "l1" else F.mse_loss
    state = load_checkpoint(ckpt)
    if state is not None and state.get("config_hash") != cfg_hash:
        warnings.warn(f"{ckpt}: checkpoint of another configuration ({state.get('config_hash')} ≠ {cfg_hash}: "
                      "recipe, budget, data or engine changed); training restarts from iteration 0",
                      TrainingWarning, stacklevel=2)
        state = None
    start, elapsed, loss_avg, history = 0, 0.0, float("nan"), []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])  # moves the moments to the parameters' device
            torch.set_rng_state(state["torch_rng"])
            start, elapsed, loss_avg = state["iteration"], state["train_time_s"], state["loss"]
            history = list(state["history"])
        end = cfg.iterations if max_iters is None else min(cfg.iterations, max_iters)
        if start < end:
            progress(f"  training {label}: iterations {start}..{end} of {cfg.iterations} "
                     f"({'resumed from ' + str(ckpt) if start else 'from scratch'})")
            elapsed, loss_avg, history = _loop(model, opt, loss_fn, cfg, data, ckpt, cfg_hash, start, end,
                                               elapsed, history, label=label, device=device, progress=progress)
    done = max(start, end)
    return model, {
        "budget": cfg.budget,
        "iterations": done,
        "target_iterations": cfg.iterations,
        "finished": done >= cfg.iterations,
        "cached": start >= cfg.iterations,
        "train_time_s": round(elapsed, 3),
        "final_loss": loss_avg,
        "loss_history": history,
        "checkpoint": str(ckpt),
        "config_hash": cfg_hash,
        "config": cfg.to_dict(),
        "device": device,
    }


def _loop(model, opt, loss_fn, cfg: TrainConfig, data: TrainingData, ckpt: Path, cfg_hash: str, start: int,
          end: int, elapsed: float, history: list, *, label: str, device: str, progress) -> tuple:
    from tqdm import tqdm

    model.train()
    recent: list[float] = []
    last_good = start
    t0 = time.perf_counter()
    with tqdm(total=end, initial=start, desc=label, unit="it", disable=None, leave=False) as bar:
        for it in range(start, end):
            lr = cfg.lr_at(it)
            for group in opt.param_groups:
                group["lr"] = lr
            inp, tgt = data.batch(cfg, it)
            out = model(inp.to(device))
            if out.shape != tgt.shape:
                raise TrainingError(f"{label}: model output {tuple(out.shape)} ≠ target {tuple(tgt.shape)} for "
                                    f"input {tuple(inp.shape)} ({cfg.input_kind!r} input, ×{cfg.scale})")
            loss = loss_fn(out, tgt.to(device))
            if not torch.isfinite(loss):
                kept = f"the last good checkpoint (iteration {last_good}) is kept at {ckpt}" if last_good else \
                    "no checkpoint was written yet"
                raise TrainingDivergedError(
                    f"{label}: the training loss became {loss.item()} at iteration {it + 1} of {cfg.iterations} "
                    f"(lr {lr:g}); {kept}. Fix: lower the learning rate (recipe {cfg.recipe!r}, lr {cfg.lr:g}) or "
                    f"check the training data ({cfg.dataset}) for broken images"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            recent = (recent + [loss.item()])[-10:]
            bar.set_postfix(loss=f"{recent[-1]:.4f}", refresh=False)
            bar.update(1)
            done = it + 1
            if done % cfg.checkpoint_every == 0 or done == end:
                if not _finite(model):
                    raise TrainingDivergedError(
                        f"{label}: the weights became NaN/Inf at iteration {done} of {cfg.iterations} (lr {lr:g}); "
                        f"the last good checkpoint (iteration {last_good}) is kept at {ckpt}. Fix: lower the "
                        f"learning rate (recipe {cfg.recipe!r}, lr {cfg.lr:g}) or check the training data"
                    )
                loss_avg = sum(recent) / len(recent)
                history = history + [[done, loss_avg]]
                spent = elapsed + time.perf_counter() - t0
                save_checkpoint(ckpt, {
                    "format": CKPT_FORMAT, "config_hash": cfg_hash, "config": cfg.to_dict(), "iteration": done,
                    "model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                    "train_time_s": spent, "loss": loss_avg, "history": history,
                })
                last_good = done
                progress(f"  {label}: iteration {done}/{cfg.iterations}, loss {loss_avg:.4f}, {spent:.1f} s")
    return elapsed + time.perf_counter() - t0, loss_avg, history


# --- the obtain hook ----------------------------------------------------------------------------------------


def _label(entry: Entry, scale: int, budget: str) -> str:
    return f"entry {entry.id!r} ×{scale} [{budget} budget]"


def _resolve(ctx: MeasureContext, entry: Entry, scale: int) -> tuple[budgets.Recipe, budgets.Budget, TrainConfig]:
    from harness.models import get_spec

    decl = entry.train or Train()
    try:
        recipe, budget = budgets.get_recipe(decl.recipe), budgets.get_budget(ctx.budget)
        cfg = budgets.resolve(recipe, budget, model=entry.model, model_kwargs=entry.kwargs, scale=scale,
                              input_kind=get_spec(entry.model).input,
                              dataset=decl.dataset if "dataset" in decl.model_fields_set else None)
    except budgets.BudgetError as exc:
        raise NotObtainableError(f"{_label(entry, scale, ctx.budget)}: {exc}") from None
    return recipe, budget, cfg


def _load_data(ctx: MeasureContext, cfg: TrainConfig, cache_dir: Path) -> tuple[TrainingData, str]:
    data_dir = ctx.data_dir or datasets.resolve_data_dir(None)
    upscaled = cfg.input_kind == "y_upscaled"
    key = ("train-data", str(data_dir), cfg.dataset, cfg.scale, upscaled)
    if key not in ctx.cache:
        files = training_files(cfg.dataset, Path(data_dir))
        fp = _fingerprint(files)
        data = TrainingData.load(files, cfg.scale, cache_dir=cache_dir, key=f"{cfg.dataset}_{fp[:16]}",
                                 upscaled=upscaled)
        ctx.cache[key] = (data, fp)
    return ctx.cache[key]


def _reason(recipe: budgets.Recipe, budget: budgets.Budget, cfg: TrainConfig, info: dict) -> str:
    if budget.is_paper:
        text = f"trained here with the paper's schedule ({recipe.describe()}) on {info['device']}"
        if recipe.notes:
            text += "; deviations/assumptions: " + "; ".join(recipe.notes)
    else:
        paper = f"paper: {recipe.describe()}" if recipe.paper_schedule else recipe.source
        text = (f"{budget.description}: trained here with the {budget.name} budget ({cfg.describe()}; recipe "
                f"{recipe.name!r}): NOT the paper's schedule; metrics are not comparable ({paper})")
    if not info["finished"]:
        text += f"; stopped after {info['iterations']} of {info['target_iterations']} iterations (unfinished run)"
    return text


def train_entry(ctx: MeasureContext, entry: Entry, scale: int, *, runs_dir: Path | None = None,
                max_iters: int | None = None) -> tuple[nn.Module, dict]:
    """Train ``entry``'s model at ``scale`` with ``ctx.budget`` (or resume, or load the finished run).

    ``runs_dir``: default ``$SRBENCH_RUNS_DIR``, else ``<repo>/runs``.  ``max_iters`` stops early (the
    checkpoint stays resumable), for tests and interrupted runs.
    """
    recipe, budget, cfg = _resolve(ctx, entry, scale)
    label = _label(entry, scale, budget.name)
    if budget.needs_gpu and ctx.device != "cuda":
        raise NotObtainableError(
            f"{label}: the paper budget ({recipe.describe()}) needs a GPU and this run is on {ctx.device}; "
            "run with --device cuda on a GPU machine, or use --budget smoke/short (labelled not comparable)"
        )
    if cfg.degradation != "bicubic":
        raise NotObtainableError(f"{label}: recipe {recipe.name!r} trains on {cfg.degradation!r} LR images; the "
                                 "training engine implements MATLAB-bicubic LR only")
    runs = Path(runs_dir or os.environ.get("SRBENCH_RUNS_DIR") or RUNS_DIR)
    data, fingerprint = _load_data(ctx, cfg, runs / "_cache")
    data.check_patch(cfg.hr_patch)
    cfg = replace(cfg, data_fingerprint=fingerprint)
    run_dir = runs / ctx.suite.id / f"{entry.id}_x{scale}_{budget.name}"
    model, info = run_training(cfg, data, run_dir, label=label, device=ctx.device, max_iters=max_iters,
                               progress=ctx.progress)
    info["recipe"] = asdict(recipe)
    info["reason"] = _reason(recipe, budget, cfg, info)
    ctx.provenance.setdefault("data", {})[f"{cfg.dataset} (training)"] = fingerprint
    ctx.provenance.setdefault("training", {})[f"{entry.id}_x{scale}"] = {
        k: info[k] for k in ("budget", "iterations", "target_iterations", "config_hash", "checkpoint")}
    return model, info


# --- the training-time kind ---------------------------------------------------------------------------------


def _device_text(device: str) -> str:
    if device == "cuda" and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def time_training_step(model: nn.Module, input_kind: str, scale: int, batch: int, hr_patch: int, *,
                       lr: float = 1e-4, device: str = "cpu", warmup: int = 1, repeats: int = 3) -> list[float]:
    """Seconds of full training steps (forward, L1, backward, Adam) on a synthetic batch, after ``warmup``."""
    side = hr_patch if input_kind == "y_upscaled" else hr_patch // scale
    x = torch.rand(batch, 3 if input_kind == "rgb" else 1, side, side, device=device)
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    target = None
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        out = model(x)
        target = torch.rand_like(out) if target is None else target
        loss = F.l1_loss(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def measure_training_time(ctx: MeasureContext, entry: Entry) -> list[Measurement]:
    """``train_time`` cells: the paper's number is total training wall time on its GPU (RepSR Table 3).

    That cannot be reproduced here, so every cell is ``not-run``; what is measured — seconds per training
    iteration of the entry's model on this device — goes to ``extra`` with the shape it was timed at (the
    smoke budget's batch/patch under ``--budget smoke``, else the recipe's paper batch/patch).  Only ratios
    between entries measured in one run mean something (conventions.md §4).
    """
    scales = sorted({c.scale for c in ctx.paper_cells(entry, {"train_time"}) if c.scale} or {entry.scale})
    if not entry.model:
        return [Measurement("train_time", None, scale=s, status="not-run",
                            reason=entry.reason or "no model to time") for s in scales]
    try:
        recipe = budgets.get_recipe((entry.train or Train()).recipe)
        budget = budgets.get_budget(ctx.budget)
    except budgets.BudgetError as exc:
        return [Measurement("train_time", None, scale=s, status="error", reason=str(exc)) for s in scales]
    from harness.models import get_spec

    kind = get_spec(entry.model).input
    repeats = 3 if budget.name == "smoke" else 5
    paper_shape = budget.name != "smoke" and bool(recipe.batch and recipe.lr_patch)
    out = []
    for s in scales:
        if paper_shape:
            batch, hr_patch, shape_from = recipe.batch, recipe.lr_patch * s, f"recipe {recipe.name!r} (paper)"
        else:  # smoke run, or a recipe that does not state its batch/patch
            shape = budgets.BUDGETS["smoke" if budget.name == "smoke" else "short"]
            batch, hr_patch, shape_from = shape.batch, shape.hr_patch, f"the {shape.name} budget"
        model = build_model(entry.model, s, entry.kwargs)
        times = time_training_step(model, kind, s, batch, hr_patch, lr=recipe.lr, device=ctx.device,
                                   repeats=repeats)
        sec = statistics.median(times)
        projected = sec * recipe.iterations if recipe.iterations and paper_shape else None
        where = _device_text(ctx.device)
        reason = (
            f"not comparable: the paper's cell is total training wall time on "
            f"{recipe.hardware or 'its GPU'}; measured here {sec:.3g} s per training iteration on {where} "
            f"(batch {batch}, HR patch {hr_patch} from {shape_from}, synthetic data, median of {repeats} after "
            f"1 warm-up)"
            + (f"; × the paper's {recipe.iterations:,} iterations ≈ {projected / 3600:.3g} h here" if projected else "")
            + "; only ratios between entries measured in one run are meaningful (conventions.md §4)"
        )
        out.append(Measurement("train_time", None, scale=s, status="not-run", reason=reason, extra={
            "seconds_per_iteration": sec, "timings_s": times, "batch": batch, "hr_patch": hr_patch,
            "input": kind, "device": where, "shape_from": shape_from, "recipe": recipe.name,
            "paper_iterations": recipe.iterations, "projected_total_s": projected,
        }))
    return out
