"""Auto-captioning: WD14 taggers (onnxruntime) and a natural-language captioner (BLIP, transformers).

Both run as jobs (``jobs.submit_tag`` / ``jobs.submit_caption``; kinds ``tag`` / ``caption``); the
UI server never imports onnxruntime or torch. In a notebook::

    >>> from nyx_core.tagging import tag_folder, TagOptions
    >>> result = tag_folder("datasets/cats", "wd-vit-tagger-v3", TagOptions(general_threshold=0.3))
    >>> result[path].tags, result[path].scores

Names load lazily, so the stdlib-only parts (options, output) import in sd-scripts' Python.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TagOptions": "nyx_core.tagging.options", "CaptionOptions": "nyx_core.tagging.options",
    "TaggingError": "nyx_core.tagging.options",
    "tag_folder": "nyx_core.tagging.api", "tag_dataset": "nyx_core.tagging.api",
    "caption_dataset": "nyx_core.tagging.api",
    "submit_tag": "nyx_core.tagging.jobs", "submit_caption": "nyx_core.tagging.jobs",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
