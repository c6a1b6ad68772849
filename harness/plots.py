"""Efficiency trade-off charts: PSNR against Params, Mult-Adds or throughput (like CARN Fig. 5, RepSR Fig. 1).

One chart per (dataset, scale) of a suite: the paper's points (hollow), the measured points (filled,
coloured by status) and an arrow from paper to measured where both exist, each labelled with its row as
printed.  Charts are drawn from the suite's cells (results/<suite>.json, or the paper's cells when the suite
has no results yet) and saved as SVG and PNG.  Output is deterministic (fixed ``svg.hashsalt``, no date or
version string in the metadata) so that committed reports do not churn.

No pyplot: figures are plain ``matplotlib.figure.Figure`` objects (Agg and SVG canvases), so importing this
module changes no global backend state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, NullFormatter

from harness.results import MEASURED_STATUSES, paper_cells, read_results, results_path
from harness.suite import SUITES_DIR, load_suite

XAxis = Literal["params", "multadds", "throughput"]
X_AXES: tuple[XAxis, ...] = ("params", "multadds", "throughput")

# Cell metrics that can stand for each x axis, in order of preference.
X_METRICS: dict[str, tuple[str, ...]] = {
    "params": ("params", "params_nobias"),
    "multadds": ("multadds", "flops"),
    "throughput": ("throughput",),
}
X_LABELS = {
    "params": "Parameters",
    "params_nobias": "Parameters (biases excluded)",
    "multadds": "Mult-Adds (G)",
    "flops": "FLOPs (G)",
    "throughput": "Throughput (images/s)",
}
PSNR_METRICS = ("psnr_y", "psnr_rgb")  # y axis: Y-channel PSNR, else RGB PSNR

PAPER_COLOUR = "#555555"
# Colour *and* marker per status, so that a chart reads in grey-scale and for colour-blind readers.
STATUS_COLOURS = {"match": "#2e7d32", "close": "#8a6d00", "deviates": "#c62828", "measured": "#1565c0",
                  "under-budget": "#555555"}
STATUS_MARKERS = {"match": "o", "close": "^", "deviates": "X", "measured": "s", "under-budget": "D"}
STATUS_LEGEND = {"match": "measured (match)", "close": "measured (close)", "deviates": "measured (deviates)",
                 "measured": "measured (paper prints none)", "under-budget": "trained here under a budget"}
LOG_RATIO = 20.0  # a log x axis when max/min exceeds this
MIN_POINTS = 2  # rows a chart needs to be drawn

_RC = {
    "svg.hashsalt": "srbench-report",  # stable element ids in the SVG
    "svg.fonttype": "path",  # glyphs as paths: looks the same in every browser
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
}
_SVG_METADATA = {"Date": None, "Creator": None}
_PNG_METADATA = {"Software": None}
PNG_DPI = 110


@dataclass(frozen=True)
class Point:
    """One table row on a chart: its x value and its paper and measured PSNR (either may be missing)."""

    entry: str
    label: str
    x: float  # the measured x where there is one, else the paper's (where the measured point is drawn)
    x_metric: str
    paper: float | None
    measured: float | None
    status: str
    psnr_metric: str
    device: str = ""  # device kind of a measured throughput x ("CPU"/"GPU")
    paper_x: float | None = None  # the paper's printed x: the paper's point is drawn there

    @property
    def paper_at(self) -> float:
        """Where the paper's point goes: its printed x; the measured x only where the paper prints none
        (and on throughput axes, whose paper values come from other hardware)."""
        return self.paper_x if self.paper_x is not None else self.x


@dataclass(frozen=True)
class Chart:
    x: str
    dataset: str | None
    scale: int | None
    title: str
    svg: Path
    png: Path
    points: int
    figure: str = ""  # the paper's figure this chart redraws ("Fig. 4"), from the suite's [[figures]]


# ---------------------------------------------------------------------------------------------- cell helpers

def finite(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def measured_value(cell: dict) -> float | None:
    """The cell's measured value when it is a real measurement (status match / deviates / measured)."""
    return finite(cell.get("measured")) if cell.get("status") in MEASURED_STATUSES else None


def paper_value(cell: dict) -> float | None:
    return finite(cell.get("paper"))


def device_kind(cell: dict, default: str = "") -> str:
    """"CPU" or "GPU" for a timing cell, from ``extra["device_kind"]`` (else ``extra["device"]``)."""
    extra = cell.get("extra") or {}
    raw = str(extra.get("device_kind") or extra.get("device") or default).lower()
    if not raw:
        return ""
    if any(k in raw for k in ("cuda", "gpu", "nvidia", "a100", "h100", "v100", "rtx", "mps")):
        return "GPU"
    return "CPU" if "cpu" in raw else raw.upper()


CellIndex = dict[tuple[str, str | None, int | None, str], dict]


def index_cells(cells: Iterable[dict]) -> CellIndex:
    return {(c["entry"], c.get("dataset"), c.get("scale"), c["metric"]): c for c in cells}


def lookup(idx: CellIndex, entry: str, dataset: str | None, scale: int | None, metric: str) -> dict | None:
    """The cell at ``scale``, else the entry's scale-less cell (params of a multi-scale model)."""
    return idx.get((entry, dataset, scale, metric)) or idx.get((entry, dataset, None, metric))


# ---------------------------------------------------------------------------------------------- chart data

def chart_keys(cells: Iterable[dict]) -> list[tuple[str, int | None]]:
    """(dataset, scale) pairs that have PSNR cells, datasets in first-seen order, scales ascending."""
    keys = list(dict.fromkeys((c["dataset"], c.get("scale")) for c in cells
                              if c["metric"] in PSNR_METRICS and c.get("dataset")))
    datasets = list(dict.fromkeys(dataset for dataset, _ in keys))
    return sorted(keys, key=lambda k: (datasets.index(k[0]), -1 if k[1] is None else k[1]))


def _x_value(idx: CellIndex, entry: str, scale: int | None, x: str) -> tuple[float, str, str, float | None] | None:
    """(value, metric, device kind, paper's x): the measured value, else the paper's, and the paper's own
    printed x (throughput: measured only, since the paper's hardware is not this machine's)."""
    for metric in X_METRICS[x]:
        cell = lookup(idx, entry, None, scale, metric)
        if cell is None:
            continue
        paper = paper_value(cell) if x != "throughput" else None
        paper = paper if paper is not None and paper > 0 else None
        value = measured_value(cell)
        if value is None:
            value = paper
        if value is not None and value > 0:
            return value, metric, device_kind(cell) if x == "throughput" else "", paper
    return None


def _psnr(idx: CellIndex, entry: str, dataset: str, scale: int | None) -> tuple[dict, str] | None:
    for metric in PSNR_METRICS:
        cell = idx.get((entry, dataset, scale, metric))
        if cell is not None and (paper_value(cell) is not None or measured_value(cell) is not None):
            return cell, metric
    return None


def chart_points(cells: list[dict], x: str, dataset: str, scale: int | None) -> list[Point]:
    """The rows that have a PSNR (paper or measured) on ``dataset`` ×``scale`` and an x value."""
    if x not in X_METRICS:
        raise ValueError(f"x must be one of {', '.join(X_METRICS)}, not {x!r}")
    idx = index_cells(cells)
    entries = list(dict.fromkeys(c["entry"] for c in cells))
    points = []
    for entry in entries:
        found = _psnr(idx, entry, dataset, scale)
        xv = _x_value(idx, entry, scale, x)
        if found is None or xv is None:
            continue
        cell, psnr_metric = found
        points.append(Point(entry=entry, label=cell.get("row") or entry, x=xv[0], x_metric=xv[1],
                            paper=paper_value(cell), measured=measured_value(cell),
                            status=cell.get("status") or "", psnr_metric=psnr_metric, device=xv[2],
                            paper_x=xv[3]))
    return points


# ---------------------------------------------------------------------------------------------- drawing

def _count_formatter(value: float, _pos: object = None) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}K"
    return f"{value:g}"


def _x_label(points: list[Point], x: str) -> str:
    metrics = list(dict.fromkeys(p.x_metric for p in points))
    label = " / ".join(X_LABELS.get(m, m) for m in metrics)
    if x == "throughput":
        devices = sorted({p.device for p in points if p.device})
        label += f", measured on {' and '.join(devices)}" if devices else ", measured"
    return label


def _y_label(points: list[Point]) -> str:
    kinds = {p.psnr_metric for p in points}
    if kinds == {"psnr_y"}:
        return "PSNR (dB, Y channel)"
    if kinds == {"psnr_rgb"}:
        return "PSNR (dB, RGB)"
    return "PSNR (dB; Y, or RGB where the row has no Y value)"


def _legend_handles(points: list[Point]) -> list[Line2D]:
    handles = []
    if any(p.paper is not None for p in points):
        handles.append(Line2D([], [], ls="", marker="o", mfc="white", mec=PAPER_COLOUR, mew=1.4, label="paper"))
    for status, colour in STATUS_COLOURS.items():
        if any(p.measured is not None and p.status == status for p in points):
            handles.append(Line2D([], [], ls="", marker=STATUS_MARKERS[status], color=colour,
                                  label=STATUS_LEGEND[status]))
    if any(p.paper is not None and p.measured is not None for p in points):
        handles.append(Line2D([], [], color=PAPER_COLOUR, lw=1, label="paper → measured"))
    return handles


def _draw_point(ax, p: Point, right_side: bool) -> Annotation:
    colour = STATUS_COLOURS.get(p.status, PAPER_COLOUR)
    if p.paper is not None:  # the paper's point at the paper's x (gid: what the chart test reads back)
        ax.scatter([p.paper_at], [p.paper], s=38, marker="o", facecolors="white", edgecolors=PAPER_COLOUR,
                   linewidths=1.4, zorder=3, gid=f"paper-{p.entry}")
    if p.measured is not None:
        ax.scatter([p.x], [p.measured], s=34, marker=STATUS_MARKERS.get(p.status, "o"), color=colour, zorder=4,
                   gid=f"measured-{p.entry}")
    if p.paper is not None and p.measured is not None:
        arrow = ax.annotate("", xy=(p.x, p.measured), xytext=(p.paper_at, p.paper),
                            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.1,
                                        "shrinkA": 3, "shrinkB": 3, "mutation_scale": 9})
        arrow.arrow_patch.set_gid(f"arrow-{p.entry}")
    at, y = (p.paper_at, p.paper) if p.paper is not None else (p.x, p.measured)
    # labels of the right-most points go to their left so that they stay inside the axes
    return ax.annotate(p.label, xy=(at, y), xytext=(-6 if right_side else 6, 3), textcoords="offset points",
                       ha="right" if right_side else "left", fontsize=7.5, color="#222222")


def _declutter(fig: Figure, labels: list[Annotation], max_steps: int = 30) -> None:
    """Nudge row labels upwards, bottom to top, until no two overlap (rows with near-equal values)."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    points_per_pixel = 72.0 / fig.dpi
    placed: list = []
    for label in sorted(labels, key=lambda a: a.get_window_extent(renderer).y0):
        box = label.get_window_extent(renderer)
        for _ in range(max_steps):
            hit = next((b for b in placed if b.overlaps(box)), None)
            if hit is None:
                break
            dx, dy = label.xyann
            label.xyann = (dx, dy + (hit.y1 - box.y0 + 1) * points_per_pixel)
            box = label.get_window_extent(renderer)
        placed.append(box)


def _right_side(xs: list[float], log: bool, span: list[float] | None = None) -> list[bool]:
    f = math.log10 if log else (lambda v: v)
    lo, hi = f(min(span or xs)), f(max(span or xs))
    return [hi > lo and (f(v) - lo) / (hi - lo) > 0.8 for v in xs]


def draw_chart(points: list[Point], *, x: str, title: str) -> Figure:
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    xs = [p.x for p in points] + [p.paper_at for p in points if p.paper is not None]
    log = min(xs) > 0 and max(xs) / min(xs) > LOG_RATIO
    label_xs = [p.paper_at if p.paper is not None else p.x for p in points]
    labels = [_draw_point(ax, p, right) for p, right in zip(points, _right_side(label_xs, log, xs), strict=True)]
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    if x == "params":
        ax.xaxis.set_major_formatter(FuncFormatter(_count_formatter))
    elif log:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.margins(x=0.15, y=0.12)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_xlabel(_x_label(points, x))
    ax.set_ylabel(_y_label(points))
    ax.set_title(title)
    ax.legend(handles=_legend_handles(points), fontsize=7.5, loc="best", framealpha=0.85)
    _declutter(fig, labels)
    return fig


def save_chart(fig: Figure, stem: Path) -> tuple[Path, Path]:
    """Write ``stem``.svg and ``stem``.png (deterministic bytes for the same input)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    svg, png = stem.with_suffix(".svg"), stem.with_suffix(".png")
    with matplotlib.rc_context(_RC):
        fig.savefig(svg, format="svg", metadata=_SVG_METADATA)
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata=_PNG_METADATA)
    return svg, png


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "none"


def chart_stem(out_dir: Path, suite_id: str, x: str, dataset: str, scale: int | None) -> Path:
    return Path(out_dir) / f"{suite_id}_psnr-vs-{x}_{_slug(dataset)}_x{scale if scale is not None else 'any'}"


def chart_files(out_dir: Path, suite_id: str) -> list[Path]:
    """Chart files of a suite already in ``out_dir`` (the report removes stale ones before re-plotting)."""
    return sorted(p for ext in ("svg", "png") for p in Path(out_dir).glob(f"{suite_id}_psnr-vs-*.{ext}"))


def plot_cells(suite_id: str, table: str, cells: list[dict], out_dir: Path, x: str = "params",
               dataset: str | None = None, scale: int | None = None) -> list[Chart]:
    """Charts of PSNR vs ``x`` for each (dataset, scale) of ``cells`` with at least two rows."""
    charts = []
    for ds, sc in chart_keys(cells):
        if (dataset is not None and ds != dataset) or (scale is not None and sc != scale):
            continue
        points = chart_points(cells, x, ds, sc)
        if len(points) < MIN_POINTS:
            continue
        scale_text = f" ×{sc}" if sc is not None else ""
        title = f"{table}: PSNR vs {x if x != 'multadds' else 'Mult-Adds'} — {ds}{scale_text}"
        with matplotlib.rc_context(_RC):
            fig = draw_chart(points, x=x, title=title)
        svg, png = save_chart(fig, chart_stem(out_dir, suite_id, x, ds, sc))
        charts.append(Chart(x=x, dataset=ds, scale=sc, title=title, svg=svg, png=png, points=len(points)))
    return charts


def suite_cells(suite_id: str, results_dir: Path, suites_dir: Path = SUITES_DIR) -> tuple[str, list[dict]]:
    """(table label, cells) of a suite: its results file, else the paper's cells from the suite file."""
    doc = read_results(results_path(results_dir, suite_id))
    if doc is not None:
        return doc.get("table", suite_id), doc.get("cells", [])
    suite = load_suite(Path(suites_dir) / f"{suite_id}.toml", check_models=False)
    return suite.table, paper_cells(suite)


def plot_suite(suite_id: str, results_dir: Path, out_dir: Path, x: str = "params", dataset: str | None = None,
               scale: int | None = None, *, suites_dir: Path = SUITES_DIR) -> list[Path]:
    """Draw the suite's PSNR-vs-``x`` charts into ``out_dir``; returns the SVG and PNG paths written."""
    table, cells = suite_cells(suite_id, Path(results_dir), Path(suites_dir))
    charts = plot_cells(suite_id, table, cells, Path(out_dir), x=x, dataset=dataset, scale=scale)
    return [p for c in charts for p in (c.svg, c.png)]



def plot_training_curve(run: Path, out: Path, extra_val: dict[int, float] | None = None) -> Path:
    """A run's training curve from its ``log.jsonl`` (and ``record.json``): loss (log scale) and held-out
    validation PSNR-Y, with bicubic on the same crops as a reference line.  ``out``: .svg or .png."""
    import json

    run, out = Path(run), Path(out)
    rows = [json.loads(ln) for ln in (run / "log.jsonl").read_text().splitlines() if ln.strip()]
    rec = json.loads((run / "record.json").read_text()) if (run / "record.json").exists() else {}
    steps = [r for r in rows if not r.get("final")]
    val = {r["iteration"]: r["val_psnr"] for r in rows if r.get("val_psnr") is not None}
    for it, v in (extra_val or {}).items():
        val.setdefault(it, v)
    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    a.plot([r["iteration"] for r in steps], [r["loss"] for r in steps], lw=0.8)
    a.set_yscale("log")
    a.set_xlabel("iteration")
    a.set_ylabel(f"training loss ({rec.get('config', {}).get('loss', '')})")
    its = sorted(val)
    b.plot(its, [val[i] for i in its], "o-", label="model, held-out crops")
    if rec.get("val_bicubic_psnr"):
        b.axhline(rec["val_bicubic_psnr"], color="grey", ls="--", label="bicubic, same crops")
    b.set_xlabel("iteration")
    b.set_ylabel("PSNR-Y (dB)")
    b.legend(fontsize=7)
    cfg = rec.get("config", {})
    fig.suptitle(f"run {rec.get('key', run.name)}: {cfg.get('model', '')} ×{cfg.get('scale', '')}, "
                 f"{cfg.get('budget', '')} budget ({cfg.get('iterations', '')} it, batch {cfg.get('batch', '')})",
                 fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".svg":
        fig.savefig(out, format="svg", metadata=_SVG_METADATA)
    else:
        fig.savefig(out, dpi=110, metadata=_PNG_METADATA)
    return out
