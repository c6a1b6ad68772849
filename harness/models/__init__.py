"""The model zoo. Importing this package imports every module in it, and each registers its models."""

import importlib
import pkgutil

from harness.models.registry import (  # noqa: F401
    Checkpoint,
    ModelSpec,
    UnknownModelError,
    create_model,
    get_spec,
    list_models,
    register_model,
)

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "registry" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
