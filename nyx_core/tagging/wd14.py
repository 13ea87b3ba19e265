"""Tag images with a WD tagger: the loop shared by the job program and the notebook function."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from nyx_core.tagging.engine import Tagger
from nyx_core.tagging.options import TagOptions
from nyx_core.tagging.output import Outcome, apply_caption, has_caption, read_text
from nyx_core.tagging.pipeline import one_line
from nyx_core.tagging.select import prepare, select, top_scores


@dataclass
class ImageTags:
    image: Path
    tags: list[str] = field(default_factory=list)
    #: general/character scores ≥ 0.05, highest first (what 'tags just under the threshold' reads)
    scores: dict[str, float] = field(default_factory=dict)
    outcome: Outcome | None = None
    error: str | None = None


def tag_images(tagger: Tagger, images: list[Path], opts: TagOptions, *, batch_size: int = 8,
               workers: int | None = None, write: bool = True, caption_ext: str = ".txt") -> Iterator[ImageTags]:
    """Yield each image's tags, in the order of ``images`` (and, with ``write``, write its caption
    by ``opts.mode``) as soon as its batch is scored. In ``skip`` mode images that already have a
    caption are not even decoded. An image that cannot be read, or whose caption cannot be
    written, gets ``error`` (one line) and the others go on."""
    prep = prepare(tagger.labels, opts)
    ready: dict[int, ImageTags] = {}  # by position: skipped or failed before any decoding
    todo: list[Path] = []
    if write and opts.mode == "skip":
        for i, img in enumerate(images):
            try:
                captioned = has_caption(read_text(img.with_name(img.stem + caption_ext)))
            except OSError as exc:
                ready[i] = ImageTags(img, error=f"cannot read its caption: {one_line(exc)}")
                continue
            if captioned:
                ready[i] = ImageTags(img, outcome=Outcome(str(img), "", None, None))
            else:
                todo.append(img)
    else:
        todo = list(images)
    scored = tagger.score(todo, batch_size=batch_size, workers=workers)
    try:
        for i, img in enumerate(images):
            if i in ready:
                yield ready.pop(i)
                continue
            item = next(scored)
            if item.scores is None:
                yield ImageTags(item.image, error=item.error)
                continue
            tags = select(item.scores, prep, opts)
            out = ImageTags(item.image, tags, top_scores(item.scores, prep))
            if write:
                try:
                    out.outcome = apply_caption(item.image, caption_ext, ", ".join(tags), opts.mode)
                except OSError as exc:  # a read-only or odd caption path: this image only
                    out.error = f"cannot write its caption: {one_line(exc)}"
            yield out
    finally:
        scored.close()  # a consumer that stops early stops the pipeline now, not at garbage collection
