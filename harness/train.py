"""Compatibility name: the training engine is the package ``harness.training`` (issue #10).

``harness.train:measure_training_time`` and ``harness.train.train_entry`` keep working for callers that
name this module.
"""

from harness.training.api import train_entry, train_job, training_key  # noqa: F401
from harness.training.data import (  # noqa: F401
    MissingTrainingDataError,
    TrainingDataError,
    TrainingError,
    TrainingWarning,
)
from harness.training.engine import Trainer, TrainingDivergedError, build_model  # noqa: F401
from harness.training.timing import measure_training_time, time_training_step  # noqa: F401
