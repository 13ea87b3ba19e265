"""A run plan: everything a start needs, computed once from a config.

    TrainingConfig ──plan()──▶ RunPlan (family facts, dataset layout scanned once, concept
                                         folders, step count, output folder)
                                 ├─▶ validate(plan) → [Problem]
                                 ├─▶ steps / buckets for pages, CLI, notebooks
                                 └─▶ render(plan) → config.toml, dataset.toml, argv

Nothing here knows sd-scripts' option names (that is ``nyx_core.kohya``); a plan reads the
dataset folder the way sd-scripts will, once, and keeps what it could not read as a one-line
problem instead of raising, so pre-flight can list it with everything else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from nyx_core.config.enums import DurationMode
from nyx_core.config.families import FamilySpec, spec
from nyx_core.config.model import ConfigError, TrainingConfig
from nyx_core.buckets import BucketSpec
from nyx_core.errors import PathError
from nyx_core.steps import DatasetPlan, StepReport, SubsetPlan, TrainingPlan, compute_steps, read_image_sizes
from nyx_core.workspace import Workspace


@lru_cache(maxsize=256)
def _sizes(folder: str, mtime_ns: int, count: int) -> tuple[tuple[int, int], ...]:
    # Keyed on the folder's mtime and entry count: adding/removing an image changes them, so the
    # page's live step count stays right without re-reading every header on each rerun.
    return tuple(read_image_sizes(Path(folder)))


def folder_image_sizes(folder: Path) -> list[tuple[int, int]]:
    st = folder.stat()
    return list(_sizes(str(folder), st.st_mtime_ns, sum(1 for _ in folder.iterdir())))


def bucket_spec(cfg: TrainingConfig) -> BucketSpec:
    d = cfg.dataset
    return BucketSpec(
        resolution=(d.resolution, d.resolution_height or d.resolution),
        enable=d.enable_bucket,
        min_reso=d.min_bucket_reso,
        max_reso=d.max_bucket_reso,
        reso_steps=d.bucket_reso_steps,
        no_upscale=d.bucket_no_upscale,
    )


def training_plan(cfg: TrainingConfig) -> TrainingPlan:
    d = cfg.dataset
    epochs = d.max_train_epochs if d.duration is DurationMode.epochs and d.max_train_epochs > 0 else None
    steps = d.max_train_steps if d.duration is DurationMode.steps and d.max_train_steps > 0 else None
    return TrainingPlan(
        max_train_steps=steps,
        max_train_epochs=epochs,
        gradient_accumulation_steps=cfg.optimizer.gradient_accumulation_steps,
        num_processes=cfg.performance.num_gpus,
    )


@dataclass(frozen=True)
class ConceptPlan:
    """One ``[[datasets.subsets]]``: a concept folder as sd-scripts will read it."""

    image_dir: Path
    num_repeats: int
    class_tokens: str
    is_reg: bool = False
    images: tuple[Path, ...] = ()


@dataclass
class RunPlan:
    config: TrainingConfig
    ws: Workspace
    family: FamilySpec
    #: The dataset folder as scanned (None when there is no dataset to read).
    layout: object | None = None
    #: Enabled concept folders with the config's overrides applied.
    concepts: list[ConceptPlan] = field(default_factory=list)
    caption_ext: str = ".txt"
    #: Why the dataset cannot be read or counted (one line), or None.
    dataset_problem: str | None = None
    steps: StepReport | None = None
    steps_problem: str | None = None
    #: Where the LoRA is written (None when the configured folder leaves the workspace).
    output_dir: Path | None = None
    output_problem: str | None = None

    @property
    def images(self) -> int:
        return sum(len(c.images) for c in self.concepts if not c.is_reg)

    @property
    def epochs_for_estimate(self) -> int:
        d = self.config.dataset
        if d.duration is DurationMode.epochs:
            return d.max_train_epochs
        return self.steps.num_epochs if self.steps is not None else 10

    def require_concepts(self) -> list[ConceptPlan]:
        """The concepts, or ``ConfigError`` (naming the field) when there is nothing to train on."""
        if self.dataset_problem:
            raise ConfigError(f"dataset.name: {self.dataset_problem}")
        if not self.concepts:
            raise ConfigError(f"dataset.name: dataset {self.config.dataset.name!r} has no enabled concept folders "
                              "(<repeats>_<name>); add one on the Datasets page")
        return self.concepts

    def require_steps(self) -> StepReport:
        if self.dataset_problem:
            raise ConfigError(f"dataset.name: {self.dataset_problem}")
        if self.steps is None:
            raise ConfigError(self.steps_problem or "the steps cannot be counted")
        return self.steps


def concept_plans(cfg: TrainingConfig, layout) -> tuple[list[ConceptPlan], str]:  # noqa: ANN001 - DatasetLayout
    """The layout's enabled concept folders with the config's overrides, and the caption extension."""
    overrides = {c.folder: c for c in cfg.dataset.concepts}
    out = []
    for concept in layout.concepts:
        o = overrides.get(concept.folder.name)
        if o is not None and not o.enabled:
            continue
        out.append(ConceptPlan(
            image_dir=concept.folder,
            num_repeats=(o.repeats if o and o.repeats else concept.repeats),
            class_tokens=(o.class_tokens if o and o.class_tokens is not None else concept.name),
            is_reg=bool(o and o.is_reg),
            images=tuple(concept.images),
        ))
    return out, cfg.dataset.caption_extension or layout.caption_ext or ".txt"


def count_steps(cfg: TrainingConfig, concepts: list[ConceptPlan]) -> StepReport:
    """sd-scripts' step count for these concept folders (exact: ``nyx_core.steps``)."""
    subsets = [SubsetPlan(folder_image_sizes(c.image_dir), num_repeats=c.num_repeats, is_reg=c.is_reg,
                          name=c.image_dir.name) for c in concepts]
    dataset = DatasetPlan(subsets=subsets, batch_size=cfg.dataset.batch_size, bucket=bucket_spec(cfg))
    return compute_steps([dataset], training_plan(cfg))


def plan(cfg: TrainingConfig, ws: Workspace, *, output_dir: Path | None = None, steps: bool = True) -> RunPlan:
    """Read everything ``cfg`` refers to once. Never raises for a user mistake: problems are kept
    on the plan (``dataset_problem``, ``steps_problem``, ``output_problem``)."""
    from nyx_core.datasets.layout import scan_dataset

    p = RunPlan(config=cfg, ws=ws, family=spec(cfg.model.family))
    p.output_dir, p.output_problem = _output_dir(cfg, ws, output_dir)
    name = cfg.dataset.name.strip()
    if not name:
        p.dataset_problem = "no dataset chosen; pick one on the Dataset tab (create it on the Datasets page)"
        return p
    try:
        p.layout = scan_dataset(ws, name)
    except Exception as exc:  # noqa: BLE001 - DatasetError / PathError: already one line
        p.dataset_problem = str(exc).removeprefix("dataset.name: ")
        return p
    p.concepts, p.caption_ext = concept_plans(cfg, p.layout)
    if steps:
        try:
            p.steps = count_steps(cfg, p.concepts)
        except Exception as exc:  # noqa: BLE001 - StepsError / BucketError for an unreadable image
            p.steps_problem = str(exc)
    return p


def _output_dir(cfg: TrainingConfig, ws: Workspace, given: Path | None) -> tuple[Path | None, str | None]:
    if given is not None:
        return Path(given), None
    rel = cfg.project.output_dir.strip() or f"{ws.relative(ws.outputs)}/{cfg.project.name}"
    try:
        return ws.resolve(rel), None
    except PathError as exc:
        return None, f"{exc}; pick a folder inside the workspace"
