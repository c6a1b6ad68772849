"""Benchmarks (pytest-benchmark; no timed assertions): evaluation-loop overhead and MATLAB bicubic resize.

``addopts`` has ``--benchmark-disable``, so in CI these run once as plain tests.  Measure with
``pytest tests/test_bench_overhead.py --benchmark-enable``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from torch import nn

from harness.evaluate import evaluate
from harness.images import read_image
from harness.imresize import imresize
from harness.profile import PROFILES


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
