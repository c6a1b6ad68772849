"""The training engine (issue #10): data, recipes, engine, checkpoints, distributed, runs.

Public interface (what the runner, obtain and the CLI call):

- ``train_entry(ctx, entry, scale) -> (model, info)`` — obtain's ``train`` branch (``harness.training.api``)
- ``training_key(suite, entry, scale, budget, data_dir) -> str`` — the run key, without training
- ``train_job(spec) -> dict`` — one entry × scale as a picklable job (``harness.dispatch.run_jobs``)
- ``Trainer`` — the loop (``harness.training.engine``); ``measure_training_time`` — the training-time kind

Names load lazily, so ``harness.training.cli`` (the argument parser) does not import torch.
"""

import importlib

_WHERE = {
    "train_entry": "api", "train_job": "api", "training_key": "api",
    "MissingTrainingDataError": "data", "TrainingDataError": "data", "TrainingError": "data",
    "TrainingWarning": "data", "Trainer": "engine", "TrainingDivergedError": "engine", "build_model": "engine",
    "measure_training_time": "timing", "time_training_step": "timing",
}
__all__ = ["MissingTrainingDataError", "Trainer", "TrainingDataError", "TrainingDivergedError", "TrainingError",
           "TrainingWarning", "build_model", "measure_training_time", "time_training_step", "train_entry", "train_job",
           "training_key"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"harness.training.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'harness.training' has no attribute {name!r}")
