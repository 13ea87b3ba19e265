"""Start tagging/captioning jobs and read what they did (UI/CLI side: no onnxruntime, no torch).

``submit_tag``/``submit_caption`` resolve the dataset and model, journal the captions they may
change in the dataset's undo history (before the job writes anything, so the whole run, even a
stopped one, is one click to undo), and hand a spec to the job runner. The job folder then holds
``captions.jsonl`` (before/after per image) and, for the tagger, ``scores.jsonl``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from nyx_core.jobs import JobManager, JobSpec
from nyx_core.jobs.models import Job
from nyx_core.jobs.task import task_argv
from nyx_core.settings import Settings
from nyx_core.tagging.catalog import resolve_model
from nyx_core.tagging.options import CaptionOptions, TagOptions, TaggingError
from nyx_core.tagging.output import CAPTIONS_FILE, SCORES_FILE, read_jsonl
from nyx_core.workspace import Workspace

SPEC_FILE = "spec.json"
OP_PREFIX = {"tag": "WD14 tagging", "caption": "captioning"}


def _targets(ws: Workspace, dataset: str, images: list[Path] | None, mode: str):  # noqa: ANN202
    from nyx_core.datasets.caption_ops import read_caption
    from nyx_core.datasets.layout import scan_dataset

    layout = scan_dataset(ws, dataset)
    targets = [Path(p) for p in images] if images is not None else layout.images()
    if not targets:
        raise TaggingError(f"dataset {dataset!r} has no images to caption")
    if mode == "skip":
        todo = [p for p in targets if not (read_caption(layout, p) or "").strip()]
    else:
        todo = targets
    return layout, targets, todo


def _onnx_gpu() -> bool:
    try:
        metadata.version("onnxruntime-gpu")
        return True
    except metadata.PackageNotFoundError:
        return False


def _submit(ws: Workspace, kind: str, dataset: str, spec: dict[str, Any], todo: list[Path], layout,  # noqa: ANN001
            argv_env: tuple[list[str], dict[str, str]], gpu_set: str, settings: Settings | None) -> Job:
    from nyx_core.datasets.caption_ops import record_undo

    jm = JobManager(ws, settings)
    name = f"{kind} {dataset}"
    job_dir = jm.store.new_dir(name)
    spec["journal_op"] = f"{OP_PREFIX[kind]} (job {job_dir.name})"
    if todo:
        spec["journal"] = str(record_undo(layout, spec["journal_op"], todo))
    argv, env = argv_env
    job_spec = JobSpec(argv=argv, env=env, kind=kind, gpu_set=gpu_set,
                       files={SPEC_FILE: json.dumps(spec, indent=1)}, stop_grace_s=(10.0, 5.0))
    return jm.submit(job_spec, name, job_dir=job_dir)


def submit_tag(ws: Workspace, dataset: str, model: str, options: TagOptions | None = None, *,
               batch: int = 8, images: list[Path] | None = None, settings: Settings | None = None,
               throttle_s: float = 0.0) -> Job:
    """Queue a WD14 tagging job over a dataset (every concept folder) or the chosen images."""
    opts = (options or TagOptions()).check()
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 256:
        raise TaggingError(f"batch must be a whole number from 1 to 256, got {batch!r}")
    ref = resolve_model(ws, "taggers", model)
    layout, targets, todo = _targets(ws, dataset, images, opts.mode)
    spec = {"dataset": dataset, "root": str(layout.root), "caption_ext": layout.caption_ext,
            "images": [str(p) for p in targets], "options": opts.to_dict(), "batch": batch,
            "model": {"name": ref.name, "folder": str(ref.folder), "repo_id": ref.repo_id},
            "throttle_s": throttle_s}
    argv_env = task_argv("nyx_core.tagging.tag_job", f"render/{SPEC_FILE}")
    return _submit(ws, "tag", dataset, spec, todo, layout, argv_env,
                   "all" if _onnx_gpu() else "none", settings)


def submit_caption(ws: Workspace, dataset: str, model: str, options: CaptionOptions | None = None, *,
                   images: list[Path] | None = None, settings: Settings | None = None,
                   python: str | None = None) -> Job:
    """Queue a natural-language captioning job. It runs in sd-scripts' Python (which has torch and
    transformers) unless ``python`` names another interpreter."""
    opts = (options or CaptionOptions()).check()
    settings = settings if settings is not None else Settings.load(ws.root)
    py = Path(python) if python else settings.python_for_sd_scripts
    if not py.is_file():
        raise TaggingError(f"the captioner runs in sd-scripts' Python, and {py} does not exist: "
                           "set up sd-scripts (Settings page) first")
    ref = resolve_model(ws, "captioners", model)
    layout, targets, todo = _targets(ws, dataset, images, opts.mode)
    spec = {"dataset": dataset, "root": str(layout.root), "caption_ext": layout.caption_ext,
            "images": [str(p) for p in targets], "options": opts.to_dict(),
            "model": {"name": ref.name, "folder": str(ref.folder), "repo_id": ref.repo_id}}
    argv_env = task_argv("nyx_core.tagging.caption_job", f"render/{SPEC_FILE}", python=str(py))
    return _submit(ws, "caption", dataset, spec, todo, layout, argv_env,
                   "none" if opts.device == "cpu" else "all", settings)


# -- reading a finished (or running) job ------------------------------------------------------------
def job_spec(job: Job) -> dict[str, Any]:
    try:
        return json.loads((job.render_dir / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@dataclass
class RunReview:
    """What a run changed: counts, and before/after for a sample of images."""

    job_id: str
    dataset: str
    changed: int
    samples: list[dict[str, Any]] = field(default_factory=list)
    journal_op: str | None = None


def review(job: Job, limit: int = 6) -> RunReview:
    spec = job_spec(job)
    rows = read_jsonl(job.dir / CAPTIONS_FILE)
    changed = [r for r in rows if r.get("after") is not None and r.get("after") != r.get("before")]
    # Spread the sample over the run rather than its first few images.
    step = max(1, len(changed) // limit) if changed else 1
    sample = changed[::step][:limit]
    root = Path(spec.get("root", "/"))
    for r in sample:
        r["path"] = str(root / r["image"])
    return RunReview(job.id, spec.get("dataset", ""), len(changed), sample, spec.get("journal_op"))


def latest_scores(ws: Workspace, dataset: str) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Per-image scores of the newest tag job over ``dataset`` (image path relative to the dataset
    root → {tag: score}) and that job's options; empty when none was run."""
    scores, opts, _ = latest_scores_with_path(ws, dataset)
    return scores, opts


def latest_scores_with_path(ws: Workspace, dataset: str):  # noqa: ANN201
    from nyx_core.jobs.store import JobStore

    store = JobStore(ws.jobs)
    for job_id in store.ids():
        try:
            job = store.load(job_id)
        except Exception:  # noqa: BLE001 - a damaged job folder is the Monitor's business
            continue
        if job.spec.kind != "tag":
            continue
        spec = job_spec(job)
        if spec.get("dataset") != dataset or not (job.dir / SCORES_FILE).is_file():
            continue
        path = job.dir / SCORES_FILE
        scores = {r["image"]: r.get("scores") or {} for r in read_jsonl(path) if "image" in r}
        return scores, spec.get("options", {}), path
    return {}, {}, None


def near_misses(scores: dict[str, float], caption_tags: list[str], threshold: float,
                window: float = 0.15, limit: int = 8) -> list[tuple[str, float]]:
    """Tags scored just under ``threshold`` (within ``window``) that the caption does not have."""
    have = set(caption_tags)
    out = [(t, s) for t, s in scores.items() if threshold - window <= s < threshold and t not in have]
    return sorted(out, key=lambda x: -x[1])[:limit]
