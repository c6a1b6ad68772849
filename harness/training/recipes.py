"""Training recipes and budgets, as data — the single source of both (``harness.budgets`` re-exports them).

A **recipe** is how a paper trained a model (loss, optimiser and betas, learning rate and schedule, batch,
patch, iterations, EMA, BN freezing, training data and degradation), keyed by ``entry.train.recipe`` in a
suite file, else by the model's default recipe (``MODEL_RECIPES``).  Every choice the paper leaves open is
declared in ``notes`` with the reason for the value used.

A **budget** is how much of a recipe runs (``--budget smoke|short|paper``):

- ``smoke``: 20 iterations, batch 4, HR patch 24 on T91 — CI, seconds; proves the path, the model is
  barely trained and its metrics say nothing about the paper.
- ``short``: the **equal-budget comparison**: every row of a table is trained with the same data (T91 minus
  the held-out validation images), the same iterations, batch, patch, schedule shape and seed, so
  differences between rows mean something although absolute values are below the paper's.  Sized from
  measured steps/s (README "Training"): FSRCNN ×4 does 18.5 steps/s at batch 32 on one idle core here
  (592 samples/s), so 15,000 iterations take about 14 CPU-minutes of model time (about 20 with data and
  validation; wall time is longer when the 2 shared cores are busy); a model whose measured step time ×
  iterations exceeds ``cpu_hours_cap`` on a CPU is refused there with the estimate (run it on a GPU).
- ``paper``: the recipe's own schedule on the entry's declared training set; needs a GPU.

Smoke and short keep the recipe's loss, optimiser and learning rate and scale the schedule's decay points
with the iteration count (same fractions of training).  HR patches 24 and 72 are multiples of 2, 3 and 4
and fit every T91 image (the smallest, t20, is 78×78).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Literal

ENGINE_VERSION = 2  # bump when a change to the engine changes what a config trains (new run keys)

Schedule = Literal["constant", "step", "multistep", "cosine_restarts"]


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str  # where the numbers come from (paper, section)
    loss: Literal["l1", "l2"] = "l1"
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    schedule: Schedule = "constant"
    step_every: int | None = None  # "step": multiply the lr by gamma every step_every iterations (halving: 0.5)
    milestones: tuple[int, ...] = ()  # "multistep": multiply the lr by gamma at each milestone
    gamma: float = 0.5
    cycles: int = 1  # "cosine_restarts": number of equal cosine cycles over the run (SGDR)
    eta_min: float = 1e-7
    ema: float | None = None  # EMA decay of the weights (evaluated weights = EMA) or None
    freeze_bn_at: int | None = None  # put BatchNorm layers in eval mode from this iteration on
    # The paper's own training run; None where the paper does not say.
    iterations: int | None = None
    batch: int | None = None
    lr_patch: int | None = None  # LR patch side (HR patch = lr_patch · scale)
    dataset: str | None = None
    degradation: str = "bicubic"  # a harness.degradations name, applied on the fly or from the LR cache
    augment: bool = True  # random flips and 90° rotations (the 8 dihedral transforms)
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


def _schedule_text(r: Recipe | TrainConfig, *, as_fractions: bool = False) -> str:
    """The lr schedule in words; ``as_fractions``: decay points as fractions of the recipe's run, which is what
    a smoke/short budget keeps of them."""
    n = getattr(r, "iterations", None) if as_fractions else None
    if n and r.schedule == "multistep":
        return f"lr {r.lr:g} ×{r.gamma:g} at {', '.join(f'{m / n:.0%}' for m in r.milestones)} of the run"
    if n and r.schedule == "step" and r.step_every:
        return f"lr {r.lr:g} ×{r.gamma:g} every {r.step_every / n:.0%} of the run"
    if r.schedule == "step":
        return f"lr {r.lr:g} ×{r.gamma:g} every {r.step_every:,} iterations"
    if r.schedule == "multistep":
        return f"lr {r.lr:g} ×{r.gamma:g} at {', '.join(f'{m:,}' for m in r.milestones)}"
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
        # FSRCNN (Dong et al., ECCV 2016) §4.1: MSE loss, SGD, lr 1e-3 for the convolutions and 1e-4 for the
        # deconvolution, trained on the 91-image set (then fine-tuned on General-100), augmentation by
        # down-scaling and rotation; iterations are not stated.
        Recipe(
            name="fsrcnn",
            source="Dong et al., FSRCNN (ECCV 2016) §4.1",
            loss="l2",
            lr=1e-3,
            dataset="T91",
            notes=(
                ("optimiser: the paper uses plain SGD with lr 1e-3 (1e-4 on the deconvolution); the harness uses "
                "Adam(0.9, 0.999) at 1e-3 for all layers (as the public re-training yjn870/FSRCNN-pytorch does) "
                "because SGD at those rates needs far more iterations than any CPU budget"),
                "iterations, batch size and the General-100 fine-tuning are not stated/available: no paper schedule",
                "augmentation: flips/rot90 here; the paper's 0.6–0.9 down-scaling augmentation is not done",
            ),
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
            schedule="multistep",
            milestones=(500_000, 800_000, 900_000, 950_000),
            iterations=1_000_000,
            batch=32,
            lr_patch=64,
            dataset="DIV2K",
            hardware="NVIDIA A100",
            notes=(("'decayed with multiple steps': milestones not stated; ECBSR's/BasicSR's 500K/800K/900K/950K "
                   "×0.5 assumed (the schedule RepSR's tiny-model code base uses)"),
                   ("RepSR freezes BN in the re-parameterised branches late in training; the iteration is not "
                   "stated: the models' own frozen_bn_at (0.9 of the run, §4.2 'only frozen for a very short "
                   "period') is applied by the engine (TrainConfig.frozen_bn_from); freeze_bn_at stays unset")),
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
                ("random Gaussian-blur training degradation: σ ~ U(0.2, 2/3/4) per scale drawn per patch, 21×21 "
                "kernel, then MATLAB bicubic (harness.degradations gaussian_blur), applied on the fly"),
            ),
        ),
    ]
}

# Recipe of a model when the suite entry names none (``train`` of a ``load`` entry, for a re-training).
MODEL_RECIPES: dict[str, str] = {"fsrcnn": "fsrcnn", "carn": "carn", "carn_m": "carn"}


def recipe_name(entry) -> str:
    """The entry's declared recipe, else its model's default (``MODEL_RECIPES``), else ``default``."""
    if entry.train is not None and "recipe" in entry.train.model_fields_set:
        return entry.train.recipe
    return MODEL_RECIPES.get(entry.model or "", "default")


def recipe_groups(entries) -> dict[str, list[str]]:
    """Recipe name → ids of the given entries trained with it (insertion order)."""
    out: dict[str, list[str]] = {}
    for e in entries:
        out.setdefault(recipe_name(e), []).append(e.id)
    return out


def recipe_text(name: str) -> str:
    """A recipe's loss, optimiser and lr schedule in a few words (what a short run keeps of it)."""
    r = RECIPES.get(name)
    if r is None:
        return f"recipe {name!r}"
    return f"recipe {name!r}: {r.loss.upper()}, {r.optimizer.capitalize()}, {_schedule_text(r, as_fractions=True)}"


def unequal_recipes(entries) -> str | None:
    """Why rows trained under one smoke/short budget are *not* an equal-schedule comparison, or None.

    A budget fixes data, iterations, batch, patch and seed for every row, but each row keeps its own
    recipe's loss, optimiser and learning-rate schedule (decay points scaled to the same fractions), so rows
    on different recipes differ in more than the architecture.
    """
    groups = recipe_groups(entries)
    if len(groups) < 2:
        return None
    parts = [f"{', '.join(ids)} on {recipe_text(name)}" for name, ids in groups.items()]
    return ("rows trained on different recipes (" + "; ".join(parts) + "): same data, iterations, batch, patch "
            "and seed, but not the same loss/optimiser/lr schedule, so the gap mixes the architecture with the "
            "recipe")


def odd_recipe_rows(entries) -> dict[str, str]:
    """Entry id → note, for each trained row whose recipe is not the one most of the given rows use."""
    groups = recipe_groups(entries)
    main = max(groups, key=lambda name: len(groups[name]), default=None)
    total = sum(map(len, groups.values()))
    return {eid: (f"not an equal-schedule row of this table: trained on {recipe_text(name)}, while "
                  f"{len(groups[main])} of its {total} trained rows use {recipe_text(main)} (same data, "
                  "iterations, batch, patch and seed; not the same recipe)")
            for name, ids in groups.items() if name != main for eid in ids}


@dataclass(frozen=True)
class Budget:
    name: str
    description: str
    iterations: int | None  # None: the recipe's paper schedule
    batch: int | None
    hr_patch: int | None
    dataset: str | None  # None: the suite entry's declared training set, else the recipe's
    checkpoint_every: int
    val_every: int = 0  # validation PSNR on the held-out images every N iterations (0: at the end only)
    keep_checkpoints: int = 2
    needs_gpu: bool = False
    # A model whose estimated CPU time (measured step time × iterations) exceeds this is refused on a CPU.
    cpu_hours_cap: float | None = None
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
               iterations=20, batch=4, hr_patch=24, dataset="T91", checkpoint_every=10, val_every=0,
               cpu_hours_cap=0.1, eval_gmacs_cap=1_500),
        Budget("short", "short equal-budget run (same data, iterations, batch, patch and seed for every row, each "
                        "on its recipe's loss, optimiser and lr schedule with the decay points at the same "
                        "fractions; far below any paper schedule)",
               iterations=15_000, batch=32, hr_patch=72, dataset="T91", checkpoint_every=1_000, val_every=1_000,
               cpu_hours_cap=2.0, eval_gmacs_cap=30_000),
        Budget("paper", "the paper's schedule; needs a GPU",
               iterations=None, batch=None, hr_patch=None, dataset=None, checkpoint_every=5_000, val_every=5_000,
               keep_checkpoints=3, needs_gpu=True),
    ]
}

# Held-out validation images of the training set: every VAL_STRIDE-th file (sorted), at most VAL_COUNT.
VAL_STRIDE, VAL_COUNT = 18, 5


class BudgetError(ValueError):
    """Unknown recipe/budget, or a budget the recipe cannot fill (the message says what is missing)."""


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise BudgetError(f"unknown training recipe {name!r}; known: {', '.join(sorted(RECIPES))} "
                          "(harness/training/recipes.py)")
    return RECIPES[name]


def get_budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise BudgetError(f"unknown budget {name!r}; known: {', '.join(BUDGETS)}")
    return BUDGETS[name]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained weights; its hash is the run key."""

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
    optimizer: str
    lr: float
    betas: tuple[float, float]
    eps: float
    momentum: float
    weight_decay: float
    schedule: Schedule
    step_every: int | None
    milestones: tuple[int, ...]
    gamma: float
    cycles: int
    eta_min: float
    ema: float | None
    freeze_bn_at: int | None
    augment: bool
    seed: int = 0
    data_fingerprint: str = ""
    engine_version: int = ENGINE_VERSION
    # RepSR §4.2 "Frozen BN": the iteration from which the model's FrozenBatchNorm2d layers normalise with
    # population statistics (the model's own ``frozen_bn_at`` fraction × iterations); None: no switch (and
    # then not in the key, so runs of models without one keep their keys)
    frozen_bn_from: int | None = None
    # How often to save/validate and how many to keep do not change the weights: not in the key.
    checkpoint_every: int = field(default=1000, compare=False)
    val_every: int = field(default=0, compare=False)
    keep_checkpoints: int = field(default=2, compare=False)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["betas"], d["milestones"] = tuple(d["betas"]), tuple(d["milestones"])
        return cls(**d)

    def hash(self) -> str:
        d = self.to_dict()
        for k in ("checkpoint_every", "val_every", "keep_checkpoints"):
            d.pop(k)
        if d.get("frozen_bn_from") is None:
            d.pop("frozen_bn_from", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        return (f"{self.iterations:,} iterations, batch {self.batch}, HR patch {self.hr_patch}, "
                f"{self.loss.upper()} loss, {self.optimizer.capitalize()}, {_schedule_text(self)}, on {self.dataset}")

    def lr_at(self, it: int) -> float:
        """Learning rate of (0-based) iteration ``it``."""
        if self.schedule == "step":
            return self.lr * self.gamma ** (it // self.step_every)
        if self.schedule == "multistep":
            return self.lr * self.gamma ** sum(it >= m for m in self.milestones)
        if self.schedule == "cosine_restarts":  # SGDR with equal periods, restart to the initial lr
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
    step_every, milestones, freeze = recipe.step_every, tuple(recipe.milestones), recipe.freeze_bn_at
    if budget.is_paper:
        if not recipe.paper_schedule or dataset is None:
            missing = [k for k in ("iterations", "batch", "lr_patch") if getattr(recipe, k) is None]
            missing += [] if dataset else ["dataset"]
            raise BudgetError(
                f"the paper budget needs the paper's schedule, but recipe {recipe.name!r} ({recipe.source}) does "
                f"not declare {', '.join(missing)}; use --budget smoke or short (labelled not comparable)"
            )
        iterations, batch, hr_patch = recipe.iterations, recipe.batch, recipe.lr_patch * scale
    else:
        iterations, batch, hr_patch = budget.iterations, budget.batch, budget.hr_patch
        if recipe.iterations:  # keep decay points / BN freezing at the same fraction of training
            f = iterations / recipe.iterations
            step_every = max(1, round(step_every * f)) if step_every is not None else None
            milestones = tuple(max(1, round(m * f)) for m in milestones)
            freeze = max(1, round(freeze * f)) if freeze is not None else None
    if hr_patch % scale:
        raise BudgetError(f"budget {budget.name!r}: HR patch {hr_patch} is not a multiple of the scale ×{scale}")
    return TrainConfig(
        model=model, model_kwargs=dict(model_kwargs), scale=scale, input_kind=input_kind,
        recipe=recipe.name, budget=budget.name, dataset=dataset,
        degradation=recipe.degradation, iterations=iterations, batch=batch, hr_patch=hr_patch,
        loss=recipe.loss, optimizer=recipe.optimizer, lr=recipe.lr, betas=tuple(recipe.betas), eps=recipe.eps,
        momentum=recipe.momentum, weight_decay=recipe.weight_decay, schedule=recipe.schedule,
        step_every=step_every, milestones=milestones, gamma=recipe.gamma, cycles=recipe.cycles,
        eta_min=recipe.eta_min, ema=recipe.ema, freeze_bn_at=freeze, augment=recipe.augment, seed=seed,
        checkpoint_every=budget.checkpoint_every, val_every=budget.val_every,
        keep_checkpoints=budget.keep_checkpoints,
    )
