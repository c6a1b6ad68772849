"""Training budgets and recipes: re-exported from ``harness.training.recipes``, their single source."""

from harness.training.recipes import (  # noqa: F401
    BUDGETS,
    ENGINE_VERSION,
    MODEL_RECIPES,
    RECIPES,
    Budget,
    BudgetError,
    Recipe,
    Schedule,
    TrainConfig,
    get_budget,
    get_recipe,
    resolve,
)
