"""Captions on disk: read / write one, and bulk tag operations over a dataset with preview and undo.

Undo keeps the exact previous bytes of every caption a bulk operation changed (base64, with the
SHA-256 of what the operation wrote) in one journal per operation, ``<dataset>/.nyx/undo/<ns>.json``;
a caption that did not exist is stored as null. A journal is written *before* any caption changes,
so even an operation cut short half-way can be undone. The last ``UNDO_LEVELS`` operations are kept;
``undo`` takes back the newest, or any older one out of order. Undo restores only captions still
exactly as the operation left them: a caption edited by hand since, or rewritten by a newer operation,
is left alone and listed, so undo never wipes later work.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from nyx_core.datasets.captions import CaptionError, TagOp, apply_to_text, build_transform, tag_frequency
from nyx_core.datasets.layout import STATE_DIR, DatasetLayout, caption_path, scan_dataset
from nyx_core.errors import NyxError
from nyx_core.fsutil import atomic_write_bytes, atomic_write_text, replace_existing
from nyx_core.workspace import Workspace

UNDO_DIR = "undo"
LEGACY_UNDO_FILE = "undo.json"  # the single journal of Nyx before several levels; read as the oldest
UNDO_LEVELS = 20


class UndoError(NyxError):
    """Nothing to undo, or the undo journal is unreadable."""


# -- one caption ------------------------------------------------------------------------------
def read_caption_bytes(layout: DatasetLayout, image: Path) -> bytes | None:
    try:
        return caption_path(image, layout.caption_ext).read_bytes()
    except FileNotFoundError:
        return None


def read_caption(layout: DatasetLayout, image: Path) -> str | None:
    """The caption text (None when the image has none). Undecodable bytes are shown as U+FFFD
    rather than failing the page; the health check reports such files separately."""
    data = read_caption_bytes(layout, image)
    if data is None:
        return None
    return data.decode("utf-8-sig", errors="replace")


def write_caption(layout: DatasetLayout, image: Path, text: str) -> Path:
    """Write one caption atomically (created when missing). The image must belong to the dataset."""
    _check_member(layout, image)
    path = caption_path(image, layout.caption_ext)
    atomic_write_bytes(path, caption_bytes(text))
    return path


def caption_bytes(text: str) -> bytes:
    """UTF-8 bytes to store; an empty caption is stored as one newline, because sd-scripts stops
    training with 'caption file is empty' on a zero-byte caption file but accepts an empty line."""
    return text.encode("utf-8") or b"\n"


def _check_member(layout: DatasetLayout, image: Path) -> None:
    image = Path(image)
    if image.parent.resolve() not in {c.folder.resolve() for c in layout.concepts}:
        raise NyxError(f"{image.name} is not an image of dataset {layout.name!r}")


# -- bulk -------------------------------------------------------------------------------------
@dataclass
class Change:
    image: Path
    before: str | None
    after: str


@dataclass
class Preview:
    op: str
    total: int
    changed: int
    samples: list[Change] = field(default_factory=list)


def _targets(layout: DatasetLayout, images: Iterable[Path] | None) -> list[Path]:
    if images is None:
        return layout.images()
    members = set(layout.images())
    resolved: set[Path] | None = None
    chosen = []
    for img in images:
        img = Path(img)
        if img not in members:  # fast path for the layout's own paths; resolve only the others
            resolved = resolved if resolved is not None else {p.resolve() for p in members}
            if img.resolve() not in resolved:
                raise NyxError(f"{img.name} is not an image of dataset {layout.name!r}")
        chosen.append(img)
    return chosen


class _BulkWriter:
    """Writes many small files, each atomically for readers (a temp file in the same folder, then a
    rename), without a per-file fsync and with plain ``os`` calls: fsync made a 10,000-caption bulk
    edit take 67 s, and ``tempfile``/``pathlib`` overhead several more seconds, on the bench machine.
    The undo journal, written first, is fsynced, so an interrupted operation can still be undone."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(4)
        self.n = 0
        umask = os.umask(0o022)
        os.umask(umask)
        self.umask = umask

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.n += 1
        folder, name = os.path.split(path)
        tmp = os.path.join(folder, f".{name[:80]}.{self.token}{self.n}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            if mode & self.umask:
                os.fchmod(fd, mode)  # keep the caption's own permissions, not the umask's
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        try:
            replace_existing(tmp, path)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise


def _read_with_mode(path: str) -> tuple[bytes, int] | None:
    """(bytes, permission bits) of a small file, or None when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        chunks = []
        while chunk := os.read(fd, max(st.st_size, 4096) + 1):
            chunks.append(chunk)
        return b"".join(chunks), st.st_mode & 0o7777
    finally:
        os.close(fd)


def _plan(layout: DatasetLayout, op: TagOp, images: Iterable[Path] | None):  # noqa: ANN202
    """Yield (caption path, old bytes, old text, new text, mode) for each caption the op changes."""
    transform = build_transform(op)
    ext = layout.caption_ext
    for image in _targets(layout, images):
        cap = os.path.join(os.path.dirname(image), os.path.splitext(os.path.basename(image))[0] + ext)
        found = _read_with_mode(cap)
        raw, mode = found if found is not None else (None, 0o644)
        text = None if raw is None else raw.decode("utf-8-sig", errors="replace")
        if raw is None and not (op.kind == "add" or op.create_missing):
            continue  # only adding makes sense for an image without a caption
        new = apply_to_text(transform, text)
        if raw is None and not new:
            continue
        if text is None or new != text:
            yield image, cap, raw, text, new, mode


def preview(layout: DatasetLayout, op: TagOp, images: Iterable[Path] | None = None, *, limit: int = 5) -> Preview:
    """What ``apply`` would do: the number of captions it changes and ``limit`` before→after samples."""
    targets = _targets(layout, images)
    result = Preview(op.describe(), len(targets), 0)
    for image, _cap, _raw, text, new, _mode in _plan(layout, op, None if images is None else targets):
        result.changed += 1
        if len(result.samples) < limit:
            result.samples.append(Change(image, text, new))
    return result


def apply(layout: DatasetLayout, op: TagOp, images: Iterable[Path] | None = None,
          progress: Callable[[int, int], None] | None = None) -> int:
    """Apply ``op`` to the dataset (or the chosen images); returns how many captions changed.
    Replaces the undo journal with the previous bytes of exactly those captions."""
    plan = list(_plan(layout, op, images))
    if not plan:
        return 0
    entries = {}
    root = str(layout.root) + os.sep
    for _image, cap, raw, _text, new, _mode in plan:
        rel = cap[len(root):] if cap.startswith(root) else os.path.relpath(os.path.realpath(cap), layout.root.resolve())
        entries[rel.replace(os.sep, "/")] = {
            "before": None if raw is None else base64.b64encode(raw).decode("ascii"),
            "after_sha256": hashlib.sha256(caption_bytes(new)).hexdigest(),
        }
    _write_journal(layout, op.describe(), entries)
    writer = _BulkWriter()
    for i, (_image, cap, _raw, _text, new, mode) in enumerate(plan, 1):
        writer.write(cap, caption_bytes(new), mode)
        if progress:
            progress(i, len(plan))
    return len(plan)


def _write_journal(layout: DatasetLayout, op: str, entries: dict) -> Path:
    """A new undo level (fsynced before any caption changes); the oldest beyond UNDO_LEVELS go."""
    journal = {"version": 2, "op": op, "at": time.time(), "entries": entries}
    folder = layout.root / STATE_DIR / UNDO_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns():020d}.json"
    atomic_write_text(path, json.dumps(journal))
    _prune(layout)
    return path


def record_undo(layout: DatasetLayout, op: str, images: Iterable[Path]) -> Path:
    """Journal the current caption bytes of ``images`` before another process (a tagging or
    captioning job) rewrites them one by one: undo then puts back exactly these bytes, and trashes
    the captions the job created. The new contents are not known yet, so no ``after_sha256``: the
    job fills it in when it ends (``nyx_core.tagging.output.seal_journal``) and drops the captions
    it did not change. Returns the journal file."""
    entries = {}
    for image in _targets(layout, images):
        raw = read_caption_bytes(layout, image)
        rel = caption_path(image, layout.caption_ext).relative_to(layout.root).as_posix()
        entries[rel] = {"before": None if raw is None else base64.b64encode(raw).decode("ascii"),
                        "after_sha256": None}
    return _write_journal(layout, op, entries)


@dataclass
class UndoInfo:
    op: str
    at: float
    count: int
    journal: str = ""  # the journal's file name (what `undo` takes back)


@dataclass
class UndoResult:
    op: str
    restored: int
    skipped: list[str] = field(default_factory=list)  # dataset-relative captions edited since the operation
    #: of the skipped ones, those a newer operation rewrote: caption -> that operation
    newer: dict[str, str] = field(default_factory=dict)
    journal: str = ""  # the journal that was undone (it has left the history)


def _journals(layout: DatasetLayout) -> list[Path]:
    """The undo journals, oldest first."""
    folder = layout.root / STATE_DIR / UNDO_DIR
    found = sorted(folder.glob("*.json")) if folder.is_dir() else []
    legacy = layout.root / STATE_DIR / LEGACY_UNDO_FILE
    return ([legacy] if legacy.is_file() else []) + found


def _prune(layout: DatasetLayout) -> None:
    for old in _journals(layout)[:-UNDO_LEVELS]:
        old.unlink(missing_ok=True)


def _read_journal(layout: DatasetLayout, path: Path) -> dict:
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        journal["op"], journal["at"], journal["entries"].items  # noqa: B018 - shape check
        return journal
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UndoError(f"the undo journal {path.name} of {layout.name!r} is damaged ({exc}); "
                        "it cannot be undone") from exc


def undo_history(layout: DatasetLayout) -> list[UndoInfo]:
    """The operations that can be undone, newest first (what, when, how many captions). A damaged
    journal is listed as such rather than hiding the others."""
    out = []
    for path in reversed(_journals(layout)):
        try:
            j = _read_journal(layout, path)
            out.append(UndoInfo(j["op"], j["at"], len(j["entries"]), path.name))
        except UndoError:
            out.append(UndoInfo("(damaged undo journal)", path.stat().st_mtime, 0, path.name))
    return out


def undo_info(layout: DatasetLayout) -> UndoInfo | None:
    """The operation `undo` would take back next, or None."""
    history = undo_history(layout)
    return history[0] if history else None


def undo(ws: Workspace, layout: DatasetLayout, entry: UndoInfo | str | None = None) -> UndoResult:
    """Take back a bulk operation: put back the exact bytes it replaced, and move captions it created
    to the trash. Only captions still exactly as the operation left them are touched; the ones edited
    (or deleted) since are skipped and listed in the result.

    ``entry`` picks an operation from ``undo_history`` (its ``UndoInfo`` or journal name); None is the
    newest. An older operation is undone out of order by the same rule: a caption that a newer
    operation rewrote is no longer as this one left it, so it is skipped (``result.newer`` names that
    operation), and the newer operations stay undoable. The entry then leaves the history."""
    journals = _journals(layout)
    if not journals:
        raise UndoError(f"nothing to undo in {layout.name!r}")
    if entry is None:
        path = journals[-1]
    else:
        wanted = entry.journal if isinstance(entry, UndoInfo) else str(entry)
        path = next((j for j in journals if j.name == wanted), None)
        if path is None:
            raise UndoError(f"{layout.name!r} has no undo entry {wanted!r} (it was undone or dropped); "
                            "see the undo history")
    journal = _read_journal(layout, path)
    newer = _newer_changes(layout, journals[journals.index(path) + 1:])
    from nyx_core.trash import move_to_trash

    root = layout.root.resolve()
    result = UndoResult(journal["op"], 0, journal=path.name)
    writer = _BulkWriter()
    for rel, item in journal["entries"].items():
        parts = rel.split("/")
        if rel.startswith("/") or "\\" in rel or ".." in parts or "" in parts:
            continue  # a hand-edited journal must not reach outside the dataset
        target = root.joinpath(*parts)
        expected = item.get("after_sha256")
        current = _read_with_mode(str(target))
        changed = current is None or hashlib.sha256(current[0]).hexdigest() != expected
        # A journal of a job that never sealed it has no after_sha256: the newest one is undone
        # whole (as always); an older one leaves alone what a newer operation rewrote.
        if (expected is not None and changed) or (expected is None and rel in newer):
            result.skipped.append(rel)
            if rel in newer:
                result.newer[rel] = newer[rel]
            continue
        before = item.get("before")
        if before is None:
            if current is not None:
                move_to_trash(ws, target)
        else:
            writer.write(str(target), base64.b64decode(before), current[1] if current else 0o644)
        result.restored += 1
    os.unlink(path)
    return result


def _newer_changes(layout: DatasetLayout, newer: list[Path]) -> dict[str, str]:
    """caption -> the newest later operation that rewrote it (what out-of-order undo reports)."""
    out: dict[str, str] = {}
    for path in newer:
        try:
            j = _read_journal(layout, path)
        except UndoError:
            continue
        for rel in j["entries"]:
            out[rel] = j["op"]
    return out


# -- whole-dataset views ---------------------------------------------------------------------------
def all_captions(layout: DatasetLayout) -> dict[Path, str | None]:
    return {img: read_caption(layout, img) for img in layout.images()}


def dataset_tag_frequency(layout: DatasetLayout):  # noqa: ANN201 - Counter[str]
    return tag_frequency(all_captions(layout).values())


def filter_images(captions: dict[Path, str | None], *, tag: str | None = None, no_caption: bool = False,
                  search: str = "", only: Iterable[Path] | None = None) -> list[Path]:
    """The gallery filter: images having ``tag``, or without a caption (missing or empty), or whose
    caption or file name contains ``search`` (case-blind), optionally within ``only``."""
    from nyx_core.datasets.captions import split_tags

    keep = None if only is None else {Path(p) for p in only}
    needle = search.strip().casefold()
    out = []
    for img, text in captions.items():
        if keep is not None and img not in keep:
            continue
        if no_caption and text is not None and text.strip():
            continue
        if tag and (not text or tag not in split_tags(text)):
            continue
        if needle and needle not in (text or "").casefold() and needle not in img.name.casefold():
            continue
        out.append(img)
    return out


def run(ws: Workspace, name: str, op: TagOp, *, dry_run: bool = False, images: Iterable[Path] | None = None):  # noqa: ANN201
    """Notebook/CLI convenience: preview (dry_run) or apply an op on a dataset by name."""
    layout = scan_dataset(ws, name)
    if dry_run:
        return preview(layout, op, images)
    return apply(layout, op, images)


__all__ = [
    "CaptionError", "Change", "Preview", "TagOp", "UndoError", "UndoInfo", "UndoResult", "all_captions", "apply",
    "dataset_tag_frequency", "filter_images", "preview", "read_caption", "read_caption_bytes", "record_undo", "run",
    "undo", "undo_history", "undo_info",
    "write_caption",
]
