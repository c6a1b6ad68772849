"""``python -m harness train SUITE [--entries …] [--budget …] [--scale …]`` (also under torchrun).

Trains the suite's ``obtain = "train"`` entries (or the ``--entries`` named, any with a zoo model) at each
scale they print, one job per (entry, scale), through ``harness.dispatch.run_jobs`` (``--executor``).
``torchrun --nproc_per_node N -m harness train …`` runs the jobs inline in every rank (DDP, gloo on CPU,
nccl on CUDA; the global batch stays the recipe's).  ``--export DIR`` copies each finished run's record,
log and weights to ``DIR/<key>/`` (commit them under ``results/training/``); ``--test Set5,…`` evaluates
the trained model and adds the PSNR/SSIM (and bicubic's) to its record.json.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_parser(sub) -> None:
    s = sub.add_parser("train", help="train a suite's entries (torchrun-launchable; see README 'Training')")
    s.add_argument("suite")
    s.add_argument("--entries", type=_csv, default=None, help="entry ids (default: the obtain = train entries)")
    s.add_argument("--budget", choices=("smoke", "short", "paper"), default="smoke")
    s.add_argument("--scale", type=int, action="append", default=None, help="only these scales (repeatable)")
    s.add_argument("--device", choices=("cpu", "cuda"), default=None)
    s.add_argument("--data-dir", type=Path, default=None)
    s.add_argument("--runs-dir", type=Path, default=None, help="default $SRBENCH_RUNS_DIR, else <repo>/runs")
    s.add_argument("--executor", choices=("inline", "local", "slurm"), default="inline")
    s.add_argument("--slurm-config", type=Path, default=Path("slurm.toml"))
    s.add_argument("--export", type=Path, default=None, help="copy finished runs here (e.g. results/training)")
    s.add_argument("--test", type=_csv, default=None, help="evaluate the trained model on these test sets")
    s.add_argument("--workers", type=int, default=0, help="data-loader worker processes (0: in the loop)")
    s.add_argument("--stop-at", type=int, default=None, help="stop at this iteration (resumable; for tests)")
    s.add_argument("--log-every", type=int, default=None, help="log.jsonl line every N iterations")
    s.add_argument("--nondeterministic", action="store_true", help="allow non-deterministic kernels (faster on GPU)")
    s.add_argument("--json", action="store_true", help="print each job's info as JSON")
    s.add_argument("--estimate", action="store_true",
                   help="only estimate each job's time on --device from measured step times (trains nothing)")
    s.set_defaults(func=cmd_train)


def _jobs(args) -> list[dict]:
    from harness.models import get_spec
    from harness.suite import SUITES_DIR, load_suite
    from harness.training.api import entry_scales

    suite = load_suite(args.suite)
    # A suite file outside suites/ (an edited copy) travels as its path: the job re-loads it, and by id it would
    # load the repository's suite of the same id instead, with that suite's budgets (another run key).
    ref, where = suite.id, f"suites/{suite.id}.toml"
    if suite.path is not None and suite.path.resolve() != (SUITES_DIR / f"{suite.id}.toml").resolve():
        ref = where = str(suite.path.resolve())
    if args.entries:
        unknown = sorted(set(args.entries) - {e.id for e in suite.entries})
        if unknown:
            raise ValueError(f"{where}: no entry {unknown}; entries: "
                             f"{', '.join(e.id for e in suite.entries)}")
        chosen = [e for e in suite.entries if e.id in args.entries]
    else:
        chosen = [e for e in suite.entries if e.obtain == "train"]
    specs = []
    for e in chosen:
        if not e.model or e.model == "bicubic":
            raise ValueError(f"{where}: entry {e.id!r} has no zoo model to train")
        scales = [s for s in entry_scales(suite, e) if not args.scale or s in args.scale]
        scales = [s for s in scales if s in get_spec(e.model).scales]
        for s in scales:
            specs.append({"suite": ref, "entry": e.id, "scale": s, "budget": args.budget,
                          "device": args.device, "data_dir": str(args.data_dir) if args.data_dir else None,
                          "runs_dir": str(args.runs_dir) if args.runs_dir else None,
                          "export": str(args.export) if args.export else None, "test": args.test,
                          "stop_at": args.stop_at, "workers": args.workers, "log_every": args.log_every,
                          "deterministic": not args.nondeterministic,
                          "tty_progress": sys.stderr.isatty()})
    if not specs:
        raise ValueError(f"{where}: nothing to train (no obtain = \"train\" entry at the chosen "
                         "scales); name entries with --entries")
    return specs


def cmd_train(args) -> int:
    import torch

    from harness import dispatch
    from harness.obtain import ObtainError
    from harness.training.api import train_job
    from harness.training.recipes import get_budget

    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available() and args.executor != "slurm":
        print(f"error: --device cuda: no CUDA device is visible to torch here (torch {torch.__version__}, cuda "
              f"build: {torch.version.cuda or 'none'}); run on a GPU machine, or with --executor slurm "
              "(slurm.toml), or without --device (CPU)", file=sys.stderr)
        return 2
    if args.estimate:
        return _estimate(args)
    if get_budget(args.budget).needs_gpu and args.device != "cuda" and args.executor != "slurm":
        print(f"error: --budget paper runs the recipe's own schedule and needs a GPU; this run is on {args.device}. "
              "Fix: run with --device cuda on a GPU machine, or --executor slurm (slurm.toml), or use "
              "--budget short", file=sys.stderr)
        return 2
    specs = _jobs(args)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    cfg = None
    if args.executor == "slurm":
        try:
            cfg = dispatch.SlurmConfig.load(args.slurm_config)
        except dispatch.DispatchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        extra = [a for flag, val in (("--export", args.export), ("--test", ",".join(args.test or [])))
                 if val for a in (flag, str(val))]
        jobs = [(dispatch.train_command(cfg, s["suite"], s["entry"], s["scale"], s["budget"], extra),) for s in specs]
    else:
        jobs = [(train_job, s) for s in specs]
    try:
        results = dispatch.run_jobs(jobs, executor=args.executor, config=cfg)
    except ObtainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except dispatch.DispatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if rank0:
        for spec, info in zip(specs, results):
            if args.json or not isinstance(info, dict):
                print(json.dumps(info, default=str) if isinstance(info, dict) else info)
                continue
            state = "finished" if info["finished"] else "stopped"
            print(f"{spec['entry']} ×{spec['scale']} [{info['budget']}]: run {info['run_key']} {state} at "
                  f"{info['iterations']:,}/{info['target_iterations']:,} iterations, {info['wall_s']:.0f} s, "
                  f"loss {info['final_loss']:.4g}"
                  + (f", val PSNR-Y {info['final_val_psnr']:.2f} dB" if info.get("final_val_psnr") else "")
                  + ("" if not info.get("cached") else " (finished run reused, not retrained)")
                  + f"; record {info['record']}")
            for name, t in (info.get("test") or {}).items():
                print(f"  {name} ×{spec['scale']}: PSNR-Y {t['psnr_y']:.2f} dB (bicubic {t['bicubic_psnr_y']:.2f}, "
                      f"{t['psnr_y'] - t['bicubic_psnr_y']:+.2f} dB)")
            if info.get("export"):
                print(f"  exported to {info['export']}")
    return 0


def _estimate(args) -> int:
    """Per (entry, scale): the budget's iterations × the median measured step time on ``args.device``."""
    from harness.suite import load_suite
    from harness.training.api import cpu_estimate, estimate_seconds, resolve_entry

    suite = load_suite(args.suite)
    total = 0.0
    for spec in _jobs(args):
        entry = next(e for e in suite.entries if e.id == spec["entry"])
        try:
            _, _, cfg = resolve_entry(entry, spec["scale"], args.budget)
        except ValueError as exc:
            print(f"{entry.id} ×{spec['scale']}: cannot estimate: {exc}")
            continue
        if args.device == "cpu":
            sec, bound = cpu_estimate(cfg)
        else:
            sec, bound = estimate_seconds(cfg, args.device), False
        if bound:  # one step would take minutes to time: the counted-MACs lower bound
            total += sec
            print(f"{entry.id} ×{spec['scale']} [{args.budget}]: {cfg.iterations:,} iterations × ≥{sec / cfg.iterations:.3g} "
                  f"s/step (batch {cfg.batch}, HR patch {cfg.hr_patch}) ≥ {sec / 3600:,.1f} h on cpu (lower bound from "
                  "counted multiply-adds at the fastest training rate measured here; a step is too slow to time)")
            continue
        total += sec
        print(f"{entry.id} ×{spec['scale']} [{args.budget}]: {cfg.iterations:,} iterations × "
              f"{sec / cfg.iterations:.3g} s/step (batch {cfg.batch}, HR patch {cfg.hr_patch}) ≈ {sec / 3600:.2f} h "
              f"on {args.device}")
    print(f"{suite.id} total ≈ {total / 3600:.2f} {'GPU' if args.device == 'cuda' else 'CPU'}-hours "
          f"(one process per job; measured step times, synthetic data)")
    return 0
