"""The ``reparam`` kind: is a network's merged deploy form the same function as its training form?

For an entry whose model has re-parameterisable blocks (``deploy()``, ``harness.models.blocks``), the
measurement is the max |f_train(x) − f_deploy(x)| over random inputs, both in eval mode, in fp32:

1. the model is built from a fixed seed; every BatchNorm's affine γ, β are drawn at random (γ ∈ [0.5, 1.5],
   β ∈ [−0.1, 0.1]; fresh BN layers have γ = 1, β = 0, which would hide a merge that drops them);
2. a few train-mode forwards on random data move the BN running statistics away from (0, 1) — the merge
   uses population statistics, as RepSR's inference does (§3.3, Algorithm 1 step 1);
3. the deploy form is made with ``harness.models.blocks.deploy_form`` (the same call complexity,
   throughput and evaluation use) and both forms see random inputs of odd sizes (13×11, 17×9, 7×21), so
   every border pixel, where padding makes or breaks a merge (RepSR §3.3 "padding issue"), is compared.

Goal (issue #11): < 1e-5 — fp32 round-off of summing the branches in another order; a wrong merge (a
dropped bias, a BN in train mode, a border) gives errors of order 1e-2 and more.  The cell also records
the training-form and deploy-form convolution counts, the output scale (max |f_train|), the error relative
to it, and the same comparison in float64 (~1e-12 for a correct merge: what is left in fp32 is round-off,
which grows with depth and output magnitude — e.g. 1.4e-5 on an output of magnitude 7 for Table 5's
variant 4 at M16C64, relative 2e-6).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.measure import MeasureContext, Measurement
from harness.suite import Entry

SIZES = ((13, 11), (17, 9), (7, 21))  # odd LR sizes: every border case of a 3×3 / 5×5 merge
GOAL = 1e-5
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _has_deploy(model: nn.Module) -> bool:
    """A sub-module with ``deploy()`` (a net's own ``deploy()`` alone, e.g. a plain MxCy net, merges nothing)."""
    return any(callable(getattr(m, "deploy", None)) for m in model.modules() if m is not model)


def _channels(input_kind: str) -> int:
    return 3 if input_kind == "rgb" else 1


@torch.no_grad()
def reparam_error(model: nn.Module, in_channels: int, *, seed: int = 0, warmup: int = 3,
                  sizes=SIZES, batch: int = 2) -> dict:
    """Max |training form − deploy form| (eval mode, fp32) after BN statistics have moved; see module doc."""
    from harness.models.blocks import deploy_form

    gen = torch.Generator().manual_seed(seed)
    model = model.float()
    for m in model.modules():
        if isinstance(m, _NORMS) and m.affine:
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
            m.bias.copy_(0.2 * torch.rand(m.bias.shape, generator=gen) - 0.1)
    model.train()
    for _ in range(warmup):  # BN running statistics move (momentum 0.1 per forward)
        model(torch.rand(4, in_channels, 16, 16, generator=gen))
    model.eval()
    deployed = deploy_form(model).eval()
    worst, scale, per_size = 0.0, 0.0, {}
    for h, w in sizes:
        x = torch.rand(batch, in_channels, h, w, generator=gen)
        ref, out = model(x), deployed(x)
        if ref.shape != out.shape:
            raise ValueError(f"deploy form output {tuple(out.shape)} ≠ training form {tuple(ref.shape)}")
        err = (ref - out).abs().max().item()
        per_size[f"{h}x{w}"] = err
        worst, scale = max(worst, err), max(scale, ref.abs().max().item())
    # the same comparison in float64 (merge re-done in float64): a correct merge drops to ~1e-12, a wrong one
    # does not — this separates fp32 round-off (which grows with depth and output scale) from a merge error
    model64 = model.double()
    deployed64 = deploy_form(model64).eval()
    fp64 = max((model64(x) - deployed64(x)).abs().max().item()
               for x in (torch.rand(batch, in_channels, h, w, generator=gen, dtype=torch.float64) for h, w in sizes))
    model.float()
    convs = [sum(isinstance(m, nn.Conv2d) for m in net.modules()) for net in (model, deployed)]
    return {"max_abs_diff": worst, "per_size": per_size, "output_max_abs": scale,
            "relative_to_output": worst / scale if scale else None, "max_abs_diff_fp64": fp64,
            "train_form_convs": convs[0], "deploy_form_convs": convs[1], "warmup_forwards": warmup,
            "seed": seed, "dtype": "float32"}


def measure_reparam(ctx: MeasureContext, entry: Entry) -> list[Measurement]:
    """``reparam_err`` of the entry's model at its scale (random init, see module doc)."""
    if entry.obtain == "paper-only" or entry.model in (None, "bicubic"):
        return []
    from harness.models import create_model, get_spec

    spec = get_spec(entry.model)
    scale = entry.scale if entry.scale in spec.scales else spec.scales[0]
    torch.manual_seed(0)
    model = create_model(entry.model, scale, **entry.kwargs)
    if not _has_deploy(model):
        return [Measurement("reparam_err", None, scale=entry.scale, status="not-run",
                            reason=f"{entry.model} has no re-parameterisable block (no deploy()): nothing to merge")]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = reparam_error(model, _channels(spec.input))
    except Exception as exc:  # noqa: BLE001 — a broken merge is a cell, not a crash
        return [Measurement("reparam_err", None, scale=entry.scale, status="error",
                            reason=f"deploy form of {entry.model} failed: {type(exc).__name__}: {exc}")]
    finally:
        torch.set_num_threads(threads)
    verdict = "below" if r["max_abs_diff"] < GOAL else "ABOVE"
    reason = (f"max |training form − deploy form| = {r['max_abs_diff']:.2e} ({verdict} the {GOAL:g} goal), fp32, "
              f"eval mode after {r['warmup_forwards']} train-mode forwards moved the BN statistics and with random "
              f"BN affines; inputs {', '.join(r['per_size'])} (odd sizes, borders included); output scale "
              f"{r['output_max_abs']:.3g} (relative {r['relative_to_output']:.1e}); the same check in float64 "
              f"{r['max_abs_diff_fp64']:.1e} (round-off, not a merge error, when far below the fp32 value); "
              f"{r['train_form_convs']} convs merged into {r['deploy_form_convs']}")
    return [Measurement("reparam_err", r["max_abs_diff"], scale=entry.scale, reason=reason, extra=r,
                        evidence="exactness")]
