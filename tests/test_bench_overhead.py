"""Benchmarks (pytest-benchmark; no timed assertions): evaluation overhead over a bare forward, the loop's
own cost, and MATLAB bicubic resize.

``addopts`` has ``--benchmark-disable``, so in CI these run once as plain tests (one round each).  Measure
with ``pytest tests/test_bench_overhead.py --benchmark-enable -s`` (the ratios are printed and kept in the
benchmark's ``extra_info``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.bench import eval_overhead
from harness.evaluate import evaluate
from harness.images import read_image
from harness.imresize import imresize
from harness.profile import PROFILES
from harness.weights import load_pretrained

OVERHEAD_SETS = ("Set5", "Set14")  # issue #15's measure: CARN-M ×4 over Set5 + Set14


class Nearest(nn.Module):
    """Trivial model: nearest-neighbour upsampling, so the timing is the loop's own overhead."""

    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")


@pytest.mark.realdata
def test_bench_eval_loop_overhead_per_image(benchmark, data_dir):
    """(a) One Set5 ×2 evaluation (psnr_y, ssim_y) with a trivial RGB model; per image = time / 5."""
    res = benchmark(evaluate, Nearest(), "rgb", "Set5", 2, PROFILES["basicsr"], data_dir)
    assert res.n_images == 5
    benchmark.extra_info["images"] = res.n_images
    benchmark.extra_info["timing_last_run_s"] = res.timing


@pytest.fixture(scope="module")
def div2k_sized(data_dir) -> np.ndarray:
    """A 1356×2040 RGB image (DIV2K size) made by tiling a real HR image (Set5 baby, 512×512)."""
    tile = read_image(data_dir / "benchmark" / "Set5" / "HR" / "baby.png")
    return np.tile(tile, (3, 4, 1))[:1356, :2040]


@pytest.mark.realdata
@pytest.mark.parametrize("scale", [1 / 2, 1 / 4, 2], ids=["down_x2", "down_x4", "up_x2"])
def test_bench_matlab_bicubic_2040x1356(benchmark, div2k_sized, scale):
    """(b) harness.imresize on uint8 RGB, 1356×2040 (weight matrices cached after the first call)."""
    out = benchmark(imresize, div2k_sized, scale)
    assert out.shape[:2] == (round(1356 * scale), round(2040 * scale))


@pytest.mark.realdata
def test_bench_eval_overhead_vs_bare_forward(benchmark, data_dir, weights_dir):
    """``evaluate`` (io, degradation, forward, PSNR/SSIM on Y under CARN's 'selfexsr' profile) vs a bare
    ``model(x)`` over the same LR tensors: CARN-M ×4, published weights, Set5 + Set14, interleaved rounds,
    ratio of medians (``harness.bench``).  *cold*: the first evaluation in a process (every image decoded and
    degraded); *warm*: a later model on the same images (``harness.prepared`` has them).  Goal ≤ 1.03
    (issue #15)."""
    model, _ = load_pretrained("carn_m", 4, weights_dir)
    profile = PROFILES["selfexsr"]
    rounds = 1 if benchmark.disabled else 5
    m = eval_overhead(model, 4, OVERHEAD_SETS, profile, data_dir, rounds=rounds)
    assert [r.per_image for r in m["warm"]] == [r.per_image for r in m["cold"]]  # prepared images change no score
    b = statistics.median(m["bare_s"])
    benchmark.extra_info.update({"bare_forward_s": round(b, 4), "ratio_cold": round(m["ratio_cold"], 4),
                                 "ratio_warm": round(m["ratio_warm"], 4), "warm_buckets_s": m["warm_buckets_s"],
                                 "rounds": rounds, "torch_threads": torch.get_num_threads()})
    benchmark.pedantic(lambda: [evaluate(model, "rgb", n, 4, profile, data_dir) for n in OVERHEAD_SETS],
                       rounds=1, iterations=1)
    print(f"\nCARN-M ×4 {'+'.join(OVERHEAD_SETS)}: bare forward {b:.3f} s; evaluate / bare = "
          f"{m['ratio_cold']:.3f} cold, {m['ratio_warm']:.3f} warm (median of {rounds}); "
          f"warm buckets {m['warm_buckets_s']}")


@pytest.mark.realdata
def test_bench_rerun_with_nothing_changed(benchmark, data_dir, weights_dir, tmp_path):
    """A re-run of a committed suite (CARN Table 1, from a copy of its run records) with nothing changed: it
    measures nothing and leaves every file byte-identical.  Ratio: its time over the wall time the records
    say the jobs behind its current cells took to measure."""
    import shutil

    from harness.records import load_records
    from harness.runner import RunOptions, run_suite
    from harness.suite import load_suite

    repo = Path(__file__).resolve().parent.parent
    suite = load_suite(repo / "suites" / "carn_table1.toml")
    results = tmp_path / "results"
    shutil.copytree(repo / "results" / "records" / suite.id, results / "records" / suite.id)
    shutil.copy(repo / "results" / f"{suite.id}.json", results / f"{suite.id}.json")
    opts = RunOptions(results_dir=results, data_dir=data_dir, weights_dir=weights_dir, progress=False)

    def listing() -> list[Path]:
        return sorted(p for p in results.rglob("*") if p.is_file() and not p.name.endswith(".lock"))

    files = listing()
    before = {p: p.read_bytes() for p in files}

    def rerun():
        return run_suite(suite, opts, report=lambda m: None)

    t0 = time.perf_counter()
    out = rerun()
    t_rerun = time.perf_counter() - t0
    assert not out.ran and not out.changed and not out.errors and out.skipped
    assert listing() == files and all(p.read_bytes() == before[p] for p in files)
    measured_s = sum(rec["wall_s"].get(run, 0.0) for rec in load_records(results, suite.id)
                     for run in {c["run"] for c in rec["cells"]})
    benchmark.extra_info.update({"rerun_s": round(t_rerun, 3), "jobs_skipped": len(out.skipped),
                                 "measuring_wall_s": round(measured_s, 1), "ratio": round(t_rerun / measured_s, 5)})
    benchmark.pedantic(rerun, rounds=1, iterations=1)
    print(f"\nre-run of {suite.id} with nothing changed: {t_rerun:.2f} s, {len(out.skipped)} jobs up to date, "
          f"files identical; measuring them took {measured_s:,.0f} s (records); ratio {t_rerun / measured_s:.2e}")
