"""Datasets: Kohya-layout folders of images + captions (layout, ingest, health, captions, tools).

``from nyx_core.datasets import Dataset, TagOp`` gives the notebook-friendly facade; the names are
loaded lazily so importing ``nyx_core.datasets.layout`` stays cheap (no Pillow, no regex engine).
"""
from __future__ import annotations

from typing import Any

__all__ = ["Dataset", "TagOp"]


def __getattr__(name: str) -> Any:
    if name == "Dataset":
        from nyx_core.datasets.dataset import Dataset

        return Dataset
    if name == "TagOp":
        from nyx_core.datasets.captions import TagOp

        return TagOp
    raise AttributeError(name)
