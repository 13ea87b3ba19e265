"""The workspace trash: deletes are moves, so nothing is lost by one click.

Layout: ``ws.trash/<id>/entry.json`` (where it came from, when, how big) and
``ws.trash/<id>/item/<original name>`` (the file or folder itself, moved with ``os.replace`` —
a rename on the same filesystem, so trashing a 10 GB model is instant). Ids sort by time, so a
listing needs no metadata reads to be ordered, and each id is its own folder so two deletes of
the same name never collide.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from nyx_core.errors import NyxError, PathError
from nyx_core.fsutil import atomic_write_text
from nyx_core.workspace import Workspace

SIDECAR = "entry.json"
PAYLOAD = "item"


class TrashError(NyxError):
    """A trash operation could not be done (unknown id, clash on restore, …)."""


class RestoreClashError(TrashError, FileExistsError):
    """Restoring would overwrite something that now lives at the original place."""


@dataclass(frozen=True)
class TrashEntry:
    id: str
    original: str  # workspace-relative posix
    deleted_at: float
    size: int
    is_dir: bool

    @property
    def name(self) -> str:
        return PurePosixPath(self.original).name


def _rel(ws: Workspace, path: Path) -> str:
    # Not ws.relative(): that resolves the last component, and a symlink must be trashed as itself.
    parent = path.parent.resolve()
    rel = (parent / path.name).relative_to(ws.root)
    return rel.as_posix()


def _tree_size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _new_id() -> str:
    # Sortable by time (newest-first listing is a name sort) and unique within a second.
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _protected(ws: Workspace, path: Path) -> str | None:
    real = path.parent.resolve() / path.name
    if real == ws.root:
        return "the workspace root cannot be deleted"
    trash = ws.trash.resolve()
    if real == trash or trash in real.parents:
        return "items already in the trash are removed with 'empty trash', not deleted again"
    return None


def move_to_trash(ws: Workspace, path: Path) -> TrashEntry:
    """Move ``path`` (already confined by ``ws.resolve``) into the trash; return its entry."""
    path = Path(path)
    if not os.path.lexists(path):
        raise PathError(f"no such file or folder: {path.name}")
    why = _protected(ws, path)
    if why:
        raise TrashError(why)
    original = _rel(ws, path)
    is_dir = path.is_dir() and not path.is_symlink()
    entry = TrashEntry(id=_new_id(), original=original, deleted_at=time.time(),
                       size=_tree_size(path), is_dir=is_dir)
    slot = ws.trash / entry.id
    (slot / PAYLOAD).mkdir(parents=True)
    atomic_write_text(slot / SIDECAR, json.dumps(asdict(entry), indent=2))
    try:
        os.replace(path, slot / PAYLOAD / path.name)
    except OSError:
        try:
            # A different filesystem (a mounted volume inside the workspace): copy then delete.
            shutil.move(str(path), str(slot / PAYLOAD / path.name))
        except OSError as exc:
            shutil.rmtree(slot, ignore_errors=True)
            raise TrashError(f"could not move {original} to the trash: {exc.strerror or exc}") from exc
    return entry


def valid_original(text: object) -> bool:
    """Whether an ``entry.json`` ``original`` is a workspace-relative path naming an entry:
    not empty, not the root ('.', './'), no '..', not absolute. The sidecar is a file on disk
    like any other user input, so restore trusts none of it."""
    if not isinstance(text, str) or not text or text.startswith("/") or "\\" in text or "\x00" in text:
        return False
    parts = PurePosixPath(text).parts
    return bool(parts) and all(p not in ("", ".", "..") for p in text.split("/"))


def keep_copy_in_trash(ws: Workspace, path: Path) -> TrashEntry:
    """Put a copy of file ``path`` in the trash and leave it in place (a hard link when the disk
    allows: instant, no extra space). For a caller about to replace the file's content."""
    path = Path(path)
    if not path.is_file() or path.is_symlink():
        raise PathError(f"not a file: {path.name}")
    entry = TrashEntry(id=_new_id(), original=_rel(ws, path), deleted_at=time.time(),
                       size=path.stat().st_size, is_dir=False)
    slot = ws.trash / entry.id
    (slot / PAYLOAD).mkdir(parents=True)
    payload = slot / PAYLOAD / path.name
    try:
        os.link(path, payload)
    except OSError:
        shutil.copy2(path, payload)
    atomic_write_text(slot / SIDECAR, json.dumps(asdict(entry), indent=2))
    return entry


def _read_entry(slot: Path) -> TrashEntry | None:
    try:
        data = json.loads((slot / SIDECAR).read_text(encoding="utf-8"))
        entry = TrashEntry(id=slot.name, original=str(data["original"]), deleted_at=float(data["deleted_at"]),
                           size=int(data["size"]), is_dir=bool(data["is_dir"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not valid_original(data["original"]):
        return None  # damaged or hand-edited: not restorable (empty-trash still removes it)
    return entry if os.path.lexists(_payload(ws_slot=slot, entry=entry)) else None


def _payload(*, ws_slot: Path, entry: TrashEntry) -> Path:
    return ws_slot / PAYLOAD / entry.name


def list_trash(ws: Workspace) -> list[TrashEntry]:
    """Every restorable entry, newest first. Half-written slots (a crash mid-delete) are skipped."""
    if not ws.trash.is_dir():
        return []
    entries = []
    with os.scandir(ws.trash) as it:
        for de in it:
            if de.is_dir(follow_symlinks=False):
                entry = _read_entry(Path(de.path))
                if entry is not None:
                    entries.append(entry)
    entries.sort(key=lambda e: (e.deleted_at, e.id), reverse=True)
    return entries


def get_entry(ws: Workspace, entry_id: str) -> TrashEntry:
    if not entry_id or "/" in entry_id or entry_id in (".", "..") or "\x00" in entry_id:
        raise TrashError(f"not a trash id: {entry_id!r}")
    entry = _read_entry(ws.trash / entry_id)
    if entry is None:
        raise TrashError(f"nothing in the trash with id {entry_id!r} (see the trash list)")
    return entry


def _free_name(target: Path) -> Path:
    stem, suffix = target.stem, target.suffix
    if target.name.startswith(".") and target.suffix == target.name:  # ".env" has no stem/suffix split
        stem, suffix = target.name, ""
    for n in range(1, 10_000):
        label = "restored" if n == 1 else f"restored {n}"
        candidate = target.with_name(f"{stem} ({label}){suffix}")
        if not os.path.lexists(candidate):
            return candidate
    raise TrashError(f"too many restored copies of {target.name}; rename some first")


def restore(ws: Workspace, entry_id: str, *, on_clash: str = "rename") -> Path:
    """Put an entry back where it was (parents re-created). Returns where it landed.

    ``on_clash="rename"`` restores next to an existing item as ``name (restored).ext``;
    ``"error"`` raises ``RestoreClashError`` instead.
    """
    if on_clash not in ("rename", "error"):
        raise ValueError(f"on_clash must be 'rename' or 'error', not {on_clash!r}")
    entry = get_entry(ws, entry_id)
    if not valid_original(entry.original):
        raise TrashError(f"trash entry {entry.id} names no place to restore to: {entry.original!r}")
    slot = ws.trash / entry.id
    # Re-confine: the original folder could now be a symlink pointing out of the workspace.
    ws.resolve(entry.original)
    parent = ws.resolve(PurePosixPath(entry.original).parent.as_posix())
    if _protected(ws, parent / "x") or parent == ws.trash:
        raise TrashError(f"cannot restore into the trash: {entry.original}")
    target = parent / entry.name
    if target == ws.root or ws.root not in target.parents:
        raise TrashError(f"cannot restore outside the workspace: {entry.original!r}")
    from nyx_core.settings import SETTINGS_FILE

    if target == ws.root / SETTINGS_FILE:
        raise TrashError(f"{SETTINGS_FILE} is not restored from the trash; set settings from a shell")
    if os.path.lexists(target):
        if on_clash == "error":
            raise RestoreClashError(
                f"{entry.original} exists again; rename or move it, or restore with rename")
        target = _free_name(target)
    parent.mkdir(parents=True, exist_ok=True)
    source = _payload(ws_slot=slot, entry=entry)
    try:
        os.replace(source, target)
    except OSError:
        shutil.move(str(source), str(target))
    shutil.rmtree(slot, ignore_errors=True)
    return target


def _force_writable(func, path, _exc_info) -> None:  # noqa: ANN001
    # Read-only files/folders (e.g. a git checkout's objects) would otherwise stop rmtree.
    os.chmod(os.path.dirname(path), stat.S_IRWXU)
    if os.path.exists(path) and not os.path.islink(path):
        os.chmod(path, stat.S_IRWXU)
    func(path)


def empty_trash(ws: Workspace, entry_ids: list[str] | None = None) -> int:
    """Delete entries for good (all when ``entry_ids`` is None). Returns how many were removed."""
    if entry_ids is None:
        slots = [Path(de.path) for de in os.scandir(ws.trash) if de.is_dir(follow_symlinks=False)] \
            if ws.trash.is_dir() else []
    else:
        slots = [ws.trash / get_entry(ws, i).id for i in entry_ids]
    removed = 0
    for slot in slots:
        counted = _read_entry(slot) is not None
        # onerror is deprecated from Python 3.12 (onexc replaces it); 3.11 has only onerror
        if sys.version_info >= (3, 12):
            shutil.rmtree(slot, onexc=_force_writable)
        else:
            shutil.rmtree(slot, onerror=_force_writable)
        removed += counted
    return removed
