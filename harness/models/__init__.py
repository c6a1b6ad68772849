"""The model zoo. Importing this package registers every model file with the registry."""

from harness.models.registry import (  # noqa: F401
    Checkpoint,
    ModelSpec,
    UnknownModelError,
    create_model,
    get_spec,
    list_models,
    register_model,
)

# Model files register themselves on import; add new ones here.
from harness.models import crb  # noqa: F401,E402
