"""Command line (contract.md): list, show, reproduce, report, plot, drift, baseline, datasets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.kinds import kind_names
from harness.results import RESULTS_DIR, paper_cells
from harness.suite import SuiteError, list_suite_ids, load_suite

KINDS = kind_names()

REPORTS_DIR = Path(__file__).resolve().parent.parent / "reports"
BASELINE_DIR = RESULTS_DIR / "baselines"


def _csv(value: str) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()}


def _kinds(value: str) -> set[str]:
    kinds = _csv(value)
    bad = kinds - set(KINDS)
    if bad:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {sorted(bad)}; choose from {', '.join(KINDS)}")
    return kinds


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cmd_list(args) -> int:
    from harness.runner import kinds_for

    for sid in list_suite_ids():
        suite = load_suite(sid)
        print(f"{sid:16s} {suite.table:10s} {len(suite.entries):3d} entries  {suite.paper[:70]}")
        if args.verbose:
            for e in suite.entries:
                what = e.obtain + (f" {e.model}" if e.model else "") + (f" x{e.scale}" if e.scale else "")
                print(f"    {e.id:24s} {what:28s} kinds: {','.join(kinds_for(e, suite)) or '-':34s} "
                      f"{_runs_here(suite, e)}")
    try:
        from harness.datasets import datasets_table

        print("\ndatasets:")
        for row in datasets_table(None):
            print(f"  {row['name']:12s} {row['status']}")
    except ImportError:
        pass
    return 0


def _runs_here(suite, entry) -> str:
    """What of this entry can run on this machine (data, weights present; training budget), in a few words."""
    import os

    if entry.obtain == "paper-only":
        return "paper only: " + entry.reason[:70]
    missing = []
    data_dir = Path(os.environ.get("SRBENCH_DATA_DIR", "") or Path(__file__).resolve().parent.parent.parent
                    / "shared" / "datasets")
    for d in sorted({c.dataset for c in entry.paper if c.dataset} | set(entry.datasets)):
        if not (data_dir / "benchmark" / d / "HR").is_dir():
            missing.append(f"data {d}")
    if entry.obtain == "load":
        from harness.models import get_spec

        wdir = Path(os.environ.get("SRBENCH_WEIGHTS_DIR", "") or Path(__file__).resolve().parent.parent.parent
                    / "shared" / "weights")
        ck = get_spec(entry.model).checkpoints.get(entry.scale) if entry.scale else None
        if ck is None or not (wdir / ck.file).exists():
            missing.append("published weights")
    note = "trained here under smoke/short; paper budget needs a GPU" if entry.obtain == "train" else ""
    if missing:
        return "runs here except: " + ", ".join(missing)
    return "runs here" + (f" ({note})" if note else "")


def cmd_show(args) -> int:
    suite = load_suite(args.suite)
    cells = paper_cells(suite)
    if args.json:
        doc = {"suite": suite.id, "paper": suite.paper, "table": suite.table, "caption": suite.caption,
               "metric_profile": suite.metric_profile.record(), "cells": cells}
        print(json.dumps(doc, indent=1, ensure_ascii=False))
        return 0
    print(f"{suite.paper}\n{suite.table}: {suite.caption}\n")
    for c in cells:
        where = " ".join(str(x) for x in (c["dataset"], f"x{c['scale']}" if c["scale"] else None) if x)
        print(f"  {c['row']:28s} {where:14s} {c['metric']:10s} {c['paper_printed']}")
    for a in suite.ambiguities:
        print(f"  note: {a}")
    return 0


def cmd_reproduce(args) -> int:
    from harness.runner import RunOptions, RunRefused, check_options, run_suite
    from harness.summary import print_outcomes

    suites = [load_suite(s) for s in (args.suites or list_suite_ids())]
    opts = RunOptions(budget=args.budget, only=args.only or set(KINDS), entries=args.entries,
                      datasets=args.datasets,
                      data_dir=args.data_dir, weights_dir=args.weights_dir,
                      device=args.device or _default_device(), results_dir=args.results_dir,
                      force=args.force, stale=args.stale)
    if opts.data_dir is None or opts.weights_dir is None:
        _resolve_dirs(opts)
    try:
        check_options(suites, opts)  # before any work: a refused run writes nothing
    except RunRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        return _plan(suites, opts)
    from harness.records import new_run

    run = new_run(budget=opts.budget, device=opts.device)
    log = _run_log(run.id)
    print(f"run {run.id}: log in {log}")

    def report(msg: str) -> None:
        print(msg, flush=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(msg + "\n")

    outcomes = []
    if args.executor != "inline":
        outcomes = _dispatch_reproduce(args, suites, opts, report)
    for suite in suites if not outcomes else []:
        sub = RunOptions(**opts.__dict__)
        if args.entries:
            sub.entries = {e.id for e in suite.entries} & args.entries
        outcomes.append((suite, run_suite(suite, sub, report=report, run=run)))
    print_outcomes(outcomes, opts, out=report)
    errors = [e for _, o in outcomes for e in o.errors]
    if errors:
        print(f"error: {len(errors)} job(s) failed in this run (their earlier measurements are kept):", file=sys.stderr)
        for e in errors[:20]:
            print(f"  {e}", file=sys.stderr)
        return 1
    return 0


def _plan(suites, opts) -> int:
    """``reproduce --dry-run``: the options passed every check; list the jobs that would run (nothing is
    measured or written)."""
    from harness.runner import planned_jobs

    total = 0
    for suite in suites:
        jobs = planned_jobs(suite, opts)
        total += len(jobs)
        print(f"{suite.id}: {len(jobs)} job(s) would run" + (": " + ", ".join(jobs[:12]) if jobs else "")
              + (", …" if len(jobs) > 12 else ""))
    print(f"dry run: {total} job(s), budget {opts.budget}, device {opts.device}; nothing measured")
    return 0


def _dispatch_reproduce(args, suites, opts, report) -> list:
    """``--executor local|slurm``: one submitit job per group of entries, each a ``reproduce`` of its own.

    Each job writes its own run records (parallel-safe); this process then collects every suite.  Entries
    are split into ``--jobs`` groups per suite (local: that many processes at once).
    """
    from submitit.helpers import CommandFunction

    from harness.collect import collect_and_write
    from harness.dispatch import run_jobs
    from harness.runner import SuiteOutcome, kinds_for

    jobs, names = [], []
    for suite in suites:
        ids = [e.id for e in suite.entries if kinds_for(e, suite) and (not args.entries or e.id in args.entries)]
        n = max(1, min(args.jobs, len(ids)))
        for k in range(n):
            group = ids[k::n]
            if not group:
                continue
            where = str(suite.path) if suite.path else suite.id
            cmd = [sys.executable, "-m", "harness", "reproduce", where, "--entries", ",".join(group),
                   "--budget", opts.budget, "--device", opts.device, "--results-dir", str(opts.results_dir)]
            cmd += ["--only", ",".join(sorted(opts.only))] if args.only else []
            cmd += ["--datasets", ",".join(sorted(opts.datasets))] if opts.datasets else []
            cmd += [f for f, on in (("--force", opts.force), ("--stale", opts.stale)) if on]
            for flag, val in (("--data-dir", opts.data_dir), ("--weights-dir", opts.weights_dir)):
                if val:
                    cmd += [flag, str(val)]
            jobs.append((CommandFunction(cmd, cwd=str(Path(__file__).resolve().parent.parent)),))
            names.append(f"{suite.id}: {', '.join(group)}")
    report(f"dispatching {len(jobs)} job(s) with submitit ({args.executor}): " + "; ".join(names))
    from harness.dispatch import DispatchError

    failed: list[str] = []
    try:
        run_jobs(jobs, executor=args.executor, config=args.slurm_config if args.executor == "slurm" else None)
    except DispatchError as exc:  # the other jobs' records are written: collect them all the same
        failed = [str(exc)[:2000]]
    outcomes = []
    for suite in suites:
        doc, changed = collect_and_write(suite, opts.results_dir, data_dir=opts.data_dir)
        outcomes.append((suite, SuiteOutcome(doc, names, [], failed if not outcomes else [], changed)))
    return outcomes


def _run_log(run_id: str) -> Path:
    """runs/logs/reproduce-<run id>.log (git-ignored): the same progress lines as the terminal."""
    import os

    root = Path(os.environ.get("SRBENCH_RUNS_DIR") or Path(__file__).resolve().parent.parent / "runs")
    path = root / "logs" / f"reproduce-{run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def cmd_collect(args) -> int:
    from harness.collect import collect_and_write

    for sid in args.suites or list_suite_ids():
        doc, changed = collect_and_write(load_suite(sid), args.results_dir, data_dir=args.data_dir)
        print(f"{sid}: {'written' if changed else 'unchanged'} ({len(doc['cells'])} cells)")
    return 0


def _resolve_dirs(opts) -> None:
    """Fill data/weights dirs from $SRBENCH_DATA_DIR / $SRBENCH_WEIGHTS_DIR / the per-user cache."""
    try:
        from harness.datasets import resolve_data_dir

        opts.data_dir = resolve_data_dir(opts.data_dir)
    except ImportError:
        pass
    try:
        from harness.weights import resolve_weights_dir

        opts.weights_dir = resolve_weights_dir(opts.weights_dir)
    except ImportError:
        pass


def cmd_report(args) -> int:
    from harness.report import render_reports

    paths = render_reports(args.suites or None, args.results_dir, args.out)
    pages = [p for p in paths if p.suffix == ".html"]
    print(f"wrote {len(pages)} page(s) and {len(paths) - len(pages)} chart file(s) to {args.out}; "
          f"open {Path(args.out) / 'index.html'}")
    return 0


def cmd_plot(args) -> int:
    from harness.plots import plot_suite

    paths = plot_suite(args.suite, args.results_dir, args.out, x=args.x, dataset=args.dataset, scale=args.scale)
    for p in paths:
        print(p)
    return 0


def cmd_drift(args) -> int:
    from harness.drift import main_drift

    if args.remeasure:
        from harness.runner import RunOptions, remeasure_baselines

        base = RunOptions(data_dir=args.data_dir, weights_dir=args.weights_dir, device="cpu")
        _resolve_dirs(base)
        args.results_dir.mkdir(parents=True, exist_ok=True)
        remeasure_baselines(args.baseline, args.results_dir, base)
    return main_drift(args)


def cmd_baseline(args) -> int:
    from harness.drift import main_baseline

    return main_baseline(args)


def cmd_datasets(args) -> int:
    from harness import datasets

    if args.action == "fetch":
        for name in args.names:
            datasets.fetch(name, datasets.resolve_data_dir(args.data_dir))
        return 0
    for row in datasets.datasets_table(args.data_dir):
        print(f"{row['name']:12s} {row['status']:10s} {row.get('detail', '')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="suites, entries, what can run here")
    s.add_argument("-v", "--verbose", action="store_true")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", help="the paper's cells as transcribed (no measuring)")
    s.add_argument("suite")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("reproduce", help="measure suites (all that exist when none is named)")
    s.add_argument("suites", nargs="*")
    s.add_argument("--budget", choices=("smoke", "short", "paper"), default="smoke")
    s.add_argument("--only", type=_kinds, default=None, help=f"kinds: {','.join(KINDS)}")
    s.add_argument("--entries", type=_csv, default=None)
    s.add_argument("--datasets", type=_csv, default=None, help="restrict image metrics to these datasets")
    s.add_argument("--data-dir", type=Path, default=None)
    s.add_argument("--weights-dir", type=Path, default=None)
    s.add_argument("--device", choices=("cpu", "cuda"), default=None)
    s.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    s.add_argument("--force", action="store_true", help="re-measure even where the same inputs are recorded")
    s.add_argument("--stale", action="store_true", help="re-measure only stale or failed cells' jobs")
    s.add_argument("--dry-run", action="store_true",
                   help="check the options (refusals included) and list the jobs that would run; measure nothing")
    s.add_argument("--executor", choices=("inline", "local", "slurm"), default="inline",
                   help="inline: this process; local/slurm: submitit jobs (README, 'Running on a cluster')")
    s.add_argument("--jobs", type=int, default=2, help="with --executor: entry groups per suite (default 2)")
    s.add_argument("--slurm-config", type=Path, default=Path("slurm.toml"), help="with --executor slurm")
    s.set_defaults(func=cmd_reproduce)

    s = sub.add_parser("collect", help="rebuild results/<suite>.json from results/records (no measuring)")
    s.add_argument("suites", nargs="*")
    s.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    s.add_argument("--data-dir", type=Path, default=None)
    s.set_defaults(func=cmd_collect)

    s = sub.add_parser("report", help="render HTML reports")
    s.add_argument("suites", nargs="*")
    s.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    s.add_argument("--out", type=Path, default=REPORTS_DIR)
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("plot", help="efficiency trade-off charts of one suite")
    s.add_argument("suite")
    s.add_argument("--x", choices=("params", "multadds", "throughput"), default="params")
    s.add_argument("--dataset", default=None)
    s.add_argument("--scale", type=int, default=None)
    s.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    s.add_argument("--out", type=Path, default=REPORTS_DIR)
    s.set_defaults(func=cmd_plot)

    s = sub.add_parser("drift", help="re-measured cells vs committed baselines; exit 1 on drift")
    s.add_argument("--baseline", type=Path, default=BASELINE_DIR)
    s.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    s.add_argument("--remeasure", action="store_true",
                   help="first re-measure the baselines' cells into --results-dir (use a scratch dir)")
    s.add_argument("--only-failures", action="store_true", help="print only the cells that drifted")
    s.add_argument("--data-dir", type=Path, default=None)
    s.add_argument("--weights-dir", type=Path, default=None)
    s.set_defaults(func=cmd_drift)

    s = sub.add_parser("baseline", help="update committed drift baselines (records why)")
    s.add_argument("suites", nargs="*")
    s.add_argument("--reason", required=True, help="why the baseline changes (recorded in the file)")
    s.add_argument("--subset", default=None,
                   help='cells to keep, e.g. "metric=psnr_y,params;dataset=Set5,-;scale=4" (- = no dataset)')
    s.add_argument("--baseline", type=Path, default=BASELINE_DIR)
    s.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    s.set_defaults(func=cmd_baseline)

    s = sub.add_parser("datasets", help="list datasets present/verified, or fetch one")
    s.add_argument("action", nargs="?", choices=("list", "fetch"), default="list")
    s.add_argument("names", nargs="*")
    s.add_argument("--data-dir", type=Path, default=None)
    s.set_defaults(func=cmd_datasets)

    from harness.training.cli import (
        add_parser as add_train_parser,  # issue #10: `train` (harness/training/cli.py)
    )

    add_train_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SuiteError, KeyError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
