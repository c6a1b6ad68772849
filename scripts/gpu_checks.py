"""Prepared GPU checks (issue #10 item 7): run when a device machine is lent; < 8 minutes on one GPU.

    python scripts/gpu_checks.py [--out DIR] [--budget-s 420]

Writes ``$OUT/gpu_checks.json`` (or ``--out``): provenance (harness commit, torch, CUDA, driver, GPU) and

1. ``train_steps``: CUDA training steps/s of every zoo model at ×4 (its first scale otherwise), fp32 and
   AMP (fp16 autocast + GradScaler), batch 16, LR patch 48, synthetic data, median of timed steps after
   warm-up — the figure the README's GPU-hours estimates use;
2. ``ddp``: ``torchrun --nproc_per_node <GPUs> -m harness train carn_table1 --entries fsrcnn_x4 --budget
   smoke --device cuda`` (nccl) in a scratch runs dir, with its record;
3. ``throughput``: RepSR Fig. 1 (fp16 ``.half()``, batch 4, 320×180 → ×4) and STEA (fp32, 1×3×64×64)
   protocols of ``harness.throughput`` for every zoo model, plus the fp16 × channels_last ×
   cudnn.benchmark grid for RepSR's protocol;
4. ``eval_overhead``: ``evaluate(device="cuda")`` vs a bare synchronised forward, CARN-M ×4 (published
   weights) over Set5 + Set14, cold and warm (``harness.prepared``) — the CPU figures are in the README's
   "Speed"; on a GPU the metrics, computed on the CPU, are expected to dominate.  Needs
   ``SRBENCH_DATA_DIR`` and ``SRBENCH_WEIGHTS_DIR`` on the device machine; skipped otherwise.

Each part is time-boxed (``--budget-s`` in all); what did not fit is listed under ``skipped``.
Untested on hardware when written (no GPU was lent to the session that wrote it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch
import torch.nn.functional as F


def provenance() -> dict:
    from harness.throughput import device_record

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    return {"script": "scripts/gpu_checks.py", "commit": commit or None, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
            time.gmtime()), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "device": device_record("cuda")}


def _scale(spec) -> int:
    return 4 if 4 in spec.scales else spec.scales[0]


def train_steps(model_name: str, amp: bool, batch: int = 16, lr_patch: int = 48, steps: int = 20) -> dict:
    from harness.models import create_model, get_spec

    spec = get_spec(model_name)
    s = _scale(spec)
    model = create_model(model_name, s).cuda().train()
    c = 3 if spec.input == "rgb" else 1
    side = lr_patch * s if spec.input == "y_upscaled" or s == 1 else lr_patch
    x = torch.rand(batch, c, side, side, device="cuda")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    times, target = [], None
    for i in range(5 + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            out = model(x)
            target = torch.rand_like(out) if target is None else target
            loss = F.l1_loss(out.float(), target.float())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    return {"model": model_name, "scale": s, "amp": amp, "batch": batch, "lr_patch": lr_patch,
            "steps_per_s": 1 / med, "median_s": med, "steps": steps, "warmup": 5}


def ddp_run(budget_s: float) -> dict:
    n = max(1, torch.cuda.device_count())
    with tempfile.TemporaryDirectory() as runs:
        env = {**os.environ, "SRBENCH_RUNS_DIR": runs}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m",
               "harness", "train", "carn_table1", "--entries", "fsrcnn_x4", "--budget", "smoke", "--device", "cuda",
               "--json"]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=budget_s, check=False)
        recs = [json.loads(p.read_text()) for p in Path(runs).glob("*/record.json")]
        return {"command": " ".join(cmd[1:]), "returncode": out.returncode, "wall_s": time.perf_counter() - t0,
                "records": recs, "stderr_tail": out.stderr[-3000:]}


def throughput(model_name: str) -> list[dict]:
    from harness.models import create_model, get_spec
    from harness.throughput import REPSR_GPU, STEA_GPU, time_model

    spec = get_spec(model_name)
    s = _scale(spec)
    c = 3 if spec.input == "rgb" else 1
    up = s if spec.input == "y_upscaled" else 1
    rows = []
    grid = [REPSR_GPU] + [dataclasses.replace(REPSR_GPU, name=f"repsr-fig1[{m},cl={cl},bench={b}]", dtype_mode=m,
                                              channels_last=cl, cudnn_benchmark=b)
                          for m in ("half", "none") for cl in (False, True) for b in (True, False)
                          if (m, cl, b) != ("half", False, True)] + [STEA_GPU]
    for p in grid:
        model = create_model(model_name, s).cuda().eval()
        t = time_model(model, p, device="cuda", in_channels=c, input_upscale=up)
        rows.append({"model": model_name, "scale": s, "protocol": dataclasses.asdict(p),
                     "timing": dataclasses.asdict(t) if dataclasses.is_dataclass(t) else str(t)})
    return rows


def eval_overhead(rounds: int = 3, device: str = "cuda") -> dict:
    from harness.bench import eval_overhead as measure
    from harness.profile import PROFILES
    from harness.weights import load_pretrained

    data = os.environ.get("SRBENCH_DATA_DIR")
    if not data or not Path(data, "benchmark", "Set5").is_dir():
        return {"skipped": "SRBENCH_DATA_DIR with benchmark/Set5 and Set14 is not on this machine"}
    model, _ = load_pretrained("carn_m", 4)
    m = measure(model, 4, ("Set5", "Set14"), PROFILES["selfexsr"], data, device=device, rounds=rounds)
    return {k: v for k, v in m.items() if k not in ("cold", "warm")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_checks_out")))
    ap.add_argument("--budget-s", type=float, default=420.0)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check", file=sys.stderr)
        return 2
    from harness.models import list_models

    start = time.monotonic()
    left = lambda: args.budget_s - (time.monotonic() - start)
    doc = {"provenance": provenance(), "train_steps": [], "ddp": None, "throughput": [], "eval_overhead": None,
           "skipped": [], "errors": []}
    models = [m for m in list_models() if not m.startswith("_")]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_checks.json"

    def save():
        path.write_text(json.dumps(doc, indent=1, default=str))

    try:
        doc["ddp"] = ddp_run(min(120.0, left() * 0.3))
    except Exception:  # noqa: BLE001 — record and go on
        doc["errors"].append({"part": "ddp", "error": traceback.format_exc()[-2000:]})
    save()
    try:
        doc["eval_overhead"] = eval_overhead()
    except Exception:  # noqa: BLE001 — record and go on
        doc["errors"].append({"part": "eval_overhead", "error": traceback.format_exc()[-2000:]})
    save()
    for part, fn in (("train_steps", lambda m: [train_steps(m, False), train_steps(m, True)]),
                     ("throughput", throughput)):
        for m in models:
            if left() < 20:
                doc["skipped"].append(f"{part}:{m}")
                continue
            try:
                doc[part].extend(fn(m))
            except Exception:  # noqa: BLE001
                doc["errors"].append({"part": part, "model": m, "error": traceback.format_exc()[-1500:]})
            torch.cuda.empty_cache()
            save()
    doc["wall_s"] = time.monotonic() - start
    save()
    print(f"wrote {path} ({len(doc['train_steps'])} step timings, {len(doc['throughput'])} throughput rows, "
          f"{len(doc['errors'])} errors, {len(doc['skipped'])} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
