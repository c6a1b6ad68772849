"""harness.dispatch: submitit's local executor runs two training jobs (two entries of one suite) in parallel
and both results land; the Slurm configuration is validated with errors naming the file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import require

from harness import dispatch
from harness.training.api import train_job


@pytest.mark.realdata
def test_local_executor_runs_two_entries_in_parallel(data_dir, tmp_path, monkeypatch):
    require((data_dir / "T91" / "HR").is_dir(), "T91 not found")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    specs = [{"suite": "carn_table1", "entry": f"fsrcnn_x{s}", "scale": s, "budget": "smoke", "device": "cpu",
              "data_dir": str(data_dir), "runs_dir": str(tmp_path / "runs")} for s in (2, 3)]
    infos = dispatch.run_jobs([(train_job, s) for s in specs], executor="local", folder=tmp_path / "submitit")
    assert [i["config"]["scale"] for i in infos] == [2, 3]
    for info in infos:  # both results land: finished runs with their records
        assert info["finished"] and Path(tmp_path / "runs" / info["run_key"] / "record.json").is_file()
        rec = json.loads((tmp_path / "runs" / info["run_key"] / "record.json").read_text())
        assert rec["iterations"] == 20 and rec["key"] == info["run_key"]
    # in parallel: each job's run overlaps the other's
    (a, b) = infos
    assert a["started_at"] < b["ended_at"] and b["started_at"] < a["ended_at"]
    assert a["run_key"] != b["run_key"]


def test_inline_executor_and_errors(tmp_path):
    assert dispatch.run_jobs([(sum, [1, 2]), (max, 3, 4)], executor="inline") == [3, 4]
    with pytest.raises(dispatch.DispatchError, match="unknown executor 'pbs'"):
        dispatch.run_jobs([], executor="pbs")
    bad = tmp_path / "slurm.toml"
    bad.write_text("[slurm]\ngpus_per_job = 2\n")
    with pytest.raises(dispatch.DispatchError, match=r"slurm\.toml: \[slurm\] partition is required"):
        dispatch.SlurmConfig.load(bad)
    bad.write_text('[slurm]\npartition = "gpu"\ngpu = 2\n')
    with pytest.raises(dispatch.DispatchError, match=r"field\(s\) \['gpu'\] unknown"):
        dispatch.SlurmConfig.load(bad)
    with pytest.raises(dispatch.DispatchError, match="copy slurm.example.toml"):
        dispatch.SlurmConfig.load(tmp_path / "none.toml")


def test_slurm_job_runs_torchrun_inside_the_allocation():
    cfg = dispatch.SlurmConfig.load(dispatch.REPO / "slurm.example.toml")
    cfg = dispatch.SlurmConfig(**{**cfg.__dict__, "gpus_per_job": 4})
    fn = dispatch.train_command(cfg, "crb_table4", "edsr_crb", 4, "paper")
    cmd = fn.command
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4"]
    assert cmd[5:] [:4] == ["-m", "harness", "train", "crb_table4"] and "--device" in cmd and "cuda" in cmd


def test_an_edited_suite_copy_trains_with_its_own_budget(tmp_path):
    """`harness train /some/copy.toml` hands the job the copy, not the repository's suite of the same id: an
    edited [budgets.short] (here its HR patch) reaches the run's configuration and so its run key."""
    import argparse

    from harness.suite import SUITES_DIR, load_suite
    from harness.training.api import resolve_entry
    from harness.training.cli import _jobs

    text = (SUITES_DIR / "stea_table7.toml").read_text(encoding="utf-8")
    patch = load_suite("stea_table7").budgets["short"].hr_patch  # the suite's own value, whatever it is now
    other = 48 if patch != 48 else 72
    assert f"\nhr_patch = {patch}\n" in text
    copy = tmp_path / "stea_table7.toml"
    copy.write_text(text.replace(f"\nhr_patch = {patch}\n", f"\nhr_patch = {other}\n"), encoding="utf-8")

    def job(suite: str) -> dict:
        args = argparse.Namespace(suite=suite, entries=["stea_x4"], scale=None, budget="short", device="cpu",
                                  data_dir=None, runs_dir=None, export=None, test=None, stop_at=None, workers=0,
                                  log_every=None, nondeterministic=False)
        (spec,) = _jobs(args)
        return spec

    def cfg(spec: dict):
        suite = load_suite(spec["suite"])
        return resolve_entry(suite.entry("stea_x4"), spec["scale"], "short")[2]

    repo, edited = job("stea_table7"), job(str(copy))
    assert repo["suite"] == "stea_table7" and cfg(repo).hr_patch == patch
    assert edited["suite"] == str(copy.resolve()) and cfg(edited).hr_patch == other
    assert cfg(edited).hash() != cfg(repo).hash()
