"""How a dataset sits on disk: Kohya's DreamBooth layout, read into plain dataclasses.

``workspace/datasets/<name>/`` holds concept folders named ``<repeats>_<concept>`` (``10_ohwx woman``);
each holds images and same-stem caption files. Any other folder is not trained on by sd-scripts, so
it is listed as ``stray`` for the health check rather than silently dropped. Per-dataset settings
(caption extension, trigger word) live in ``.nyx-dataset.toml`` at the dataset root; the leading dot
keeps it out of sd-scripts' image glob.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import tomlkit

from nyx_core.names import shown, unshown
from nyx_core.cache import StampCache
from nyx_core.errors import NyxError, PathError
from nyx_core.fsutil import atomic_write_text
from nyx_core.imagefiles import IMAGE_EXTS, is_image_name, is_skipped_image, is_trainable_image  # noqa: F401
from nyx_core.workspace import Workspace

#: One image rule for Nyx: ``nyx_core.imagefiles`` (sd-scripts' extensions, case included).
SETTINGS_FILE = ".nyx-dataset.toml"
#: Nyx's own per-dataset state (undo journal, ingest temp folders). Dotted so sd-scripts never sees it.
STATE_DIR = ".nyx"
DEFAULT_CAPTION_EXT = ".txt"

# sd-scripts splits the folder name on "_" and int()s the first token; a folder whose first token is
# not a number is ignored by it. We also want a non-empty concept and at least one repeat.
_CONCEPT = re.compile(r"^(\d+)_(.+)$")
_CAPTION_EXT = re.compile(r"^\.[A-Za-z0-9_-]{1,16}$")
#: dataset scans by root folder (see scan_dataset)
_SCANS = StampCache(maxsize=64)


class DatasetError(NyxError):
    """A dataset operation was refused (bad name, missing dataset, clash)."""


def is_image(path: Path) -> bool:
    """An image file by name, any case (what ingest accepts; it writes the lower-case spelling)."""
    return is_image_name(path)


def parse_concept_folder(name: str) -> tuple[int, str] | None:
    """``"10_ohwx woman"`` -> ``(10, "ohwx woman")``; ``None`` for a folder sd-scripts would not train."""
    m = _CONCEPT.match(name)
    if not m:
        return None
    repeats, concept = int(m.group(1)), m.group(2)
    if repeats < 1 or not concept.strip():
        return None
    return repeats, concept


def concept_folder_name(repeats: int, concept: str) -> str:
    validate_name(concept, what="concept name")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise DatasetError(f"repeats must be a whole number of at least 1, got {repeats!r}")
    return f"{repeats}_{concept}"


def validate_name(name: str, *, what: str = "dataset name") -> str:
    """A dataset or concept name must be one plain folder name. Returns it stripped of edge spaces."""
    if not isinstance(name, str):
        raise DatasetError(f"the {what} must be text")
    name = unshown(name).strip()  # a listed name that is not UTF-8 comes back as \xNN
    if not name:
        raise DatasetError(f"the {what} is empty; type a name")
    if "/" in name or "\\" in name:
        raise DatasetError(f"the {what} {name!r} contains a path separator; use a plain name")
    if name.startswith("."):
        raise DatasetError(f"the {what} {name!r} starts with a dot (hidden); pick another name")
    if re.search(r"[\x00-\x1f\x7f]", name) or re.match(r"^[A-Za-z]:", name):
        raise DatasetError(f"the {what} {name!r} contains characters a folder name cannot have")
    if len(name.encode("utf-8", "surrogateescape")) > 200:
        raise DatasetError(f"the {what} is too long (200 bytes at most)")
    return name


@dataclass
class DatasetSettings:
    caption_ext: str = DEFAULT_CAPTION_EXT
    trigger_word: str | None = None


@dataclass
class Concept:
    folder: Path
    name: str
    repeats: int
    images: list[Path] = field(default_factory=list)
    #: Image files sd-scripts will not find (extension case, e.g. ``b.Png``): not shown as training images.
    skipped: list[Path] = field(default_factory=list)

    def caption_path(self, image: Path, ext: str = DEFAULT_CAPTION_EXT) -> Path:
        return caption_path(image, ext)


@dataclass
class DatasetLayout:
    name: str
    root: Path
    concepts: list[Concept]
    caption_ext: str
    trigger_word: str | None = None
    #: Folders that are not ``<repeats>_<concept>`` (sd-scripts ignores them).
    stray: list[Path] = field(default_factory=list)
    #: Images lying directly in the dataset root (sd-scripts ignores them too).
    loose_images: list[Path] = field(default_factory=list)

    @property
    def image_count(self) -> int:
        return sum(len(c.images) for c in self.concepts)

    def images(self) -> list[Path]:
        return [img for c in self.concepts for img in c.images]

    def skipped_images(self) -> list[Path]:
        return [img for c in self.concepts for img in c.skipped]

    def caption_path(self, image: Path) -> Path:
        return caption_path(image, self.caption_ext)

    def concept(self, name: str) -> Concept:
        for c in self.concepts:
            if c.name == name or c.folder.name == name:
                return c
        raise DatasetError(f"dataset {self.name!r} has no concept {name!r}; pick one of: "
                           + (", ".join(c.name for c in self.concepts) or "(none yet)"))


def caption_path(image: Path, ext: str = DEFAULT_CAPTION_EXT) -> Path:
    return image.with_name(image.stem + ext)


def dataset_root(ws: Workspace, name: str, *, must_exist: bool = True) -> Path:
    name = validate_name(name)
    root = ws.resolve(f"{ws.relative(ws.datasets)}/{name}")
    if must_exist and not root.is_dir():
        raise DatasetError(f"no dataset named {name!r}; create it first or check `nyx dataset ls`")
    return root


def load_settings(root: Path) -> DatasetSettings:
    path = root / SETTINGS_FILE
    if not path.is_file():
        return DatasetSettings()
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except Exception as exc:  # a hand-edited file with a typo must not hide the dataset
        raise DatasetError(f"{path.name} in {root.name!r} is not valid TOML ({exc}); fix or delete it") from exc
    ext = str(doc.get("caption_extension", DEFAULT_CAPTION_EXT))
    trig = doc.get("trigger_word")
    return DatasetSettings(
        caption_ext=ext if _CAPTION_EXT.match(ext) else DEFAULT_CAPTION_EXT,
        trigger_word=(str(trig).strip() or None) if trig is not None else None,
    )


def save_settings(root: Path, settings: DatasetSettings) -> None:
    if not _CAPTION_EXT.match(settings.caption_ext):
        raise DatasetError(f"caption extension {settings.caption_ext!r} must look like '.txt' or '.caption'")
    path = root / SETTINGS_FILE
    # Edit in place so hand-written comments in the file survive.
    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()
    doc["caption_extension"] = settings.caption_ext
    if settings.trigger_word and settings.trigger_word.strip():
        doc["trigger_word"] = settings.trigger_word.strip()
    elif "trigger_word" in doc:
        del doc["trigger_word"]
    atomic_write_text(path, tomlkit.dumps(doc))


def _images_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """(the images sd-scripts trains on, image files it skips because of their extension's case)."""
    # scandir's entry.is_file() answers from the directory listing (no stat per file, except for
    # symlinks): 10,000 images are one listing, not 10,000 system calls
    with os.scandir(folder) as it:
        found = sorted((Path(e.path) for e in it if not e.name.startswith(".") and is_image_name(e.name) and e.is_file()),
                       key=lambda p: p.name)
    return [p for p in found if is_trainable_image(p)], [p for p in found if not is_trainable_image(p)]


def scan_dataset(ws: Workspace, name: str) -> DatasetLayout:
    """Read ``workspace/datasets/<name>/``. Concepts are sorted by folder name, images by file name.

    Served from memory while the dataset folder, its concept folders and its settings file are
    unchanged (a page asks on every rerun; 10,000 images are 10,000 stats). Each call gets its
    own copy, so a caller may change what it got."""
    root = dataset_root(ws, name)
    layout = _SCANS.get(("dataset", str(root)), lambda: _scan(root))
    concepts = [replace(c, images=list(c.images), skipped=list(c.skipped)) for c in layout.concepts]
    return replace(layout, concepts=concepts,
                   stray=list(layout.stray), loose_images=list(layout.loose_images))


def _scan(root: Path) -> tuple[DatasetLayout, list[Path]]:
    """The layout, and the paths whose change would change it (for the cache)."""
    settings = load_settings(root)
    concepts: list[Concept] = []
    stray: list[Path] = []
    loose: list[Path] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            parsed = parse_concept_folder(entry.name)
            if parsed is None:
                stray.append(entry)
            else:
                images, skipped = _images_in(entry)
                # shown(): a name that is not UTF-8 is displayed (and looked up) as \xNN
                concepts.append(Concept(entry, shown(parsed[1]), parsed[0], images, skipped))
        elif is_image(entry):
            loose.append(entry)
    layout = DatasetLayout(shown(root.name), root, concepts, settings.caption_ext, settings.trigger_word, stray, loose)
    return layout, [root, root / SETTINGS_FILE, *(c.folder for c in concepts)]


def dataset_names(ws: Workspace) -> list[str]:
    """Just the names (no scan): cheap enough for a picker on every page run."""
    return sorted((shown(p.name) for p in ws.datasets.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=str.lower)


def list_datasets(ws: Workspace) -> list[DatasetLayout]:
    out: list[DatasetLayout] = []
    for entry in sorted(ws.datasets.iterdir(), key=lambda p: p.name.lower()):
        if entry.is_dir() and not entry.name.startswith("."):
            try:
                out.append(scan_dataset(ws, entry.name))
            except (DatasetError, PathError):
                continue  # a bad settings file or an escaping symlink: skip, `check` reports it
    return out
