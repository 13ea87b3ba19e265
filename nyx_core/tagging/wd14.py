"""Tag images with a WD tagger: the loop shared by the job program and the notebook function."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from nyx_core.tagging.engine import Tagger
from nyx_core.tagging.options import TagOptions
from nyx_core.tagging.output import Outcome, apply_caption
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
    """Yield each image's tags (and, with ``write``, write its caption by ``opts.mode``) as soon as
    its batch is scored. In ``skip`` mode images that already have a caption are not even decoded."""
    prep = prepare(tagger.labels, opts)
    todo = images
    if write and opts.mode == "skip":
        from nyx_core.tagging.output import has_caption, read_text

        todo = []
        for img in images:
            if has_caption(read_text(img.with_name(img.stem + caption_ext))):
                yield ImageTags(img, outcome=Outcome(str(img), "", None, None))
            else:
                todo.append(img)
    for scored in tagger.score(todo, batch_size=batch_size, workers=workers):
        if scored.scores is None:
            yield ImageTags(scored.image, error=scored.error)
            continue
        tags = select(scored.scores, prep, opts)
        item = ImageTags(scored.image, tags, top_scores(scored.scores, prep))
        if write:
            item.outcome = apply_caption(scored.image, caption_ext, ", ".join(tags), opts.mode)
        yield item
