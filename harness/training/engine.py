"""The training loop: ``Trainer(cfg, ...).fit()`` trains, resumes, validates, logs and records one run.

A run lives in ``<runs>/<key>/`` (``harness.training.runs``): ``ckpt/`` (``harness.training.checkpoint``),
``log.jsonl`` (one line per ``log_every`` iterations: iteration, mean loss since the previous line, lr,
it/s, elapsed s; plus ``val_psnr`` at each validation), and when finished ``weights.pt`` (the evaluated
weights — EMA when the recipe has one — as an fp32 CPU state dict) and ``record.json``.

Determinism: with ``deterministic=True`` (default) torch's deterministic algorithms are requested, the
data are a pure function of (seed, iteration, sample) (``harness.training.data``) and a checkpoint holds
every state the next iteration reads, so a run killed and resumed ends with weights bit-identical to an
uninterrupted run on the same machine and thread count (tested with a real kill -9).

Divergence: a non-finite loss, or non-finite weights at a checkpoint, raises ``TrainingDivergedError``
naming the iteration, the loss and the last good checkpoint (which is kept).
"""

from __future__ import annotations

import copy
import fcntl
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.training import checkpoint
from harness.training.data import (
    ImageSet,
    PatchDataset,
    TrainingError,
    make_loader,
    validation_pairs,
)
from harness.training.distributed import Dist, device_for
from harness.training.progress import Progress
from harness.training.recipes import TrainConfig


class TrainingDivergedError(TrainingError):
    """The loss (or the weights) became NaN/Inf."""


class RunLockedError(TrainingError):
    """Another process is training the same run."""


def build_model(name: str, scale: int, kwargs: dict, seed: int = 0) -> nn.Module:
    """Zoo model ``name`` initialised from ``seed`` (the global torch RNG is left untouched)."""
    from harness.models import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model(name, scale, **kwargs)


def device_text(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _psnr_y(out: torch.Tensor, hr_y: np.ndarray, kind: str, shave: int) -> float:
    from harness.metrics import rgb_to_y

    a = out.detach().float().clamp(0, 1).cpu().numpy()[0]
    y = rgb_to_y(a.transpose(1, 2, 0) * 255.0) / 255.0 if kind == "rgb" else a[0]
    d = (y - hr_y)[shave:-shave, shave:-shave] if shave else y - hr_y
    return float(10 * np.log10(1.0 / max(float(np.mean(d.astype(np.float64) ** 2)), 1e-12)))


class _Lock:
    """An exclusive, non-blocking lock on ``<run>/.lock`` (fcntl; released when the process dies)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a+")  # noqa: SIM115 — held for the run, closed in release()
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.f.close()
            raise RunLockedError(f"{path.parent}: another process is training this run; wait for it (its "
                                 "record.json appears when it finishes) or stop it") from None

    def release(self) -> None:
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def _to_cpu(v):
    """A state-dict value on the CPU: float tensors as fp32 copies, other tensors copied, extra state as is."""
    if not torch.is_tensor(v):
        return copy.deepcopy(v)
    return v.detach().to("cpu", copy=True).float() if v.is_floating_point() else v.detach().cpu().clone()


def _to_device(v, device: str):
    return v.to(device) if torch.is_tensor(v) else v


class Trainer:
    """Trains one resolved ``TrainConfig`` in ``run_dir`` (resuming from its latest checkpoint)."""

    def __init__(self, cfg: TrainConfig, train_images: ImageSet, val_images: ImageSet | None, run_dir: Path, *,
                 key: str, label: str = "", device: str = "cpu", dist: Dist | None = None,
                 deterministic: bool = True, workers: int = 0, log_every: int | None = None,
                 progress: Progress | None = None, stop_at: int | None = None):
        self.cfg, self.key, self.label = cfg, key, label or key
        self.run_dir = Path(run_dir)
        self.dist = dist or Dist()
        self.device = device_for(self.dist, device)
        self.deterministic, self.workers = deterministic, workers
        self.log_every = log_every or max(1, cfg.iterations // 1000)
        self.stop_at = cfg.iterations if stop_at is None else min(stop_at, cfg.iterations)
        if cfg.batch % self.dist.world:
            raise TrainingError(f"{self.label}: the global batch {cfg.batch} (recipe {cfg.recipe!r}, budget "
                                f"{cfg.budget!r}) is not divisible by the world size {self.dist.world}; "
                                f"launch torchrun with --nproc_per_node dividing {cfg.batch}")
        train_images.check_patch(cfg.hr_patch)
        self.data = PatchDataset(train_images, cfg)
        self.val = validation_pairs(val_images, cfg) if val_images is not None and val_images.hr else []
        self.val_names = list(val_images.names) if val_images is not None else []
        self.progress = progress
        self.model = build_model(cfg.model, cfg.scale, cfg.model_kwargs, cfg.seed).to(self.device)
        self.opt = self._optimizer()
        self.ema = ({k: v.detach().clone() if torch.is_tensor(v) else copy.deepcopy(v)
                     for k, v in self.model.state_dict().items()}
                    if cfg.ema else None)
        self.loss_fn = F.l1_loss if cfg.loss == "l1" else F.mse_loss
        self._bn_stats_frozen = False  # Frozen BN's switch is applied once (it is sticky and saved with the model)

    # --- pieces ---------------------------------------------------------------------------------------------

    def _optimizer(self) -> torch.optim.Optimizer:
        c, params = self.cfg, self.model.parameters()
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        return torch.optim.Adam(params, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay)

    def _eval_state(self) -> dict[str, torch.Tensor]:
        state = self.ema if self.ema is not None else self.model.state_dict()
        return {k: _to_cpu(v) for k, v in state.items()}

    def _update_ema(self) -> None:
        d = self.cfg.ema
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                if not torch.is_tensor(v):  # a module's extra state (e.g. Frozen BN's switch): copied as is
                    self.ema[k] = copy.deepcopy(v)
                elif v.is_floating_point():
                    self.ema[k].mul_(d).add_(v, alpha=1 - d)
                else:
                    self.ema[k].copy_(v)

    def _set_train_mode(self, it: int) -> None:
        self.model.train()
        if self.cfg.frozen_bn_from is not None and it >= self.cfg.frozen_bn_from and not self._bn_stats_frozen:
            self.model.freeze_bn_stats()  # RepSR §4.2: population statistics from here on; γ, β still train
            self._bn_stats_frozen = True
        if self.cfg.freeze_bn_at is not None and it >= self.cfg.freeze_bn_at:
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()  # running statistics frozen from freeze_bn_at on

    def validate(self) -> float | None:
        """Mean PSNR-Y (dB, shave = scale) of the evaluated weights on the held-out images, or None."""
        if not self.val:
            return None
        net = build_model(self.cfg.model, self.cfg.scale, self.cfg.model_kwargs).to(self.device) \
            if self.ema is not None else self.model
        if self.ema is not None:
            net.load_state_dict(self.ema)
        was = net.training
        net.eval()
        with torch.no_grad():
            vals = [_psnr_y(net(x.to(self.device)), hr_y, self.cfg.input_kind, self.cfg.scale) for x, hr_y, _ in self.val]
        net.train(was)
        return round(float(np.mean(vals)), 4)

    def bicubic_psnr(self) -> float | None:
        """The same validation PSNR-Y for MATLAB-bicubic upscaling (the baseline)."""
        if not self.val:
            return None
        s = self.cfg.scale
        return round(float(np.mean([_psnr_y(torch.from_numpy(bic)[None, None], hr_y, "y", s)
                                    for _, hr_y, bic in self.val])), 4)

    def _log(self, row: dict) -> None:
        if self.dist.is_main:
            with open(self.run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    def _trim_log(self, upto: int) -> None:
        """Drop log lines past the resumed checkpoint (a killed run logged iterations it then lost)."""
        path = self.run_dir / "log.jsonl"
        if not self.dist.is_main or not path.exists():
            return
        keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["iteration"] <= upto]
        checkpoint.atomic_write(path, lambda f: f.write("".join(k + "\n" for k in keep).encode()))

    def _save(self, it: int, wall: float, loss: float) -> Path | None:
        path = None
        if self.dist.is_main:
            path = checkpoint.save(self.run_dir, {
                "key": self.key, "iteration": it, "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(), "ema": self.ema, "torch_rng": torch.get_rng_state(),
                "wall_s": wall, "loss": loss,
            }, keep=self.cfg.keep_checkpoints)
        self.dist.barrier()
        return path

    # --- the loop -------------------------------------------------------------------------------------------

    def fit(self) -> tuple[nn.Module, dict]:
        """Train to ``cfg.iterations`` (or ``stop_at``); returns (model with evaluated weights, eval mode; record)."""
        lock = _Lock(self.run_dir / ".lock") if self.dist.is_main else None
        prev_det = torch.are_deterministic_algorithms_enabled()
        if self.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.cfg.seed)
                return self._fit()
        finally:
            torch.use_deterministic_algorithms(prev_det)
            if self.progress is not None:
                self.progress.close()
            if lock is not None:
                lock.release()

    def _fit(self) -> tuple[nn.Module, dict]:
        cfg = self.cfg
        start, wall0, last_loss, last_ckpt = 0, 0.0, float("nan"), None
        found = checkpoint.latest(self.run_dir, self.key)
        if found is not None:
            state, last_ckpt = found
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            if self.ema is not None and state.get("ema") is not None:
                self.ema = {k: _to_device(v, self.device) for k, v in state["ema"].items()}
            torch.set_rng_state(state["torch_rng"])
            start, wall0, last_loss = state["iteration"], state["wall_s"], state["loss"]
            self._trim_log(start)
            if self.progress:
                self.progress.message(f"resumed at iteration {start:,} from {last_ckpt}")
        elif self.dist.is_main:
            (self.run_dir / "log.jsonl").unlink(missing_ok=True)
            checkpoint.atomic_write(self.run_dir / "config.json",
                                    lambda f: f.write(json.dumps(cfg.to_dict(), indent=1).encode()))
        net = self.model
        if self.dist.active:
            net = nn.parallel.DistributedDataParallel(self.model, device_ids=[self.dist.local_rank]
                                                      if self.device.startswith("cuda") else None)
        loader = make_loader(self.data, start, self.stop_at, rank=self.dist.rank, world=self.dist.world,
                             workers=self.workers)
        t0 = time.perf_counter()
        win_loss, win_n, win_t = 0.0, 0, time.perf_counter()
        rate, lr = 0.0, cfg.lr_at(start)
        it = start
        for it, (inp, tgt) in enumerate(loader, start):
            lr = cfg.lr_at(it)
            for group in self.opt.param_groups:
                group["lr"] = lr
            self._set_train_mode(it)
            out = net(inp.to(self.device, non_blocking=True))
            tgt = tgt.to(self.device, non_blocking=True)
            if out.shape != tgt.shape:
                raise TrainingError(f"{self.label}: model output {tuple(out.shape)} ≠ target {tuple(tgt.shape)} for "
                                    f"input {tuple(inp.shape)} ({cfg.input_kind!r} input, ×{cfg.scale})")
            loss = self.loss_fn(out, tgt)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            g_loss = float(self.dist.mean(loss))  # the global-batch loss (equal shards: mean of rank means)
            if not np.isfinite(g_loss):
                self._diverged(it + 1, g_loss, lr, last_ckpt)
            self.opt.step()
            if self.ema is not None:
                self._update_ema()
            done = it + 1
            win_loss, win_n = win_loss + g_loss, win_n + 1
            val_due = bool(cfg.val_every) and done % cfg.val_every == 0 and done != cfg.iterations
            if done % self.log_every == 0 or done == self.stop_at or val_due:
                now = time.perf_counter()
                rate, last_loss = win_n / max(now - win_t, 1e-9), win_loss / win_n
                row = {"iteration": done, "loss": last_loss, "lr": lr, "it_s": round(rate, 3),
                       "elapsed_s": round(wall0 + now - t0, 3)}
                if val_due and self.dist.is_main:
                    row["val_psnr"] = self.validate()
                self._log(row)
                win_loss, win_n, win_t = 0.0, 0, time.perf_counter()
                if self.progress:
                    self.progress.update(done, last_loss, lr, rate, force=done == self.stop_at)
            if done % cfg.checkpoint_every == 0 or done == self.stop_at:
                if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
                    self._diverged(done, float("nan"), lr, last_ckpt, what="the weights")
                last_ckpt = self._save(done, wall0 + time.perf_counter() - t0, last_loss) or last_ckpt
        done = max(start, it + 1 if self.stop_at > start else start)
        wall = wall0 + time.perf_counter() - t0
        finished = done >= cfg.iterations
        record = {"key": self.key, "label": self.label, "iterations": done, "target_iterations": cfg.iterations,
                  "finished": finished, "wall_s": round(wall, 3), "final_loss": last_loss}
        if finished:
            record = self._finish(record)
        self.model.load_state_dict({k: _to_device(v, self.device) for k, v in self._eval_state().items()})
        return self.model.eval(), record

    def _diverged(self, it: int, loss: float, lr: float, last_ckpt: Path | None, what: str = "the training loss"):
        kept = (f"the last good checkpoint {last_ckpt} is kept; the same command resumes from it"
                if last_ckpt else "no checkpoint was written yet")
        raise TrainingDivergedError(
            f"{self.label}: {what} became {loss} at iteration {it:,} of {self.cfg.iterations:,} (lr {lr:g}); {kept}. "
            f"Fix: lower the learning rate (recipe {self.cfg.recipe!r}, lr {self.cfg.lr:g}, "
            f"harness/training/recipes.py) or check the training data ({self.cfg.dataset}) for broken images"
        )

    def _finish(self, record: dict) -> dict:
        import hashlib

        val_psnr = self.validate() if self.dist.is_main else None
        state = self._eval_state()
        weights = self.run_dir / "weights.pt"
        record.update({
            "final_val_psnr": val_psnr, "val_bicubic_psnr": self.bicubic_psnr(),
            "validation": {"images": self.val_names, "metric": "PSNR-Y (BT.601, dB) of centre crops ≤96 px, "
                           f"shave {self.cfg.scale}, held out of {self.cfg.dataset}"},
            "config": self.cfg.to_dict(),
            "device": device_text(self.device), "world_size": self.dist.world,
            "backend": self.dist.backend or None, "deterministic": self.deterministic,
            "torch": torch.__version__, "python": sys.version.split()[0],
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "weights": {"file": "weights.pt", "format": "fp32 state dict (torch.save), "
                        + ("EMA weights" if self.ema is not None else "final weights")},
        })
        if self.dist.is_main:
            checkpoint.atomic_write(weights, lambda f: torch.save(state, f))
            record["weights"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
            record["weights"]["bytes"] = weights.stat().st_size
            with open(self.run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps({"iteration": record["iterations"], "loss": record["final_loss"],
                                    "val_psnr": val_psnr, "final": True}) + "\n")
            checkpoint.atomic_write(self.run_dir / "record.json",
                                    lambda f: f.write(json.dumps(record, indent=1).encode()))
        self.dist.barrier()
        return record
