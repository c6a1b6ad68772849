"""The advice the committed results give is a command that works (issue: "the advice printed in a cell is a
command that works").  Every distinct command quoted in a cell's reason or a claim's ``needs`` is run in
this process against a scratch copy of the results — ``reproduce`` with ``--dry-run`` (every check and
refusal, nothing measured), ``train`` with ``--estimate`` (nothing trained) — and must succeed and plan
at least one job (advice that would do nothing is broken too), or be refused only for a reason its advice
names (the short budget's CPU cap; a GPU for ``--device cuda``)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from conftest import require

from harness.cli import main
from harness.results import RESULTS_DIR
from harness.training.recipes import get_budget

SHORT_CAP = get_budget("short").cpu_hours_cap or float("inf")  # CPU-hours; one source: the budget

COMMAND = re.compile(r"`(python -m harness [^`]+)`")


def advice() -> dict[tuple[str, ...], dict]:
    """Distinct commands → {"entries": set, "texts": the advice sentences quoting them, "pieces": each sentence
    with its own entries}; commands that differ only in ``--entries`` are merged (one run checks them all)."""
    merged: dict[tuple[str, ...], dict] = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        texts = [c.get("reason") or "" for c in doc.get("cells", [])]
        texts += [c.get("needs") or "" for c in doc.get("claims", []) or []]
        for text in texts:
            for cmd in COMMAND.findall(text):
                argv = shlex.split(cmd)[3:]  # after "python -m harness"
                entries: set[str] = set()
                if "--entries" in argv:
                    i = argv.index("--entries")
                    entries = set(argv[i + 1].split(","))
                    argv = argv[:i] + argv[i + 2:]
                slot = merged.setdefault(tuple(argv), {"entries": set(), "texts": [], "pieces": []})
                slot["entries"] |= entries
                slot["texts"].append(text)
                slot["pieces"].append((frozenset(entries), text))
    return merged


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = int(exc.code or 0)
    return rc, out.getvalue() + err.getvalue()


def test_the_committed_results_give_advice():
    found = advice()
    verbs = {argv[0] for argv in found}
    assert {"reproduce", "train"} <= verbs, verbs
    assert len(found) >= 10


def test_every_piece_of_advice_works_or_names_its_refusal(tmp_path: Path):
    require(Path(RESULTS_DIR / "records").is_dir(), "committed results/records are needed")
    scratch = tmp_path / "results"
    shutil.copytree(RESULTS_DIR, scratch)
    def check(argv: tuple[str, ...], entries: set[str], texts: list[str]) -> str | None:
        args = list(argv)
        if entries:
            args += ["--entries", ",".join(sorted(entries))]
        if args[0] == "reproduce":
            args += ["--dry-run", "--results-dir", str(scratch)]
        elif args[0] == "train" and "--estimate" not in args:
            args += ["--estimate"]
        rc, text = _run(args)
        if rc == 0 and args[0] == "reproduce" and re.search(r"dry run: 0 job", text):
            return f"{' '.join(args)} → would do nothing: {text.strip()[-300:]}"
        if rc == 0:
            return None
        named = all(("cap" in t and "GPU" in t) for t in texts) and "cap" in text
        # The CPU-hour estimate is a step timed on this machine now: an entry the advice found under the cap
        # (on a faster or idle machine) may be over it here.  A refusal that names the cap and the way out is
        # then the documented answer, not a broken piece of advice — if the estimate is near the cap (≤ 2×);
        # advice for a run far over it must say so itself.
        hours = [float(h.replace(",", "")) for h in re.findall(r"≈([\d,.]+) CPU-h", text)]
        timed_cap = bool("CPU-hour cap" in text and hours and "GPU" in text and max(hours) <= 2 * SHORT_CAP)
        gpu = "--device" in args and args[args.index("--device") + 1] == "cuda" and "CUDA" in text
        if rc == 2 and (named or gpu or timed_cap):
            return None  # refused for the reason the advice gives
        return f"{' '.join(args)} → rc {rc}: {text.strip()[-300:]}"

    failures = []
    for argv, slot in sorted(advice().items()):
        failure = check(argv, slot["entries"], slot["texts"])
        if failure and len(slot["pieces"]) > 1:  # merged advice refused: each piece must work on its own
            pieces: dict[frozenset, list[str]] = {}
            for entries, text in slot["pieces"]:
                pieces.setdefault(entries, []).append(text)
            failure = next((f for f in (check(argv, set(e), t) for e, t in sorted(pieces.items(), key=str)) if f),
                           None)
        if failure:
            failures.append(failure)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("argv", [["reproduce", "carn_table1", "--entries", "drcn_x2", "--budget", "short"]])
def test_a_short_run_over_the_cpu_cap_is_refused_before_any_work(tmp_path: Path, argv: list[str]):
    scratch = tmp_path / "results"
    shutil.copytree(RESULTS_DIR, scratch)
    before = {p: p.read_bytes() for p in scratch.rglob("*.json")}
    rc, text = _run([*argv, "--results-dir", str(scratch)])
    assert rc == 2 and "CPU-hour cap" in text and "--device cuda" in text
    assert {p: p.read_bytes() for p in scratch.rglob("*.json")} == before
