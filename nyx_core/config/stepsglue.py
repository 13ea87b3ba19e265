"""The step count of a config: its dataset folders read as sd-scripts will, through the exact
arithmetic of ``nyx_core.steps.compute_steps``."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from nyx_core.buckets import BucketSpec
from nyx_core.config.enums import DurationMode
from nyx_core.config.model import TrainingConfig
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


def steps_for(cfg: TrainingConfig, ws: Workspace) -> StepReport:
    """Raises ``ConfigError`` when the config has no dataset to count (see ``render.dataset_subsets``)."""
    from nyx_core.kohya.render import dataset_subsets

    subsets, _ext = dataset_subsets(cfg, ws)
    plans = [SubsetPlan(folder_image_sizes(s.image_dir), num_repeats=s.num_repeats, is_reg=s.is_reg,
                        name=s.image_dir.name) for s in subsets]
    dataset = DatasetPlan(subsets=plans, batch_size=cfg.dataset.batch_size, bucket=bucket_spec(cfg))
    return compute_steps([dataset], training_plan(cfg))
