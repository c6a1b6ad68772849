"""Throughput and inference time (conventions.md §4): one timing code path for GPU and CPU.

Protocols (``Protocol``):

- ``REPSR_GPU`` — RepSR Fig. 1: batch 4, fp16, LR 320×180 → 1280×720, on an A100; metric
  ``throughput`` in images per second.
- ``STEA_GPU`` — STEA Tables I and VIII: one 1×3×64×64 input (→ 256×256 at ×4), "Infer_time on GPU";
  metric ``infer_time`` in seconds per input.  The papers state neither precision nor warm-up: fp32 and
  the warm-up/repeats below are this harness's choices, recorded with every result.

Timing: the model runs in ``torch.inference_mode`` on one fixed synthetic input (seeded uniform [0, 1];
a fixed shape is why ``cudnn.benchmark`` may be on), after ``warmup`` untimed runs; each of ``repeats``
timed runs is one forward of one batch, timed with CUDA events on a GPU and ``time.perf_counter`` on the
CPU.  Reported: median, quartiles (IQR), min/max, mean/std of the per-run times; images/s = batch /
median; seconds per image = median / batch; peak memory (``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``; on the CPU the process peak RSS, labelled as such).  Every result carries
the device and software record and the protocol (dtype mode — ``.half()`` casts everything, ``autocast``
keeps softmax/norms in fp32 —, memory format, cudnn.benchmark, shape, warm-up, repeats).

On the CPU the same code runs in fp32 (no fp16 CPU kernels worth timing), batch 1, few repeats, and for
``budget="smoke"`` a smaller input (a quarter of each side for the 720p protocol), all declared in the
result.  A CPU number is a different quantity from a GPU one: it is labelled ``device_kind = "cpu"``,
never called GPU throughput, and a paper cell that prints a GPU figure gets status ``not-run`` with the
CPU figure kept in ``extra`` (``measure_throughput``).
"""

from __future__ import annotations

import platform
import re
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from harness.measure import MeasureContext, Measurement
from harness.suite import Entry


@dataclass(frozen=True)
class Protocol:
    name: str
    source: str  # the paper's statement of the protocol
    batch: int
    lr_hw: tuple[int, int]  # (H, W) of the LR input
    dtype_mode: str = "none"  # "half": model and input .half(); "autocast": fp16 autocast; "none": fp32
    channels_last: bool = False
    cudnn_benchmark: bool = True
    warmup: int = 10
    repeats: int = 50
    note: str = ""  # how this run departs from the paper's protocol (CPU, smaller shape...)


REPSR_GPU = Protocol(
    name="repsr-fig1", source="RepSR Fig. 1: A100, batch 4, fp16, upsampling 320×180 → 1280×720",
    batch=4, lr_hw=(180, 320), dtype_mode="half", warmup=20, repeats=100,
)
STEA_GPU = Protocol(
    name="stea-infer", source="STEA Tables I/VIII: input (1,3,64,64) → (1,3,256,256), 'Infer_time on GPU'",
    batch=1, lr_hw=(64, 64), dtype_mode="none", warmup=10, repeats=50,
)
PROTOCOL_OF_METRIC = {"throughput": REPSR_GPU, "infer_time": STEA_GPU}


def cpu_protocol(p: Protocol, budget: str = "smoke") -> Protocol:
    """The CPU form of a GPU protocol: fp32, batch 1, few repeats; 'smoke' also shrinks a large input."""
    h, w = p.lr_hw
    if budget == "paper":
        return replace(p, dtype_mode="none", cudnn_benchmark=False, warmup=2, repeats=5,
                       note="CPU: fp32 (the paper's batch and shape)")
    small = budget == "smoke" and h * w > 128 * 128
    lr_hw = (h // 4, w // 4) if small else (h, w)
    note = "CPU: fp32, batch 1" + (f", input {lr_hw[1]}×{lr_hw[0]} (a quarter of each side)" if small else "")
    return replace(p, batch=1, lr_hw=lr_hw, dtype_mode="none", cudnn_benchmark=False,
                   warmup=1, repeats=3 if budget == "smoke" else 5, note=note)


# -- device and software record ----------------------------------------------------------------------------

def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def device_record(device: str) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "device_kind": "cuda" if device.startswith("cuda") else "cpu",
        "cpu": cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if rec["device_kind"] == "cuda":
        props = torch.cuda.get_device_properties(torch.device(device))
        rec.update({
            "gpu": props.name,
            "gpu_memory_bytes": props.total_memory,
            "compute_capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "driver": _nvidia_driver(),
        })
    return rec


# -- timing ------------------------------------------------------------------------------------------------

@dataclass
class Timing:
    protocol: dict[str, Any]
    device: dict[str, Any]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dtype: str
    times_s: list[float]
    median_s: float
    q25_s: float
    q75_s: float
    iqr_s: float
    min_s: float
    max_s: float
    mean_s: float
    std_s: float
    images_per_s: float
    seconds_per_image: float
    peak_memory_bytes: int | None
    peak_memory_kind: str  # "cuda max_memory_allocated" or "process peak RSS (CPU)"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        d = self.device
        if d["device_kind"] == "cuda":
            where = f"GPU {d['gpu']}"
        else:
            where = f"CPU ({d['cpu']}, {d['cpu_threads']} threads), not GPU"
        shape = "×".join(str(s) for s in self.input_shape)
        return (f"{where}: median {self.median_s * 1e3:.2f} ms per batch (IQR {self.iqr_s * 1e3:.2f} ms, "
                f"{len(self.times_s)} runs after {self.protocol['warmup']} warm-up), input {shape}, {self.dtype}"
                + (", channels_last" if self.protocol["channels_last"] else ""))


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def _peak_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if platform.system() == "Darwin" else peak * 1024


def time_model(model: nn.Module, protocol: Protocol, *, device: str = "cpu", in_channels: int = 3,
               input_upscale: int = 1, seed: int = 0) -> Timing:
    """Time ``model`` under ``protocol`` on ``device`` ("cpu" or "cuda[:i]").

    ``in_channels`` is 3 for RGB models, 1 for Y models; ``input_upscale`` > 1 feeds an input that many
    times larger per side (``y_upscaled`` models take the bicubic-upscaled HR-size image; the bicubic
    upscaling itself is not timed).
    """
    cuda = device.startswith("cuda")
    if protocol.dtype_mode not in ("none", "half", "autocast"):
        raise ValueError(f"dtype_mode must be 'none', 'half' or 'autocast', not {protocol.dtype_mode!r}")
    if not cuda and protocol.dtype_mode != "none":
        raise ValueError("CPU timing runs in fp32: use cpu_protocol(...)")
    h, w = (d * input_upscale for d in protocol.lr_hw)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((protocol.batch, in_channels, h, w), generator=gen).to(device)
    model = model.eval().to(device)
    if protocol.dtype_mode == "half":
        model, x = model.half(), x.half()
    if protocol.channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    dtype = {"none": "float32", "half": "float16 (.half())", "autocast": "float16 (autocast)"}[protocol.dtype_mode]

    def forward():
        if protocol.dtype_mode == "autocast":
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                return model(x)
        return model(x)

    old_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = protocol.cudnn_benchmark and cuda
    times: list[float] = []
    try:
        with torch.inference_mode():
            if cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(protocol.warmup):
                out = forward()
            if cuda:
                torch.cuda.synchronize(device)
            for _ in range(protocol.repeats):
                if cuda:
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    out = forward()
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end) / 1e3)
                else:
                    t0 = time.perf_counter()
                    out = forward()
                    times.append(time.perf_counter() - t0)
            out_shape = tuple(out.shape)
            peak = torch.cuda.max_memory_allocated(device) if cuda else _peak_rss_bytes()
    finally:
        torch.backends.cudnn.benchmark = old_benchmark

    median = statistics.median(times)
    q25, q75 = _quartiles(times)
    return Timing(
        protocol=asdict(protocol), device=device_record(device), input_shape=tuple(x.shape),
        output_shape=out_shape, dtype=dtype, times_s=times, median_s=median, q25_s=q25, q75_s=q75,
        iqr_s=q75 - q25, min_s=min(times), max_s=max(times), mean_s=statistics.fmean(times),
        std_s=statistics.pstdev(times), images_per_s=protocol.batch / median,
        seconds_per_image=median / protocol.batch, peak_memory_bytes=peak,
        peak_memory_kind="cuda max_memory_allocated" if cuda else "process peak RSS (CPU; whole process)",
    )


# -- the runner's kind --------------------------------------------------------------------------------------

_GPU_NAME = re.compile(
    r"\b(?:NVIDIA\s+)?(?:Tesla\s+)?(A100|H100|H200|V100|P100|T4|A6000|A40|L4|"
    r"(?:GeForce\s+)?(?:RTX|GTX)\s?\d{3,4}(?:\s?Ti)?|Titan\s?[A-Za-z]*)\b"
)


def paper_gpu(texts: list[str]) -> str:
    """The GPU a paper's timing was taken on, from the cell note / suite text, else 'an unnamed GPU'."""
    for text in texts:
        match = _GPU_NAME.search(text or "")
        if match:
            return match.group(0)
    return "an unnamed GPU"


def _is_gpu_figure(pc) -> bool:
    # Papers in this harness time on GPUs (RepSR Fig. 1, STEA Tables I/VIII); a cell says "CPU" otherwise.
    return "cpu" not in f"{pc.note} {pc.printed}".lower()


def measure_throughput(ctx: MeasureContext, entry: Entry) -> list[Measurement]:
    """``throughput`` (images/s, RepSR protocol) and ``infer_time`` (s per input, STEA protocol).

    The model is built with random weights (timing does not depend on them).  On a machine without
    CUDA (or ``ctx.device == "cpu"``) the CPU protocol runs; a paper cell that prints a GPU figure then
    gets status ``not-run`` with the CPU result in ``extra``; a figure measured on request (no paper
    value) is kept, labelled CPU.
    """
    if entry.obtain == "paper-only" or entry.model in (None, "bicubic"):
        return []
    from harness.models import create_model, get_spec

    printed = {c.metric: c for c in entry.paper if c.metric in PROTOCOL_OF_METRIC}
    metrics = set(printed) | {m for m in entry.measure if m in PROTOCOL_OF_METRIC}
    if not metrics:
        return []
    spec = get_spec(entry.model)
    scale = entry.scale if entry.scale is not None else next((c.scale for c in printed.values() if c.scale), None)
    if scale is None:
        why = "throughput needs the entry's scale"
        return [Measurement(m, None, status="error", reason=why) for m in sorted(metrics)]
    on_gpu = ctx.device.startswith("cuda") and torch.cuda.is_available()
    fallback = "" if on_gpu or not ctx.device.startswith("cuda") else " (--device cuda asked, CUDA not available)"
    in_channels = 3 if spec.input == "rgb" else 1
    upscale = scale if spec.input == "y_upscaled" else 1

    out = []
    for metric in sorted(metrics):
        gpu_protocol = PROTOCOL_OF_METRIC[metric]
        protocol = gpu_protocol if on_gpu else cpu_protocol(gpu_protocol, ctx.budget)
        ctx.progress(f"  timing {entry.model} ×{scale} ({protocol.name}, {'GPU' if on_gpu else 'CPU'})")
        model = create_model(entry.model, scale, **entry.kwargs)
        t = time_model(model, protocol, device="cuda" if on_gpu else "cpu", in_channels=in_channels,
                       input_upscale=upscale)
        value = t.images_per_s if metric == "throughput" else t.seconds_per_image
        unit = "images/s" if metric == "throughput" else "s per input"
        extra = {**t.to_dict(), "device_kind": t.device["device_kind"], "protocol_source": gpu_protocol.source}
        reason = f"{value:.4g} {unit} — {t.label()}; protocol {protocol.name}" + (
            f" ({protocol.note})" if protocol.note else "") + fallback
        pc = printed.get(metric)
        if not on_gpu and pc is not None and pc.value is not None and _is_gpu_figure(pc):
            gpu = paper_gpu([pc.note, pc.printed, ctx.suite.caption, *ctx.suite.ambiguities])
            reason = (f"paper value is GPU {'throughput' if metric == 'throughput' else 'inference time'} on "
                      f"{gpu}; this machine has no GPU{fallback}. CPU figure kept in extra: {reason}")
            out.append(Measurement(metric, None, scale=scale, status="not-run", reason=reason,
                                   extra={**extra, "cpu_value": value}))
        else:
            out.append(Measurement(metric, value, scale=scale, reason=reason, extra=extra))
    return out
