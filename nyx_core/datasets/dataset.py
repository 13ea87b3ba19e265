"""``Dataset``: one object with every dataset operation, for notebooks and scripts.

    from nyx_core.workspace import Workspace
    from nyx_core.datasets import Dataset, TagOp
    ds = Dataset.create(Workspace.open(), "cats", concept="ohwx cat", repeats=10, trigger_word="ohwx")
    ds.ingest_zip("/path/to/cats.zip")
    ds.check(resolution=1024, batch_size=4).problems
    ds.preview(TagOp("add", tags=("ohwx",), front=True)); ds.apply(...); ds.undo()

Each method is a thin call into the modules that do the work (manager, ingest, health, caption_ops,
image_tools); the layout is re-read on every call so the object never goes stale.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from nyx_core.datasets import caption_ops, manager
from nyx_core.datasets.captions import TagOp
from nyx_core.datasets.layout import DatasetLayout, list_datasets, scan_dataset
from nyx_core.workspace import Workspace


@dataclass
class Dataset:
    ws: Workspace
    name: str

    @classmethod
    def create(cls, ws: Workspace, name: str, *, concept: str | None, repeats: int = 10,
               caption_ext: str = ".txt", trigger_word: str | None = None) -> "Dataset":
        layout = manager.create_dataset(ws, name, concept, repeats, caption_ext=caption_ext, trigger_word=trigger_word)
        return cls(ws, layout.name)

    @classmethod
    def all(cls, ws: Workspace) -> list["Dataset"]:
        return [cls(ws, d.name) for d in list_datasets(ws)]

    # -- reading --------------------------------------------------------------------------------
    @property
    def layout(self) -> DatasetLayout:
        return scan_dataset(self.ws, self.name)

    @property
    def root(self) -> Path:
        return self.layout.root

    def images(self) -> list[Path]:
        return self.layout.images()

    def summary(self) -> manager.DatasetSummary:
        return manager.summarize(self.layout)

    def captions(self) -> dict[Path, str | None]:
        return caption_ops.all_captions(self.layout)

    def caption(self, image: Path) -> str | None:
        return caption_ops.read_caption(self.layout, image)

    def tag_frequency(self):  # noqa: ANN201 - Counter[str]
        return caption_ops.dataset_tag_frequency(self.layout)

    # -- managing -------------------------------------------------------------------------------
    def rename(self, new_name: str) -> "Dataset":
        self.name = manager.rename_dataset(self.ws, self.name, new_name).name
        return self

    def delete(self):  # noqa: ANN201 - TrashEntry
        return manager.delete_dataset(self.ws, self.name)

    def add_concept(self, concept: str, repeats: int = 10) -> Path:
        return manager.add_concept(self.ws, self.name, concept, repeats)

    def rename_concept(self, concept: str, new_name: str) -> Path:
        return manager.rename_concept(self.ws, self.name, concept, new_name)

    def set_repeats(self, concept: str, repeats: int) -> Path:
        return manager.set_repeats(self.ws, self.name, concept, repeats)

    def settings(self, *, caption_ext: str | None = None, trigger_word: str | None = None):  # noqa: ANN201
        return manager.update_settings(self.ws, self.name, caption_ext=caption_ext, trigger_word=trigger_word)

    # -- ingest ---------------------------------------------------------------------------------
    def ingest_files(self, files: Iterable[tuple[str, BinaryIO | bytes | os.PathLike]], **kw):  # noqa: ANN003, ANN201
        from nyx_core.datasets.ingest import ingest_files

        return ingest_files(self.ws, self.name, files, **kw)

    def ingest_zip(self, zip_file: str | os.PathLike | BinaryIO, **kw):  # noqa: ANN003, ANN201
        from nyx_core.datasets.ingest import ingest_zip

        return ingest_zip(self.ws, self.name, zip_file, **kw)

    def ingest_folder(self, folder: str | os.PathLike, **kw):  # noqa: ANN003, ANN201
        from nyx_core.datasets.ingest import ingest_folder

        return ingest_folder(self.ws, self.name, folder, **kw)

    # -- health ---------------------------------------------------------------------------------
    def check(self, **kw):  # noqa: ANN003, ANN201 - HealthReport
        from nyx_core.datasets.health import check_dataset

        return check_dataset(self.ws, self.name, **kw)

    # -- captions -------------------------------------------------------------------------------
    def write_caption(self, image: Path, text: str) -> Path:
        return caption_ops.write_caption(self.layout, image, text)

    def preview(self, op: TagOp, images: Iterable[Path] | None = None, *, limit: int = 5) -> caption_ops.Preview:
        return caption_ops.preview(self.layout, op, images, limit=limit)

    def apply(self, op: TagOp, images: Iterable[Path] | None = None) -> int:
        return caption_ops.apply(self.layout, op, images)

    def undo(self, entry: caption_ops.UndoInfo | str | None = None) -> caption_ops.UndoResult:
        """Take back the newest bulk operation, or ``entry`` (one of ``undo_history()``) out of order.
        Captions edited since, by hand or by a newer operation, are skipped and listed."""
        return caption_ops.undo(self.ws, self.layout, entry)

    def undo_history(self) -> list[caption_ops.UndoInfo]:
        return caption_ops.undo_history(self.layout)

    # -- excluding images from training ------------------------------------------------------------
    def exclude(self, *images: Path | str) -> list:  # noqa: ANN401 - list[ExcludedImage]
        """Move images (and their captions and caches) out of training, into ``.nyx/excluded/``."""
        from nyx_core.datasets.exclusion import exclude_images

        return exclude_images(self.ws, self.name, images)

    def include(self, *images: Path | str, concept: str | None = None) -> list[Path]:
        """Put excluded images back (into their concept, or ``concept`` when that one is gone)."""
        from nyx_core.datasets.exclusion import include_images

        return include_images(self.ws, self.name, images, concept=concept)

    def excluded(self) -> list:  # list[ExcludedImage]
        from nyx_core.datasets.exclusion import excluded_images

        return excluded_images(self.ws, self.name)

    # -- image tools ----------------------------------------------------------------------------
    def convert(self, fmt: str, **kw):  # noqa: ANN003, ANN201
        from nyx_core.datasets.image_tools import convert_images

        return convert_images(self.ws, self.name, fmt, **kw)

    def downscale(self, max_side: int, **kw):  # noqa: ANN003, ANN201
        from nyx_core.datasets.image_tools import downscale_images

        return downscale_images(self.ws, self.name, max_side, **kw)
