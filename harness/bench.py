"""Evaluation overhead over a bare forward, measured one way for the benchmark test and the GPU script.

``eval_overhead`` interleaves rounds of (bare ``model(x)`` over the prepared LR inputs, ``evaluate`` with
the prepared-image cache cleared — *cold*, the first model in a process — and ``evaluate`` again — *warm*,
every later model) and returns the times, their median ratios and the warm timing buckets.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from harness import datasets as ds
from harness import prepared as prep
from harness.evaluate import EvalResult, _to_tensor, evaluate
from harness.profile import MetricProfile

__all__ = ["eval_overhead"]


def eval_overhead(model, scale: int, sets: tuple[str, ...], profile: MetricProfile, data_dir: str | Path,
                  device: str = "cpu", rounds: int = 3) -> dict:
    """{bare_s, cold_s, warm_s: per-round lists, ratio_cold, ratio_warm, warm_buckets_s, cold, warm: the
    last rounds' EvalResults (for checking that prepared images change no score)}."""
    model = model.to(device).eval()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    how = prep.Preparation(scale, "rgb", profile, ("psnr_y", "ssim_y"))
    inputs = [_to_tensor(prep.prepare(p, None, how)[0].lr, device) for n in sets for p in ds.list_images(n, data_dir)]

    def bare() -> float:
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            for x in inputs:
                model(x)
        sync()
        return time.perf_counter() - t0

    def run(cold: bool) -> tuple[float, list[EvalResult]]:
        if cold:
            prep.clear()
        t0 = time.perf_counter()
        res = [evaluate(model, "rgb", n, scale, profile, data_dir, device=device) for n in sets]
        return time.perf_counter() - t0, res

    bare()  # warm-up: first-call allocations
    out: dict = {"bare_s": [], "cold_s": [], "warm_s": []}
    for _ in range(rounds):  # interleaved: the machine's drift hits all three alike
        out["bare_s"].append(bare())
        t, out["cold"] = run(cold=True)
        out["cold_s"].append(t)
        t, out["warm"] = run(cold=False)
        out["warm_s"].append(t)
    b = statistics.median(out["bare_s"])
    out["ratio_cold"] = statistics.median(out["cold_s"]) / b
    out["ratio_warm"] = statistics.median(out["warm_s"]) / b
    out["warm_buckets_s"] = {k: round(sum(r.timing.get(k, 0.0) for r in out["warm"]), 4)
                             for k in ("io", "degradation", "forward", "metrics")}
    return out
