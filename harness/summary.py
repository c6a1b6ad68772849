"""The end of every ``reproduce``: per suite and entry, what was measured, under which budget, what is
missing and the one thing that would get it.  Plain text, so it reads the same in a terminal and a log."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable

from harness.results import MEASURED_STATUSES as MEASURED

MISSING = ("not-run", "missing-data", "missing-weights", "stale", "error")


def entry_lines(doc: dict, ran: Iterable[str] = ()) -> list[str]:
    """One line per entry measured (now or before); the never-measured ones summarised in one line."""
    by_entry: dict[str, list[dict]] = {}
    for c in doc["cells"]:
        by_entry.setdefault(c["entry"], []).append(c)
    touched = {j.split(":")[0] for j in ran}
    lines, untouched = [], []
    for entry, cells in by_entry.items():
        st = Counter(c["status"] for c in cells)
        if set(st) == {"paper-only"}:
            continue
        if entry not in touched and not any(c.get("measured") is not None for c in cells):
            untouched.append(entry)
            continue
        evid = sorted({c.get("evidence") or "-" for c in cells if c["status"] in MEASURED})
        got = sum(st[s] for s in MEASURED)
        verdicts = ", ".join(f"{s} {st[s]}" for s in ("match", "close", "deviates", "under-budget") if st[s])
        missing = [c for c in cells if c["status"] in MISSING]
        todo = ""
        if missing:
            first = missing[0]
            todo = f" | missing {len(missing)}: {first['status']} — {first['reason'][:160]}"
        lines.append(f"  {entry:24s} {got:3d}/{len(cells):<3d} measured [{', '.join(evid) or '-'}]"
                     f"{' ' + verdicts if verdicts else ''}{todo}")
        for tr in {json.dumps(c["training"], sort_keys=True) for c in cells if c.get("training")}:
            t = json.loads(tr)
            lines.append(f"      training run {t['run_key']} ({t['budget']}, {t['iterations']:,} iterations, "
                         f"{t.get('wall_s', 0):.0f} s, final loss {t.get('final_loss', float('nan')):.4g}; {t['record']})")
            if t.get("paper_needs"):
                lines.append(f"      {t['paper_needs']}")
    if untouched:
        lines.append(f"  {len(untouched)} more entries not measured yet ({', '.join(untouched[:6])}"
                     f"{', …' if len(untouched) > 6 else ''}): `python -m harness reproduce {doc['suite']} --entries …`")
    return lines


def headline(doc: dict) -> str:
    s = doc.get("summary", {})
    parts = []
    for ev, r in s.get("reproduced", {}).items():
        parts.append(f"{ev}: match {r['match']}/{r['compared']}" + (f" (+{r['close']} close)" if r["close"] else ""))
    cons = s.get("consistency", {})
    if cons:
        parts.append(f"consistency checks (paper's own numbers): match {cons.get('match', 0)}/"
                     f"{sum(v for k, v in cons.items() if k in ('match', 'close', 'deviates'))}")
    other = {k: v for k, v in s.get("by_status", {}).items() if k in ("paper-only", "not-run", "stale", "error",
                                                                      "missing-data", "missing-weights")}
    if other:
        parts.append(", ".join(f"{k} {v}" for k, v in sorted(other.items())))
    return "; ".join(parts) or "nothing measured"


def print_outcomes(outcomes: Iterable[tuple], opts, out=print) -> None:
    for suite, o in outcomes:
        out(f"\n{suite.id} ({suite.table}): ran {len(o.ran)} job(s), {len(o.skipped)} up to date; "
            f"results {'updated' if o.changed else 'unchanged'}")
        out(f"  {headline(o.doc)}")
        for line in entry_lines(o.doc, o.ran):
            out(line)
        for c in o.doc.get("claims", []) or []:
            out(claim_line(c))


def claim_line(c: dict, width: int = 220) -> str:
    """One claim at the end of a run: both verdicts, and for a judged measurement the rows' measured gaps
    (its ``detail``, budget named) — the ordering a user came for."""
    line = f"  claim {c['id']}: paper {c.get('paper_verdict')}, measured {c.get('verdict')}"
    if c.get("verdict") not in (None, "not-run") and c.get("detail"):
        detail = f" [{c['budget']}] {c['detail']}" if c.get("budget") else f" {c['detail']}"
        line += " —" + (detail if len(detail) <= width else detail[:width - 1] + "…")
    return line


# ---------------------------------------------------------------------------------------------- to finish

_CPU_MIN = re.compile(r"≈([\d,.]+) CPU-min")
_COMMAND = re.compile(r"`(python -m harness [^`]+)`")


def _bucket(cell: dict) -> str | None:
    status, reason = cell.get("status"), str(cell.get("reason") or "")
    if status in MEASURED and status != "under-budget":
        return None
    if status == "under-budget":
        return "train-paper"
    if status == "not-run" and "smoke-trained model" in reason:
        return "train-short"
    if status == "not-run" and "CPU-min" in reason:
        return "capped"
    if status == "not-run" and "obtains 'compute'" in reason:
        return "weights"
    if status == "not-run" and _COMMAND.search(reason):
        return "command"
    return {"stale": "stale", "missing-data": "data", "missing-weights": "weights-missing", "error": "error",
            "paper-only": "paper-only"}.get(status or "", "hardware" if status == "not-run" else None)


def finish_steps(doc: dict) -> list[str]:
    """What it would take to finish a suite, per kind of gap, with the command or the data it needs:
    the index's "to finish" column (README "Reading the report")."""
    suite = doc.get("suite", "SUITE")
    groups: dict[str, list[dict]] = {}
    for c in doc.get("cells", []):
        b = _bucket(c)
        if b:
            groups.setdefault(b, []).append(c)

    def entries(cells: list[dict]) -> list[str]:
        return list(dict.fromkeys(c["entry"] for c in cells))

    steps = []
    if "stale" in groups:
        steps.append(f"{len(groups['stale'])} stale cells: `python -m harness reproduce {suite} --stale`")
    if "capped" in groups:
        cells = groups["capped"]
        minutes = sum(float(m.group(1).replace(",", "")) for c in cells if (m := _CPU_MIN.search(c["reason"])))
        steps.append(f"{len(cells)} published-weight evaluations over the CPU cap (≈{minutes:,.0f} CPU-min by "
                     f"the estimate): `python -m harness reproduce {suite} --budget paper --entries "
                     f"{','.join(entries(cells))}` (or --device cuda)")
    if "train-short" in groups:
        e = entries(groups["train-short"])
        steps.append(f"{len(groups['train-short'])} cells of {len(e)} trained rows are scored only after a "
                     f"short run: `python -m harness train {suite} --entries {','.join(e[:3])}"
                     f"{',…' if len(e) > 3 else ''} --budget short --estimate` says how long (CPU-hours)")
    if "train-paper" in groups:
        e = entries(groups["train-paper"])
        steps.append(f"{len(groups['train-paper'])} cells of {len(e)} rows trained here under a smoke/short "
                     f"budget: the paper's schedule needs a GPU (`python -m harness train {suite} --budget paper "
                     f"--device cuda --executor slurm`, where the recipe declares the paper's schedule)")
    if "weights" in groups:
        steps.append(f"{len(groups['weights'])} quality cells of architecture-only rows: trained weights "
                     "(no published checkpoint; declare obtain = \"train\")")
    if "weights-missing" in groups:
        steps.append(f"{len(groups['weights-missing'])} cells need published weights (see the cells' notes)")
    if "data" in groups:
        names = sorted({c.get("dataset") or "?" for c in groups["data"]})
        steps.append(f"{len(groups['data'])} cells need data: {', '.join(names)} (`python -m harness datasets` "
                     "names the official sources)")
    if "command" in groups:
        cmds = list(dict.fromkeys(_COMMAND.search(c["reason"]).group(1) for c in groups["command"]))
        steps.append(f"{len(groups['command'])} cells not measured yet: " + "; ".join(f"`{c}`" for c in cmds[:3]))
    if "hardware" in groups:
        steps.append(f"{len(groups['hardware'])} cells need the paper's hardware (GPU timings; the cells say which)")
    if "error" in groups:
        steps.append(f"{len(groups['error'])} error cells: re-run `python -m harness reproduce {suite}` and read "
                     "the message")
    if "paper-only" in groups:
        steps.append(f"{len(groups['paper-only'])} paper-only cells the harness cannot measure (reasons in the "
                     "footnotes)")
    return steps
