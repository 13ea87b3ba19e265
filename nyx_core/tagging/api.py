"""Notebook functions: tag a folder in this process, or run the tagging/captioning job and wait."""
from __future__ import annotations

import os
from pathlib import Path

from nyx_core.tagging.options import CaptionOptions, TagOptions, TaggingError
from nyx_core.workspace import Workspace

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def _images(folder: Path, recursive: bool) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def tag_folder(folder: str | os.PathLike, model: str, options: TagOptions | None = None, *,
               write: bool = False, batch: int = 8, recursive: bool = True,
               ws: Workspace | None = None, caption_ext: str = ".txt") -> dict:
    """Tag every image under ``folder`` (a workspace path) in this process and return
    ``{image path: ImageTags}`` (``.tags``, ``.scores``, ``.error``). With ``write`` the captions
    are written by ``options.mode``, as the job does. Loads onnxruntime here: use it from a
    notebook or script, not from the UI server."""
    from nyx_core.tagging.catalog import ensure_downloaded, resolve_model
    from nyx_core.tagging.engine import Tagger
    from nyx_core.tagging.wd14 import tag_images

    ws = ws or Workspace.open()
    root = ws.resolve(folder, must_exist=True)
    if not root.is_dir():
        raise TaggingError(f"{folder} is not a folder")
    images = _images(root, recursive)
    if not images:
        raise TaggingError(f"no images in {folder}")
    opts = (options or TagOptions()).check()
    tagger = Tagger(ensure_downloaded(resolve_model(ws, "taggers", model)))
    return {it.image: it for it in tag_images(tagger, images, opts, batch_size=batch, write=write,
                                              caption_ext=caption_ext)}


def _wait(ws: Workspace, job, timeout: float | None):  # noqa: ANN001, ANN202
    from nyx_core.jobs import JobManager

    return JobManager(ws).wait(job.id, timeout)


def tag_dataset(ws: Workspace, dataset: str, model: str, options: TagOptions | None = None, *,
                batch: int = 8, wait: bool = True, timeout: float | None = None):  # noqa: ANN201
    """Run the tagging job over a dataset; with ``wait`` return the finished Job (its folder
    holds captions.jsonl and scores.jsonl; ``jobs.review(job)`` summarises it)."""
    from nyx_core.tagging.jobs import submit_tag

    job = submit_tag(ws, dataset, model, options, batch=batch)
    return _wait(ws, job, timeout) if wait else job


def caption_dataset(ws: Workspace, dataset: str, model: str, options: CaptionOptions | None = None, *,
                    wait: bool = True, timeout: float | None = None, python: str | None = None):  # noqa: ANN201
    from nyx_core.tagging.jobs import submit_caption

    job = submit_caption(ws, dataset, model, options, python=python)
    return _wait(ws, job, timeout) if wait else job
