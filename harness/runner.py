"""``reproduce``: suite -> entries -> jobs (entry × kind) -> run records -> ``collect`` -> results/<suite>.json.

A job whose inputs (``harness.records.job_inputs``: resolved config, kind version, data and weight
checksums, training run key) equal those of its record is not re-run; ``--force`` re-runs it, ``--stale``
re-runs only jobs with stale or failed cells.  Options are checked before any work (``check_options``).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness import catalog
from harness.collect import collect_and_write
from harness.kinds import get_kind, kind_names
from harness.measure import MeasureContext, Measurement
from harness.records import (
    BUDGET_RANK,
    Run,
    inputs_hash,
    is_measured,
    job_inputs,
    new_run,
    read_record,
    record_path,
    write_job,
)
from harness.results import RESULTS_DIR
from harness.suite import Entry, Suite, list_suite_ids, load_suite
from harness.util import device_description  # noqa: F401  (re-exported: older callers import it here)


class RunRefused(ValueError):
    """A run that cannot start (bad device, budget or entry): raised before any work, nothing written."""


@dataclass
class RunOptions:
    budget: str = "smoke"
    only: set[str] = field(default_factory=lambda: set(kind_names()))
    entries: set[str] | None = None
    datasets: set[str] | None = None
    data_dir: Path | None = None
    weights_dir: Path | None = None
    device: str = "cpu"
    results_dir: Path = RESULTS_DIR
    progress: bool = True
    force: bool = False  # re-measure even when a record with the same inputs exists
    stale: bool = False  # re-measure only jobs whose recorded cells are stale (or errored)


@dataclass
class SuiteOutcome:
    doc: dict
    ran: list[str]  # "entry:kind" jobs measured in this run
    skipped: list[str]  # jobs up to date (same inputs already recorded)
    errors: list[str]  # "entry:kind: message" of jobs that produced error cells in this run
    changed: bool  # whether results/<suite>.json changed


def kind_of(metric: str, suite: Suite) -> str | None:
    return catalog.kind_of(metric, suite.metrics)


def kinds_for(entry: Entry, suite: Suite) -> list[str]:
    """The kinds an entry needs: those of its printed cells, plus any it asks for in ``measure``."""
    if entry.obtain == "paper-only":
        return []
    names = kind_names()
    wanted = {kind_of(c.metric, suite) for c in entry.paper}
    for m in entry.measure:
        wanted.add(m if m in names else kind_of(m, suite))
    if entry.datasets:
        wanted.add("metrics")
    return [k for k in names if k in wanted]


def check_options(suites: list[Suite], opts: RunOptions) -> None:
    """Refuse a run that cannot do what it was asked, before any work (nothing is written)."""
    import torch

    if opts.device == "cuda" and not torch.cuda.is_available():
        raise RunRefused("--device cuda: no CUDA device is visible to torch here "
                         f"(torch {torch.__version__}, cuda build: {torch.version.cuda or 'none'}); "
                         "run without --device (CPU) or on a machine with a GPU")
    if opts.budget not in BUDGET_RANK:
        raise RunRefused(f"--budget {opts.budget!r}: choose smoke, short or paper")
    if opts.entries:
        known = {e.id for s in suites for e in s.entries}
        unknown = opts.entries - known
        if unknown:
            where = ", ".join(s.id for s in suites)
            raise RunRefused(f"--entries: no entry {sorted(unknown)} in {where}; see `python -m harness list -v`")
    if opts.budget == "short" and "metrics" in opts.only and not opts.device.startswith("cuda"):
        _check_cpu_cap(suites, opts)
    if opts.budget != "paper" or "metrics" not in opts.only:
        return
    for s in suites:
        for e in s.entries:
            if e.obtain != "train" or (opts.entries is not None and e.id not in opts.entries):
                continue
            done, why = finished_runs(s, e, "paper", opts.data_dir)
            if done:
                continue  # the paper run exists: it is used, nothing is trained
            if why:  # the recipe cannot make a paper run at all (the paper leaves its schedule unstated)
                raise RunRefused(f"--budget paper: {s.id}/{e.id}: {why}; use --budget short (equal-budget "
                                 "comparison, not the paper's values) or leave this entry out with --entries")
            if not opts.device.startswith("cuda"):
                raise RunRefused(
                    f"--budget paper: {s.id}/{e.id} would have to be trained with the paper's schedule, which needs "
                    f"a GPU (this run is on {opts.device}); run `python -m harness train {s.id} --entries {e.id} "
                    "--budget paper --device cuda` on a GPU machine (or --executor slurm), or use --budget short, or "
                    "leave this entry out with --entries")


def _check_cpu_cap(suites: list[Suite], opts: RunOptions) -> None:
    """``--budget short`` on a CPU: refuse, before any work, the trained entries whose short run is neither
    finished nor started and whose estimated CPU time (measured step time × iterations) exceeds the
    budget's ``cpu_hours_cap`` — instead of finding out mid-run.  Only entries named with ``--entries``
    are checked (a whole-suite short run reports each such entry as a not-run cell with the same estimate)."""
    if opts.entries is None:
        return
    from harness.records import entry_scales
    from harness.training import training_key
    from harness.training.api import cpu_estimate, resolve_entry
    from harness.training.recipes import get_budget
    from harness.training.runs import find_record, runs_dir

    cap = get_budget("short").cpu_hours_cap
    over = []
    for s in suites:
        for e in s.entries:
            if e.obtain != "train" or e.id not in opts.entries:
                continue
            for scale in entry_scales(e):
                try:
                    key = training_key(s, e, scale, "short", opts.data_dir)
                except Exception:  # noqa: BLE001, S112 — no training data / recipe: the run reports it as a cell
                    continue
                if find_record(key) is not None or any((runs_dir(None) / key / "ckpt").glob("iter_*.pt")):
                    continue  # finished (re-used) or started (resumed): no new CPU-hours to refuse
                _, _, cfg = resolve_entry(e, scale, "short")
                hours = cpu_estimate(cfg)[0] / 3600
                if cap is not None and hours > cap:
                    over.append(f"{s.id}/{e.id} ×{scale} ≈{hours:,.1f} CPU-h ({cfg.iterations:,} iterations)")
    if over:
        raise RunRefused(f"--budget short: over the {cap:g} CPU-hour cap of the short budget here: {', '.join(over)} "
                         "(estimated from counted multiply-adds or a measured step); run them on a GPU (`--device cuda`, or "
                         "`python -m harness train SUITE --entries … --budget short --executor slurm`), or leave "
                         "them out with --entries")


def finished_runs(suite: Suite, entry: Entry, budget: str, data_dir: Path | None) -> tuple[bool, str]:
    """(every scale of this trained entry has a finished run under ``budget`` — its record, here or committed —,
    why the budget cannot apply)."""
    try:
        from harness.records import entry_scales
        from harness.training import training_key
        from harness.training.runs import find_record
    except ImportError as exc:
        return False, f"the training engine is not available ({exc})"
    try:
        keys = [training_key(suite, entry, s, budget, data_dir) for s in entry_scales(entry)]
    except Exception as exc:  # noqa: BLE001 — recipe/budget cannot be combined, or no training data here
        return False, str(exc)
    return bool(keys) and all(find_record(k) is not None for k in keys), ""


def effective_budget(suite: Suite, entry: Entry, requested: str, data_dir: Path | None) -> str:
    """The budget a trained entry is measured under: the largest budget ≥ ``requested`` whose training runs
    (every scale) are finished — in the runs directory or committed under results/training — else
    ``requested`` itself (trained now).  A cached better run is never thrown away for a smaller budget."""
    if entry.obtain != "train" or not entry.model:
        return requested
    for budget in ("paper", "short"):
        if BUDGET_RANK[budget] > BUDGET_RANK[requested] and finished_runs(suite, entry, budget, data_dir)[0]:
            return budget
    return requested





def _raw_cells(entry: Entry, measurements: Iterable[Measurement], budget: str) -> list[dict]:
    cells = []
    for m in measurements:
        cell = {"metric": m.metric, "dataset": m.dataset,
                "scale": m.scale if m.scale is not None else entry.scale,
                "measured": m.value, "status": m.status, "reason": m.reason, "budget": budget}
        if m.extra:
            cell["extra"] = m.extra
        if m.evidence:
            cell["evidence"] = m.evidence
        if m.status is None and m.value is None:
            cell["status"] = "error"
        cells.append(cell)
    return cells


def _attach_training(entry: Entry, cells: list[dict], runs: dict) -> None:
    """A trained cell names the training run that made its model (key, iterations, wall time, final loss)."""
    for c in cells:
        run = runs.get(f"{entry.id}_x{c.get('scale')}")
        if run is not None:
            c["training"] = run


def _failed_cells(suite: Suite, entry: Entry, kind: str, status: str, reason: str, budget: str) -> list[dict]:
    return [{"metric": pc.metric, "dataset": pc.dataset, "scale": pc.scale, "measured": None, "status": status,
             "reason": reason, "budget": budget}
            for pc in entry.paper if kind_of(pc.metric, suite) == kind]


def _up_to_date(record: dict | None, h: str, suite: Suite, entry: Entry, kind: str, opts: RunOptions) -> bool:
    """Whether the job's record already holds every cell it would produce, made from the same inputs."""
    if record is None or opts.force:
        return False
    cells = {(c.get("dataset"), c.get("scale"), c["metric"]): c for c in record.get("cells", [])}

    def attempted(c: dict) -> bool:
        """A kept (stale) value that this very job already tried to re-measure, and could not under this budget."""
        la = c.get("last_attempt") or {}
        return la.get("inputs") == h and BUDGET_RANK.get(la.get("budget"), 0) >= BUDGET_RANK[opts.budget]

    if not cells:  # a job that measures nothing for this entry (e.g. complexity of bicubic): done once
        return h in record.get("jobs", {})
    if not any(c["inputs"] == h or attempted(c) for c in cells.values()):
        return False
    for pc in entry.paper:
        if kind_of(pc.metric, suite) != kind or (pc.dataset and not _wants(opts, pc.dataset)):
            continue
        c = cells.get((pc.dataset, pc.scale, pc.metric))
        if c is None or (c["inputs"] != h and not attempted(c)) or c.get("status") == "error":
            return False
        skipped_for_budget = (c.get("extra") or {}).get("budget_skip")
        if skipped_for_budget and BUDGET_RANK[opts.budget] > BUDGET_RANK.get(c.get("budget"), 0):
            return False  # a larger budget may now measure what the cap skipped
    for c in cells.values():  # also cells the paper prints no number for (extra datasets, ×2 of a ×4 row)
        skipped_for_budget = (c.get("extra") or {}).get("budget_skip")
        if (skipped_for_budget and (not c.get("dataset") or _wants(opts, c["dataset"]))
                and BUDGET_RANK[opts.budget] > BUDGET_RANK.get(c.get("budget"), 0)):
            return False
    # a stale cell of this job (made from other inputs) is re-measured
    return not any(c["inputs"] != h and is_measured(c) and not attempted(c) for c in cells.values()
                   if not c.get("dataset") or _wants(opts, c["dataset"]))


def _is_stale_job(record: dict | None, h: str) -> bool:
    if record is None:
        return False
    return any(c["inputs"] != h or c.get("status") == "error" for c in record.get("cells", []))


def _wants(opts: RunOptions, dataset: str) -> bool:
    return opts.datasets is None or dataset in opts.datasets


def _eta(started: float, done: int, total: int) -> str:
    """Elapsed time and a naive ETA from the entries done so far (plain text: reads the same in a log)."""
    elapsed = time.perf_counter() - started
    if done == 0 or elapsed < 1:
        return ""
    left = elapsed / done * (total - done)
    return f" (elapsed {elapsed / 60:.1f} min, ETA ~{left / 60:.1f} min)"


def run_suite(suite: Suite, opts: RunOptions, report: Callable[[str], None] = print,
              run: Run | None = None) -> SuiteOutcome:
    """Measure the selected entries/kinds of one suite into run records, then collect results/<suite>.json."""
    run = run or new_run(budget=opts.budget, device=opts.device)
    check_options([suite], opts)
    ctx = MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=opts.data_dir,
                         weights_dir=opts.weights_dir, device=opts.device, budget=opts.budget,
                         provenance={}, progress=report if opts.progress else (lambda msg: None),
                         datasets=opts.datasets, run_id=run.id, eval_reuse=not opts.force)
    selected = [e for e in suite.entries if opts.entries is None or e.id in opts.entries]
    ran, skipped, errors = [], [], []
    started = time.perf_counter()
    for i, entry in enumerate(selected, 1):
        ctx.profile = suite.entry_profile(entry)
        budget, jobs = _entry_jobs(suite, entry, opts)
        ctx.budget = budget
        if budget != opts.budget:
            report(f"[{suite.id}] {entry.id}: using its finished {budget!r} training run (asked: {opts.budget!r})")
        for kind, inputs, todo in jobs:
            job = f"{entry.id}:{kind}"
            if not todo:
                skipped.append(job)
                continue
            report(f"[{suite.id}] entry {i}/{len(selected)} {entry.id}: {kind}{_eta(started, i - 1, len(selected))}")
            ctx.provenance = {}  # kinds note checksums here; the job's inputs already name them
            t0 = time.perf_counter()
            try:
                cells = _raw_cells(entry, get_kind(kind).function()(ctx, entry), budget)
                _attach_training(entry, cells, ctx.provenance.get("training", {}))
            except ModuleNotFoundError as exc:
                cells = _failed_cells(suite, entry, kind, "not-run", f"kind {kind!r} is not available: {exc}",
                                      budget)
            except Exception as exc:  # noqa: BLE001 — one entry's failure must not sink the suite
                msg = f"{type(exc).__name__}: {exc}"
                report(f"  error: {msg}\n{traceback.format_exc(limit=3)}")
                cells = _failed_cells(suite, entry, kind, "error", msg, budget)
            write_job(opts.results_dir, suite, entry, kind, run, inputs, cells, time.perf_counter() - t0)
            ran.append(job)
            errors += [f"{job}: {c['reason'][:200]}" for c in cells if c.get("status") == "error"]
    doc, changed = collect_and_write(suite, opts.results_dir, data_dir=opts.data_dir)
    return SuiteOutcome(doc, ran, skipped, errors, changed)


def _entry_jobs(suite: Suite, entry: Entry, opts: RunOptions) -> tuple[str, list[tuple[str, dict, bool]]]:
    """(effective budget, [(kind, job inputs, whether it must run)]) of one entry: the one place that decides
    which jobs a run measures (``run_suite``) or would measure (``planned_jobs``, ``--dry-run``)."""
    kinds = [k for k in kinds_for(entry, suite) if k in opts.only]
    budget = effective_budget(suite, entry, opts.budget, opts.data_dir) if "metrics" in kinds else opts.budget
    jobs = []
    for kind in kinds:
        inputs = job_inputs(suite, entry, kind, budget=budget, device=opts.device, data_dir=opts.data_dir)
        h = inputs_hash(inputs)
        record = read_record(record_path(opts.results_dir, suite.id, entry.id, kind))
        skip = (opts.stale and not _is_stale_job(record, h)) or _up_to_date(record, h, suite, entry, kind, opts)
        jobs.append((kind, inputs, not skip))
    return budget, jobs


def planned_jobs(suite: Suite, opts: RunOptions) -> list[str]:
    """The "entry:kind [budget]" jobs ``run_suite`` would measure with these options — nothing measured."""
    out = []
    for entry in (e for e in suite.entries if opts.entries is None or e.id in opts.entries):
        budget, jobs = _entry_jobs(suite, entry, opts)
        out += [f"{entry.id}:{kind} [{budget}]" for kind, _inputs, todo in jobs if todo]
    return out


def status_counts(cells: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in cells:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    return counts


def resolve_suites(ids: list[str] | None) -> list[Suite]:
    return [load_suite(s) for s in (ids or list_suite_ids())]


def remeasure_baselines(baseline_dir: Path, results_dir: Path, base: RunOptions | None = None,
                        report: Callable[[str], None] = print) -> list[str]:
    """Re-measure exactly the cells that the committed drift baselines hold (the CI subset).

    Each ``results/baselines/<suite>.json`` lists cells; the subset is their entries, the kinds of
    their metrics and their datasets, so the baseline files alone define what CI re-measures.
    """
    import json

    done = []
    run = new_run(budget=base.budget if base else "smoke", device=base.device if base else "cpu")
    for path in sorted(Path(baseline_dir).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        suite = load_suite(doc["suite"])
        by_kind: dict[str, list[dict]] = {}
        for c in doc.get("cells", []):
            by_kind.setdefault(kind_of(c["metric"], suite), []).append(c)
        by_kind.pop(None, None)
        # one run per kind, so an entry baselined for its params is not also evaluated or trained
        for kind, cells in sorted(by_kind.items()):
            datasets = {c["dataset"] for c in cells if c.get("dataset")}
            opts = RunOptions(
                budget=(base.budget if base else "smoke"),
                only={kind},
                entries={c["entry"] for c in cells},
                datasets=datasets or None,
                data_dir=base.data_dir if base else None,
                weights_dir=base.weights_dir if base else None,
                device=base.device if base else "cpu",
                results_dir=Path(results_dir),
                progress=base.progress if base else True,
            )
            run_suite(suite, opts, report, run)
        done.append(suite.id)
    return done
