"""Claims: a paper's conclusions as typed, checkable statements over rows and columns of a suite.

A per-cell ``match`` cannot confirm "CRB beats RB": that is an ordering between rows, often of 0.01–0.1 dB.
A suite declares such statements as ``[[claims]]`` tables (validated with the rest of the suite) and
``evaluate_claims(suite, cells)`` judges each twice:

* ``paper_verdict`` — on the paper's own printed numbers (``holds`` / ``fails``; ``unchecked`` when the paper
  prints no number for it, e.g. a statement about a figure);
* ``verdict`` — on measured cells: ``holds``, ``fails``, ``inconclusive`` (the measured gap is inside the
  noise band) or ``not-run`` (a cell is missing; ``needs`` says what it would take).

Kinds (``kind = ...``)

``ordering``     every row of ``a`` ``op`` every row of ``b`` (``>``, ``>=``, ``<``, ``<=``; ``paired = true``:
                 ``a[i]`` against ``b[i]`` only) on each column (``over = "each"``, default) or on the mean
                 over the columns (``over = "mean"``).
``difference``   ``a − b ≈ value ± tolerance`` (rows paired in order; one row broadcasts).
``ratio``        ``a / b ≈ value ± tolerance``.
``bound``        ``a`` within ``within`` (``"5%"`` or a fraction) of ``b``: ``|a − b| / |b| ≤ within``;
                 ``side = "below"`` only bounds how far ``a`` falls below ``b``.
``trend``        the rows of ``sequence`` increase (``direction``) step by step; ``saturates = true``: they
                 increase, then stop increasing (no step falls by more than ``saturation``).
``text``         a sentence's number against the table: ``quantity`` (``difference``, ``ratio``,
                 ``gain_pct`` = 100 (a − b)/b, ``reduction_pct`` = 100 (b − a)/b, ``percent_of`` =
                 100 a/b, ``value`` = a) aggregated
                 ``over`` the columns and pairs (``each``, ``max``, ``min``, ``mean``) ≈ ``value`` as
                 ``printed`` in the sentence (tolerance: the stated one, else half a unit of ``printed``).
``observation``  a statement no table prints a number for (a training curve, a figure): declared with
                 ``needs``; paper verdict ``unchecked``, verdict ``not-run``.

Columns: ``metric`` plus optional ``datasets`` / ``scales``; a pair of rows is compared on the columns both
rows print (filtered by ``datasets`` / ``scales``).  Rows of different scales simply share no column.

Noise band of a measured value (``noise`` in the output):

1. repeated seeds — several values of one cell: (a) a cell whose ``extra.seed_values`` lists the per-seed
   values (``measured`` is then their mean), (b) several cells of the same key whose ``extra.seed`` differ,
   (c) repeat rows named in the claim's ``repeats = { row = ["row_seed1", ...] }`` (same model, another
   seed).  The band is the spread (max − min) of the values; a trained row without repeats in a claim where
   other rows have them gets the largest spread measured in the claim (stated as an assumption).
2. else the metric's match band in ``harness.catalog`` (``CATALOG[metric].band.match``: absolute, ``N%``, or
   ``printed`` = half a unit of the paper's printed number).  For trained rows this is the pipeline noise
   floor only; ``needs`` then asks for a second seed.

Each value is an interval ``value ± band``; the claim's quantity is computed with interval arithmetic and
the verdict is ``holds`` when the whole interval satisfies the claim, ``fails`` when none of it does, else
``inconclusive``.  The paper verdict of ``ordering`` and ``trend`` compares the printed values as printed
(23.52 < 23.53 fails "highest"); the quantity kinds give each printed number its rounding (half a printed
unit) and hold when the stated value is consistent with the table's rounding.

Which measured cells count: never cells with status ``stale`` or ``error``, never a cell without a finite
``measured``.  Cells of ``train`` rows' image metrics must come from a qualifying ``budget`` (the claim's
``budget``: a name or a list; default ``["short", "paper"]`` — smoke runs prove the pipeline only) and all
come from one training setup: one budget and, where cells record it, one ``extra.iterations``.  Among the
qualifying setups the one covering most cells wins (ties: paper > short > smoke).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from itertools import product
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.catalog import get_metric
from harness.training.recipes import unequal_recipes

if TYPE_CHECKING:  # harness.suite imports this module
    from harness.suite import Suite

ClaimKind = Literal["ordering", "difference", "ratio", "bound", "trend", "text", "observation"]
VERDICTS = ("holds", "fails", "inconclusive", "not-run")
PAPER_VERDICTS = ("holds", "fails", "unchecked")
BUDGET_NAMES = ("smoke", "short", "paper")
DEFAULT_BUDGETS = ("short", "paper")
BUDGET_RANK = {"paper": 3, "short": 2, "smoke": 1}
NEVER_COUNT = frozenset({"stale", "error"})
SOURCE_RE = re.compile(r"\d{3} L\d+(-\d+)?(, ?L\d+(-\d+)?)*")
EPS = 1e-9


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class Claim(_Strict):
    """One declared claim (a ``[[claims]]`` table of a suite file)."""

    id: str
    kind: ClaimKind
    statement: str  # the paper's sentence (or a faithful paraphrase of a table's conclusion)
    source: str  # "<paper number> L<line>[-<line>][, L<line>]" in ../shared/papers, e.g. "000 L1234"
    metric: str | None = None
    # Judged on measured cells of this metric where ``metric`` itself cannot be measured here (RepSR Table 3:
    # total A100 training time printed, seconds per iteration timed here; a ratio compares either way).
    measured_metric: str | None = None
    datasets: list[str] | None = None
    scales: list[int] | None = None
    a: list[str] = Field(default_factory=list)  # rows (entry ids)
    b: list[str] = Field(default_factory=list)
    sequence: list[str] = Field(default_factory=list)  # trend
    op: Literal[">", ">=", "<", "<="] = ">"
    paired: bool = False  # ordering: compare a[i] with b[i] only (default: every row of a with every row of b)
    over: Literal["each", "mean", "max", "min"] = "each"
    quantity: Literal["difference", "ratio", "gain_pct", "reduction_pct", "percent_of", "value"] | None = None
    value: float | None = None  # difference / ratio / text: the stated number
    printed: str = ""  # text: the number as the sentence prints it ("0.23%")
    tolerance: float | None = None  # absolute, on the quantity
    within: float | str | None = None  # bound: "5%" or a fraction
    side: Literal["both", "below"] = "both"
    direction: Literal["increasing", "decreasing"] = "increasing"
    saturates: bool = False
    saturation: float | None = None  # trend: largest step against the direction still counted as saturated
    budget: str | list[str] | None = None
    repeats: dict[str, list[str]] = Field(default_factory=dict)
    needs: str = ""  # what it would take to measure (observation; else added to the generated needs)
    note: str = ""

    @field_validator("id")
    @classmethod
    def _id_slug(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9_][a-z0-9_\-]*", v):
            raise ValueError("claim id must be lower-case letters, digits, '_' or '-'")
        return v

    @field_validator("statement")
    @classmethod
    def _statement(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("statement must quote or paraphrase the paper")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not SOURCE_RE.fullmatch(v.strip()):
            raise ValueError("source must be '<paper> L<line>' as in '000 L1234' or '004 L310-312, L400'")
        return v.strip()

    @field_validator("a", "b", "sequence", mode="before")
    @classmethod
    def _rows(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        for name in _as_list(v) or []:
            if name not in BUDGET_NAMES:
                raise ValueError(f"unknown budget {name!r}; known: {', '.join(BUDGET_NAMES)}")
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Claim:
        k = self.kind

        def need(field: str, why: str) -> None:
            raise ValueError(f"a {k} claim needs {field!r} ({why})")

        if k != "observation" and not self.metric:
            need("metric", "the column it compares")
        if k in ("ordering", "difference", "ratio", "bound") or (k == "text" and self.quantity != "value"):
            if not self.a:
                need("a", "the row(s) on the left-hand side")
            if not self.b:
                need("b", "the row(s) it is compared with")
        if (k in ("difference", "ratio", "bound", "text") or self.paired) and len(self.a) > 1 and len(self.b) > 1 \
                and len(self.a) != len(self.b):
            raise ValueError(f"'a' ({len(self.a)} rows) and 'b' ({len(self.b)} rows) are paired in order: "
                             "give lists of equal length, or one row on one side")
        if k in ("difference", "ratio"):
            if self.value is None:
                need("value", f"the stated {k}")
            if self.tolerance is None:
                need("tolerance", f"how far the {k} may be from the stated value")
        if k == "bound" and self.within is None:
            need("within", "the bound, e.g. \"5%\"")
        if k == "bound":
            self.within_fraction()  # validates the string
        if k == "trend" and len(self.sequence) < 2:
            need("sequence", "at least two rows, in the order of the trend")
        if k == "text":
            if self.quantity is None:
                need("quantity", "difference, ratio, gain_pct, reduction_pct, percent_of or value")
            if self.value is None:
                need("value", "the number the sentence states")
            if not self.printed:
                need("printed", "the number as the sentence prints it")
            if self.quantity == "value" and not self.a:
                need("a", "the row(s) whose value the sentence states")
        if k == "observation" and not self.needs:
            need("needs", "what it would take to check it: no table prints its numbers")
        if self.over in ("max", "min") and k not in ("text", "difference", "ratio"):
            raise ValueError(f"over = {self.over!r} applies to text, difference and ratio claims only")
        return self

    # -- helpers
    def rows(self) -> list[str]:
        out = list(dict.fromkeys([*self.a, *self.b, *self.sequence]))
        for base, reps in self.repeats.items():
            out += [base, *reps]
        return list(dict.fromkeys(out))

    def within_fraction(self) -> float | None:
        w = self.within
        if w is None:
            return None
        if isinstance(w, str):
            try:
                return float(w.rstrip("%").strip()) / (100.0 if w.strip().endswith("%") else 1.0)
            except ValueError:
                raise ValueError(f"within must be a fraction or \"N%\", not {w!r}") from None
        return float(w)

    def budgets(self) -> tuple[str, ...]:
        return tuple(_as_list(self.budget)) if self.budget else DEFAULT_BUDGETS

    def pairs(self) -> list[tuple[str, str]]:
        if self.kind == "ordering" and not self.paired:
            return [(x, y) for x in self.a for y in self.b if x != y]
        if self.kind == "text" and self.quantity == "value":
            return [(x, x) for x in self.a]
        if len(self.a) == 1 or len(self.b) == 1:
            return [(x, y) for x in self.a for y in self.b]
        return list(zip(self.a, self.b, strict=True))


# ---------------------------------------------------------------------------------------------- validation

Col = tuple[str | None, int | None]


def _paper_cols(suite: Suite, entry_id: str, metric: str) -> dict[Col, Any]:
    return {(pc.dataset, pc.scale): pc for pc in suite.entry(entry_id).paper
            if pc.metric == metric and pc.value is not None}  # a printed "-" is no column


def _filtered(claim: Claim, cols: list[Col]) -> list[Col]:
    return [c for c in cols if (claim.datasets is None or c[0] in claim.datasets)
            and (claim.scales is None or c[1] in claim.scales)]


def columns_for(suite: Suite, claim: Claim, rows: list[str]) -> list[Col]:
    """Columns on which all of ``rows`` are compared: those they all print (in table order), filtered by the
    claim's datasets / scales; a row that prints none of the metric (a model trained here that the table lacks)
    takes those of the printed rows' columns it is scored on; when none of them prints the metric, the
    declared datasets × scales."""
    assert claim.metric
    per_row = [_paper_cols(suite, r, claim.metric) for r in rows]
    if any(per_row):
        printed = [p for p in per_row if p]
        common = [c for c in printed[0] if all(c in p for p in printed[1:])]
        for r, p in zip(rows, per_row):  # a row the paper does not print (trained here only: a model the table
            if not p:                    # lacks) takes the printed rows' columns it is scored on
                targets = suite.entry(r).image_targets()
                common = [c for c in common if claim.metric in targets.get(c, set())]
        return _filtered(claim, common)
    scales = claim.scales or list(dict.fromkeys(suite.entry(r).scale for r in rows))
    if len(scales) > 1 and claim.scales is None:
        return []  # rows of different scales and no printed cell: nothing is common
    return list(product(claim.datasets or [None], scales))


def check_claims(suite: Suite) -> None:
    """Suite-level checks of the claims (ValueError naming the claim and the field)."""
    from harness.catalog import known_metrics

    ids = {e.id for e in suite.entries}
    known = known_metrics() | set(suite.metrics)
    seen: set[str] = set()
    for i, c in enumerate(suite.claims):
        where = f"claims[{i}] (id={c.id!r})"
        if c.id in seen:
            raise ValueError(f"{where}: claim id {c.id!r} appears twice")
        seen.add(c.id)
        named = {"a": c.a, "b": c.b, "sequence": c.sequence, "repeats": [*c.repeats,
                                                                          *(r for v in c.repeats.values() for r in v)]}
        for field, rows in named.items():
            for r in rows:
                if r not in ids:
                    raise ValueError(f"{where}.{field}: no entry {r!r} in this suite; entries: {', '.join(sorted(ids))}")
        if c.metric is not None and c.metric not in known:
            raise ValueError(f"{where}.metric: unknown metric {c.metric!r}")
        if c.measured_metric is not None and c.measured_metric not in known:
            raise ValueError(f"{where}.measured_metric: unknown metric {c.measured_metric!r}")
        metric = c.measured_metric or c.metric
        for base, reps in c.repeats.items():
            for r in reps:
                if metric and not any(metric in m for m in suite.entry(r).image_targets().values()):
                    raise ValueError(f"{where}.repeats: the repeat row {r!r} of {base!r} does not measure "
                                     f"{metric!r}, so it cannot give the claim's seed band; add "
                                     f"measure = [\"{metric}\"] (and its datasets) to entry {r!r}")
        if c.kind == "observation":
            continue
        groups = [c.sequence] if c.kind == "trend" else [list(p) for p in c.pairs()]
        if not any(columns_for(suite, c, list(dict.fromkeys(g))) for g in groups):
            raise ValueError(f"{where}.metric: rows {', '.join(c.rows())} share no column of {c.metric!r}"
                             f"{' within datasets/scales' if c.datasets or c.scales else ''}; "
                             "declare 'datasets' and 'scales' or fix the rows")


# ---------------------------------------------------------------------------------------------- intervals

Iv = tuple[float, float]


def _sub(x: Iv, y: Iv) -> Iv:
    return (x[0] - y[1], x[1] - y[0])


def _div(x: Iv, y: Iv) -> Iv | None:
    if y[0] <= 0 <= y[1]:
        return None
    q = [x[0] / y[0], x[0] / y[1], x[1] / y[0], x[1] / y[1]]
    return (min(q), max(q))


def _scale(x: Iv, k: float) -> Iv:
    return (min(x[0] * k, x[1] * k), max(x[0] * k, x[1] * k))


def _quantity(q: str, a: Iv, b: Iv) -> Iv | None:
    if q == "difference":
        return _sub(a, b)
    if q == "value":
        return a
    r = _div(a, b)
    if r is None:
        return None
    if q == "ratio":
        return r
    if q == "percent_of":
        return _scale(r, 100.0)
    if q == "gain_pct":
        return _scale((r[0] - 1, r[1] - 1), 100.0)
    if q == "reduction_pct":
        return _scale((1 - r[1], 1 - r[0]), 100.0)
    raise ValueError(q)


def _judge(iv: Iv, lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> str:
    """Interval ``iv`` against the region (lo, hi): inside → holds, disjoint → fails, else inconclusive."""
    above = iv[0] > lo + EPS if open_lo else iv[0] >= lo - EPS
    below = iv[1] < hi - EPS if open_hi else iv[1] <= hi + EPS
    if above and below:
        return "holds"
    out_lo = iv[1] <= lo + EPS if open_lo else iv[1] < lo - EPS
    out_hi = iv[0] >= hi - EPS if open_hi else iv[0] > hi + EPS
    return "fails" if out_lo or out_hi else "inconclusive"


def _order_region(op: str) -> dict:
    inf = math.inf
    return {">": {"lo": 0.0, "hi": inf, "open_lo": True}, ">=": {"lo": 0.0, "hi": inf},
            "<": {"lo": -inf, "hi": 0.0, "open_hi": True}, "<=": {"lo": -inf, "hi": 0.0}}[op]


def _combine(verdicts: list[str]) -> str:
    if "fails" in verdicts:
        return "fails"
    if "not-run" in verdicts or not verdicts:
        return "not-run"
    if "inconclusive" in verdicts:
        return "inconclusive"
    return "holds"


def _aggregate(over: str, ivs: list[Iv]) -> Iv:
    if over == "max":
        return (max(i[0] for i in ivs), max(i[1] for i in ivs))
    if over == "min":
        return (min(i[0] for i in ivs), min(i[1] for i in ivs))
    return (sum(i[0] for i in ivs) / len(ivs), sum(i[1] for i in ivs) / len(ivs))


def half_unit(printed: str | None, value: float | None = None) -> float:
    """Half a unit of the last printed digit, in the value's unit ("412K" → 500, "31.92/0.8903" for 0.89 → 5e-5)."""
    if not printed:
        return 0.0
    best: tuple[float, float] | None = None
    for part in printed.replace(",", "").split("/"):
        m = re.search(r"(-?\d+(?:\.(\d+))?)\s*([KkMmGg%]?)", part)
        if not m:
            continue
        suffix = {"k": 1e3, "m": 1e6, "g": 1e9}.get(m.group(3).lower(), 1.0)
        # "412K" with value 412000 is in thousands; "90.9G" with value 90.9 is already in G
        mult = suffix if value is not None and abs(float(m.group(1)) * suffix - value) < abs(float(m.group(1)) - value) \
            else 1.0
        number = float(m.group(1)) * mult
        h = 0.5 * 10 ** -(len(m.group(2) or "")) * mult
        if best is None or (value is not None and abs(number - value) < abs(best[0] - value)):
            best = (number, h)
    return best[1] if best else 0.0


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _ivfmt(iv: Iv) -> str:
    return _fmt(iv[0]) if abs(iv[1] - iv[0]) < EPS else f"[{_fmt(iv[0])}, {_fmt(iv[1])}]"


def _colname(col: Col) -> str:
    ds, sc = col
    return " ".join(p for p in (ds, f"×{sc}" if sc is not None else "") if p) or "(no dataset)"


# ---------------------------------------------------------------------------------------------- judging

class _Values:
    """Values of the claim's cells on one side (paper or measured): value ± band, keyed (entry, column)."""

    def __init__(self) -> None:
        self.iv: dict[tuple[str, Col], Iv] = {}
        self.point: dict[tuple[str, Col], float] = {}

    def put(self, key: tuple[str, Col], value: float, band: float) -> None:
        self.point[key] = value
        self.iv[key] = (value - band, value + band)


def _judge_claim(claim: Claim, suite: Suite, vals: _Values, *, paper: bool) -> tuple[str, str, list[tuple]]:
    """(verdict, detail, used keys) of ``claim`` on ``vals``.  Missing values → ``not-run`` (or ``unchecked``
    for the paper side).  Ordering and trend on the paper side compare the printed points as printed."""
    missing_verdict = "unchecked" if paper else "not-run"
    used: list[tuple] = []

    def get(entry: str, col: Col) -> Iv | None:
        key = (entry, col)
        used.append(key)
        if key not in vals.iv:
            return None
        if paper and claim.kind in ("ordering", "trend"):
            p = vals.point[key]
            return (p, p)
        return vals.iv[key]

    if claim.kind == "trend":
        return _judge_trend(claim, suite, get, missing_verdict, paper) + (used,)

    items: list[tuple[str, str, Col, Iv | None]] = []  # (a, b, column, quantity interval or None = missing)
    for x, y in claim.pairs():
        for col in columns_for(suite, claim, list(dict.fromkeys([x, y]))):
            ia, ib = get(x, col), get(y, col)
            if ia is None or ib is None:
                items.append((x, y, col, None))
                continue
            if claim.kind in ("ordering",):
                q: Iv | None = _sub(ia, ib)
            elif claim.kind == "bound":
                q = _quantity("gain_pct", ia, ib)
                q = None if q is None else _scale(q, 0.01)
            else:
                q = _quantity(claim.quantity or claim.kind, ia, ib)
            items.append((x, y, col, q))

    def label(x: str, y: str, col: Col) -> str:
        return f"{x} vs {y} {_colname(col)}" if x != y else f"{x} {_colname(col)}"

    missing = [label(x, y, c) for x, y, c, q in items if q is None]
    region = _region(claim)
    rounded: list[bool] = []

    def jd(q: Iv) -> str:
        """Judge one quantity; on the paper side a stated number consistent with the table's printed rounding
        (the interval overlaps the claim's region) holds."""
        v = _judge(q, **region)
        if paper and v == "inconclusive":
            rounded.append(True)
            return "holds"
        return v

    def within_rounding(text: str) -> str:
        return text + (" (within the printed rounding)" if rounded else "")
    if claim.over == "each":
        verdicts, notes = [], []
        for x, y, col, q in items:
            if q is None:
                verdicts.append("not-run")
                continue
            v = jd(q)
            verdicts.append(v)
            if v != "holds":
                notes.append(f"{label(x, y, col)}: {_ivfmt(q)} {v}")
        verdict = _combine(verdicts)
        if verdict == "not-run" and paper:
            verdict = "unchecked"
        judged = len(items) - len(missing)
        detail = f"{judged - len(notes)} of {judged} judged comparisons hold" if judged else "nothing to judge"
        if notes:
            detail += "; " + "; ".join(notes[:8]) + (f"; and {len(notes) - 8} more" if len(notes) > 8 else "")
        if missing:
            detail += f"; missing: {', '.join(missing[:6])}" + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        return verdict, within_rounding(detail), used
    if missing:
        return missing_verdict, f"missing: {', '.join(missing[:6])}", used
    if claim.kind == "ordering":  # over = "mean": mean of each row over the columns, then the pairs
        verdicts, notes = [], []
        for x, y in claim.pairs():
            qs = [q for a_, b_, _, q in items if (a_, b_) == (x, y) and q is not None]
            if not qs:
                continue
            q = _aggregate("mean", qs)
            v = jd(q)
            verdicts.append(v)
            notes.append(f"{x} vs {y} mean over {len(qs)} columns: {_ivfmt(q)} {v}")
        return _combine(verdicts), "; ".join(notes), used
    q = _aggregate(claim.over, [q for *_, q in items if q is not None])
    v = jd(q)
    target = f"{claim.value:g} ± {region['hi'] - claim.value:g}" if claim.value is not None else ""
    return v, within_rounding(f"{claim.over} over {len(items)} comparisons: {_ivfmt(q)} vs {target} → {v}"), used


def _region(claim: Claim) -> dict:
    if claim.kind == "ordering":
        return _order_region(claim.op)
    if claim.kind == "bound":
        w = claim.within_fraction() or 0.0
        return {"lo": -w, "hi": math.inf if claim.side == "below" else w}
    assert claim.value is not None
    tol = claim.tolerance if claim.tolerance is not None else half_unit(claim.printed, claim.value)
    return {"lo": claim.value - tol, "hi": claim.value + tol}


def _judge_trend(claim: Claim, suite: Suite, get, missing_verdict: str, paper: bool) -> tuple[str, str]:
    sign = 1.0 if claim.direction == "increasing" else -1.0
    cols = columns_for(suite, claim, claim.sequence)
    verdicts, notes = [], []
    for col in cols:
        ivs = [get(r, col) for r in claim.sequence]
        if any(iv is None for iv in ivs):
            verdicts.append("not-run")
            notes.append(f"{_colname(col)}: missing")
            continue
        steps = [_scale(_sub(ivs[i + 1], ivs[i]), sign) for i in range(len(ivs) - 1)]
        step_v = [_judge(s, lo=0.0, hi=math.inf, open_lo=True) for s in steps]
        if claim.saturates:
            sat = claim.saturation if claim.saturation is not None else 0.0
            k = next((i for i, v in enumerate(step_v) if v != "holds"), len(step_v))
            if k == 0:  # it must increase at least once — and a later fall beyond the saturation still fails it
                v = _combine([step_v[0], *(_judge(s, lo=-sat, hi=math.inf) for s in steps[1:])])
            else:
                v = _combine(["holds", *(_judge(s, lo=-sat, hi=math.inf) for s in steps[k:])])
        else:
            v = _combine(step_v)
        verdicts.append(v)
        notes.append(f"{_colname(col)}: steps {', '.join(_ivfmt(_scale(s, sign)) for s in steps)} → {v}")
    verdict = _combine(verdicts)
    if verdict == "not-run" and paper:
        verdict = "unchecked" if missing_verdict == "unchecked" else verdict
    return verdict, "; ".join(notes)


# ---------------------------------------------------------------------------------------------- cells

def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _band(suite: Suite, metric: str, value: float, printed: str | None) -> tuple[float, str]:
    m = get_metric(metric, suite.metrics)
    match = m.band.match if m else "printed"
    if isinstance(match, str) and match.endswith("%"):
        frac = float(match[:-1]) / 100
        return abs(value) * frac, f"catalog band {match} of {metric}"
    if match == "printed":
        return half_unit(printed, value), f"catalog band of {metric}: half a printed unit"
    return float(match), f"catalog band ±{match} of {metric}"


def _setup(cell: dict) -> tuple[str, Any]:
    extra = cell.get("extra") or {}
    return (str(cell.get("budget") or "paper"), extra.get("iterations") if isinstance(extra, dict) else None)


def _is_trained(suite: Suite, entry_id: str, metric: str) -> bool:
    m = get_metric(metric, suite.metrics)
    return suite.entry(entry_id).obtain == "train" and (m is None or m.kind == "metrics")


def _select(claim: Claim, suite: Suite, cells: list[dict]) -> tuple[dict, str | None, list[str]]:
    """Qualifying cells by (entry, column) → list of cells, the chosen budget, and notes on what was left out."""
    rows = set(claim.rows())
    usable: dict[tuple[str, Col], list[dict]] = defaultdict(list)
    dropped: list[str] = []
    for c in cells:
        if c.get("entry") not in rows or c.get("metric") != (claim.measured_metric or claim.metric):
            continue
        if c.get("status") in NEVER_COUNT:
            dropped.append(f"{c['entry']} {_colname((c.get('dataset'), c.get('scale')))}: status {c.get('status')}")
            continue
        if _finite(c.get("measured")) is None:
            continue
        usable[(c["entry"], (c.get("dataset"), c.get("scale")))].append(c)
    trained = {k: v for k, v in usable.items() if _is_trained(suite, k[0], claim.metric)}
    allowed = claim.budgets()
    setups: dict[tuple, int] = defaultdict(int)
    for cs in trained.values():
        for s in {_setup(c) for c in cs if _setup(c)[0] in allowed}:
            setups[s] += 1
    skipped_budgets = sorted({_setup(c)[0] for cs in trained.values() for c in cs} - set(allowed))
    if skipped_budgets:
        dropped.append(f"trained cells of budget {', '.join(skipped_budgets)} do not qualify "
                       f"(claim budget: {', '.join(allowed)})")
    best = max(setups, key=lambda s: (setups[s], BUDGET_RANK.get(s[0], 0), str(s[1]))) if setups else None
    out: dict[tuple[str, Col], list[dict]] = {}
    for k, cs in usable.items():
        keep = [c for c in cs if _setup(c) == best] if k in trained else cs
        if keep:
            out[k] = keep
    return out, (best[0] if best else None), dropped


def _measured_values(claim: Claim, suite: Suite, cells: list[dict]) -> tuple[_Values, dict]:
    selected, budget, dropped = _select(claim, suite, cells)
    rep_of = {r: base for base, reps in claim.repeats.items() for r in reps}
    samples: dict[tuple[str, Col], list[float]] = defaultdict(list)
    used_cells: dict[tuple[str, Col], list[dict]] = defaultdict(list)
    repeated: set[tuple[str, Col]] = set()
    for (entry, col), cs in selected.items():
        base = rep_of.get(entry, entry)
        seen_seeds: set = set()
        for c in cs:
            extra = c.get("extra") if isinstance(c.get("extra"), dict) else {}
            seeds = [v for v in (_finite(x) for x in (extra.get("seed_values") or extra.get("repeat_values") or []))
                     if v is not None]
            if extra.get("repeat_values"):
                repeated.add((base, col))
            seed = extra.get("seed")
            if seeds:
                samples[(base, col)] += seeds
            elif seed is None or seed not in seen_seeds:
                samples[(base, col)].append(float(c["measured"]))
            seen_seeds.add(seed)
            used_cells[(base, col)].append(c)
    spreads = {k: max(v) - min(v) for k, v in samples.items() if len(v) >= 2}
    # a timing cell's value is the median of its repeats; the claim uses that, with the repeats' spread as band
    medians = {k: float(used_cells[k][0]["measured"]) for k in repeated if len(used_cells[k]) == 1}
    vals = _Values()
    noise: dict[str, Any] = {"values": {}}
    seeded_max = max(spreads.values()) if spreads else None
    seedless_trained: list[str] = []
    for key, v in samples.items():
        mean = medians.get(key, sum(v) / len(v))
        entry, col = key
        pcell = next((pc for pc in suite.entry(entry).paper if pc.metric == claim.metric
                      and (pc.dataset, pc.scale) == col), None)
        trained = _is_trained(suite, entry, claim.metric)
        if key in spreads and key in repeated:
            band, src = spreads[key], f"spread of {len(v)} timed repeats (max − min)"
        elif key in spreads:
            band, src = spreads[key], f"seed spread of {len(v)} runs (max − min)"
        elif trained and seeded_max is not None:
            band, src = seeded_max, "largest seed spread in this claim (this row has no repeats: assumed equal)"
        else:
            band, src = _band(suite, claim.measured_metric or claim.metric, mean, pcell.printed if pcell else None)
            if trained:
                src += " (no repeated seeds: the training noise is not measured)"
                seedless_trained.append(entry)
        vals.put(key, mean, band)
        noise["values"][f"{entry} {_colname(col)}"] = {"band": band, "source": src, "n": len(v)}
    info = {"budget": budget, "dropped": dropped, "cells": used_cells, "spreads": spreads,
            "seedless_trained": sorted(set(seedless_trained))}
    return vals, {**info, "noise": noise}


def _paper_values(claim: Claim, suite: Suite) -> _Values:
    vals = _Values()
    for r in claim.rows():
        for pc in suite.entry(r).paper:
            if pc.metric == claim.metric and pc.value is not None:
                vals.put((r, (pc.dataset, pc.scale)), pc.value, half_unit(pc.printed, pc.value))
    return vals


def _excerpt(text: Any, n: int = 140) -> str:
    """A cell's reason or a row's note quoted in a claim's needs: backticks dropped (the quote is not advice to
    copy; the cell holds it), cut at ``n`` characters."""
    text = str(text or "").strip().replace("`", "")
    return text[:n] + ("…" if len(text) > n else "")


def _blocked(claim: Claim, entry: str, cells: list[dict]) -> str:
    """Why an entry's cells for this claim stay unmeasured when running it again would not help (architecture
    only, GPU timing, missing data: the cell's own reason), else ''."""
    metric = claim.measured_metric or claim.metric
    for c in cells:
        if (c.get("extra") or {}).get("budget_skip"):
            continue  # capped by the run's budget: a larger budget measures it (the command below says so)
        if c.get("entry") == entry and c.get("metric") == metric and c.get("status") in (
                "not-run", "missing-data", "missing-weights") and not str(c.get("reason", "")).startswith(
                "not measured yet"):
            return f"{entry}: {c['status']} — {_excerpt(c.get('reason'))}"
    return ""


def _data_missing(claim: Claim, entry: str, cols: list[Col], cells: list[dict]) -> str:
    """The missing-data reason when every one of a row's unjudged columns lacks its data (re-running or
    training the row would not help), else ''."""
    metric = claim.measured_metric or claim.metric
    found = [c for c in cells if c.get("entry") == entry and c.get("metric") == metric
             and (c.get("dataset"), c.get("scale")) in cols]
    if cols and len(found) >= len(cols) and all(c.get("status") == "missing-data" for c in found):
        return f"{entry}: missing-data — {_excerpt(found[0].get('reason'))}"
    return ""


def _needs(claim: Claim, suite: Suite, vals: _Values, used: list[tuple], info: dict, cells: list[dict]) -> str:
    missing = list(dict.fromkeys(e for e, col in used if (e, col) not in vals.iv))
    parts = []
    if missing:
        paper_only = [e for e in missing if suite.entry(e).obtain == "paper-only"]
        unjudged = {e: [col for r, col in used if r == e and (r, col) not in vals.iv] for e in missing}
        # a trained row's not-run cells are trained for; its missing data is not (DIV2K here)
        blocked = {e: why for e in missing if e not in paper_only and (
            why := (_blocked(claim, e, cells) if suite.entry(e).obtain != "train"
                    else _data_missing(claim, e, unjudged[e], cells)))}
        runnable = [e for e in missing if e not in paper_only and e not in blocked]
        parts += list(blocked.values())
        if runnable:
            trained = [e for e in runnable if suite.entry(e).obtain == "train"]
            budget = claim.budgets()[0]
            metric = claim.measured_metric or claim.metric
            capped = any((c.get("extra") or {}).get("budget_skip") for c in cells
                         if c.get("entry") in runnable and c.get("metric") == metric)
            cmd = f"`python -m harness reproduce {suite.id} --entries {','.join(runnable)}"
            if trained:  # the paper budget trains on the recipe's own data and schedule: a GPU's work
                cmd += f" --budget {budget}" + (" --device cuda`" if budget == "paper" else "`")
            else:
                cmd += " --budget paper`" if capped else "`"
            if trained and budget != "paper":
                cmd += ("; a short run over the CPU cap is refused on a CPU: run it on a GPU with --device cuda "
                        f"(`python -m harness train {suite.id} --entries {','.join(trained)} --budget {budget} --estimate` "
                        "says how long)")
            elif trained:
                cmd += "; the paper budget trains on a GPU, on the recipe's own training data"
            parts.append(f"measure {', '.join(runnable)} ({cmd})")
        for e in paper_only:
            parts.append(f"{e} is paper-only: {_excerpt(suite.entry(e).reason.strip().rstrip('.'), 160)}")
    if info.get("seedless_trained"):
        seedless = info["seedless_trained"]
        declared = [r for e in seedless for r in claim.repeats.get(e, [])]
        undeclared = [e for e in seedless if not claim.repeats.get(e)]
        if declared:  # the repeats are declared but have no qualifying cells yet: run them
            budget = info.get("budget") or claim.budgets()[0]
            parts.append(f"the declared seed repeats {', '.join(declared)} measured under {budget} "
                         f"(`python -m harness reproduce {suite.id} --entries {','.join(declared)} --budget {budget}`) "
                         "to measure the seed noise")
        if undeclared:
            parts.append(f"a second seed of {', '.join(undeclared)} (declare repeats) to measure the seed noise")
    if claim.needs:
        parts.append(claim.needs)
    return "; ".join(parts)


def evaluate_claim(suite: Suite, claim: Claim, cells: list[dict]) -> dict:
    """One claim's record for ``results/<suite>.json`` (README, "Claims")."""
    base = {"id": claim.id, "statement": claim.statement, "source": claim.source, "kind": claim.kind,
            "metric": claim.metric, **({"measured_metric": claim.measured_metric} if claim.measured_metric else {})}
    if claim.kind == "observation":
        return {**base, "paper_verdict": "unchecked", "paper_detail": "the paper prints no number for it",
                "verdict": "not-run", "detail": "", "needs": claim.needs, "budget": None, "cells": [],
                "runs": [], "noise": None}
    pvals = _paper_values(claim, suite)
    pv, pdetail, _ = _judge_claim(claim, suite, pvals, paper=True)
    mvals, info = _measured_values(claim, suite, cells)
    mv, mdetail, used = _judge_claim(claim, suite, mvals, paper=False)
    used_keys = list(dict.fromkeys(used))
    out_cells, runs = [], []
    for key in used_keys:
        for c in info["cells"].get(key, []):
            out_cells.append({"entry": c["entry"], "dataset": c.get("dataset"), "scale": c.get("scale"),
                              "metric": c["metric"], "measured": c["measured"], "paper": c.get("paper"),
                              "status": c.get("status"), "budget": c.get("budget"), "run": c.get("run")})
            if c.get("run") is not None:
                runs.append(c["run"])
    vals_noise = {k: v for k, v in info["noise"]["values"].items()
                  if any(f"{e} {_colname(col)}" == k for e, col in used_keys)}
    sources = sorted({v["source"] for v in vals_noise.values()})
    noise = {"source": "; ".join(sources) if sources else "no measured cells",
             "seeded": bool(info["spreads"]),
             "spreads": {f"{e} {_colname(col)}": s for (e, col), s in info["spreads"].items()},
             "values": vals_noise}
    needs = _needs(claim, suite, mvals, used_keys, info, cells)
    budgeted = list(dict.fromkeys(c["entry"] for c in out_cells
                                  if c.get("budget") in ("smoke", "short") and _is_trained(suite, c["entry"], c["metric"])))
    mixed = unequal_recipes([suite.entry(e) for e in budgeted])
    if mixed:
        mdetail += f"; caution: {mixed}"
    if info["dropped"]:
        mdetail += "; left out: " + "; ".join(info["dropped"][:4])
    return {**base, "paper_verdict": pv, "paper_detail": pdetail, "verdict": mv, "detail": mdetail,
            "needs": needs, "budget": info["budget"], "cells": out_cells,
            "runs": sorted(set(runs)), "noise": noise}


def evaluate_claims(suite: Suite, cells: list[dict]) -> list[dict]:
    """Judge every claim of ``suite`` on the paper's printed numbers and on the measured ``cells``
    (the ``cells`` list of ``results/<suite>.json``); returns the list for its top-level ``claims`` key."""
    return [evaluate_claim(suite, c, cells or []) for c in suite.claims]


def count_verdicts(claims: list[dict]) -> dict[str, int]:
    """Claims per measured verdict (index page), in VERDICTS order."""
    counts = {v: 0 for v in VERDICTS}
    for c in claims:
        counts[c.get("verdict", "not-run")] = counts.get(c.get("verdict", "not-run"), 0) + 1
    return counts
