"""The end of every ``reproduce``: per suite and entry, what was measured, under which budget, what is
missing and the one thing that would get it.  Plain text, so it reads the same in a terminal and a log."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

MEASURED = ("match", "close", "deviates", "under-budget", "measured")
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
            out(f"  claim {c['id']}: paper {c.get('paper_verdict')}, measured {c.get('verdict')}")
