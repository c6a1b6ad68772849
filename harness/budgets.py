"""Training budgets and recipes, as data (used by harness.train).

A **recipe** is how a paper trained a model (loss, optimiser, learning-rate schedule, batch, patch, data),
keyed by ``entry.train.recipe`` in a suite file.  A **budget** is how much of it the harness runs here
(``--budget smoke|short|paper``):

- ``smoke``: 20 iterations, batch 4, HR patch 24 on T91 — proves the pipeline end to end on 2 CPU cores:
  seconds for SRCNN/CARN-sized models, about a minute for the recursive bicubic-input nets (MemNet, DRCN),
  which a 48-pixel patch made several minutes each.  The model is barely trained; its metrics say nothing
  about the paper.
- ``short``: 2,000 iterations, batch 16, HR patch 72 on T91 — CPU-hours; still orders of magnitude below
  any paper schedule, so its metrics are not comparable to the paper either.
- ``paper``: the recipe's own schedule (iterations, batch, patch), on the training set the suite entry
  declares, else the recipe's; only where the paper states them, and it needs a GPU.

Smoke and short keep the recipe's loss, optimiser and learning rate, and scale the schedule's decay points
with the iteration count (same fractions of training).  HR patches 24 and 72 are multiples of 2, 3 and 4
and fit every T91 image (the smallest, t20, is 78×78).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Literal

ENGINE_VERSION = 1  # bump when a change to the engine changes what a config trains (invalidates caches)

Schedule = Literal["constant", "step", "cosine_restarts"]


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str  # where the numbers come from (paper, section)
    loss: Literal["l1", "l2"] = "l1"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    schedule: Schedule = "constant"
    step_every: int | None = None  # "step": multiply the lr by gamma every step_every iterations
    gamma: float = 0.5
    cycles: int = 1  # "cosine_restarts": number of cosine cycles over the run
    eta_min: float = 1e-7
    # The paper's own training run; None where the paper does not say.
    iterations: int | None = None
    batch: int | None = None
    lr_patch: int | None = None  # LR patch side (HR patch = lr_patch · scale)
    dataset: str | None = None
    degradation: str = "bicubic"  # the engine implements "bicubic" (MATLAB imresize) only
    augment: bool = True  # random flips and 90° rotations
    hardware: str = ""
    notes: tuple[str, ...] = ()  # what the paper leaves open and what the harness assumes or cannot do

    @property
    def paper_schedule(self) -> bool:
        return None not in (self.iterations, self.batch, self.lr_patch)

    def describe(self) -> str:
        """The paper's run in one line (what the smoke/short reasons contrast with)."""
        if not self.paper_schedule:
            return f"recipe {self.name!r} declares no complete paper schedule ({self.source})"
        return (f"{self.iterations:,} iterations, batch {self.batch}, LR patch {self.lr_patch}, "
                f"{_schedule_text(self)}, on {self.dataset or 'an unstated training set'} ({self.source})")


def _schedule_text(r: Recipe | TrainConfig) -> str:
    if r.schedule == "step":
        return f"lr {r.lr:g} ×{r.gamma:g} every {r.step_every:,} iterations"
    if r.schedule == "cosine_restarts":
        return f"lr {r.lr:g} cosine, {r.cycles} cycles"
    return f"lr {r.lr:g} constant"


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="default",
            source="recipe 'default' is the harness's (L1, Adam(0.9, 0.999, 1e-8), lr 1e-4), not a paper's",
            batch=16,
            lr_patch=64,
            notes=("no paper schedule: the paper budget refuses this recipe",),
        ),
        # CARN §4.2 "Implementation and Training Details": RGB LR patches 64×64, random horizontal flips and
        # 90° rotations, Adam(β1 = 0.9, β2 = 0.999, ε = 1e-8), 6e5 steps, mini-batch 64, lr 1e-4 halved every
        # 4e5 steps, L1 loss; trained on DIV2K (§4.1).
        Recipe(
            name="carn",
            source="Ahn et al., CARN (ECCV 2018) §4.2",
            lr=1e-4,
            schedule="step",
            step_every=400_000,
            gamma=0.5,
            iterations=600_000,
            batch=64,
            lr_patch=64,
            dataset="DIV2K",
            notes=(
                "CARN trains one multi-scale model (a scale drawn per batch); the harness trains one model per scale",
                "CARN initialises weights and biases U(-k, k), k = 1/sqrt(c_in): the model builder owns init",
            ),
        ),
        # RepSR §5.1: L1, mini-batch 32, Adam, 1000K iterations on DIV2K (800 images), MATLAB bicubic LR.
        # Tiny models (ECBSR-like sizes): LR patch 64, lr 4e-4 "decayed with multiple steps".
        Recipe(
            name="repsr_tiny",
            source="Wang et al., RepSR (ACM MM 2022) §5.1, tiny models",
            lr=4e-4,
            iterations=1_000_000,
            batch=32,
            lr_patch=64,
            dataset="DIV2K",
            hardware="NVIDIA A100",
            notes=("the decay milestones of 'decayed with multiple steps' are not stated: lr held constant here",),
        ),
        # RepSR §5.1, larger models (EDSR-M / SRResNet sizes): LR patch 48, lr 2e-4, cosine annealing with
        # four cycles (SGDR), 1000K iterations.
        Recipe(
            name="repsr_large",
            source="Wang et al., RepSR (ACM MM 2022) §5.1, large models",
            lr=2e-4,
            schedule="cosine_restarts",
            cycles=4,
            iterations=1_000_000,
            batch=32,
            lr_patch=48,
            dataset="DIV2K",
            hardware="NVIDIA A100",
            notes=("the cosine minimum lr is not stated: 1e-7 (BasicSR's default) assumed",),
        ),
        # CRB paper §4.1: L1, Adam(0.9, 0.999), initial lr 1e-5, RTX 4090D; iterations, batch and patch are
        # not stated (Fig. 3 counts epochs).
        Recipe(
            name="crb",
            source="Cheng et al., UAE/CRB §4.1",
            lr=1e-5,
            dataset="DIV2K",
            hardware="RTX 4090D",
            notes=("iterations, batch size and patch size are not stated: no paper schedule",),
        ),
        # STEA §III-B (LabNet): input 64×64, MAE (L1), 1.2e6 iterations, lr 4e-4 halved every 3e5, Adam,
        # Tesla T4; training LR made with a 21×21 Gaussian blur of random width per scale.
        Recipe(
            name="stea_labnet",
            source="STEA paper §III-B (LabNet)",
            lr=4e-4,
            schedule="step",
            step_every=300_000,
            gamma=0.5,
            iterations=1_200_000,
            lr_patch=64,
            degradation="random_gaussian_blur",
            hardware="Tesla T4",
            notes=(
                "batch size and training set are not stated",
                "random Gaussian-blur training degradation (σ ~ U[0.2, 2/3/4]) is not implemented by the engine",
            ),
        ),
    ]
}


@dataclass(frozen=True)
class Budget:
    name: str
    description: str
    iterations: int | None  # None: the recipe's paper schedule
    batch: int | None
    hr_patch: int | None
    dataset: str | None  # None: the suite entry's declared training set, else the recipe's
    checkpoint_every: int
    needs_gpu: bool = False
    # Largest evaluation of one (entry, dataset, scale) on a CPU, in G multiply-adds (≈30 G/s here,
    # environment.md); larger ones become not-run cells that say how to run them.  None: no cap.
    eval_gmacs_cap: float | None = None

    @property
    def is_paper(self) -> bool:
        return self.iterations is None


BUDGETS: dict[str, Budget] = {
    b.name: b
    for b in [
        Budget("smoke", "SMOKE run (proves the pipeline; the model is barely trained)",
               iterations=20, batch=4, hr_patch=24, dataset="T91", checkpoint_every=10,
               eval_gmacs_cap=1_500),
        Budget("short", "short CPU run (CPU-hours, far below any paper schedule)",
               iterations=2_000, batch=16, hr_patch=72, dataset="T91", checkpoint_every=200,
               eval_gmacs_cap=30_000),
        Budget("paper", "the paper's schedule; needs a GPU",
               iterations=None, batch=None, hr_patch=None, dataset=None, checkpoint_every=5_000, needs_gpu=True),
    ]
}


class BudgetError(ValueError):
    """Unknown recipe/budget, or a budget the recipe cannot fill (the message says what is missing)."""


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise BudgetError(f"unknown training recipe {name!r}; known: {', '.join(sorted(RECIPES))} (harness/budgets.py)")
    return RECIPES[name]


def get_budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise BudgetError(f"unknown budget {name!r}; known: {', '.join(BUDGETS)}")
    return BUDGETS[name]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained weights; its hash keys checkpoints and the final-model cache."""

    model: str
    model_kwargs: dict
    scale: int
    input_kind: str
    recipe: str
    budget: str
    dataset: str
    degradation: str
    iterations: int
    batch: int
    hr_patch: int
    loss: str
    lr: float
    betas: tuple[float, float]
    eps: float
    schedule: Schedule
    step_every: int | None
    gamma: float
    cycles: int
    eta_min: float
    augment: bool
    seed: int = 0
    data_fingerprint: str = ""
    engine_version: int = ENGINE_VERSION
    checkpoint_every: int = field(default=1000, compare=False)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    def hash(self) -> str:
        d = self.to_dict()
        d.pop("checkpoint_every")  # how often to save does not change the weights
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        return (f"{self.iterations:,} iterations, batch {self.batch}, HR patch {self.hr_patch}, "
                f"{self.loss.upper()} loss, Adam, {_schedule_text(self)}, on {self.dataset}")

    def lr_at(self, it: int) -> float:
        """Learning rate of (0-based) iteration ``it``."""
        if self.schedule == "step":
            return self.lr * self.gamma ** (it // self.step_every)
        if self.schedule == "cosine_restarts":
            period = math.ceil(self.iterations / self.cycles)
            t = (it % period) / period
            return self.eta_min + (self.lr - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * t))
        return self.lr


def resolve(recipe: Recipe, budget: Budget, *, model: str, model_kwargs: dict, scale: int, input_kind: str,
            dataset: str | None = None, seed: int = 0) -> TrainConfig:
    """Concrete training configuration for one (recipe, budget, model, scale).

    ``dataset`` is the suite entry's declared training set; smoke/short budgets replace it with T91, the
    paper budget uses it, else the recipe's.
    """
    dataset = budget.dataset or dataset or recipe.dataset
    if budget.is_paper:
        if not recipe.paper_schedule or dataset is None:
            missing = [k for k in ("iterations", "batch", "lr_patch") if getattr(recipe, k) is None]
            missing += [] if dataset else ["dataset"]
            raise BudgetError(
                f"the paper budget needs the paper's schedule, but recipe {recipe.name!r} ({recipe.source}) does "
                f"not declare {', '.join(missing)}; use --budget smoke or short (labelled not comparable)"
            )
        iterations, batch, hr_patch = recipe.iterations, recipe.batch, recipe.lr_patch * scale
        step_every = recipe.step_every
    else:
        iterations, batch, hr_patch = budget.iterations, budget.batch, budget.hr_patch
        step_every = recipe.step_every
        if step_every is not None and recipe.iterations:  # keep the decay at the same fraction of training
            step_every = max(1, round(step_every * iterations / recipe.iterations))
    if hr_patch % scale:
        raise BudgetError(f"budget {budget.name!r}: HR patch {hr_patch} is not a multiple of the scale ×{scale}")
    return TrainConfig(
        model=model, model_kwargs=dict(model_kwargs), scale=scale, input_kind=input_kind,
        recipe=recipe.name, budget=budget.name, dataset=dataset,
        degradation=recipe.degradation, iterations=iterations, batch=batch, hr_patch=hr_patch,
        loss=recipe.loss, lr=recipe.lr, betas=tuple(recipe.betas), eps=recipe.eps, schedule=recipe.schedule,
        step_every=step_every, gamma=recipe.gamma, cycles=recipe.cycles, eta_min=recipe.eta_min,
        augment=recipe.augment, seed=seed, checkpoint_every=budget.checkpoint_every,
    )
