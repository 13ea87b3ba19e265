"""The exact step count sd-scripts will run, computed before launching it.

Re-expressed from kohya-ss/sd-scripts at the pinned commit 48d368fa:
- which images a dataset holds, how regularisation images are repeated to balance the train images,
  and how ``validation_split`` picks images: ``library/train_util.py`` (``DreamBoothDataset.__init__``,
  ``FineTuningDataset.__init__``, ``split_train_val``, ``glob_images``);
- buckets and batches per bucket: ``BaseDataset.make_buckets`` (see nyx_core.buckets);
- the step/epoch arithmetic: ``train_network.py`` (``max_train_epochs`` override, the 1600 default,
  ``num_update_steps_per_epoch``, ``num_train_epochs``) and accelerate's even-batch sharding for
  several processes.
Checked against ../shared/kohya/steps/cases.json (26 cases, 9 confirmed by real runs).
"""
from __future__ import annotations

import json
import math
import os
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from nyx_core.buckets import BucketSpec, Size, assign, effective_min_max, parse_resolution
from nyx_core.cache import StampCache
from nyx_core.errors import NyxError
from nyx_core.imagefiles import SD_SCRIPTS_IMAGE_EXTS, is_trainable_image  # noqa: F401 - re-exported
from nyx_core.jobs.reader import ProgressReader, decode_event

#: sd-scripts' default for ``max_train_steps`` when neither steps nor epochs are given.
DEFAULT_MAX_TRAIN_STEPS = 1600
# What sd-scripts' ``glob_images`` matches (these spellings exactly, no ``.Png``) is ``nyx_core.imagefiles``.


class StepsError(NyxError, ValueError):
    """Step-calculator input that cannot describe a real run."""


class StepWarning(str):
    """A warning message (a plain ``str``) that also carries a stable ``code`` for tests and UIs."""

    code: str

    def __new__(cls, code: str, message: str) -> "StepWarning":
        obj = super().__new__(cls, message)
        obj.code = code
        return obj

    def __reduce__(self):  # keep pickling/copying working for a str subclass with an attribute
        return (StepWarning, (self.code, str(self)))


# ----------------------------------------------------------------------------------------------- inputs


@dataclass
class SubsetPlan:
    """One subset (concept folder): its image sizes in sd-scripts' order (sorted file paths).

    The order only matters for regularisation balancing and a seeded ``validation_split``;
    ``read_image_sizes`` returns it.
    """

    image_sizes: list[Size]
    num_repeats: int = 1
    is_reg: bool = False
    name: str = ""


@dataclass
class DatasetPlan:
    """One ``[[datasets]]`` table. ``fine_tuning`` is the ``metadata_file`` style (no reg, no split)."""

    subsets: list[SubsetPlan]
    batch_size: int = 1
    bucket: BucketSpec = field(default_factory=lambda: BucketSpec(resolution=(512, 512), enable=False))
    validation_split: float = 0.0
    validation_seed: int | None = None
    fine_tuning: bool = False


@dataclass
class TrainingPlan:
    """The training arguments that decide the step count. Set steps or epochs; epochs win if both."""

    max_train_steps: int | None = None
    max_train_epochs: int | None = None
    gradient_accumulation_steps: int = 1
    num_processes: int = 1


# ---------------------------------------------------------------------------------------------- outputs


class BucketRow(NamedTuple):
    resolution: Size
    count: int  # images in the bucket, repeats and balanced reg images included
    batches: int


@dataclass
class ImageBucketRow:
    """Images of one size (and subset kind / repeats) and where they went."""

    size: Size
    is_reg: bool
    bucket: Size
    resized_size: Size
    num_repeats: int
    images: int


@dataclass
class DatasetReport:
    batch_size: int
    resolution: Size
    enable_bucket: bool
    min_bucket_reso: int | None
    max_bucket_reso: int | None
    bucket_reso_steps: int | None
    bucket_no_upscale: bool
    num_train_images_x_repeats: int
    num_reg_images: int
    num_batches: int
    buckets: list[BucketRow]
    image_buckets: list[ImageBucketRow]
    mean_ar_error: float | None
    num_validation_images_x_repeats: int = 0
    num_validation_batches: int = 0


@dataclass
class StepReport:
    num_train_images_x_repeats: int
    num_reg_images: int
    num_validation_images_x_repeats: int
    num_batches_per_epoch: int  # as printed (per process when several GPUs)
    num_update_steps_per_epoch: int
    total_optimization_steps: int
    num_epochs: int
    override_steps_printed: bool  # the "override steps. steps for N epochs" line
    default_steps_used: bool  # neither steps nor epochs given: sd-scripts' 1600
    gradient_accumulation_steps: int
    num_processes: int
    batch_size_per_device: list[int]
    datasets: list[DatasetReport]
    warnings: list[StepWarning] = field(default_factory=list)
    num_validation_batches: int = 0

    @property
    def buckets(self) -> list[list[BucketRow]]:
        """Per dataset: [(resolution, count, batches), ...] as sd-scripts prints them."""
        return [d.buckets for d in self.datasets]

    @property
    def steps_per_epoch(self) -> int:
        return self.num_update_steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = [{"code": w.code, "message": str(w)} for w in self.warnings]
        return d


# ------------------------------------------------------------------------------------------ arithmetic


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _split_train_val(sizes: list[Size], training: bool, split: float, seed: int | None) -> list[Size]:
    # train_util.split_train_val: a seeded shuffle of the sorted list, then the first ceil(n*(1-split))
    # train / the last round(n*split) validation. The shuffle depends only on n and the seed.
    order = list(sizes)
    rng = random.Random(seed) if seed is not None else random.Random(0)
    rng.shuffle(order)
    if training:
        return order[: math.ceil(len(order) * (1 - split))]
    return order[len(order) - round(len(order) * split):]


@dataclass
class _Registered:
    size: Size
    num_repeats: int
    is_reg: bool


def _register(
    plan: DatasetPlan, training: bool, warnings: list[StepWarning], label: str
) -> tuple[list[_Registered], int, int]:
    """The images a dataset registers, with their final repeat counts; (images, train*repeats, reg*repeats)."""
    registered: list[_Registered] = []
    reg_infos: list[_Registered] = []
    num_train = num_reg = 0
    for i, subset in enumerate(plan.subsets):
        name = subset.name or f"subset {i + 1}"
        if plan.fine_tuning:
            # FineTuningDataset keeps its repeats for validation too and never splits (at the pinned commit)
            repeats = subset.num_repeats
        else:
            repeats = subset.num_repeats if training else 1
        if repeats < 1:
            if training:
                warnings.append(StepWarning("subset_ignored", f"{label}{name}: repeats below 1, sd-scripts ignores it"))
            continue
        sizes = [(int(w), int(h)) for w, h in subset.image_sizes]
        if plan.validation_split > 0.0 and not plan.fine_tuning:
            if subset.is_reg:
                if not training:
                    sizes = []  # reg images are never used for validation
            elif sizes:
                sizes = _split_train_val(sizes, training, plan.validation_split, plan.validation_seed)
        if not sizes:
            if training:
                warnings.append(StepWarning("subset_empty", f"{label}{name}: no images, sd-scripts ignores it"))
            continue
        if subset.is_reg and not plan.fine_tuning:
            num_reg += repeats * len(sizes)
            reg_infos.extend(_Registered(s, repeats, True) for s in sizes)
        else:
            num_train += repeats * len(sizes)
            registered.extend(_Registered(s, repeats, False) for s in sizes)

    if reg_infos:
        # Reg images are registered (with their own repeats) in order until they reach the train
        # images x repeats; then each further pass adds one repeat per image, in order.
        n = 0
        first = True
        while n < num_train:
            for info in reg_infos:
                if first:
                    registered.append(info)
                    n += info.num_repeats
                else:
                    info.num_repeats += 1
                    n += 1
                if n >= num_train:
                    break
            first = False
        if training and num_reg > num_train:
            warnings.append(StepWarning(
                "reg_surplus",
                f"{label}{num_reg} reg images x repeats but only {num_train} train images x repeats: "
                "some reg images are never used",
            ))
        if training and num_train == 0:
            warnings.append(StepWarning("reg_only", f"{label}only reg images: sd-scripts trains on none of them"))
    return registered, num_train, num_reg


def _bucketize(
    plan: DatasetPlan, registered: list[_Registered]
) -> tuple[list[BucketRow], list[ImageBucketRow], float | None]:
    spec = plan.bucket
    counts: dict[Size, int] = {}
    groups: dict[tuple[Size, bool, int], list] = {}
    errors: list[float] = []
    fit: dict[Size, tuple[Size, Size]] = {}
    for info in registered:
        if info.size not in fit:
            fit[info.size] = assign(spec, info.size)
        bucket, resized = fit[info.size]
        counts[bucket] = counts.get(bucket, 0) + info.num_repeats
        key = (info.size, info.is_reg, info.num_repeats)
        if key in groups:
            groups[key][1] += 1
        else:
            groups[key] = [(bucket, resized), 1]
        if spec.enable:
            errors.append(abs(bucket[0] / bucket[1] - info.size[0] / info.size[1]))
    rows = [BucketRow(reso, c, _ceil_div(c, plan.batch_size)) for reso, c in sorted(counts.items()) if c > 0]
    image_rows = [
        ImageBucketRow(size=k[0], is_reg=k[1], bucket=v[0][0], resized_size=v[0][1], num_repeats=k[2], images=v[1])
        for k, v in sorted(groups.items())
    ]
    mean_err = (sum(errors) / len(errors) if errors else 0.0) if spec.enable else None
    return rows, image_rows, mean_err


def _dataset_report(plan: DatasetPlan, index: int, many: bool, warnings: list[StepWarning]) -> DatasetReport:
    if plan.batch_size < 1:
        raise StepsError(f"batch size must be at least 1, got {plan.batch_size}")
    if not 0.0 <= plan.validation_split <= 1.0:
        raise StepsError(f"validation split must be between 0 and 1, got {plan.validation_split}")
    label = f"dataset {index + 1}: " if many else ""
    spec = plan.bucket
    lo, hi = effective_min_max(spec) if spec.enable else (None, None)
    if spec.enable and (lo, hi) != (spec.min_reso, spec.max_reso):
        warnings.append(StepWarning(
            "bucket_reso_adjusted",
            f"{label}min/max bucket resolution {spec.min_reso}/{spec.max_reso} become {lo}/{hi} "
            f"(multiples of {spec.reso_steps})",
        ))
    registered, num_train, num_reg = _register(plan, True, warnings, label)
    rows, image_rows, mean_err = _bucketize(plan, registered)
    report = DatasetReport(
        batch_size=plan.batch_size, resolution=spec.resolution, enable_bucket=spec.enable,
        min_bucket_reso=lo, max_bucket_reso=hi, bucket_reso_steps=spec.reso_steps if spec.enable else None,
        bucket_no_upscale=spec.no_upscale if spec.enable else False,
        num_train_images_x_repeats=num_train, num_reg_images=num_reg,
        num_batches=sum(r.batches for r in rows), buckets=rows, image_buckets=image_rows, mean_ar_error=mean_err,
    )
    if plan.validation_split > 0.0:
        if plan.fine_tuning:
            warnings.append(StepWarning(
                "validation_not_split",
                f"{label}fine-tuning (metadata_file) datasets are not split by sd-scripts at the pinned commit: "
                "the validation set is a copy of the training images",
            ))
        elif plan.validation_seed is None:
            warnings.append(StepWarning(
                "validation_unseeded",
                f"{label}validation split without validation_seed: counts are exact, but which images "
                "(and so the bucket counts) depend on the run's random state",
            ))
        val_registered, val_train, _ = _register(plan, False, [], label)
        val_rows, _, _ = _bucketize(plan, val_registered)
        report.num_validation_images_x_repeats = val_train
        report.num_validation_batches = sum(r.batches for r in val_rows)
    for row in rows:
        if row.count < plan.batch_size:
            warnings.append(StepWarning(
                "bucket_below_batch",
                f"{label}bucket {row.resolution[0]}x{row.resolution[1]} holds {row.count} images (with repeats), "
                f"fewer than the batch size {plan.batch_size}: its only batch is short",
            ))
    return report


def compute_steps(datasets: list[DatasetPlan], training: TrainingPlan) -> StepReport:
    """What sd-scripts' train_network.py prints in its 'running training' block, and the buckets."""
    ga, procs = training.gradient_accumulation_steps, training.num_processes
    if ga < 1:
        raise StepsError(f"gradient accumulation must be at least 1, got {ga}")
    if procs < 1:
        raise StepsError(f"number of GPUs must be at least 1, got {procs}")
    if training.max_train_epochs is not None and training.max_train_epochs < 1:
        raise StepsError("epochs must be at least 1; set epochs or steps")
    if training.max_train_epochs is None and training.max_train_steps is not None and training.max_train_steps < 1:
        raise StepsError("steps must be at least 1; set epochs or steps")

    warnings: list[StepWarning] = []
    reports = [_dataset_report(p, i, len(datasets) > 1, warnings) for i, p in enumerate(datasets)]
    batches = sum(r.num_batches for r in reports)  # len(DatasetGroup)

    default_used = training.max_train_epochs is None and training.max_train_steps is None
    if training.max_train_epochs is not None and training.max_train_steps is not None:
        warnings.append(StepWarning("epochs_override_steps",
                                    "both epochs and steps are set: sd-scripts uses the epochs"))
    if default_used:
        warnings.append(StepWarning(
            "default_1600",
            f"neither steps nor epochs are set: sd-scripts runs its default of {DEFAULT_MAX_TRAIN_STEPS} steps",
        ))

    if batches == 0:
        warnings.append(StepWarning("no_images", "no training images: sd-scripts would stop with 'No data found'"))
        return StepReport(
            num_train_images_x_repeats=0, num_reg_images=sum(r.num_reg_images for r in reports),
            num_validation_images_x_repeats=0, num_batches_per_epoch=0, num_update_steps_per_epoch=0,
            total_optimization_steps=0, num_epochs=0, override_steps_printed=False, default_steps_used=default_used,
            gradient_accumulation_steps=ga, num_processes=procs,
            batch_size_per_device=[r.batch_size for r in reports], datasets=reports, warnings=warnings,
        )

    override = training.max_train_epochs is not None
    if override:
        # train_network.py: epochs * ceil(len(dataloader) / num_processes / grad_accum)
        total = training.max_train_epochs * _ceil_div(batches, procs * ga)
    elif default_used:
        total = DEFAULT_MAX_TRAIN_STEPS
    else:
        total = int(training.max_train_steps)
    # after accelerator.prepare each process sees ceil(batches / processes) batches (even_batches)
    per_process = _ceil_div(batches, procs)
    update_steps = _ceil_div(per_process, ga)
    epochs = _ceil_div(total, update_steps)

    if total < update_steps:
        warnings.append(StepWarning(
            "below_one_epoch",
            f"{total} steps is less than one epoch ({update_steps} steps): some images are never trained on",
        ))
    return StepReport(
        num_train_images_x_repeats=sum(r.num_train_images_x_repeats for r in reports),
        num_reg_images=sum(r.num_reg_images for r in reports),
        num_validation_images_x_repeats=sum(r.num_validation_images_x_repeats for r in reports),
        num_batches_per_epoch=per_process,
        num_update_steps_per_epoch=update_steps,
        total_optimization_steps=total,
        num_epochs=epochs,
        override_steps_printed=override,
        default_steps_used=default_used,
        gradient_accumulation_steps=ga,
        num_processes=procs,
        batch_size_per_device=[r.batch_size for r in reports],
        datasets=reports,
        warnings=warnings,
        num_validation_batches=sum(r.num_validation_batches for r in reports),
    )


def summary_lines(report: StepReport) -> list[str]:
    """The report as sd-scripts' 'running training' block prints it, plus the bucket lists."""
    lines = [
        f"num train images * repeats: {report.num_train_images_x_repeats}",
        f"num validation images * repeats: {report.num_validation_images_x_repeats}",
        f"num reg images: {report.num_reg_images}",
        f"num batches per epoch: {report.num_batches_per_epoch}",
        f"num epochs: {report.num_epochs}",
        f"batch size per device: {', '.join(str(b) for b in report.batch_size_per_device)}",
        f"gradient accumulation steps = {report.gradient_accumulation_steps}",
        f"total optimization steps: {report.total_optimization_steps}",
    ]
    if report.override_steps_printed:
        lines.insert(0, f"override steps. steps for {report.num_epochs} epochs is: {report.total_optimization_steps}")
    for i, ds in enumerate(report.datasets):
        if ds.enable_bucket:
            lines.append(f"dataset {i}: buckets {ds.min_bucket_reso}-{ds.max_bucket_reso} step {ds.bucket_reso_steps}"
                         + (" (no upscale)" if ds.bucket_no_upscale else ""))
        else:
            lines.append(f"dataset {i}: no buckets, {ds.resolution[0]}x{ds.resolution[1]}")
        for j, b in enumerate(ds.buckets):
            lines.append(f"  bucket {j}: resolution {b.resolution}, count: {b.count}, batches: {b.batches}")
    lines.extend(f"warning: {w}" for w in report.warnings)
    return lines


def simple_plan(
    num_images: int,
    repeats: int = 1,
    batch_size: int = 1,
    resolution: int | Size = 512,
) -> DatasetPlan:
    """A one-subset dataset of ``num_images`` square images without buckets (the calculator's quick mode)."""
    if num_images < 0:
        raise StepsError("number of images cannot be negative")
    res = parse_resolution(resolution)
    return DatasetPlan(
        subsets=[SubsetPlan(image_sizes=[res] * num_images, num_repeats=repeats)],
        batch_size=batch_size,
        bucket=BucketSpec(resolution=res, enable=False),
    )


# --------------------------------------------------------------------------------------------- time


def estimate_time(total_steps: int, seconds_per_step: float) -> float:
    """Seconds for ``total_steps`` at ``seconds_per_step`` (s/it as tqdm prints it)."""
    if seconds_per_step is None or seconds_per_step <= 0 or not math.isfinite(seconds_per_step):
        raise StepsError("seconds per step must be a positive number, e.g. 1.5")
    return max(0, total_steps) * float(seconds_per_step)


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1 h 2 min"``; short, for a metric."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s" if s and m < 10 else f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min"
    d, h = divmod(h, 24)
    return f"{d} d {h} h"


_TQDM_RATE = re.compile(r"(?:^|[\r\n])steps:[^\r\n]*?([0-9]+(?:\.[0-9]+)?)(s/it|it/s)")


def speed_from_log(text: str) -> float | None:
    """Seconds per step from the last ``steps:`` progress line of an sd-scripts log, or None."""
    matches = _TQDM_RATE.findall(text)
    for value, unit in reversed(matches):
        v = float(value)
        if v > 0:
            return v if unit == "s/it" else 1.0 / v
    return None


#: a line that is some other event than a step (a line without a type counts as a step)
_OTHER_EVENT = re.compile(rb'"type"\s*:\s*"(?!step")')


def speed_from_progress(source: float | str | Path | Iterable[Mapping[str, Any]]) -> float | None:
    """Seconds per step of a past run, or None when it never got past its first step.

    ``source`` is a plain s/it number, a job's ``progress.jsonl`` (path or records), or an sd-scripts
    log file. From records: an explicit ``seconds_per_step``/``s_per_it`` if given; else the average
    over the run from ``step`` events' ``elapsed_s`` (tqdm's own clock, so pauses for saving and
    sampling count, as they will next time); else the median of their ``it_per_s`` rates.
    """
    if isinstance(source, (int, float)):
        return float(source) if source > 0 else None
    records: list[Mapping[str, Any]]
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            return None
        if path.suffix != ".jsonl":
            return speed_from_log(path.read_text(encoding="utf-8", errors="replace"))
        # The job progress file has one reader (damaged lines and other schema versions skipped).
        # Only step events carry speed: decode just those lines (a run's file is half metric lines,
        # and the calculator reads up to 20 runs on its first visit).
        records = [ev for line in ProgressReader(path.parent, name=path.name).read_lines()
                   if not _OTHER_EVENT.search(line) and (ev := decode_event(line)) is not None]
    else:
        records = [r for r in source if isinstance(r, Mapping)]
    # progress.jsonl (the job progress file, schema v1) mixes event types; only "step" events carry speed
    steps = [r for r in records if r.get("type", "step") == "step"]

    def num(rec: Mapping[str, Any], key: str) -> float | None:
        v = rec.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None

    explicit = [v for r in steps for k in ("seconds_per_step", "s_per_it", "sec_per_it") if (v := num(r, k))]
    if explicit:
        explicit.sort()
        return explicit[len(explicit) // 2]
    timed = [(r["step"], r[k]) for r in steps for k in ("elapsed_s", "elapsed")
             if isinstance(r.get("step"), int) and r["step"] > 0 and isinstance(r.get(k), (int, float))]
    if timed:
        timed.sort()
        first, last = timed[0], timed[-1]
        if last[0] > first[0] and last[1] > first[1]:
            return (last[1] - first[1]) / (last[0] - first[0])
        if last[1] > 0:
            return last[1] / last[0]
    rates = sorted(1.0 / v for r in steps if (v := num(r, "it_per_s")))
    return rates[len(rates) // 2] if rates else None


def _job_speed(d: Path) -> float | None:
    speed = speed_from_progress(d / "progress.jsonl")
    if speed is None:
        log = d / "train.log"
        speed = speed_from_progress(log) if log.is_file() else None
    return speed


#: a run's speed by job folder: a finished run's files never change, so each is read once
_SPEEDS = StampCache(maxsize=512)


def speeds_from_jobs(jobs_dir: Path, limit: int = 20) -> list[tuple[str, float]]:
    """(job id, seconds per step) of past runs in the workspace's jobs folder, newest first. Each
    run's files are read once per process while they are unchanged (the calculator asks on
    every rerun)."""
    jobs_dir = Path(jobs_dir)
    if not jobs_dir.is_dir():
        return []
    out: list[tuple[str, float]] = []
    for d in sorted((p for p in jobs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    key=lambda p: p.name, reverse=True):
        speed = _SPEEDS.get(("speed", str(d)), lambda d=d: (_job_speed(d), [d / "progress.jsonl", d / "train.log"]))
        if speed is not None:
            out.append((d.name, speed))
            if len(out) >= limit:
                break
    return out


# ---------------------------------------------------------------------------------------- from disk


def image_files(folder: Path) -> list[Path]:
    """The image files sd-scripts' ``glob_images`` finds in ``folder``, in its (sorted path) order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    # entry.is_file() comes from the directory listing: no stat per image
    with os.scandir(folder) as it:
        found = [Path(e.path) for e in it if not e.name.startswith(".") and is_trainable_image(e.name) and e.is_file()]
    return sorted(found, key=lambda p: str(p))


def read_image_size(path: Path) -> Size:
    """(width, height) from the file header; Pillow opens lazily, so pixels are not decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return (int(img.size[0]), int(img.size[1]))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise StepsError(
            f"cannot read the size of {Path(path).name}: {exc.__class__.__name__}; fix or remove it"
        ) from None


def read_image_sizes(folder: Path) -> list[Size]:
    """Sizes of the images in ``folder`` (not recursive), in the order sd-scripts registers them."""
    return [read_image_size(p) for p in image_files(folder)]


def _concept_folder(name: str) -> tuple[int, str] | None:
    try:
        from nyx_core.datasets.layout import parse_concept_folder
    except ImportError:  # the datasets package is optional for this module
        m = re.match(r"^(\d+)_(.+)$", name)
        return (int(m.group(1)), m.group(2)) if m and int(m.group(1)) >= 1 else None
    return parse_concept_folder(name)


def plan_from_folders(train_dir: Path, reg_dir: Path | None = None) -> list[SubsetPlan]:
    """Subsets of a Kohya-layout folder (``<repeats>_<concept>`` subfolders), optionally with reg images.

    Like sd-scripts' ``train_data_dir`` mode: subfolders in sorted order, others ignored.
    """
    subsets: list[SubsetPlan] = []
    for root, is_reg in ((train_dir, False), (reg_dir, True)):
        if root is None:
            continue
        root = Path(root)
        if not root.is_dir():
            raise StepsError(f"{root.name} is not a folder; pick the dataset folder")
        for sub in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: str(p)):
            parsed = _concept_folder(sub.name)
            if parsed is None:
                continue
            repeats, concept = parsed
            subsets.append(SubsetPlan(read_image_sizes(sub), num_repeats=repeats, is_reg=is_reg, name=concept))
    return subsets


# ------------------------------------------------------------------------------ from sd-scripts TOML

_DATASET_DEFAULTS: dict[str, Any] = {
    "batch_size": 1,
    "enable_bucket": False,
    "min_bucket_reso": 256,
    "max_bucket_reso": 1024,
    "bucket_reso_steps": 64,
    "bucket_no_upscale": False,
    "validation_split": 0.0,
    "validation_seed": None,
    "resolution": None,
}
# training arguments that stand in for dataset keys (config_util's ARGPARSE_OPTNAME_TO_CONFIG_OPTNAME)
_ARG_ALIASES = {"batch_size": "train_batch_size", "num_repeats": "dataset_repeats"}


def _lookup(key: str, levels: list[Mapping[str, Any]], default: Any) -> Any:
    # config_util.BlueprintGenerator.search_value: the first level whose value is not None wins
    for i, level in enumerate(levels):
        name = _ARG_ALIASES.get(key, key) if i == len(levels) - 1 else key
        value = level.get(name)
        if value is not None:
            return value
    return default


def _default_sizes(subset: Mapping[str, Any]) -> list[Size]:
    meta = subset.get("metadata_file")
    if meta:
        data = json.loads(Path(meta).read_text(encoding="utf-8"))
        image_dir = subset.get("image_dir")
        sizes = []
        for key, md in data.items():
            if isinstance(md, Mapping) and md.get("image_size"):
                sizes.append((int(md["image_size"][0]), int(md["image_size"][1])))
            else:
                path = Path(key) if Path(key).is_absolute() or not image_dir else Path(image_dir) / key
                sizes.append(read_image_size(path))
        return sizes
    return read_image_sizes(Path(subset["image_dir"]))


def plans_from_dataset_config(
    dataset_config: Mapping[str, Any],
    training_args: Mapping[str, Any] | None = None,
    *,
    sizes_for: Callable[[Mapping[str, Any]], list[Size]] | None = None,
) -> list[DatasetPlan]:
    """DatasetPlans from an sd-scripts ``--dataset_config`` (parsed TOML) plus the training arguments.

    Values are inherited subset -> dataset -> ``[general]`` -> training arguments -> sd-scripts'
    defaults. ``sizes_for(subset)`` returns a subset's image sizes in sd-scripts' order; by default
    they are read from ``image_dir`` (or the ``metadata_file``).
    """
    args = dict(training_args or {})
    general = dict(dataset_config.get("general") or {})
    read = sizes_for or _default_sizes
    plans = []
    for ds in dataset_config.get("datasets") or []:
        levels = [ds, general, args]
        resolution = _lookup("resolution", levels, None)
        if resolution is None:
            raise StepsError("the dataset has no resolution; set resolution, e.g. 512")
        subsets_cfg = ds.get("subsets") or []
        fine_tuning = any("metadata_file" in s for s in subsets_cfg)
        subsets = []
        for s in subsets_cfg:
            keys = ("image_dir", "metadata_file", "num_repeats", "is_reg")
            merged = {k: _lookup(k, [s, *levels], None) for k in keys}
            subsets.append(SubsetPlan(
                image_sizes=list(read(merged)),
                num_repeats=int(merged["num_repeats"] if merged["num_repeats"] is not None else 1),
                is_reg=bool(merged["is_reg"]) and not fine_tuning,
                name=Path(str(merged.get("image_dir") or merged.get("metadata_file") or "")).name,
            ))
        get = {k: _lookup(k, levels, d) for k, d in _DATASET_DEFAULTS.items()}
        plans.append(DatasetPlan(
            subsets=subsets,
            batch_size=int(get["batch_size"]),
            bucket=BucketSpec(
                resolution=parse_resolution(resolution),
                enable=bool(get["enable_bucket"]),
                min_reso=int(get["min_bucket_reso"]),
                max_reso=int(get["max_bucket_reso"]),
                reso_steps=int(get["bucket_reso_steps"]),
                no_upscale=bool(get["bucket_no_upscale"]),
            ),
            validation_split=float(get["validation_split"]),
            validation_seed=None if get["validation_seed"] is None else int(get["validation_seed"]),
            fine_tuning=fine_tuning,
        ))
    return plans


def training_plan_from_args(args: Mapping[str, Any]) -> TrainingPlan:
    """A TrainingPlan from sd-scripts training arguments (config.toml keys, flattened)."""
    def opt_int(key: str) -> int | None:
        v = args.get(key)
        return None if v is None else int(v)

    return TrainingPlan(
        max_train_steps=opt_int("max_train_steps"),
        max_train_epochs=opt_int("max_train_epochs"),
        gradient_accumulation_steps=int(args.get("gradient_accumulation_steps") or 1),
        num_processes=int(args.get("num_processes") or 1),
    )
