"""The catalog of metrics: one source for every metric's name, unit, kind, tolerance bands and evidence.

Every other module (suite validation, runner, results, report, drift) asks this catalog instead of keeping
its own list.  A suite may declare further metrics under ``[metrics]`` (``"kind: description"``); those get
the catalog's fallback entry for that kind.

Tolerance bands (README, "Verdicts"): ``match`` is printed rounding (half a printed unit) plus the pipeline's
measured noise floor; ``close`` adds the convention uncertainty of the field (how far one documented
evaluation-convention knob moves a number).  The figures and their derivation live in ``BANDS`` below.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Evidence classes of a cell (README, "Evidence classes"); summaries count each separately.
EVIDENCE_CLASSES = (
    "consistency",        # recomputed from the paper's own printed numbers (UAE forms of printed k, n, l, f)
    "complexity",         # params / FLOPs / #Conv / UAE variables counted on an implemented architecture
    "published-weights",  # image metrics of a network loaded from its authors' (or a third party's) weights
    "baseline",           # image metrics of a non-learned method (bicubic)
    "trained",            # image metrics of a network trained here; the class is written trained:<budget>
    "timing",             # wall-clock measurements (throughput, inference / training time)
    "exactness",          # numerical identity checks (re-parameterisation: training form vs deploy form)
)


@dataclass(frozen=True)
class Band:
    """A tolerance band: absolute, or relative (fraction of |paper|) when ``relative``; "printed" = half unit."""

    match: float | str
    close: float | str | None = None  # None: no close band (exact quantities: counts, UAE variables)
    derivation: str = ""


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # the measurement kind that produces it (harness.kinds)
    unit: str  # "dB", "", "count", "G", "s", "img/s", ...
    band: Band
    evidence: str  # the cell's evidence class, before the entry refines it (image metrics: by obtain)
    decimals: int | None = None  # how the papers usually print it (report formatting)
    description: str = ""
    # CI drift gate (harness.drift): how far a re-measurement may move from its committed baseline,
    # (bound, relative?); None: not drift-checked (timings measure the machine, not the code).
    drift: tuple[float, bool] | None = (1e-6, True)
    label: str = ""  # column header in reports ("PSNR (Y)")
    shown: int | None = None  # decimals of a measured value in reports (one more than printed, where useful)


# Noise floor of the pipeline: the golden bicubic rows (24 cells, four sets × three scales) reproduce the
# community's published values within max |Δ| 0.013 dB PSNR and 0.0007 SSIM (results/bicubic_baseline.json).
PSNR_NOISE, SSIM_NOISE = 0.013, 0.0007
# Printed rounding: PSNR is printed with 2 decimals (±0.005), SSIM with 4 (±0.00005).
PSNR_HALF_UNIT, SSIM_HALF_UNIT = 0.005, 0.00005
# Convention uncertainty: the largest effect of one evaluation-convention knob measured on published weights
# in this project (Set14 grey `bridge` as Y of replicated RGB: +0.09 dB; SRCNN/VDSR MATLAB-Y input pipeline
# up to +0.23 dB on Set5 ×4) — so 0.10 dB beyond the match band is "within convention uncertainty".  SSIM's
# close band is scaled by the same SSIM/PSNR ratio as the noise floor (0.0007 / 0.013 ≈ 0.054 per dB).
PSNR_CONVENTION = 0.10
SSIM_PER_DB = SSIM_NOISE / PSNR_NOISE

PSNR_MATCH = round(PSNR_HALF_UNIT + PSNR_NOISE, 4)  # 0.018 dB
PSNR_CLOSE = round(PSNR_MATCH + PSNR_CONVENTION, 4)  # 0.118 dB
SSIM_MATCH = round(SSIM_HALF_UNIT + SSIM_NOISE, 5)  # 0.00075
SSIM_CLOSE = round(SSIM_MATCH + PSNR_CONVENTION * SSIM_PER_DB, 4)  # 0.0061

_PSNR = Band(PSNR_MATCH, PSNR_CLOSE, f"match: ±{PSNR_HALF_UNIT} printed rounding + {PSNR_NOISE} dB bicubic noise "
             f"floor; close: + {PSNR_CONVENTION} dB convention uncertainty")
_SSIM = Band(SSIM_MATCH, SSIM_CLOSE, f"match: ±{SSIM_HALF_UNIT} printed rounding + {SSIM_NOISE} bicubic noise "
             f"floor; close: + {PSNR_CONVENTION} dB × {SSIM_PER_DB:.4f}/dB (the noise floor's SSIM/PSNR ratio)")
# LPIPS: the calibration pairs reproduce the official values to 4 decimals; papers print 3 or 4 decimals.
_LPIPS = Band("printed", 0.01, "match: half a printed unit (calibration agrees to 4 decimals); close: 0.01")
# Counts are exact under a declared convention; 0.5 % absorbs the papers' K/M rounding of printed counts.
_COUNT = Band("printed", "1%", "match: half a printed unit (412K → ±500); close: within 1 %")
_GOPS = Band("printed", "3%", "match: half a printed unit; close: within 3 % (counting conventions differ by "
             "a few per cent: bias adds, activation ops)")
_EXACT = Band(0, None, "an integer the architecture fixes: exact")
_TIME = Band("10%", "25%", "timing on other hardware: never compared across devices; 10 % / 25 % on the same kind")
_UAE_FORM = Band("printed", None, "half a printed unit of the printed UAE value")

_METRICS = [
    Metric("psnr_y", "metrics", "dB", _PSNR, "image", 2, "PSNR on the Y channel (BT.601)"),
    Metric("ssim_y", "metrics", "", _SSIM, "image", 4, "SSIM on the Y channel"),
    Metric("psnr_rgb", "metrics", "dB", _PSNR, "image", 2, "PSNR on RGB"),
    Metric("ssim_rgb", "metrics", "", _SSIM, "image", 4, "SSIM on RGB"),
    Metric("lpips", "metrics", "", _LPIPS, "image", 4, "LPIPS (AlexNet, v0.1)"),
    Metric("params", "complexity", "count", _COUNT, "complexity", 0, "parameters under the entry's convention"),
    Metric("params_nobias", "complexity", "count", _COUNT, "complexity", 0, "parameters without biases"),
    Metric("flops", "complexity", "G", _GOPS, "complexity", 1, "FLOPs at 1280×720 output, in G"),
    Metric("multadds", "complexity", "G", _GOPS, "complexity", 1, "Mult-Adds at 1280×720 output, in G"),
    Metric("convs", "complexity", "count", _EXACT, "complexity", 0, "number of convolutions of the deploy form"),
    Metric("reparam_err", "reparam", "", Band(1e-5, None, "fp32 round-off of a correct merge: < 1e-5 absolute"),
           "exactness", None, "max |training form − deploy form| output difference (eval mode, fp32)"),
    Metric("throughput", "throughput", "img/s", _TIME, "timing", 1, "images per second (RepSR protocol)"),
    Metric("infer_time", "throughput", "s", _TIME, "timing", 3, "seconds per image (STEA protocol)"),
    Metric("train_time", "training-time", "s", _TIME, "timing", 3, "total training wall time (the paper's)"),
    # What this machine can measure of it: seconds per training iteration, comparable only as a ratio between
    # entries timed in one run (RepSR Table 3's claim); never compared with a paper number.
    Metric("train_step", "training-time", "s", _TIME, "timing", 3, "seconds per training iteration, timed here"),
    *[Metric(f"uae_{v}", "uae", "count", _EXACT, "complexity", 0, f"UAE variable {v}") for v in "knlf"],
    *[Metric(f"uae{i}", "uae", "", _UAE_FORM, "consistency", 2, f"UAE{i} form") for i in range(1, 7)],
]
# Drift bounds: image metrics are deterministic on one machine to far below a printed unit.
_DRIFT = {"psnr_y": (1e-3, False), "psnr_rgb": (1e-3, False), "ssim_y": (1e-4, False), "ssim_rgb": (1e-4, False),
          "lpips": (1e-4, False), "params": (0.0, False), "params_nobias": (0.0, False), "convs": (0.0, False),
          "throughput": None, "infer_time": None, "train_time": None, "train_step": None,
          **{f"uae{i}": (1e-9, False) for i in range(1, 7)}, **{f"uae_{v}": (1e-9, False) for v in "knlf"}}
# Report labels and display decimals.
_LABELS = {"psnr_y": ("PSNR (Y)", 3), "ssim_y": ("SSIM (Y)", 4), "psnr_rgb": ("PSNR (RGB)", 3),
           "ssim_rgb": ("SSIM (RGB)", 4), "lpips": ("LPIPS", 4), "params": ("Params", 0),
           "params_nobias": ("Params (no bias)", 0), "flops": ("FLOPs (G)", 2), "multadds": ("Mult-Adds (G)", 2),
           "convs": ("Convs", 0), "throughput": ("Throughput (img/s)", 2), "infer_time": ("Inference time (s)", 4),
           "train_time": ("Training time (s)", 1), "train_step": ("s / iteration here", 3),
           **{f"uae_{v}": (v, 0) for v in "knlf"}, **{f"uae{i}": (f"UAE{i}", 3) for i in range(1, 7)}}
_METRICS = [replace(m, drift=_DRIFT.get(m.name, m.drift), label=_LABELS.get(m.name, (m.name, None))[0],
                    shown=_LABELS.get(m.name, (m.name, None))[1]) for m in _METRICS]
CATALOG: dict[str, Metric] = {m.name: m for m in _METRICS}

# Fallback for a suite-specific metric declared as "kind: description" under a suite's [metrics].
_FALLBACK_BAND = Band("printed", None, "suite-specific metric: half a printed unit")
_FALLBACK_EVIDENCE = {"metrics": "image", "complexity": "complexity", "uae": "consistency",
                      "throughput": "timing", "training-time": "timing", "reparam": "exactness"}


# measured for every extra dataset an entry names (``Entry.datasets``), besides its ``measure`` list
EXTRA_DATASET_METRICS = ("psnr_y", "ssim_y")


def register_metric(metric: Metric) -> None:
    """Add a metric to the catalog (a new kind's module calls this at import)."""
    if metric.name in CATALOG and CATALOG[metric.name] != metric:
        raise ValueError(f"metric {metric.name!r} is already in the catalog with other facts")
    CATALOG[metric.name] = metric


def known_metrics() -> set[str]:
    return set(CATALOG)


def get_metric(name: str, suite_metrics: dict[str, str] | None = None) -> Metric | None:
    """The catalog entry of ``name``, or one built from a suite's ``[metrics]`` declaration, else None."""
    if name in CATALOG:
        return CATALOG[name]
    decl = (suite_metrics or {}).get(name)
    if decl is None:
        return None
    kind = decl.split(":")[0].strip()
    return Metric(name, kind, "", _FALLBACK_BAND, _FALLBACK_EVIDENCE.get(kind, "consistency"), None, decl)


def kind_of(name: str, suite_metrics: dict[str, str] | None = None) -> str | None:
    m = get_metric(name, suite_metrics)
    return m.kind if m else None


def evidence_of_kind(kind: str) -> str | None:
    """The evidence class of a kind's metrics when all agree (e.g. "timing" for throughput)."""
    classes = {m.evidence for m in CATALOG.values() if m.kind == kind} or {_FALLBACK_EVIDENCE.get(kind)}
    return classes.pop() if len(classes) == 1 else None
