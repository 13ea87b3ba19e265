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


# -- one image ----------------------------------------------------------------------------------------
def _member(ws: Workspace, name: str, image: Path | str) -> tuple[DatasetLayout, Path]:
    layout = scan_dataset(ws, name)
    image = Path(image)
    if not image.is_absolute():
        image = layout.root / image
    if image not in set(layout.images()):
        raise DatasetError(f"{image.name} is not an image of dataset {name!r}")
    return layout, image


def move_image(ws: Workspace, name: str, image: Path | str, *, new_name: str | None = None,
               concept: str | None = None) -> Path:
    """Rename an image and/or move it to another concept of the dataset; its caption and sd-scripts
    caches go with it. ``image`` is a path or dataset-relative. Refuses to overwrite anything."""
    from nyx_core.files import FileManager
    from nyx_core.imagefiles import SD_SCRIPTS_IMAGE_EXTS, is_trainable_image

    layout, path = _member(ws, name, image)
    fm = FileManager(ws)
    if new_name is not None and new_name.strip() and new_name.strip() != path.name:
        new_name = new_name.strip()
        if not is_trainable_image(new_name):
            raise DatasetError(f"{new_name!r} would not be trained: sd-scripts reads only "
                               f"{', '.join(SD_SCRIPTS_IMAGE_EXTS)} (case as written)")
        if Path(new_name).suffix.lower() != path.suffix.lower():
            raise DatasetError("renaming cannot change the image format; use Convert for that")
        path = fm.rename(ws.relative(path), new_name)
    if concept:
        folder = layout.concept(concept).folder
        if folder != path.parent:
            path = fm.move([ws.relative(path)], ws.relative(folder))[0]
    return path


def delete_image(ws: Workspace, name: str, image: Path | str) -> list:
    """Move an image and its companions (caption, caches) to the trash; returns the trash entries."""
    from nyx_core.files import FileManager
    from nyx_core.trash import move_to_trash

    _layout, path = _member(ws, name, image)
    group = [path] + FileManager(ws).companions(path)
    return [move_to_trash(ws, p) for p in group]


def normalize_extensions(ws: Workspace, name: str) -> list[tuple[str, str]]:
    """Rename the image files sd-scripts skips because of their extension's case (``b.Png`` ->
    ``b.png``); captions and caches keep their names (same stem). Returns (old, new) dataset paths.
    A file whose lower-case name is taken is left alone (and stays in the health check)."""
    from nyx_core.files import ClashError, FileManager
    from nyx_core.imagefiles import normalized_name

    layout = scan_dataset(ws, name)
    fm = FileManager(ws)
    done = []
    for img in layout.skipped_images():
        try:
            new = fm.rename(ws.relative(img), normalized_name(img.name))
        except ClashError:
            continue
        done.append((img.relative_to(layout.root).as_posix(), new.relative_to(layout.root).as_posix()))
    return done
