"""Create, rename, delete datasets; add, rename, re-repeat concept folders; summaries for listing.

Every name is validated as one plain folder name and every path is confined through the workspace.
Deleting goes to the trash. Renames refuse to overwrite.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nyx_core.names import shown
from nyx_core.datasets.layout import (
    DEFAULT_CAPTION_EXT,
    DatasetError,
    DatasetLayout,
    DatasetSettings,
    caption_path,
    concept_folder_name,
    dataset_root,
    load_settings,
    save_settings,
    scan_dataset,
    validate_name,
)
from nyx_core.workspace import Workspace


def create_dataset(ws: Workspace, name: str, concept: str | None, repeats: int = 10, *,
                   caption_ext: str = DEFAULT_CAPTION_EXT, trigger_word: str | None = None) -> DatasetLayout:
    """A new dataset folder with one (empty) concept folder and its settings file.
    ``concept=None`` makes no concept folder (an import that brings its own ``N_concept`` folders)."""
    name = validate_name(name)
    # "" is a concept name left empty (refused), None is "no concept folder": never mixed up
    folder = concept_folder_name(repeats, validate_name(concept, what="concept name")) if concept is not None else None
    root = dataset_root(ws, name, must_exist=False)
    if root.exists():
        raise DatasetError(f"a dataset named {name!r} already exists; pick another name")
    settings = DatasetSettings(caption_ext, (trigger_word or "").strip() or None)
    root.mkdir(parents=True)
    try:
        save_settings(root, settings)
        if folder:
            (root / folder).mkdir()
    except BaseException:
        import shutil

        shutil.rmtree(root, ignore_errors=True)  # our own brand-new empty folder
        raise
    return scan_dataset(ws, name)


def rename_dataset(ws: Workspace, old: str, new: str) -> DatasetLayout:
    src = dataset_root(ws, old)
    new = validate_name(new)
    dst = dataset_root(ws, new, must_exist=False)
    if dst.exists() and dst != src:
        raise DatasetError(f"a dataset named {new!r} already exists; pick another name")
    os.rename(src, dst)
    return scan_dataset(ws, new)


def delete_dataset(ws: Workspace, name: str):  # noqa: ANN201 - TrashEntry
    """Move the dataset to the trash (restorable from the Files page)."""
    from nyx_core.trash import move_to_trash

    return move_to_trash(ws, dataset_root(ws, name))


def update_settings(ws: Workspace, name: str, *, caption_ext: str | None = None,
                    trigger_word: str | None = None) -> DatasetSettings:
    """Change the caption extension and/or trigger word (``""`` clears the trigger word)."""
    root = dataset_root(ws, name)
    current = load_settings(root)
    if caption_ext is not None:
        current.caption_ext = caption_ext
    if trigger_word is not None:
        current.trigger_word = trigger_word.strip() or None
    save_settings(root, current)
    return current


def add_concept(ws: Workspace, name: str, concept: str, repeats: int = 10) -> Path:
    layout = scan_dataset(ws, name)
    concept = validate_name(concept, what="concept name")
    folder = layout.root / concept_folder_name(repeats, concept)
    if any(c.name == concept for c in layout.concepts):
        raise DatasetError(f"dataset {name!r} already has a concept {concept!r}; change its repeats instead")
    if folder.exists():
        raise DatasetError(f"a folder named {folder.name!r} already exists in {name!r}")
    folder.mkdir()
    return folder


def _move_concept(ws: Workspace, name: str, concept: str, *, new_name: str | None, repeats: int | None) -> Path:
    layout = scan_dataset(ws, name)
    c = layout.concept(concept)
    target_name = validate_name(new_name, what="concept name") if new_name is not None else c.name
    target = layout.root / concept_folder_name(repeats if repeats is not None else c.repeats, target_name)
    if target == c.folder:
        return target
    if new_name is not None and any(o.name == target_name and o is not c for o in layout.concepts):
        raise DatasetError(f"dataset {name!r} already has a concept {target_name!r}")
    if target.exists():
        raise DatasetError(f"a folder named {target.name!r} already exists in {name!r}")
    os.rename(c.folder, target)
    return target


def rename_concept(ws: Workspace, name: str, concept: str, new_name: str) -> Path:
    return _move_concept(ws, name, concept, new_name=new_name, repeats=None)


def set_repeats(ws: Workspace, name: str, concept: str, repeats: int) -> Path:
    """Repeats are part of the folder name in Kohya's layout, so this renames the folder."""
    return _move_concept(ws, name, concept, new_name=None, repeats=repeats)


def delete_concept(ws: Workspace, name: str, concept: str):  # noqa: ANN201 - TrashEntry
    from nyx_core.trash import move_to_trash

    return move_to_trash(ws, scan_dataset(ws, name).concept(concept).folder)


@dataclass
class ConceptSummary:
    name: str
    repeats: int
    folder: str
    images: int
    captioned: int


@dataclass
class DatasetSummary:
    name: str
    concepts: list[ConceptSummary]
    image_count: int
    captioned_count: int
    size_bytes: int
    modified: float
    caption_ext: str
    trigger_word: str | None

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def summarize(layout: DatasetLayout) -> DatasetSummary:
    """Counts, size on disk and newest modification time (of the dataset's trainable files)."""
    concepts = []
    size = 0
    modified = layout.root.stat().st_mtime
    for c in layout.concepts:
        captioned = 0
        modified = max(modified, c.folder.stat().st_mtime)
        for img in c.images:
            st = img.stat()
            size += st.st_size
            modified = max(modified, st.st_mtime)
            cap = caption_path(img, layout.caption_ext)
            try:
                cst = cap.stat()
            except FileNotFoundError:
                continue
            captioned += 1
            size += cst.st_size
            modified = max(modified, cst.st_mtime)
        concepts.append(ConceptSummary(c.name, c.repeats, shown(c.folder.name), len(c.images), captioned))
    return DatasetSummary(
        name=layout.name,
        concepts=concepts,
        image_count=layout.image_count,
        captioned_count=sum(c.captioned for c in concepts),
        size_bytes=size,
        modified=modified,
        caption_ext=layout.caption_ext,
        trigger_word=layout.trigger_word,
    )
