"""Paper-vs-measured report: static HTML pages rendered from suite files and results files.

``reports/index.html`` lists every suite of ``suites/*.toml`` with its cell counts per status and its
*reproduced* fraction; ``reports/<suite>.html`` lays the cells out like the paper's table (rows = entries,
grouped by scale block; column groups = dataset × metric), each cell showing the paper's printed number,
the measured value and the delta, coloured by status, with the reason and the paper's note on hover and as
numbered footnotes (readable in print).  Pages are self-contained: CSS is inlined, charts (harness.plots)
are local SVG files next to the pages, nothing is fetched from a server or CDN.  No timestamp of the
rendering goes into a page, so re-rendering unchanged results gives identical files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from harness import __version__, catalog
from harness.plots import (
    MEASURED_STATUSES,
    X_AXES,
    Chart,
    chart_files,
    device_kind,
    finite,
    plot_cells,
    plot_training_curve,
)
from harness.results import (
    RESULTS_DIR,
    atomic_write_text,
    paper_cells,
    read_results,
    results_path,
)
from harness.suite import SUITES_DIR, Suite, SuiteError, load_suite, size_text
from harness.summary import finish_steps

REPORTS_DIR = RESULTS_DIR.parent / "reports"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class StatusStyle:
    label: str
    symbol: str  # printed next to the value so that status survives black-and-white printing
    description: str


# Display order, labels and legend text of every status (harness.results.STATUSES).
STATUS_STYLES: dict[str, StatusStyle] = {
    "match": StatusStyle("match", "✓", "measured, and |measured − paper| within the match band (printed "
                                       "rounding + the pipeline's noise floor)"),
    "close": StatusStyle("close", "≈", "outside the match band but within the close band (the field's "
                                       "convention uncertainty): not reproduced, not refuted"),
    "deviates": StatusStyle("deviates", "✗", "measured, but outside the close band"),
    "under-budget": StatusStyle("under budget", "↓", "a model trained here under the smoke/short budget: the value "
                                                     "is shown, its gap measures the budget, not the paper"),
    "stale": StatusStyle("stale", "⟳", "measured under inputs that are no longer the suite's (the footnote names "
                                       "them); re-measure with reproduce --stale"),
    "measured": StatusStyle("measured", "•", "measured where the paper prints no number (nothing to compare)"),
    "error": StatusStyle("error", "!", "the harness failed while measuring (the footnote has the message)"),
    "not-run": StatusStyle("not run", "…", "not measured in this run (left out by --only / --budget, or needs "
                                          "hardware that is not here)"),
    "missing-data": StatusStyle("missing data", "?", "a dataset is not present here; the footnote says how to get it"),
    "missing-weights": StatusStyle("missing weights", "?", "published weights are not present here; the footnote "
                                                           "says where to put them"),
    "paper-only": StatusStyle("paper only", "§", "the harness cannot measure this row (reason in the footnote)"),
}
UNKNOWN_STATUS = StatusStyle("unknown", "?", "a status this report does not know")
PENDING = StatusStyle("", "", "no results yet: the paper's number only")
# "Reproduced" = match / measurable, counted over cells that print a paper number.  Measurable cells are
# those the harness measured or tried to measure: match, deviates and error (a crash is not a success).
MEASURABLE = ("match", "close", "deviates", "error")

# Labels, column order, display decimals, counts and timings: the metric catalog (harness.catalog).
METRIC_LABELS = {m.name: m.label for m in catalog.CATALOG.values()}
# Column order when the suite declares no [[columns]]: dataset-less metrics first, then per dataset.
DATASET_ORDER = tuple(m.name for m in catalog.CATALOG.values() if m.kind == "metrics")
DATASETLESS_ORDER = tuple(m.name for m in catalog.CATALOG.values() if m.kind != "metrics")
COUNT_METRICS = frozenset(m.name for m in catalog.CATALOG.values() if m.unit == "count")
TIMING_METRICS = frozenset(m.name for m in catalog.CATALOG.values() if m.evidence == "timing")
DECIMALS = {m.name: m.shown for m in catalog.CATALOG.values() if m.shown and m.unit != "count"}
FOOTNOTE_WHERE_MAX = 6  # cells listed by name under a footnote before "and N more"


# ---------------------------------------------------------------------------------------------- numbers

def status_style(status: str | None) -> StatusStyle:
    return STATUS_STYLES.get(status or "not-run", UNKNOWN_STATUS)


def format_value(metric: str, value: Any, *, delta: bool = False) -> str:
    """A number for a cell: counts grouped ("611,234"), image metrics to a fixed number of decimals.

    A delta is signed and gets one more decimal than the value, so that a small difference does not
    print as "−0.0000".
    """
    v = finite(value)
    if v is None:
        return ""
    sign = "+" if delta and v > 0 else ""
    if metric in COUNT_METRICS:
        text = f"{v:,.0f}" if v == int(v) else f"{v:,.2f}"
    elif metric in DECIMALS:
        text = f"{v:.{DECIMALS[metric] + int(delta)}f}"
    else:
        text = f"{v:.4g}"
    return (sign + text).replace("-", "−")


def _parse_printed(part: str) -> list[float]:
    """Numbers a printed token may stand for: as written, and with a K/M/G suffix applied."""
    token = part.strip().replace(",", "").rstrip("%s")
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(token[-1:].upper(), 1.0)
    core = token[:-1] if scale != 1.0 else token
    try:
        number = float(core)
    except ValueError:
        return []
    return [number, number * scale]


def own_printed(printed: str | None, value: Any) -> str:
    """The part of a paired printed string ("31.92/0.8903") that is this cell's number; else the string."""
    if not printed:
        return ""
    parts = printed.split("/")
    v = finite(value)
    if len(parts) < 2 or v is None:
        return printed
    scored = [(min(abs(n - v) / max(abs(v), 1e-12) for n in nums), p.strip())
              for p in parts if (nums := _parse_printed(p))]
    return min(scored)[1] if scored else printed


# ---------------------------------------------------------------------------------------------- summary

@dataclass(frozen=True)
class Reproduced:
    """Matches over compared cells, per evidence class; consistency checks are never counted as reproduced."""

    matched: int
    measurable: int
    by_class: tuple[tuple[str, int, int], ...] = ()  # (evidence class, match, compared)
    consistency: tuple[int, int] = (0, 0)  # (match, compared) of checks on the paper's own numbers

    @property
    def fraction(self) -> float | None:
        return self.matched / self.measurable if self.measurable else None

    @property
    def text(self) -> str:
        parts = [f"{ev} {m}/{n}" for ev, m, n in self.by_class]
        if self.consistency[1]:
            parts.append(f"consistency {self.consistency[0]}/{self.consistency[1]} (not counted)")
        return " · ".join(parts) or "—"

    def __add__(self, other: Reproduced) -> Reproduced:
        classes: dict[str, list[int]] = {}
        for ev, m, n in (*self.by_class, *other.by_class):
            acc = classes.setdefault(ev, [0, 0])
            acc[0] += m
            acc[1] += n
        return Reproduced(self.matched + other.matched, self.measurable + other.measurable,
                          tuple((ev, m, n) for ev, (m, n) in sorted(classes.items())),
                          (self.consistency[0] + other.consistency[0], self.consistency[1] + other.consistency[1]))


def count_statuses(cells: Iterable[dict]) -> dict[str, int]:
    counts = Counter(c.get("status") or "not-run" for c in cells)
    known = {s: counts.get(s, 0) for s in STATUS_STYLES}
    return {**known, **{s: n for s, n in sorted(counts.items()) if s not in STATUS_STYLES}}


def reproduced(cells: Iterable[dict]) -> Reproduced:
    judged = [c for c in cells if finite(c.get("paper")) is not None and c.get("status") in (*MEASURABLE, "under-budget")]
    classes: dict[str, list[int]] = {}
    for c in judged:
        acc = classes.setdefault(c.get("evidence") or "unclassified", [0, 0])
        acc[0] += c["status"] == "match"
        acc[1] += 1
    cons = classes.pop("consistency", [0, 0])
    return Reproduced(sum(m for m, _ in classes.values()), sum(n for _, n in classes.values()),
                      tuple((ev, m, n) for ev, (m, n) in sorted(classes.items())), (cons[0], cons[1]))


@dataclass
class SuiteSummary:
    suite_id: str
    paper: str = ""
    table: str = ""
    caption: str = ""
    has_results: bool = False
    paper_cells: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    reproduced: Reproduced = Reproduced(0, 0)
    created: str = ""  # when the results were measured (provenance), to the minute
    page: str | None = None  # href of the suite page, when it exists
    error: str = ""  # the suite file or results file could not be read
    claims: list[dict] = field(default_factory=list)  # harness.claims records (README, "Claims")
    finish: list[str] = field(default_factory=list)  # what it would take to finish (harness.summary)

    @property
    def claim_counts(self) -> dict[str, int]:
        from harness.claims import count_verdicts

        return count_verdicts(self.claims)

    @property
    def paper_fails(self) -> int:
        return sum(c.get("paper_verdict") == "fails" for c in self.claims)


# Colour of a claim verdict (reuses the cell status colours).
CLAIM_CSS = {"holds": "st-match", "fails": "st-deviates", "inconclusive": "st-close", "not-run": "st-not-run",
             "unchecked": "st-not-run"}


def suite_claims(suite: Suite, doc: dict | None) -> list[dict]:
    """The results' ``claims`` list when the collect step wrote one for the suite's current claims, else
    evaluated from its cells (results written before the claims were declared, or without them)."""
    stored = (doc or {}).get("claims")
    if isinstance(stored, list) and [c.get("id") for c in stored] == [c.id for c in suite.claims]:
        return stored
    from harness.claims import evaluate_claims

    return evaluate_claims(suite, (doc or {}).get("cells", []))


def summarize(suite_id: str, suite: Suite | None, doc: dict | None, error: str = "") -> SuiteSummary:
    cells = (doc or {}).get("cells", [])
    return SuiteSummary(
        suite_id=suite_id,
        paper=suite.paper if suite else (doc or {}).get("paper", ""),
        table=suite.table if suite else (doc or {}).get("table", ""),
        caption=suite.caption if suite else "",
        has_results=doc is not None,
        paper_cells=sum(len(e.paper) for e in suite.entries) if suite else 0,
        counts=count_statuses(cells) if doc is not None else {},
        reproduced=reproduced(cells),
        created=str((doc or {}).get("provenance", {}).get("created", ""))[:16].replace("T", " "),
        error=error,
        claims=suite_claims(suite, doc) if suite else [],
        finish=finish_steps(doc) if doc is not None else [f"run `python -m harness reproduce {suite_id}`"],
    )


# ---------------------------------------------------------------------------------------------- table layout

@dataclass(frozen=True)
class ColumnView:
    metric: str
    dataset: str | None
    label: str
    group: str
    description: str = ""


@dataclass(frozen=True)
class GroupView:
    label: str
    span: int


@dataclass
class CellView:
    css: str
    symbol: str
    status_label: str
    paper: str
    measured: str
    delta: str
    device: str
    title: str  # the popover's text (also the CSV's and the test's view of the cell)
    footnote: int | None = None
    cid: str = ""  # element id, target of the footnote back-links
    status: str = ""
    off: str = ""  # how many tolerances off ("7.0× band"), for close / deviates cells
    sort: str = ""  # numeric sort key of the column (measured, else paper)
    data: dict[str, str] = field(default_factory=dict)  # data-run, data-budget, data-profile, data-evidence
    per_image: str = ""  # "100 images, worst 22.89 (167083.png)": the full list is in <suite>.per_image.csv
    badge: str = ""  # the budget of an under-budget value ("short"), or "stale"


@dataclass
class RowView:
    entry: str
    label: str
    cells: list[CellView | None]


@dataclass
class BlockView:
    scale: int | None
    rows: list[RowView]


@dataclass
class Footnote:
    number: int
    text: str
    where: list[tuple[str, str]] = field(default_factory=list)  # (cell name, cell element id): back-links
    more: int = 0


@dataclass
class TableView:
    columns: list[ColumnView]
    groups: list[GroupView]
    blocks: list[BlockView]
    footnotes: list[Footnote]
    has_scales: bool


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def derive_columns(suite: Suite, cells: list[dict]) -> list[ColumnView]:
    """The suite's [[columns]] (when declared), then every other (dataset, metric) the cells hold."""
    declared = [ColumnView(c.metric, c.dataset, c.label or metric_label(c.metric), c.group or (c.dataset or ""),
                           suite.metrics.get(c.metric, "")) for c in suite.columns]
    have = {(c.dataset, c.metric) for c in declared}
    pairs = list(dict.fromkeys((c.get("dataset"), c["metric"]) for c in cells))
    datasets = list(dict.fromkeys(d for d, _ in pairs if d))

    def rank(order: tuple[str, ...], metric: str) -> tuple[int, int]:
        return (order.index(metric), 0) if metric in order else (len(order), [m for _, m in pairs].index(metric))

    free = sorted({m for d, m in pairs if d is None}, key=lambda m: rank(DATASETLESS_ORDER, m))
    derived = [(None, m) for m in free]
    for ds in datasets:
        derived += [(ds, m) for m in sorted({m for d, m in pairs if d == ds}, key=lambda m: rank(DATASET_ORDER, m))]
    extra = [ColumnView(m, d, metric_label(m), d or "", suite.metrics.get(m, ""))
             for d, m in derived if (d, m) not in have]
    return declared + extra


def group_columns(columns: list[ColumnView]) -> list[GroupView]:
    groups: list[GroupView] = []
    for col in columns:
        if groups and groups[-1].label == col.group:
            groups[-1] = GroupView(col.group, groups[-1].span + 1)
        else:
            groups.append(GroupView(col.group, 1))
    return groups


def _row_keys(suite: Suite, cells: list[dict]) -> list[tuple[int | None, str]]:
    """(scale, entry) of each table row: suite order within each scale block; scale-less cells of an entry
    that has scaled cells (params of a multi-scale model) appear in each of its rows."""
    order = {e.id: i for i, e in enumerate(suite.entries)}
    first_seen = list(dict.fromkeys(c["entry"] for c in cells))
    scaled = {c["entry"] for c in cells if c.get("scale") is not None}
    keys = {(c.get("scale"), c["entry"]) for c in cells if not (c.get("scale") is None and c["entry"] in scaled)}
    return sorted(keys, key=lambda k: (-1 if k[0] is None else k[0],
                                       order.get(k[1], len(order) + first_seen.index(k[1]))))


def _cell_name(cell: dict, column: ColumnView) -> str:
    scale = f" ×{cell['scale']}" if cell.get("scale") is not None else ""
    where = f" {column.dataset}" if column.dataset else ""
    return f"{cell.get('row') or cell['entry']}{scale}{where} {column.label}"


_ABS_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.\-]+/)+")


def no_machine_paths(text: str) -> str:
    """Absolute paths of the machine that made a result, shortened to their last part ("…/DIV2K")."""
    return _ABS_PATH.sub("…/", text)


def _footnote_text(cell: dict) -> str:
    parts = [no_machine_paths(str(cell.get("reason") or "").strip())]
    if str(cell.get("note") or "").strip():
        parts.append(f"Paper note: {cell['note'].strip()}")
    return " — ".join(p for p in parts if p)


def _tooltip(cell: dict, name: str, style: StatusStyle, device: str) -> str:
    metric = cell["metric"]
    lines = [name, f"status: {style.label or 'no results yet'}"]
    if cell.get("paper_printed") is not None:
        value = f" (value {cell['paper']})" if cell.get("paper") is not None else ""
        lines.append(f"paper: {cell['paper_printed']}{value}")
    if finite(cell.get("measured")) is not None:
        lines.append(f"measured: {cell['measured']}" + (f" on {device}" if device else ""))
    if finite(cell.get("delta")) is not None:
        lines.append(f"delta: {format_value(metric, cell['delta'], delta=True)}")
    if cell.get("tolerance") not in (None, ""):
        lines.append(f"tolerance: {cell['tolerance']}")
    if cell.get("reason"):
        lines.append(f"reason: {no_machine_paths(cell['reason'])}")
    if cell.get("note"):
        lines.append(f"paper note: {cell['note']}")
    prov = [f"{k} {v}" for k, v in (("run", cell.get("run")), ("budget", cell.get("budget")),
                                     ("profile", (cell.get("extra") or {}).get("profile_hash")),
                                     ("evidence", cell.get("evidence"))) if v]
    if prov:
        lines.append("provenance: " + ", ".join(prov))
    return "\n".join(lines)


def printed_unit(printed: str, paper: Any) -> tuple[float, str, int]:
    """(factor, suffix, decimals) of a count as the paper prints it: "57.00" in a K column is 57,000 →
    (1e3, "", 2); "412K" → (1e3, "K", 0); "665,921" → (1, "", 0).  Measured counts are shown the same way."""
    v = finite(paper)
    token = printed.strip().replace(",", "")
    m = re.fullmatch(r"([-+]?\d*\.?\d+)\s*([KkMmGg]?)", token)
    if v is None or not m or not float(m.group(1)):
        return 1.0, "", 0
    number, suffix = float(m.group(1)), m.group(2).upper()
    decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
    for factor in (1.0, 1e3, 1e6, 1e9):
        if abs(number * factor - v) <= 1e-6 * max(abs(v), 1.0):
            return factor, suffix, decimals
    return 1.0, "", 0


def _count_in_unit(value: Any, unit: tuple[float, str, int], *, delta: bool = False) -> str:
    v = finite(value)
    if v is None:
        return ""
    factor, suffix, decimals = unit
    shown = decimals + (1 if factor > 1 else 0) + int(delta)  # one digit finer than the print
    sign = "+" if delta and v > 0 else ""
    return (sign + f"{v / factor:,.{shown}f}{suffix}").replace("-", "−")


def tolerances_off(cell: dict) -> str:
    """How far outside the match band a close / deviates cell is, in match bands (|Δ| / band)."""
    d, tol = finite(cell.get("delta")), finite(cell.get("tolerance"))
    if cell.get("status") not in ("close", "deviates") or d is None or not tol:
        return ""
    return f"{abs(d) / tol:,.1f}× band"


def per_image_values(cell: dict) -> dict[str, float]:
    """Image → value of a cell (``extra.per_image``), empty where the cell has none."""
    raw = (cell.get("extra") or {}).get("per_image")
    return {str(k): v for k, v in raw.items() if finite(v) is not None} if isinstance(raw, dict) else {}


def _per_image_text(cell: dict) -> str:
    values = per_image_values(cell)
    if not values:
        return ""
    worst = min(values, key=values.get)
    best = max(values, key=values.get)
    return (f"{len(values)} images: lowest {format_value(cell['metric'], values[worst])} ({worst}), highest "
            f"{format_value(cell['metric'], values[best])} ({best})")


def shown_values(cell: dict) -> tuple[str, str, str]:
    """(paper, measured, Δ) as a cell shows them: the paper's own printed part; measured and Δ in the
    paper's unit where it prints a count in K/M ("57.00" in a K column: measured "57.18"); a stale value is
    shown (labelled stale), a value that is not a current measurement is not."""
    metric = cell["metric"]
    paper = own_printed(cell.get("paper_printed"), cell.get("paper"))
    shown = cell.get("status") in MEASURED_STATUSES or cell.get("status") == "stale"
    unit = printed_unit(paper, cell.get("paper")) if metric in COUNT_METRICS and paper else (1.0, "", 0)
    if unit[0] != 1.0 or unit[1]:
        return paper, _count_in_unit(cell.get("measured"), unit) if shown else "", \
            _count_in_unit(cell.get("delta"), unit, delta=True)
    return paper, format_value(metric, cell.get("measured")) if shown else "", \
        format_value(metric, cell.get("delta"), delta=True)


def cell_view(cell: dict, column: ColumnView, device_default: str) -> CellView:
    """A table cell; a cell without a status (suite not run yet) shows the paper's number only."""
    metric = cell["metric"]
    style = status_style(cell.get("status")) if cell.get("status") else PENDING
    paper, measured, delta = shown_values(cell)
    shown = bool(measured)
    device = device_kind(cell, device_default) if metric in TIMING_METRICS and measured else ""
    sort_value = finite(cell.get("measured")) if shown else None
    if sort_value is None:
        sort_value = finite(cell.get("paper"))
    return CellView(
        css=f"st-{cell.get('status') or 'pending'}",
        symbol=style.symbol,
        status_label=style.label,
        paper=paper,
        measured=measured,
        delta=delta,
        device=device,
        title=_tooltip(cell, _cell_name(cell, column), style, device),
        status=cell.get("status") or "pending",
        off=tolerances_off(cell),
        sort="" if sort_value is None else repr(sort_value),
        data={"run": str(cell.get("run") or ""), "budget": str(cell.get("budget") or ""),
              "profile": str((cell.get("extra") or {}).get("profile_hash") or ""),
              "evidence": str(cell.get("evidence") or "")},
        per_image=_per_image_text(cell),
        badge={"under-budget": str(cell.get("budget") or "budget"), "stale": "stale"}.get(cell.get("status") or "", ""),
    )


class _Footnotes:
    """Numbers footnotes in table order; cells with the same text share one number."""

    def __init__(self) -> None:
        self.notes: dict[str, Footnote] = {}

    def add(self, text: str, where: str, cid: str) -> int | None:
        if not text:
            return None
        note = self.notes.setdefault(text, Footnote(len(self.notes) + 1, text))
        if where not in (w for w, _ in note.where):
            if len(note.where) < FOOTNOTE_WHERE_MAX:
                note.where.append((where, cid))
            else:
                note.more += 1
        return note.number


def build_table(suite: Suite, cells: list[dict], device_default: str = "") -> TableView:
    columns = derive_columns(suite, cells)
    by_key = {(c["entry"], c.get("scale"), c.get("dataset"), c["metric"]): c for c in cells}
    footnotes = _Footnotes()
    blocks: list[BlockView] = []
    for scale, entry in _row_keys(suite, cells):
        views: list[CellView | None] = []
        label = entry
        for col in columns:
            cell = (by_key.get((entry, scale, col.dataset, col.metric))
                    or by_key.get((entry, None, col.dataset, col.metric)))
            if cell is None:
                views.append(None)
                continue
            label = cell.get("row") or label
            view = cell_view(cell, col, device_default)
            view.cid = f"c{sum(len(b.rows) for b in blocks)}-{len(views)}"
            view.footnote = footnotes.add(_footnote_text(cell), _cell_name(cell, col), view.cid)
            views.append(view)
        if label == entry and entry in {e.id for e in suite.entries}:
            label = suite.entry(entry).row
        if not blocks or blocks[-1].scale != scale:
            blocks.append(BlockView(scale, []))
        blocks[-1].rows.append(RowView(entry, label, views))
    return TableView(columns, group_columns(columns), blocks, list(footnotes.notes.values()),
                     has_scales=any(b.scale is not None for b in blocks))


# ---------------------------------------------------------------------------------------------- provenance

@dataclass
class ProvenanceView:
    profile: list[tuple[str, str]]
    profile_hash: str
    profile_source: str  # "results" or "suite file (declared; no results yet)"
    profile_mismatch: str  # non-empty when the results' profile differs from the suite's declared one
    run: list[tuple[str, str]]
    data: list[tuple[str, str]]
    weights: list[tuple[str, str]]
    other: list[tuple[str, str]]
    runs: list[dict] = field(default_factory=list)  # every run that contributed a cell


def _no_paths(argv: list[str]) -> str:
    """The command line of a run with absolute paths shortened (no machine paths in pages)."""
    return " ".join(("…/" + Path(a).name) if a.startswith("/") else a for a in argv)


def run_rows(runs: dict) -> list[dict]:
    rows = []
    for rid, r in sorted(runs.items()):
        commit = str(r.get("git_commit", ""))[:10] + (" (uncommitted changes)" if r.get("git_dirty") else "")
        rows.append({"id": rid, "created": str(r.get("created", ""))[:16].replace("T", " "), "commit": commit,
                     "budget": r.get("budget") or "", "device": f"{r.get('device', '')} {r.get('name', '')}".strip(),
                     "command": _no_paths(r.get("argv") or []) if not r.get("legacy") else (r.get("note") or "legacy")})
    return rows


RUN_KEYS = ("created", "budget", "device", "harness_version", "git_commit", "python", "torch")


def _pairs(mapping: Any) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in sorted(mapping.items())] if isinstance(mapping, dict) else []


def provenance_view(suite: Suite, doc: dict | None) -> ProvenanceView:
    prov = dict((doc or {}).get("provenance") or {})
    declared = suite.metric_profile.record()
    profile = prov.pop("metric_profile", None) or {}
    source = "results" if profile else "suite file (declared; no results yet)"
    profile = profile or declared
    mismatch = ""
    if profile.get("hash") and profile.get("hash") != declared["hash"]:
        mismatch = (f"the results were measured with profile hash {profile.get('hash')}, but the suite file now "
                    f"declares {declared['hash']}: re-run reproduce")
    data, weights, runs = prov.pop("data", {}), prov.pop("weights", {}), prov.pop("runs", {}) or {}
    run = [(k, str(prov.pop(k))) for k in RUN_KEYS if k in prov]
    return ProvenanceView(
        profile=[(k, str(v)) for k, v in profile.items() if k != "hash"],
        profile_hash=str(profile.get("hash", "")),
        profile_source=source,
        profile_mismatch=mismatch,
        run=run,
        data=_pairs(data),
        weights=_pairs(weights),
        other=[(k, v if isinstance(v, str) else repr(v)) for k, v in sorted(prov.items())],
        runs=run_rows(runs),
    )


# ---------------------------------------------------------------------------------------------- rendering

def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(status_styles=STATUS_STYLES, harness_version=__version__, claim_css=CLAIM_CSS)
    env.filters["backticks"] = backticks
    env.filters["size_text"] = size_text
    return env


def backticks(text: str) -> markupsafe.Markup:
    """`command` spans of a plain-text message as <code> (the rest escaped): commands stand out to copy.
    Machine paths are shortened as in cell reasons (a claim's needs may quote a missing-data reason)."""
    text = no_machine_paths(str(text))
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: leave the text as it is
        return markupsafe.escape(text)
    return markupsafe.Markup("").join(markupsafe.Markup("<code>{}</code>").format(p) if i % 2 else markupsafe.escape(p)
                                      for i, p in enumerate(parts))


def _write(path: Path, text: str) -> Path:
    """Write atomically, and only when the text changed (an unchanged page keeps its mtime)."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
    return path


def _suite_ids(suites_dir: Path) -> list[str]:
    return sorted(p.stem for p in Path(suites_dir).glob("*.toml"))


def _load(suite_id: str, suites_dir: Path, results_dir: Path) -> tuple[Suite | None, dict | None, str]:
    """(suite, results doc, error message) — an unreadable file becomes a message on the index, not a crash."""
    try:
        suite = load_suite(Path(suites_dir) / f"{suite_id}.toml", check_models=False)
    except SuiteError as exc:
        return None, None, str(exc)
    try:
        return suite, read_results(results_path(results_dir, suite_id)), ""
    except ValueError as exc:
        return suite, None, str(exc)


def render_charts(suite: Suite, cells: list[dict], out_dir: Path) -> list[Chart]:
    """Remove the suite's old charts, then draw PSNR vs each x axis (only charts with ≥2 rows); the charts
    that redraw one of the paper's own figures (the suite's [[figures]]) come first, named after it."""
    import dataclasses

    for old in chart_files(out_dir, suite.id):
        old.unlink()
    charts = [c for x in X_AXES for c in plot_cells(suite.id, suite.table, cells, out_dir, x=x)]
    named = {(f.x, f.dataset, f.scale): f.id for f in suite.figures}
    charts = [dataclasses.replace(c, figure=named.get((c.x, c.dataset, c.scale), "")) for c in charts]
    order = {k: i for i, k in enumerate(named)}
    return sorted(charts, key=lambda c: order.get((c.x, c.dataset, c.scale), len(order)))


def _inputs_digest(suite: Suite, doc: dict | None, charts: bool, baseline: Path) -> str:
    """What a suite page is made of: its suite file, its results, its drift baseline, the templates, the code
    that renders it, and which of its training runs are committed (their curves and log links)."""
    import hashlib
    import json

    from harness import exports, plots

    h = hashlib.sha256()
    code = b"".join(Path(m.__file__).read_bytes() for m in (exports, plots))
    keys = sorted({c["training"]["run_key"] for c in (doc or {}).get("cells", []) if c.get("training")})
    committed = [(k, log.stat().st_size) for k in keys if (log := _committed_log(k)) is not None]
    for part in (suite.path.read_bytes() if suite.path else b"", json.dumps(doc, sort_keys=True).encode(),
                 str(charts).encode(), Path(__file__).read_bytes(), code, json.dumps(committed).encode(),
                 baseline.read_bytes() if baseline.is_file() else b"",
                 *(p.read_bytes() for p in sorted(TEMPLATES_DIR.glob("*")) if p.is_file())):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _up_to_date(page: Path, digest: str) -> bool:
    if not page.is_file():
        return False
    with open(page, encoding="utf-8") as fh:
        head = fh.read(2048)
    return f'<meta name="srbench-inputs" content="{digest}">' in head


def _committed_log(key: str) -> Path | None:
    """The committed training log of run ``key`` (``results/training/<key>/log.jsonl``), if there is one."""
    from harness.training.runs import COMMITTED_DIR

    log = Path(COMMITTED_DIR) / key / "log.jsonl"
    return log if log.is_file() else None


def training_runs(cells: list[dict], out_dir: Path, draw: bool = True) -> list[dict]:
    """The training runs behind a suite's trained cells, with their curve where the run is committed."""
    import os

    runs: dict[str, dict] = {}
    for c in cells:
        t = c.get("training")
        if not t:
            continue
        run = runs.setdefault(t["run_key"], {**t, "entries": set()})
        run["entries"].add(c["entry"])
    for key, run in runs.items():
        run["entries"] = ", ".join(sorted(run["entries"]))
        log = _committed_log(key)
        run["log"] = os.path.relpath(log, out_dir) if log is not None else None
        run["curve"] = None
        if log is not None and draw:  # drawn from the committed log (generated, like every chart)
            run["curve"] = plot_training_curve(log.parent, Path(out_dir) / f"training_{key}.svg").name
    return sorted(runs.values(), key=lambda r: (r["budget"], r["entries"]))


def render_suite_page(env: jinja2.Environment, suite: Suite, doc: dict | None, out_dir: Path,
                      charts: bool = True, results_dir: Path = RESULTS_DIR) -> list[Path]:
    """Render one suite page, its charts and its CSV files; skipped (files untouched) when nothing it is
    made of changed."""
    import os

    from harness import exports

    baseline_path = Path(results_dir) / "baselines" / f"{suite.id}.json"
    digest = _inputs_digest(suite, doc, charts, baseline_path)
    page = Path(out_dir) / f"{suite.id}.html"
    if _up_to_date(page, digest):
        return []
    cells = doc.get("cells", []) if doc is not None else paper_cells(suite)
    prov = (doc or {}).get("provenance") or {}
    table = build_table(suite, cells, device_default=str(prov.get("device", "")))
    drawn = render_charts(suite, cells, out_dir) if charts else []
    summary = summarize(suite.id, suite, doc)
    files = [_write(Path(out_dir) / f"{suite.id}.csv", exports.cells_csv(cells))]
    per_image = Path(out_dir) / f"{suite.id}.per_image.csv"
    if exports.per_image_rows(cells):
        files.append(_write(per_image, exports.per_image_csv(cells)))
    elif per_image.exists():
        per_image.unlink()
    results_file = results_path(results_dir, suite.id)
    links = {"json": os.path.relpath(results_file, out_dir) if doc is not None else "",
             "csv": f"{suite.id}.csv", "per_image": per_image.name if per_image.exists() else ""}
    html = env.get_template("suite.html").render(
        suite=suite, summary=summary, table=table, charts=drawn, provenance=provenance_view(suite, doc),
        measurable=MEASURABLE, claim_css=CLAIM_CSS, training_runs=training_runs(cells, Path(out_dir)),
        links=links, baseline=exports.baseline_diff(baseline_path, doc),
    )
    html = html.replace("<head>", f'<head>\n<meta name="srbench-inputs" content="{digest}">', 1)
    page = _write(page, html)
    return [page, *files, *(p for c in drawn for p in (c.svg, c.png))]


def render_index(env: jinja2.Environment, summaries: list[SuiteSummary], out_dir: Path) -> Path:
    run = [s for s in summaries if s.has_results]
    totals = count_statuses([])
    for s in run:
        for status, n in s.counts.items():
            totals[status] = totals.get(status, 0) + n
    overall = sum((s.reproduced for s in run), Reproduced(0, 0))
    from harness.claims import count_verdicts

    claims = count_verdicts([c for s in summaries for c in s.claims])
    paper_claims = Counter(c.get("paper_verdict") for s in summaries for c in s.claims)
    html = env.get_template("index.html").render(summaries=summaries, totals=totals, overall=overall,
                                                 measurable=MEASURABLE, suites_run=len(run), claims=claims,
                                                 paper_claims=dict(sorted(paper_claims.items())))
    return _write(Path(out_dir) / "index.html", html)


def render_reports(suite_ids: list[str] | None, results_dir: Path = RESULTS_DIR, out_dir: Path = REPORTS_DIR,
                   *, suites_dir: Path = SUITES_DIR, charts: bool = True) -> list[Path]:
    """Render the index and one page per suite (all suites when ``suite_ids`` is None or empty).

    The index always lists every suite of ``suites_dir``; a suite without a results file shows as
    "not run" (its page shows the paper's numbers only).  Returns the files written (pages, then charts).
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    all_ids = _suite_ids(suites_dir)
    wanted = list(suite_ids) if suite_ids else all_ids
    unknown = [s for s in wanted if s not in all_ids]
    if unknown:
        raise SuiteError(f"unknown suite(s) {', '.join(unknown)}; known suites: {', '.join(all_ids) or '(none)'}")
    env = _environment()
    written: list[Path] = []
    summaries = []
    for suite_id in all_ids:
        suite, doc, error = _load(suite_id, suites_dir, results_dir)
        if suite is not None and suite_id in wanted:
            written += render_suite_page(env, suite, doc, out_dir, charts=charts, results_dir=results_dir)
        summary = summarize(suite_id, suite, doc, error)
        if (out_dir / f"{suite_id}.html").exists() and suite is not None:
            summary.page = f"{suite_id}.html"
        summaries.append(summary)
    return [render_index(env, summaries, out_dir), *written]

