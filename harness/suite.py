"""Suite files: one declarative TOML per paper table (suites/<suite_id>.toml), validated with pydantic.

A suite is data, not code: the paper's cells with their printed strings and notes, the entries (rows)
and how each is obtained, the metric profile and tolerances.  ``load_suite`` turns every problem into a
``SuiteError`` that names the file, the field (and line where TOML reports one) and what is expected.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from harness import catalog  # metric names: one source, harness/catalog.py
from harness.claims import Claim, check_claims  # [[claims]]: a paper's conclusions
from harness.profile import PROFILES, MetricProfile, resolve_profile

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"

Obtain = Literal["compute", "load", "train", "paper-only"]


class SuiteError(ValueError):
    """A suite file is malformed: the message names the file, the field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaperCell(_Strict):
    """One number as the paper prints it."""

    metric: str
    value: float | None  # None for a printed "-" (the paper has no number there)
    printed: str  # the exact string in the paper, e.g. "31.92/0.8903" or "412K"
    dataset: str | None = None
    scale: int | None = None  # defaults to the entry's scale
    note: str = ""
    tolerance: float | str | None = None  # overrides the suite's tolerance for this cell

    @model_validator(mode="before")
    @classmethod
    def _value_required(cls, data: Any) -> Any:
        # A missing value is an error (not a silent null): "-" cells must say value = nan or omit with printed "-".
        if isinstance(data, dict) and "value" not in data:
            if str(data.get("printed", "")).strip() in {"-", "–", "—"}:
                data = {**data, "value": None}
            else:
                raise ValueError("paper cell needs 'value' (a number) next to 'printed'")
        return data


class Train(_Strict):
    """How a `train` entry is trained; recipes and budgets live in harness/training/recipes.py."""

    recipe: str = "default"
    dataset: str = "T91"
    notes: str = ""
    # Training seed (weights init, patch sampling): a repeat of a row with another seed is another entry with
    # the same model and recipe and a different seed; claims use such repeats as their noise band.
    seed: int = 0


class BudgetSize(_Strict):
    """A table's own size of the ``short`` budget (``[budgets.short]`` in a suite file): every trained row of
    the table gets it, so the rows stay an equal-budget comparison while a table of heavy models fits the
    budget's CPU cap here.  ``note``: how it was sized (measured steps/s, rows, CPU-hours).  ``kwargs``: a
    reduced model size declared for the budget, for tables whose rows do not fit at the paper's size."""

    iterations: int = Field(gt=0)
    batch: int = Field(gt=0)
    hr_patch: int = Field(gt=0)
    # a reduced model size for this budget (e.g. { blocks = 4, channels = 16 }): merged over every trained row's
    # kwargs, so the rows keep their differences at a size that fits; the paper's size stays the entry's
    # kwargs (complexity and re-parameterisation cells use it).  The note must say why the size was reduced.
    kwargs: dict[str, Any] = Field(default_factory=dict)
    # a row whose model names its size differently (EDSR: num_blocks, where the MxCy nets say blocks) gets its
    # own reduced size, replacing ``kwargs`` for that row: { <entry id> = { num_blocks = 4, channels = 16 } }
    row_kwargs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    note: str = Field(min_length=1)

    def kwargs_for(self, entry_id: str) -> dict[str, Any]:
        """The reduced size this budget gives row ``entry_id`` (merged over the row's own kwargs)."""
        return self.row_kwargs.get(entry_id, self.kwargs)


def size_text(kwargs: dict[str, Any]) -> str:
    """A declared reduced model size as cells' reasons and pages name it: ``blocks=4, channels=16``."""
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


class Count(_Strict):
    """Counting conventions that reproduce a paper's complexity columns (conventions.md §3).

    params: "all" parameters, "no-bias" (weights, PReLU/BN kept), or "weights-only" (conv/linear weights);
    multadds/flops: "fvcore" MACs, or "deconv-per-output" (transposed convs counted per output pixel).
    input: the N×C×H×W tensor to count at, for a paper that states its own input (STEA: [1, 3, 64, 64]; a
    module: [1, 48, 64, 64]) instead of the default 1280×720 output; counted at that true size.
    """

    params: Literal["all", "no-bias", "weights-only"] = "all"
    multadds: Literal["fvcore", "deconv-per-output"] = "fvcore"
    flops: Literal["fvcore", "deconv-per-output"] = "fvcore"
    input: list[int] | None = None

    @field_validator("input")
    @classmethod
    def _input_shape(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 4 or any(int(d) < 1 for d in v)):
            raise ValueError(f"count.input must be N×C×H×W, four positive integers, not {v}")
        return v


class Entry(_Strict):
    id: str
    row: str  # the row label exactly as printed
    # zoo model name (harness.models) or "bicubic"; None for paper-only entries and for "compute" entries
    # computed from the paper's own printed values alone (e.g. a UAE row of a module not implemented here)
    model: str | None = None
    obtain: Obtain
    scale: int | None = None
    # for obtain = "load": where the weights come from; "zoo" = the checkpoint the model registry declares for
    # the entry's scale (file, sha256, provenance: harness/models).  The only source today; written in suites
    # so that a future source (a tag, a file) is an explicit change.
    weights: Literal["zoo"] = "zoo"
    train: Train | None = None
    reason: str = ""  # for paper-only (why it cannot be measured here), or any note on the entry
    kwargs: dict[str, Any] = Field(default_factory=dict)  # constructor arguments (channels = 64, ...)
    # How LR test images are made from HR (harness/degradations.py): "bicubic" (MATLAB imresize) or a
    # named degradation such as the STEA paper's Gaussian blur kernels; parameters in degradation_params.
    degradation: str = "bicubic"
    degradation_params: dict[str, Any] = Field(default_factory=dict)
    # Metric-profile fields that differ for this row (e.g. rows a paper measured itself vs rows it copied
    # from other papers); say why in notes.
    profile: dict[str, Any] = Field(default_factory=dict)
    count: Count = Field(default_factory=Count)  # the convention that reproduces the printed complexity
    # "model": the printed row comes from the model's own paper (copied from it, or this is that paper), so it
    # is evaluated and counted with that paper's protocol (harness/protocols.py), the same in every suite;
    # "suite": the suite's profile and this entry's own overrides and count.
    protocol: Literal["suite", "model"] = "suite"
    row_source: str = ""  # where the printed row comes from, as the paper says ("copied from [6]")
    # The measured cause of a known gap between this row's measured and printed values (a probe, its numbers and
    # where they are), when the row is kept on the profile that deviates; collect adds it to the reason of every
    # cell of the row judged "close" or "deviates", so the report gives the cause with the gap (not an input).
    gap: str = ""
    measure: list[str] = Field(default_factory=list)  # extra kinds/metrics to measure beyond printed cells
    datasets: list[str] = Field(default_factory=list)  # extra datasets to evaluate beyond printed cells
    paper: list[PaperCell] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    # the suite's [budgets] (BudgetSize), set by Suite for its trained rows: one size for every row
    _budget_sizes: dict[str, BudgetSize] = PrivateAttr(default_factory=dict)

    def image_targets(self, metrics: set[str] | None = None) -> dict[tuple[str, int], set[str]]:
        """(dataset, scale) → the image metrics this row is scored on: its printed cells, plus ``datasets`` at
        its scale (PSNR/SSIM-Y, ``catalog.EXTRA_DATASET_METRICS``), each with the ``measure`` list added;
        ``metrics`` keeps only those (the evaluation's own metric names)."""
        keep = (lambda m: m in metrics) if metrics is not None else (lambda m: True)
        targets: dict[tuple[str, int], set[str]] = {}
        for cell in self.paper:
            scale = cell.scale or self.scale
            if cell.dataset and scale and keep(cell.metric):
                targets.setdefault((cell.dataset, scale), set()).add(cell.metric)
        if self.scale:
            for name in self.datasets:
                targets.setdefault((name, self.scale), set()).update(catalog.EXTRA_DATASET_METRICS)
        extra = {m for m in self.measure if keep(m)}
        return {k: v | extra for k, v in targets.items()}

    def budget_size(self, budget: str) -> BudgetSize | None:
        """This row's table-specific size of ``budget`` (``[budgets.<name>]`` of its suite), if any."""
        return self._budget_sizes.get(budget)

    @field_validator("id")
    @classmethod
    def _id_slug(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9_][a-z0-9_\-]*", v):
            raise ValueError("entry id must be lower-case letters, digits, '_' or '-'")
        return v

    @model_validator(mode="after")
    def _obtain_fields(self) -> Entry:
        if self.obtain == "paper-only" and not self.reason:
            raise ValueError("a paper-only entry needs 'reason' (why the harness cannot measure it)")
        if self.obtain in ("load", "train") and not self.model:
            raise ValueError(f"obtain = {self.obtain!r} needs 'model' (a zoo model name)")
        if self.obtain == "train" and self.train is None:
            raise ValueError("obtain = 'train' needs a [entries.train] table (recipe, dataset)")
        for c in self.paper:
            if c.scale is None:
                c.scale = self.scale
        if self.protocol == "model":
            from harness.protocols import PROTOCOLS, get_protocol

            proto = get_protocol(self.model)
            if proto is None:
                raise ValueError(f"protocol = 'model' but harness/protocols.py has no protocol for model "
                                 f"{self.model!r} (known: {', '.join(sorted(PROTOCOLS))}); add one with its "
                                 "evidence, or use protocol = 'suite'")
            if self.profile:
                raise ValueError("protocol = 'model' takes the profile from harness/protocols.py: remove 'profile' "
                                 "(or change the protocol there, with evidence)")
            wanted = Count(**proto.count)
            if "count" in self.model_fields_set and self.count != wanted:
                raise ValueError(f"count {self.count.model_dump()} conflicts with the {self.model!r} protocol's "
                                 f"{wanted.model_dump()} (harness/protocols.py): remove 'count'")
            self.count = wanted
        return self


class Column(_Strict):
    metric: str
    label: str = ""
    dataset: str | None = None
    group: str = ""  # column group shown above the label (e.g. "Set5")


class FigureDecl(_Strict):
    """A trade-off figure the paper itself has (CARN Fig. 4: PSNR vs Mult-Adds on Set14 ×4): the report shows
    its chart first, the other charts behind a selector."""

    id: str  # as the paper labels it, "Fig. 4"
    x: Literal["params", "multadds", "throughput"]
    dataset: str
    scale: int | None = None
    caption: str = ""  # the paper's caption, or what differs from it


class ProfileDecl(_Strict):
    name: str = "basicsr"
    reason: str = ""  # why this profile is the paper's (cite the paper or convention)
    overrides: dict[str, Any] = Field(default_factory=dict)


class Suite(_Strict):
    id: str
    paper: str  # citation
    paper_file: str = ""  # file under ../shared/papers
    table: str
    caption: str = ""
    section: str = ""
    profile: ProfileDecl = Field(default_factory=ProfileDecl)
    tolerances: dict[str, float | str] = Field(default_factory=dict)  # metric -> abs, "N%" or "printed"
    metrics: dict[str, str] = Field(default_factory=dict)  # suite-specific metric names -> description
    columns: list[Column] = Field(default_factory=list)
    ambiguities: list[str] = Field(default_factory=list)  # transcription notes for the whole table
    figures: list[FigureDecl] = Field(default_factory=list)  # [[figures]]: the paper's own trade-off charts
    entries: list[Entry]
    claims: list[Claim] = Field(default_factory=list)  # [[claims]] at the end of the file (harness/claims.py)
    # [budgets.short]: this table's size of the short budget, for every trained row (BudgetSize)
    budgets: dict[Literal["short"], BudgetSize] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _share_budget_sizes(self) -> Suite:
        for e in self.entries:
            if e.obtain == "train":
                e._budget_sizes = dict(self.budgets)
        for name, size in self.budgets.items():
            if size.kwargs or size.row_kwargs:
                _check_size_kwargs(name, size, [e for e in self.entries if e.obtain == "train"])
        return self

    @model_validator(mode="after")
    def _claims_consistent(self) -> Suite:
        check_claims(self)  # every row a claim names exists; its metric is known; its rows share a column
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        known = catalog.known_metrics() | set(self.metrics)
        seen: set[str] = set()
        for e in self.entries:
            if e.id in seen:
                raise ValueError(f"entry id {e.id!r} appears twice")
            seen.add(e.id)
            for c in e.paper:
                if c.metric not in known:
                    raise ValueError(
                        f"entry {e.id!r}: unknown metric {c.metric!r}; known: {', '.join(sorted(known))} "
                        "(declare suite-specific ones under [metrics])"
                    )
        for m in self.tolerances:
            if m not in known:
                raise ValueError(f"[tolerances]: unknown metric {m!r}")
        for e in self.entries:
            if e.profile:
                try:
                    resolve_profile(self.profile.name, {**self.profile.overrides, **e.profile})
                except (ValueError, KeyError) as exc:
                    raise ValueError(f"entry {e.id!r}: invalid profile override {e.profile}: {exc}") from None
        if self.profile.name not in PROFILES:
            raise ValueError(f"[profile] name {self.profile.name!r} unknown; known: {', '.join(PROFILES)}")
        return self

    @property
    def metric_profile(self) -> MetricProfile:
        return resolve_profile(self.profile.name, self.profile.overrides)

    def entry_profile(self, entry: Entry) -> MetricProfile:
        """The entry's effective profile: its model's own protocol, else the suite's with the entry's overrides."""
        if entry.protocol == "model":
            from harness.protocols import get_protocol

            proto = get_protocol(entry.model)
            return resolve_profile(proto.profile, proto.overrides)
        return resolve_profile(self.profile.name, {**self.profile.overrides, **entry.profile})

    def entry(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(f"suite {self.id!r} has no entry {entry_id!r}; entries: {', '.join(e.id for e in self.entries)}")


def _check_size_kwargs(name: str, size: BudgetSize, entries: list[Entry]) -> None:
    """Every trained row's model must build at the reduced size (one cheap construction per row), and every
    ``row_kwargs`` key must name a trained row."""
    from harness.models.registry import create_model, get_spec

    unknown = sorted(set(size.row_kwargs) - {e.id for e in entries})
    if unknown:
        raise ValueError(f"[budgets.{name}].row_kwargs names {', '.join(map(repr, unknown))}, not a trained row of "
                         f"this suite; trained rows: {', '.join(e.id for e in entries) or 'none'}")
    for e in entries:
        reduced = size.kwargs_for(e.id)
        field = f"row_kwargs.{e.id}" if e.id in size.row_kwargs else "kwargs"
        try:
            create_model(e.model, e.scale or get_spec(e.model).scales[0], **{**e.kwargs, **reduced})
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"[budgets.{name}].{field} {reduced}: entry {e.id!r} (model {e.model!r}) cannot be "
                             f"built at that size ({exc}); use its model's constructor arguments, or give the row "
                             f"its own size under [budgets.{name}].row_kwargs") from None


def _loc(err: dict, raw: dict) -> str:
    """Render a pydantic error location with entry ids instead of bare indices where possible."""
    parts: list[str] = []
    node: Any = raw
    for p in err["loc"]:
        if isinstance(p, int) and isinstance(node, list) and p < len(node):
            item = node[p]
            label = item.get("id") if isinstance(item, dict) else None
            parts[-1] = f"{parts[-1]}[{p}]" + (f" (id={label!r})" if label else "")
            node = item
        else:
            parts.append(str(p))
            node = node.get(p) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def load_suite(path_or_id: str | Path, *, check_models: bool = True) -> Suite:
    """Load and validate a suite file by path or by id (suites/<id>.toml)."""
    path = Path(path_or_id)
    if not path.suffix:
        path = SUITES_DIR / f"{path_or_id}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.toml")))
        raise SuiteError(f"{path}: no such suite file; known suites: {known}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: invalid TOML: {exc} — fix the syntax at that line") from None
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: invalid suite file:"]
        for err in exc.errors():
            lines.append(f"  field {_loc(err, raw)}: {err['msg']} (got {err.get('input')!r:.80})")
        raise SuiteError("\n".join(lines)) from None
    if suite.id != path.stem:
        raise SuiteError(f"{path}: field id = {suite.id!r} must equal the file name {path.stem!r}")
    suite.path = path
    if check_models:
        _check_models(suite, path)
    return suite


def _check_models(suite: Suite, path: Path) -> None:
    from harness.models import UnknownModelError, get_spec

    for i, e in enumerate(suite.entries):
        if e.model is None or e.model == "bicubic":
            continue
        try:
            spec = get_spec(e.model)
        except UnknownModelError as exc:
            raise SuiteError(f"{path}: field entries[{i}] (id={e.id!r}).model: {exc}") from None
        if e.scale is not None and e.scale not in spec.scales:
            raise SuiteError(
                f"{path}: field entries[{i}] (id={e.id!r}).scale: model {e.model!r} supports {spec.scales}, not {e.scale}"
            )


def list_suite_ids() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
