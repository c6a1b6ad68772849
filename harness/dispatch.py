"""Running jobs (entry × scale) here or on a cluster, through submitit — no home-made scheduler.

``run_jobs(jobs, executor="inline"|"local"|"slurm", config=None, folder=None) -> list`` runs each job
``(callable, *args)`` (picklable: a module-level function, or ``submitit.helpers.CommandFunction``) and
returns their results in order; a failed job raises ``DispatchError`` naming it and its log files.

- ``inline``: in this process, one after another (what torchrun launches use).
- ``local``: submitit's ``LocalExecutor`` — one subprocess per job, all at once, logs under ``folder``.
- ``slurm``: submitit's ``SlurmExecutor``, configured from a TOML file (``slurm.toml``; the documented
  template is ``slurm.example.toml``).  Training jobs run ``torchrun --nproc_per_node <gpus_per_job> -m
  harness train …`` inside the allocation (``train_command``).  Untested against a real Slurm here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO / "runs" / "_submitit"
EXECUTORS = ("inline", "local", "slurm")


class DispatchError(RuntimeError):
    """A job failed, or the executor configuration is wrong (the message names the file and field)."""


@dataclass(frozen=True)
class SlurmConfig:
    """``[slurm]`` table of slurm.toml (see slurm.example.toml for every field's meaning)."""

    partition: str
    gpus_per_job: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 32
    time_limit_min: int = 720
    account: str | None = None
    python: str = "python"
    setup: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # passed to SlurmExecutor.update_parameters

    @classmethod
    def load(cls, path: str | Path) -> SlurmConfig:
        path = Path(path)
        if not path.is_file():
            raise DispatchError(f"{path}: no Slurm config; copy slurm.example.toml to {path} and set partition")
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise DispatchError(f"{path}: not valid TOML ({exc})") from None
        table = doc.get("slurm")
        if not isinstance(table, dict):
            raise DispatchError(f"{path}: missing the [slurm] table; see slurm.example.toml")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(table) - known)
        if unknown:
            raise DispatchError(f"{path}: [slurm] field(s) {unknown} unknown; known: {sorted(known)}")
        if not table.get("partition"):
            raise DispatchError(f"{path}: [slurm] partition is required (the cluster's GPU partition name)")
        for name in ("gpus_per_job", "cpus_per_task", "mem_gb", "time_limit_min"):
            if name in table and (not isinstance(table[name], int) or table[name] < 0):
                raise DispatchError(f"{path}: [slurm] {name} must be a non-negative integer, got {table[name]!r}")
        table = {**table, "setup": tuple(table.get("setup", ()))}
        return cls(**table)


Job = tuple  # (callable, *args)


def _executor(kind: str, folder: Path, config: SlurmConfig | None, timeout_min: int):
    import submitit

    if kind == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=timeout_min)
        return ex
    if config is None:
        raise DispatchError("executor 'slurm' needs a config (slurm.toml; template slurm.example.toml)")
    ex = submitit.SlurmExecutor(folder=str(folder), python=config.python)
    params = dict(partition=config.partition, gpus_per_node=config.gpus_per_job, ntasks_per_node=1,
                  cpus_per_task=config.cpus_per_task, mem=f"{config.mem_gb}GB", time=config.time_limit_min,
                  setup=list(config.setup), **config.extra)
    if config.account:
        params["account"] = config.account
    ex.update_parameters(**params)
    return ex


def run_jobs(jobs: Sequence[Job], executor: str = "inline", config: SlurmConfig | str | Path | None = None,
             folder: str | Path | None = None, timeout_min: int = 24 * 60) -> list:
    """Run ``jobs`` (each ``(callable, *args)``) with ``executor``; their results, in order."""
    if executor not in EXECUTORS:
        raise DispatchError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "inline":
        return [fn(*args) for fn, *args in jobs]
    if isinstance(config, (str, Path)):
        config = SlurmConfig.load(config)
    folder = Path(folder or DEFAULT_FOLDER)
    ex = _executor(executor, folder, config, timeout_min)
    submitted = [ex.submit(fn, *args) for fn, *args in jobs]  # all submitted before any is awaited
    results, failures = [], []
    for job, (fn, *args) in zip(submitted, jobs):
        try:
            results.append(job.result())
        except Exception as exc:  # noqa: BLE001 — submitit re-raises the job's failure as FailedJobError etc.
            failures.append(f"job {job.job_id} ({getattr(fn, '__name__', fn)}{tuple(args)!r:.120}): "
                            f"{type(exc).__name__}: {str(exc)[-800:]} — logs: {job.paths.stdout}, {job.paths.stderr}")
            results.append(None)
    if failures:
        raise DispatchError(f"{len(failures)} of {len(jobs)} job(s) failed:\n" + "\n".join(failures))
    return results


def train_command(config: SlurmConfig, suite: str, entry: str, scale: int, budget: str,
                  extra: Sequence[str] = ()) -> Callable:
    """A Slurm job running ``torchrun --nproc_per_node <gpus_per_job> -m harness train`` inside the allocation."""
    from submitit.helpers import CommandFunction

    n = max(1, config.gpus_per_job)
    cmd = [config.python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m", "harness",
           "train", suite, "--entries", entry, "--scale", str(scale), "--budget", budget, "--device", "cuda",
           "--executor", "inline", *extra]
    return CommandFunction(cmd, cwd=str(REPO))
