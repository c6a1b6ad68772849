"""Step timing: ``time_training_step`` (seconds per full training step) and the runner's ``training-time``
kind, ``measure_training_time`` (metric ``train_time``)."""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from harness.measure import MeasureContext, Measurement
from harness.suite import Entry
from harness.training import recipes as budgets
from harness.training.engine import build_model
from harness.training.engine import device_text as _device_text


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
        recipe = budgets.get_recipe(budgets.recipe_name(entry))
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
        # v2: the per-iteration time itself, as a cell (status measured: the paper prints no such number);
        # its repeats give the timing noise a ratio claim is judged with (harness/claims.py).
        out.append(Measurement("train_step", sec, scale=s, status="measured", reason=(
            f"seconds per training iteration on {where} (batch {batch}, HR patch {hr_patch} from {shape_from}, "
            f"synthetic data, median of {repeats} after 1 warm-up): only ratios between entries timed in one run "
            "compare"), extra={"repeat_values": times, "batch": batch, "hr_patch": hr_patch, "device": where}))
    return out
