"""Evaluation loop (HR → LR → SR → scores) and the ``metrics`` kind for the runner.

``evaluate`` runs one model (or MATLAB bicubic) over one dataset at one scale under a ``MetricProfile``
and returns per-image values, dataset means and a timing breakdown.  Per image:

1. io — read the HR image (and the shipped LR file when ``profile.lr == 'dataset-files'``);
2. degradation — crop HR to a multiple of the scale; LR = MATLAB bicubic of it (``profile.lr ==
   'matlab-bicubic'``, conventions.md §1 "HR preparation") or the dataset's LR file;
   steps 1–2 and the HR side of step 4 are model-independent: ``harness.prepared`` does them once per
   process and image (a later model scored on the same images finds them done; the timing buckets hold
   what each call really spent);
3. forward — by the model's input convention (harness/models/registry.py), float32 in [0, 1]:
   ``rgb``: N×3×h×w LR RGB → RGB;
   ``y``: N×1×h×w Y/255 of the LR (BT.601, float) → Y; the RGB image for RGB metrics and LPIPS takes Cb/Cr
   from the MATLAB-bicubic upscaled LR (the usual way Y-only SR results are shown in colour); a grey HR
   file is its own Y (``metrics.luma``): the model sees grey/255 and its output, replicated, is the RGB;
   ``y_upscaled``: Y/255 of the MATLAB-bicubic upscaled LR (uint8 RGB upscaled, then Y) → Y, same rebuild;
   ``bicubic``: MATLAB ``imresize(LR, s)`` on the uint8 LR, rounded to uint8 like MATLAB (no model);
   for luma models the Y metrics score the model's own Y output (``score_pair(sr_y=...)``);
4. metrics — ``harness.metrics.score_pair`` (quantisation, colour, shave, SSIM variant from the profile).

``measure_metrics`` is the kind function ``(ctx, entry) -> list[Measurement]``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness import datasets as ds
from harness import prepared as prep
from harness.degradations import gaussian8_sigmas
from harness.images import CorruptDataError, UnsupportedImageError
from harness.lpips_offline import LpipsUnavailable, get_lpips_model
from harness.measure import MeasureContext, Measurement
from harness.metrics import (
    ALL_METRICS,
    aggregate,
    rgb_to_ycbcr,
    score_pair,
    ycbcr_to_rgb,
)
from harness.prepared import ImageError, PreparedImage
from harness.profile import MetricProfile
from harness.suite import Entry
from harness.training.progress import eta_text

__all__ = ["EvalResult", "ImageError", "describe_protocol", "evaluate", "measure_metrics", "run_model"]

INPUT_KINDS = ("rgb", "y", "y_upscaled", "bicubic")
ProgressFn = Callable[[int, int, str], None]  # (images done, total, current file name)


@dataclass
class EvalResult:
    dataset: str
    scale: int
    input_kind: str
    profile: dict[str, Any]
    per_image: list[dict[str, Any]]  # {"image": name, metric: value, ...}
    means: dict[str, float]
    timing: dict[str, float]  # seconds: io, degradation, forward, metrics, total
    reason: str  # protocol description for the result cell
    # Multi-kernel protocols (Gaussian8): image → one {metric: value} per kernel, in ``kernels`` order; then
    # ``per_image`` holds each image's mean over the kernels and ``means`` the mean over images × kernels.
    per_kernel: dict[str, list[dict[str, float]]] | None = None
    kernels: list[dict[str, Any]] | None = None

    @property
    def n_images(self) -> int:
        return len(self.per_image)


def describe_protocol(profile: MetricProfile, scale: int, n_images: int, metrics: Iterable[str]) -> str:
    """E.g. "MATLAB-bicubic LR, Y BT.601 float, round, shave 4, Wang SSIM, mean of 5 images"."""
    wanted = set(metrics)
    lr = "MATLAB-bicubic LR" if profile.lr == "matlab-bicubic" else "dataset LR files"
    parts = [lr]
    if wanted & {"psnr_y", "ssim_y"}:
        parts.append(f"Y BT.601 {'rounded to uint8' if profile.y_rounding == 'round' else 'float'}")
        if profile.y_model_input == "matlab-y":
            parts.append("Y models fed the MATLAB Y pipeline (HR Y in double, bicubic down/up)")
        parts.append("grey images: BT.601 Y of replicated RGB" if profile.grey_y == "bt601"
                     else "grey images: grey value as Y")
    if wanted & {"psnr_rgb", "ssim_rgb"}:
        parts.append("RGB")
    parts += [{"round": "SR rounded", "truncate": "SR truncated", "none": "SR unquantised"}[profile.quantize],
              f"shave {profile.shave_for(scale)}"]
    if wanted & {"ssim_y", "ssim_rgb"}:
        parts.append("Wang SSIM" if profile.ssim == "wang" else "skimage-default SSIM")
    if "lpips" in wanted:
        crop = f"shave {scale}" if profile.lpips_shave == "scale" else "no shave"
        parts.append(f"LPIPS {profile.lpips_net} v{profile.lpips_version} RGB [-1,1] {crop}")
    agg = "mean" if profile.aggregation == "mean" else "pooled MSE"
    parts.append(f"{agg} of {n_images} images")
    return ", ".join(parts)


# --- model execution --------------------------------------------------------------------------------------


def run_model(model, x: torch.Tensor, tile: int | None = None, tile_overlap: int = 16) -> torch.Tensor:
    """Run ``model`` on N×C×h×w ``x`` in inference mode, whole or in overlapping tiles.

    Tiles are ``tile``×``tile`` input pixels, each extended by ``tile_overlap`` pixels of real context on
    every side (clamped at the image border); only the output of the tile's own area is kept.  For a
    fully-convolutional model whose receptive-field radius is at most ``tile_overlap`` this equals the
    untiled output up to float rounding (tests).
    """
    with torch.inference_mode():
        if tile is None or (x.shape[-2] <= tile and x.shape[-1] <= tile):
            return model(x)
        h, w = x.shape[-2:]
        out = None
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                py0, px0 = max(y0 - tile_overlap, 0), max(x0 - tile_overlap, 0)
                py1, px1 = min(y1 + tile_overlap, h), min(x1 + tile_overlap, w)
                piece = model(x[..., py0:py1, px0:px1])
                s = piece.shape[-1] // (px1 - px0)  # output pixels per input pixel
                if out is None:
                    out = piece.new_zeros(piece.shape[:-2] + (h * s, w * s))
                out[..., y0 * s:y1 * s, x0 * s:x1 * s] = piece[
                    ..., (y0 - py0) * s:(y1 - py0) * s, (x0 - px0) * s:(x1 - px0) * s
                ]
        return out


def _to_tensor(img: np.ndarray, device: str) -> torch.Tensor:
    """uint8 H×W×3 → 1×3×H×W float32 x/255 (bit-identical to float64 x/255 rounded to float32: tests);
    float H×W (Y/255) → 1×1×H×W float32."""
    if img.dtype == np.uint8:
        t = torch.from_numpy(img.transpose(2, 0, 1)[None].copy())  # a copy: prepared images are read-only
        return t.to(device).float().div_(255.0)
    a = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None].to(device)


def _from_tensor(t: torch.Tensor) -> np.ndarray:
    a = t.detach().float().clamp_(0, 1).cpu().numpy()[0].transpose(1, 2, 0)
    return a[:, :, 0] if a.shape[2] == 1 else a


def _super_resolve(model, input_kind: str, img: PreparedImage, device: str, tile: int | None,
                   tile_overlap: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(SR RGB — uint8 or float [0, 1] — , model's own Y/255 or None) for one prepared image."""
    hr_shape = img.hr.shape[:2]
    if input_kind == "bicubic":
        return img.upscaled, None
    if input_kind == "rgb":
        sr = _from_tensor(run_model(model, _to_tensor(img.lr, device), tile, tile_overlap))
        _check_shape(sr.shape[:2], hr_shape, input_kind)
        return sr, None
    y = _from_tensor(run_model(model, _to_tensor(img.y_input, device), tile, tile_overlap))
    _check_shape(y.shape[:2], hr_shape, input_kind)
    if img.grey:  # a grey image is its own luma
        return np.repeat(y[:, :, None], 3, axis=2), y
    ycc = rgb_to_ycbcr(img.upscaled)  # Cb/Cr from the bicubic upscale of the LR
    ycc[..., 0] = y * 255.0
    return np.clip(ycbcr_to_rgb(ycc) / 255.0, 0.0, 1.0), y


def _check_shape(got: tuple[int, ...], want: tuple[int, int], input_kind: str) -> None:
    if tuple(got) != tuple(want):
        raise ImageError(f"model output is {got[0]}×{got[1]} for input kind {input_kind!r}, HR is {want[0]}×{want[1]}")


# --- the loop ---------------------------------------------------------------------------------------------


def evaluate(
    model_or_bicubic,
    input_kind: str,
    dataset: str,
    scale: int,
    profile: MetricProfile,
    data_dir: str | Path,
    device: str = "cpu",
    metrics: Iterable[str] = ("psnr_y", "ssim_y"),
    tile: int | None = None,
    tile_overlap: int = 16,
    progress: ProgressFn | None = None,
    split: str | None = None,
    images: list[Path] | None = None,
    degradation: str = "bicubic",
    degradation_params: dict[str, Any] | None = None,
) -> EvalResult:
    """Evaluate ``model_or_bicubic`` (an ``nn.Module`` or the string ``"bicubic"``) on ``dataset`` ×``scale``.

    ``images`` restricts the run to given HR files (default: the dataset's verified list).  Raises
    ``MissingDataError`` / ``CorruptDataError`` for data problems and ``ImageError`` naming the file when one
    image cannot be evaluated.
    """
    wanted = tuple(sorted(set(metrics)))
    if set(wanted) - ALL_METRICS:
        raise ValueError(f"evaluate: unknown metrics {sorted(set(wanted) - ALL_METRICS)}")
    if isinstance(model_or_bicubic, str):
        if model_or_bicubic != "bicubic":
            raise ValueError(f"evaluate: a model is an nn.Module or 'bicubic', got {model_or_bicubic!r}")
        input_kind = "bicubic"
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"evaluate: input kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    model = None
    if input_kind != "bicubic":
        model = model_or_bicubic.to(device).eval()
    data_dir = Path(data_dir)
    files = images if images is not None else ds.list_images(dataset, data_dir, split)
    timing: dict[str, float] = defaultdict(float)
    per_image: list[dict[str, Any]] = []
    how = prep.Preparation(scale, input_kind, profile, wanted, degradation,
                           tuple(sorted((degradation_params or {}).items())))
    t_start = time.perf_counter()
    for i, path in enumerate(files):
        if progress:
            progress(i, len(files), path.name)
        t0 = time.perf_counter()
        lr_file = ds.lr_path(dataset, data_dir, path, scale, split) if profile.lr == "dataset-files" else None
        try:
            img, hit = prep.prepare(path, lr_file, how)
            t1 = time.perf_counter()
            sr, sr_y = _super_resolve(model, input_kind, img, device, tile, tile_overlap)
            t2 = time.perf_counter()
            values = score_pair(sr, img.hr, scale, profile, wanted, sr_y=sr_y, grey=img.grey,
                                reference=img.reference)
        except (CorruptDataError, UnsupportedImageError):
            raise  # their messages name the file
        except (ImageError, ValueError) as exc:
            raise ImageError(f"{path}: {exc}") from exc
        t3 = time.perf_counter()
        spent = {"io": t1 - t0} if hit else img.seconds  # a miss: what preparing cost, bucket by bucket
        for k, v in spent.items():
            timing[k] += v
        timing["forward"] += t2 - t1
        timing["metrics"] += t3 - t2
        per_image.append({"image": path.name, **values})
    if progress:
        progress(len(files), len(files), "")
    timing["total"] = time.perf_counter() - t_start
    if not per_image:
        raise ds.MissingDataError(f"{dataset}: no images to evaluate")
    means = {m: aggregate(per_image, m, profile) for m in wanted}
    return EvalResult(
        dataset=dataset, scale=scale, input_kind=input_kind, profile=profile.record(), per_image=per_image,
        means=means, timing={k: round(v, 4) for k, v in timing.items()},
        reason=describe_protocol(profile, scale, len(per_image), wanted),
    )


# --- the runner's kind ------------------------------------------------------------------------------------

def _targets(ctx: MeasureContext, entry: Entry) -> dict[tuple[str, int], set[str]]:
    """(dataset, scale) → metrics (``Entry.image_targets``), restricted by ``--datasets``."""
    return {k: v for k, v in entry.image_targets(set(ALL_METRICS)).items() if ctx.wants_dataset(k[0])}


def _statused(metrics: Iterable[str], dataset: str, scale: int, status: str, reason: str) -> list[Measurement]:
    return [Measurement(m, None, dataset, scale, reason=reason, status=status) for m in sorted(metrics)]


def measure_metrics(ctx: MeasureContext, entry: Entry) -> list[Measurement]:
    """Kind ``metrics``: PSNR/SSIM/LPIPS of an entry on every (dataset, scale) it needs; never raises."""
    from harness.obtain import (  # imported late: the runner's module, not ours
        ObtainError,
        obtain_model,
    )

    out: list[Measurement] = []
    by_scale: dict[int, list[tuple[str, set[str]]]] = defaultdict(list)
    for (name, scale), wanted in sorted(_targets(ctx, entry).items()):
        by_scale[scale].append((name, wanted))
    for scale, jobs in sorted(by_scale.items()):
        ready = []
        for name, wanted in jobs:  # a test set that is not here needs no model: never train or load for it
            unavailable = _data_unavailable(ctx, name, scale, wanted)
            if unavailable is None:
                ready.append((name, wanted))
            else:
                out += unavailable
        if not ready:
            continue
        try:
            obtained = obtain_model(ctx, entry, scale)
        except ObtainError as exc:
            for name, wanted in ready:
                out += _statused(wanted, name, scale, exc.status, str(exc))
            continue
        for name, wanted in ready:
            out += _measure_one(ctx, entry, obtained, name, scale, wanted)
    return out


CPU_GMACS_PER_S = 30.0  # environment.md: this machine class runs ≈30 G multiply-adds per second


def estimate_eval_gmacs(ctx: MeasureContext, entry: Entry, obtained, scale: int, files: list[Path]) -> float:
    """Multiply-adds of evaluating ``obtained.model`` on ``files``: MACs per output pixel × HR pixels.

    MACs per output pixel come from the complexity counter at 1280×720 (conv nets scale with pixels).
    """
    from PIL import Image

    from harness.complexity import _count_cached

    # the complexity kind's own per-run cache: a run measuring both kinds counts each model once
    # a trained model is counted at the size it was trained at (a budget may declare a reduced one)
    kwargs = (obtained.provenance.get("config") or {}).get("model_kwargs", entry.kwargs)
    gmacs_720p = _count_cached(ctx, entry.model, scale, kwargs, obtained.input).gmacs
    pixels = 0
    for f in files:
        with Image.open(f) as im:  # reads the header only
            pixels += (im.width // scale * scale) * (im.height // scale * scale)
    return gmacs_720p / (1280 * 720) * pixels * len(_degradation_runs(entry, scale))


SMOKE_TEST_SET = "Set5"  # the one test set a smoke-trained model is scored on
SMOKE_SKIP_PREFIX = "not run under the 'smoke' budget: a smoke-trained model"


def smoke_skip_reason(suite_id: str, entry_id: str) -> str:
    """Why a smoke-trained model is not scored on a set, and the commands that would score it (advice that
    works: the short run is refused on a CPU over its cap, and says so)."""
    from harness.training.recipes import get_budget

    cap = get_budget("short").cpu_hours_cap
    return (f"{SMOKE_SKIP_PREFIX} (a few iterations: it proves the path, its values mean nothing) is evaluated "
            f"on {SMOKE_TEST_SET} only. For the equal-budget comparison on every set, `python -m harness train "
            f"{suite_id} --entries {entry_id} --budget short --estimate` says how long it takes here; then `python -m "
            f"harness reproduce {suite_id} --entries {entry_id} --budget short` (refused on a CPU over the short "
            f"budget's {cap:g} h cap: run it on a GPU with --device cuda)")


def _over_budget(ctx: MeasureContext, entry: Entry, obtained, name: str, scale: int, files) -> str:
    """A reason when this evaluation exceeds the run budget's CPU cap, else ''."""
    from harness.training.recipes import get_budget

    if entry.obtain == "train" and ctx.budget == "smoke" and name != SMOKE_TEST_SET:
        return smoke_skip_reason(ctx.suite.id, entry.id)
    cap = get_budget(ctx.budget).eval_gmacs_cap
    if cap is None or ctx.device != "cpu" or isinstance(obtained.model, str):
        return ""
    try:
        gmacs = estimate_eval_gmacs(ctx, entry, obtained, scale, files)
    except Exception:  # noqa: BLE001 — a model that cannot be counted is evaluated (and fails) as usual
        return ""
    if gmacs <= cap:
        return ""
    minutes = gmacs / CPU_GMACS_PER_S / 60
    head = (f"not run under the {ctx.budget!r} budget: {name} ×{scale} through {entry.model} is ≈{gmacs:,.0f} G "
            f"multiply-adds (≈{minutes:.0f} CPU-min; cap {cap:,.0f} G). ")
    if entry.obtain == "train":  # a larger budget also means a longer training run: GPU work
        return head + (f"A larger budget trains it longer too: on a GPU, `python -m harness reproduce {ctx.suite.id} "
                       f"--entries {entry.id} --budget short --device cuda`")
    return head + (f"Run `python -m harness reproduce {ctx.suite.id} --entries {entry.id} --budget paper` (or on a GPU "
                   "with --device cuda)")


def _degradation_runs(entry: Entry, scale: int) -> list[tuple[str, dict[str, Any]]]:
    """(degradation, params) pairs whose results are averaged into one cell.

    ``gaussian8`` is the STEA paper's test protocol (§III-B): 8 isotropic Gaussian kernels per scale,
    each applied to every image; a printed value is read as the mean over the 8 kernels.
    """
    if entry.degradation == "gaussian8":
        return [("gaussian8", {**entry.degradation_params, "sigma": s}) for s in gaussian8_sigmas(scale)]
    return [(entry.degradation, dict(entry.degradation_params))]


def _evaluate_degradations(ctx, entry, obtained, name, scale, wanted, progress, files) -> EvalResult:
    runs = [
        evaluate(obtained.model, obtained.input, name, scale, ctx.profile, ctx.data_dir, device=ctx.device,
                 metrics=wanted, progress=progress, images=files, degradation=deg, degradation_params=params)
        for deg, params in _degradation_runs(entry, scale)
    ]
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    metrics = list(first.means)
    first.per_kernel = {r["image"]: [] for r in first.per_image}
    for run in runs:  # every run scores the same images in the same order
        for r in run.per_image:
            first.per_kernel[r["image"]].append({m: r[m] for m in metrics})
    first.kernels = [params for _, params in _degradation_runs(entry, scale)]
    first.per_image = [{"image": img, **{m: float(np.mean([k[m] for k in ks])) for m in metrics}}
                       for img, ks in first.per_kernel.items()]
    first.means = {m: sum(r.means[m] for r in runs) / len(runs) for m in first.means}
    first.timing = {k: round(sum(r.timing.get(k, 0.0) for r in runs), 4) for k in first.timing}
    first.reason += f"; {entry.degradation} LR: mean over {len(runs)} kernels"
    return first


def _per_kernel_extra(res: EvalResult, metric: str) -> dict[str, Any]:
    """For multi-kernel cells: every image × kernel score (``per_image_kernel``: image → [score per kernel],
    kernels in ``kernel_sigmas`` order); their mean is the cell value and ``per_image`` is the mean per image."""
    if not res.per_kernel:
        return {}
    return {
        "per_image_kernel": {img: [k[metric] for k in ks] for img, ks in res.per_kernel.items()},
        "kernel_sigmas": [k.get("sigma") for k in res.kernels or []],
        "per_image_is": "mean over kernels",
    }


def _data_unavailable(ctx: MeasureContext, name: str, scale: int, wanted: set[str]) -> list[Measurement] | None:
    """The cells of a test set that cannot be scored here (no data directory, a set without ground truth, missing
    or corrupt images), else None — checked before any model is obtained."""
    if ctx.data_dir is None:
        return _statused(wanted, name, scale, "missing-data", "no data directory (--data-dir or $SRBENCH_DATA_DIR)")
    try:
        dataset = ds.get_dataset(name)
        if dataset.access == "no-ground-truth":
            return _statused(wanted, name, scale, "not-run", f"{name} has no ground truth: {dataset.how}")
        ds.list_images(name, ctx.data_dir)
    except ds.MissingDataError as exc:
        return _statused(wanted, name, scale, "missing-data", str(exc))
    except (ds.DatasetError, CorruptDataError) as exc:
        return _statused(wanted, name, scale, "error", str(exc))
    return None


def _measure_one(
    ctx: MeasureContext, entry: Entry, obtained, name: str, scale: int, wanted: set[str]
) -> list[Measurement]:
    out: list[Measurement] = []
    wanted = set(wanted)
    files = ds.list_images(name, ctx.data_dir, check=False)  # checked (_data_unavailable) before obtaining the model
    ctx.provenance.setdefault("data", {})[name] = ds.fingerprint(name, ctx.data_dir)
    if "lpips" in wanted:
        try:
            get_lpips_model(ctx.profile.lpips_net, ctx.profile.lpips_version)
        except LpipsUnavailable as exc:
            out += _statused({"lpips"}, name, scale, "not-run", f"lpips unavailable: {exc}")
            wanted.discard("lpips")
    if not wanted:
        return out

    skipped = _over_budget(ctx, entry, obtained, name, scale, files)
    if skipped:
        return out + [Measurement(m, None, name, scale, reason=skipped, status="not-run",
                                  extra={"budget_skip": True}) for m in sorted(wanted)]

    passes = len(_degradation_runs(entry, scale))  # Gaussian8: every image once per kernel
    state = {"t0": 0.0, "pass": -1}

    def progress(done: int, total: int, current: str) -> None:
        if done == 0 and current:
            state["pass"] += 1
            state["t0"] = state["t0"] or time.perf_counter()
        if current and (done % 10 == 0 or done == total - 1):
            finished = state["pass"] * total + done
            elapsed = time.perf_counter() - state["t0"]
            eta = f", ETA {eta_text(elapsed / finished * (passes * total - finished))}" if finished else ""
            kernel = f" kernel {state['pass'] + 1}/{passes}" if passes > 1 else ""
            ctx.progress(f"{entry.id} ×{scale} {name}{kernel}: image {done + 1}/{total} ({current}){eta}")

    try:
        res, reused = _evaluate_or_reuse(ctx, entry, obtained, name, scale, wanted, progress, files)
    except ds.MissingDataError as exc:
        return out + _statused(wanted, name, scale, "missing-data", str(exc))
    except Exception as exc:  # noqa: BLE001 — one dataset failing must not stop the suite
        return out + _statused(wanted, name, scale, "error", f"{type(exc).__name__}: {exc}")
    reason = res.reason + (f"; {obtained.reason}" if getattr(obtained, "reason", "") else "")
    if reused:
        reason += (f"; evaluation re-used from {reused.get('suite')}/{reused.get('entry')} (run {reused.get('run')}): "
                   "the same model, test set and protocol")
    for m in sorted(wanted):
        out.append(Measurement(
            m, res.means[m], name, scale, reason=reason,
            extra={
                "timing": res.timing,
                "per_image": {r["image"]: r[m] for r in res.per_image},
                "n_images": res.n_images,
                **_per_kernel_extra(res, m),
                "profile_hash": res.profile["hash"],
                **({"reused": reused} if reused else {}),
            },
        ))
    return out


def _evaluate_or_reuse(ctx, entry, obtained, name, scale, wanted, progress, files) -> tuple[EvalResult, dict]:
    """The evaluation, or the identical one another suite's entry already made (``harness.evalcache``):
    (result, where it was first measured — {} when measured now)."""
    from dataclasses import asdict

    from harness import evalcache
    from harness.kinds import get_kind

    identity = evalcache.model_identity(obtained) if ctx.eval_reuse and evalcache.enabled() else None
    key = None
    if identity is not None:
        key = evalcache.key_for(
            identity, dataset=name, data=ctx.provenance["data"][name], scale=scale,
            profile=ctx.profile.record(), degradation=_degradation_runs(entry, scale), input=obtained.input,
            device=ctx.device, metrics=sorted(wanted), kind_version=get_kind("metrics").version)
        hit = evalcache.load(key)
        if hit is not None:
            ctx.progress(f"{entry.id} ×{scale} {name}: re-used the evaluation of {hit['origin'].get('suite')}/"
                         f"{hit['origin'].get('entry')} (run {hit['origin'].get('run')}; same model, data and protocol)")
            return EvalResult(**hit["result"]), hit["origin"]
    res = _evaluate_degradations(ctx, entry, obtained, name, scale, wanted, progress, files)
    if key is not None:
        evalcache.store(key, asdict(res), {"run": ctx.run_id, "suite": ctx.suite.id, "entry": entry.id})
    return res, {}
