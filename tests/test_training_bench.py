"""Engine overhead: steps/s of the Trainer vs a bare PyTorch loop on the same model, data, batch (FSRCNN ×4,
batch 16, HR patch 48, T91), and loader samples/s vs the model's step rate.  The ratio is printed and kept in the benchmark's
``extra_info`` (goal ≥ 0.95; a benchmark, not a timed assertion: the 2 CPU cores here are shared).
pytest-benchmark records the engine run when benchmarks are enabled (``--benchmark-enable``)."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch
import torch.nn.functional as F
from conftest import require

from harness.training import api, recipes
from harness.training.data import (
    PatchDataset,
    make_loader,
    training_files,
)
from harness.training.engine import Trainer, build_model

N = 60


@pytest.fixture(scope="module")
def setup(data_dir, tmp_path_factory):
    require((data_dir / "T91" / "HR").is_dir(), "T91 not found")
    from harness.models import get_spec

    cfg = recipes.resolve(recipes.get_recipe("fsrcnn"), recipes.get_budget("smoke"), model="fsrcnn",
                          model_kwargs={}, scale=4, input_kind=get_spec("fsrcnn").input)
    cfg = dataclasses.replace(cfg, iterations=N, batch=16, hr_patch=48, checkpoint_every=10**9, val_every=0)
    files = training_files("T91", data_dir)
    train, _ = api.load_images(cfg, files, tmp_path_factory.mktemp("cache"))
    return cfg, train


def _bare(cfg, train) -> float:
    model = build_model(cfg.model, cfg.scale, cfg.model_kwargs, cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    t0 = time.perf_counter()
    for inp, tgt in make_loader(PatchDataset(train, cfg), 0, N):
        loss = F.mse_loss(model(inp), tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return N / (time.perf_counter() - t0)


def _engine(cfg, train, run_dir) -> float:
    trainer = Trainer(cfg, train, None, run_dir, key="bench", log_every=20)
    t0 = time.perf_counter()
    trainer.fit()
    return N / (time.perf_counter() - t0)


@pytest.mark.realdata
def test_engine_overhead_and_loader_rate(setup, tmp_path, benchmark):
    cfg, train = setup
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        bare, eng = [], []
        for i in range(2):  # interleaved, best of 2 each: the shared CPU's noise hits both alike
            bare.append(_bare(cfg, train))
            eng.append(_engine(cfg, train, tmp_path / f"run{i}"))
        benchmark.pedantic(_engine, args=(cfg, train, tmp_path / "bench"), rounds=1, iterations=1)
        ratio = max(eng) / max(bare)
        ds = PatchDataset(train, cfg)
        t0 = time.perf_counter()
        for _ in make_loader(ds, 0, N):
            pass
        loader = N * cfg.batch / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    model_rate = max(bare) * cfg.batch
    print(f"\nengine {max(eng):.1f} steps/s, bare loop {max(bare):.1f} steps/s, ratio {ratio:.3f}; "
          f"loader {loader:.0f} samples/s vs model {model_rate:.0f} samples/s ({loader / model_rate:.1f}×)")
    benchmark.extra_info.update({"engine_steps_per_s": round(max(eng), 2), "bare_steps_per_s": round(max(bare), 2),
                                 "ratio": round(ratio, 3), "loader_over_model": round(loader / model_rate, 1)})
    # The ratio is a measurement, not a gate: 0.94-1.00 alone, 0.84 once inside the full suite on the shared
    # cores (a timed assertion there would fail CI on noise).  What must hold is that the loader keeps up.
    assert loader >= 2 * model_rate  # data loading is not the bottleneck
