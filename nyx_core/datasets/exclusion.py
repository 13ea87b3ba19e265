"""Exclude an image from training without deleting it, and include it back.

An excluded image moves, with its companions (caption, sd-scripts ``.npz`` caches), to
``<dataset>/.nyx/excluded/<concept folder>/``. sd-scripts never reads it there: with
``train_data_dir`` it trains only the dataset's direct subfolders whose name starts with a number
(``.nyx`` does not: "ignore directory without repeats"), and it globs images non-recursively inside
each of those. Nyx's own scans skip dot folders too, so an excluded image drops out of every count,
step calculation, bucket and health check at once, with no list to keep in sync. Because the folder
lives inside the dataset, renaming the dataset keeps its excluded images and trashing it trashes them.

The concept folder an image came from is the folder it waits in. Including it back puts it into
that folder; when the folder was renamed (repeats changed), into the concept with the same name;
when the concept is gone, the caller names one. Nothing is ever overwritten: a name taken on the
other side refuses the whole call before anything moves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from nyx_core.datasets.layout import (
    STATE_DIR,
    Concept,
    DatasetError,
    DatasetLayout,
    dataset_root,
    parse_concept_folder,
    scan_dataset,
)
from nyx_core.imagefiles import CAPTION_EXTS, companions, is_image_name
from nyx_core.names import shown, unshown
from nyx_core.workspace import Workspace

EXCLUDED_DIR = "excluded"


@dataclass
class ExcludedImage:
    """One excluded image: ``key`` (``"10_ohwx cat/a.png"``) is how the CLI, the page and the
    notebook name it; ``concept_folder`` is the folder it came from."""
    key: str
    path: Path
    concept_folder: str
    companions: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return shown(self.path.name)

    @property
    def concept(self) -> str | None:
        """The concept name of the folder it came from (``"ohwx cat"``), or None for an odd folder."""
        parsed = parse_concept_folder(unshown(self.concept_folder))
        return shown(parsed[1]) if parsed else None

    def home(self, layout: DatasetLayout) -> Concept | None:
        """Where ``include_image`` puts it back without being told: its own folder, else the concept
        with the same name (its repeats were changed), else None (the concept is gone)."""
        for c in layout.concepts:
            if c.folder.name == unshown(self.concept_folder):
                return c
        return next((c for c in layout.concepts if c.name == self.concept), None)


def excluded_root(root: Path) -> Path:
    return root / STATE_DIR / EXCLUDED_DIR


def _caption_exts(layout: DatasetLayout) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*CAPTION_EXTS, layout.caption_ext)))


def _entry(layout: DatasetLayout, path: Path) -> ExcludedImage:
    return ExcludedImage(key=shown(f"{path.parent.name}/{path.name}"), path=path,
                         concept_folder=shown(path.parent.name),
                         companions=companions(path, _caption_exts(layout)))


def excluded_images(ws: Workspace, name: str) -> list[ExcludedImage]:
    """The dataset's excluded images, by concept folder then file name."""
    layout = scan_dataset(ws, name)
    return _excluded(layout)


def _excluded(layout: DatasetLayout) -> list[ExcludedImage]:
    base = excluded_root(layout.root)
    if not base.is_dir():
        return []
    out = []
    for folder in sorted(base.iterdir(), key=lambda p: p.name):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        for p in sorted(folder.iterdir(), key=lambda p: p.name):
            if not p.name.startswith(".") and is_image_name(p.name) and not p.is_symlink() and p.is_file():
                out.append(_entry(layout, p))
    return out


def excluded_count(ws: Workspace, name: str) -> int:
    """How many images are excluded (one listing per concept folder; nothing read)."""
    base = excluded_root(dataset_root(ws, name))
    if not base.is_dir():
        return 0
    n = 0
    for folder in base.iterdir():
        if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith("."):
            n += sum(1 for e in os.scandir(folder) if not e.name.startswith(".") and is_image_name(e.name))
    return n


# -- finding what the caller means ------------------------------------------------------------------
def _one(text: str, candidates: dict[str, Path], what: str, dataset: str) -> Path:
    """``"10_cat/a.png"`` exactly, or a bare ``"a.png"`` when only one candidate has that name."""
    key = str(text).strip().replace("\\", "/").strip("/")
    if key in candidates:
        return candidates[key]
    if "/" not in key:
        hits = [k for k in candidates if k.rsplit("/", 1)[-1] == key]
        if len(hits) == 1:
            return candidates[hits[0]]
        if hits:
            raise DatasetError(f"{key} is in several concept folders of {dataset!r} ({', '.join(hits)}); "
                               "give the folder too, e.g. " + hits[0])
    raise DatasetError(f"{key or '(empty)'} is not {what} of dataset {dataset!r}")


def _images_by_key(layout: DatasetLayout) -> dict[str, Path]:
    return {shown(p.relative_to(layout.root).as_posix()): p for p in layout.images()}


def _as_image(layout: DatasetLayout, image: Path | str) -> Path:
    if isinstance(image, Path) and image.is_absolute():
        if image in set(layout.images()):
            return image
        raise DatasetError(f"{shown(image.name)} is not an image of dataset {layout.name!r} "
                           "(only images in concept folders are trained, so only they can be excluded)")
    return _one(str(image), _images_by_key(layout), "an image", layout.name)


def _as_excluded(layout: DatasetLayout, item: ExcludedImage | Path | str) -> ExcludedImage:
    found = {e.key: e for e in _excluded(layout)}
    if isinstance(item, ExcludedImage):
        item = item.key
    if isinstance(item, Path) and item.is_absolute():
        hit = next((e for e in found.values() if e.path == item), None)
        if hit is None:
            raise DatasetError(f"{shown(item.name)} is not an excluded image of dataset {layout.name!r}")
        return hit
    path = _one(str(item), {k: e.path for k, e in found.items()}, "an excluded image", layout.name)
    return next(e for e in found.values() if e.path == path)


# -- moving -------------------------------------------------------------------------------------------
def _move_group(moves: list[tuple[Path, Path]]) -> None:
    """Rename each (src, dst); on a failure put back what had moved, so the group stays together."""
    done: list[tuple[Path, Path]] = []
    try:
        for src, dst in moves:
            if os.path.lexists(dst):  # checked before, but a racing writer must still not lose a file
                raise DatasetError(f"{shown(dst.name)} appeared in {shown(dst.parent.name)} meanwhile; nothing moved")
            os.rename(src, dst)
            done.append((src, dst))
    except BaseException:
        for src, dst in reversed(done):
            try:
                os.rename(dst, src)
            except OSError:
                pass
        raise


def exclude_images(ws: Workspace, name: str, images: Iterable[Path | str]) -> list[ExcludedImage]:
    """Exclude images from training (see the module doc). ``images`` are paths or dataset-relative
    names (``"10_cat/a.png"``, or ``"a.png"`` when no other concept has one). Every image and every
    clash is checked before anything moves. Returns the excluded entries."""
    layout = scan_dataset(ws, name)
    base = excluded_root(layout.root)
    chosen = list(dict.fromkeys(_as_image(layout, i) for i in images))
    if not chosen:
        raise DatasetError("no image given to exclude")
    plans = []
    for img in chosen:
        group = [img, *companions(img, _caption_exts(layout))]
        dest = base / img.parent.name
        for p in group:
            if os.path.lexists(dest / p.name):
                raise DatasetError(f"an excluded {shown(p.name)} from {shown(img.parent.name)} is already kept; "
                                   "include it back or delete it first (nothing was moved)")
        planned = {q.stem for _i, d, g in plans if d == dest for q in g[:1]}
        twin = next((q.name for q in (dest.iterdir() if dest.is_dir() else ())
                     if is_image_name(q.name) and q.stem == img.stem), None)
        if twin is not None or img.stem in planned:
            raise DatasetError(f"an excluded image named {img.stem}.* from {shown(img.parent.name)} is already kept "
                               f"({shown(twin or img.stem)}); they would share one caption: include it back or "
                               "rename one first (nothing was moved)")
        plans.append((img, dest, group))
    out = []
    for img, dest, group in plans:
        dest.mkdir(parents=True, exist_ok=True)
        _move_group([(p, dest / p.name) for p in group])
        out.append(_entry(layout, dest / img.name))
    return out


def exclude_image(ws: Workspace, name: str, image: Path | str) -> ExcludedImage:
    """Exclude one image from training; its caption and caches go with it. See ``exclude_images``."""
    return exclude_images(ws, name, [image])[0]


def _target(layout: DatasetLayout, item: ExcludedImage, concept: str | None) -> Concept:
    if concept is not None and str(concept).strip():
        return layout.concept(str(concept).strip())
    home = item.home(layout)
    if home is not None:
        return home
    names = ", ".join(c.name for c in layout.concepts)
    if not names:
        raise DatasetError(f"the concept folder {item.concept_folder!r} of {item.name} is gone and "
                           f"{layout.name!r} has no concept left; add a concept, then include it into that")
    raise DatasetError(f"the concept folder {item.concept_folder!r} of {item.name} is gone; "
                       f"say which concept to put it back into: {names}")


def include_images(ws: Workspace, name: str, items: Iterable[ExcludedImage | Path | str], *,
                   concept: str | None = None) -> list[Path]:
    """Put excluded images back into training: into the concept folder each came from, into the
    concept with the same name when that folder was renamed, or into ``concept`` when given (needed
    when the concept is gone). A name taken in the target folder (the image, its caption or a cache,
    or another image with the same stem, which would share its caption) refuses the whole call
    before anything moves. Returns the images' new paths."""
    layout = scan_dataset(ws, name)
    chosen = list({e.key: e for e in (_as_excluded(layout, i) for i in items)}.values())
    if not chosen:
        raise DatasetError("no excluded image given to include")
    plans = []
    for item in chosen:
        target = _target(layout, item, concept)
        group = [item.path, *item.companions]
        for p in group:
            if os.path.lexists(target.folder / p.name):
                raise DatasetError(f"{shown(p.name)} already exists in {shown(target.folder.name)}; rename or "
                                   f"remove that one first (nothing was moved)")
        stem = item.path.stem
        twin = next((i for i in target.images + target.skipped if i.stem == stem), None)
        if twin is not None:
            raise DatasetError(f"{shown(twin.name)} in {shown(target.folder.name)} has the same name stem as "
                               f"{item.name}, so they would share one caption; rename one first (nothing was moved)")
        plans.append((item, target.folder, group))
    out = []
    for item, folder, group in plans:
        _move_group([(p, folder / p.name) for p in group])
        try:
            item.path.parent.rmdir()  # the concept's excluded folder, once empty
        except OSError:
            pass
        out.append(folder / item.path.name)
    return out


def include_image(ws: Workspace, name: str, item: ExcludedImage | Path | str, *, concept: str | None = None) -> Path:
    """Put one excluded image back into training. See ``include_images``."""
    return include_images(ws, name, [item], concept=concept)[0]


def delete_excluded(ws: Workspace, name: str, item: ExcludedImage | Path | str) -> list:
    """Move an excluded image and its companions to the trash (restorable); returns the trash entries."""
    from nyx_core.trash import move_to_trash

    layout = scan_dataset(ws, name)
    entry = _as_excluded(layout, item)
    gone = [move_to_trash(ws, p) for p in [entry.path, *entry.companions]]
    try:
        entry.path.parent.rmdir()
    except OSError:
        pass
    return gone


__all__ = ["EXCLUDED_DIR", "ExcludedImage", "delete_excluded", "exclude_image", "exclude_images", "excluded_count",
           "excluded_images", "excluded_root", "include_image", "include_images"]
