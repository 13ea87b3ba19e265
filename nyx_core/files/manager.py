"""The file manager: every operation the Files page, the CLI and notebooks do on workspace files.

Every user path goes through ``Workspace.resolve`` first. Operations that act on an *entry*
(rename, move, delete) act on the entry itself — a symlink is renamed, not its target — so the
parent is resolved and the last name joined back. The workspace root, the top-level layout
folders and the trash are never renamed, moved or deleted from here. Renaming, moving or copying
an image takes its companions along (caption, sd-scripts' .npz caches: ``nyx_core.imagefiles``),
so an image never silently loses its caption.
"""
from __future__ import annotations

import fnmatch
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from nyx_core import trash
from nyx_core.errors import PathError
from nyx_core.files.errors import ClashError, FileOpError
from nyx_core.files.kinds import kind_of
from nyx_core.files.textfiles import read_text_file, validate_text
from nyx_core.files.zipstream import CHUNK, iter_zip
from nyx_core.fsutil import atomic_output, atomic_write_text
from nyx_core.names import shown, unshown
from nyx_core.settings import SETTINGS_FILE
from nyx_core.imagefiles import CAPTION_EXTS, companions, is_image_name, renamed_companion
from nyx_core.workspace import LAYOUT, Workspace

ON_CLASH = ("ask", "keep_both", "replace", "skip")
SORT_KEYS = ("name", "size", "mtime", "kind")
_BAD_NAME_CHARS = set("/\\\x00") | {chr(c) for c in range(32)} | {"\x7f"}


@dataclass(frozen=True)
class FileEntry:
    name: str
    path: str  # workspace-relative posix ('' never: the root is not an entry)
    is_dir: bool
    kind: str  # folder | image | text | config | model | archive | other
    size: int  # bytes; 0 for folders (sizing a tree would make listing slow)
    mtime: float

    @property
    def folder(self) -> str:
        """The workspace-relative folder that holds this entry ('' for the root)."""
        parent = PurePosixPath(self.path).parent.as_posix()
        return "" if parent == "." else parent


@dataclass(frozen=True)
class SearchResult:
    hits: list[FileEntry]
    truncated: bool  # True when more matched than the limit
    scanned: int  # how many names were looked at


def check_name(name: str) -> str:
    """A single file/folder name: no separators, no control characters, not '.'/'..'."""
    if not isinstance(name, str) or not name.strip():
        raise FileOpError("a name cannot be empty")
    if name in (".", ".."):
        raise FileOpError(f"{name!r} is not a usable name")
    bad = sorted(set(name) & _BAD_NAME_CHARS)
    if bad:
        shown = "'/'" if "/" in bad else "'\\'" if "\\" in bad else "control characters"
        raise FileOpError(f"a name cannot contain {shown}: {name!r}")
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        raise FileOpError("a name can be at most 255 bytes long")
    return name


def free_name(target: Path, label: str = "", taken=os.path.lexists) -> Path:  # noqa: ANN001
    """``name (1).ext``, ``name (2).ext``, … — the first that is not ``taken`` (does not exist)."""
    stem, suffix = target.stem, target.suffix
    if target.name.startswith(".") and suffix == target.name:
        stem, suffix = target.name, ""
    for n in range(1, 100_000):
        tag = (label if n == 1 else f"{label} {n}") if label else str(n)
        candidate = target.with_name(f"{stem} ({tag}){suffix}")
        if not taken(candidate):
            return candidate
    raise FileOpError(f"too many copies of {target.name}")  # pragma: no cover


class FileManager:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._protected = {ws.root / name for name in LAYOUT.values()}
        # Nyx's own settings (secrets, which programs run): never shown, read, written or zipped here.
        self._private = {ws.root / SETTINGS_FILE}

    def _refuse_private(self, path: Path) -> None:
        """Refuse ``settings.toml`` by its own name, or through a link to it."""
        path = Path(path)
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            real = path
        if path.parent.resolve() / path.name in self._private or real in self._private:
            raise FileOpError(f"{SETTINGS_FILE} holds Nyx's settings and secrets; "
                              "change them on the Settings page or from a shell")

    # Paths -------------------------------------------------------------------------------
    def folder(self, user_path: str | os.PathLike[str] = "") -> Path:
        """A confined path that must be an existing folder."""
        path = self.ws.resolve(user_path, must_exist=True)
        if not path.is_dir():
            raise FileOpError(f"not a folder: {self.rel(path)}")
        return path

    def entry(self, user_path: str | os.PathLike[str]) -> Path:
        """A confined path to an existing entry, the entry itself (a symlink is not followed)."""
        try:
            self.ws.resolve(user_path)  # validates the whole text and confines any link
            loop = None
        except PathError as exc:
            loop = exc  # a link in a loop may still be renamed or deleted itself (nothing is followed)
        text = unshown(os.fspath(user_path))
        pure = PurePosixPath(text)
        parent = self.ws.resolve(pure.parent.as_posix() if pure.name else text)
        path = parent / pure.name if pure.name else parent
        if loop is not None and not (path.is_symlink() and "loop" in str(loop)):
            raise loop
        if not os.path.lexists(path):
            raise FileOpError(f"no such file or folder: {shown(text) or '/'}")
        self._refuse_private(path)
        return path

    def rel(self, path: Path) -> str:
        path = Path(path)
        return (path.parent.resolve() / path.name).relative_to(self.ws.root).as_posix() \
            if path != self.ws.root else ""

    def _guard(self, path: Path, action: str) -> None:
        if path == self.ws.root:
            raise FileOpError(f"the workspace root cannot be {action}")
        t = self.ws.trash
        if path == t or t in path.parents:
            raise FileOpError("the trash is managed with restore / empty trash, not file operations")
        if path in self._protected:
            raise FileOpError(f"{path.name}/ is part of the workspace layout and cannot be {action}")

    def _to_entry(self, path: Path, rel: str, is_dir: bool | None = None) -> FileEntry:
        try:
            st = path.stat()
        except OSError:
            st = path.lstat()  # a dangling symlink: still listed so it can be deleted
        if is_dir is None:
            is_dir = os.path.isdir(path)
        return FileEntry(name=shown(path.name), path=shown(rel), is_dir=is_dir, kind=kind_of(path.name, is_dir),
                         size=0 if is_dir else st.st_size, mtime=st.st_mtime)

    def info(self, user_path: str) -> FileEntry:
        path = self.entry(user_path)
        return self._to_entry(path, self.rel(path))

    # Browse ------------------------------------------------------------------------------
    def list_dir(self, user_path: str = "", sort_by: str = "name", descending: bool = False,
                 *, include_internal: bool = False) -> list[FileEntry]:
        """Entries of a folder, folders first. The trash and the cache are hidden at the root."""
        if sort_by not in SORT_KEYS:
            raise FileOpError(f"sort by one of {', '.join(SORT_KEYS)}, not {sort_by!r}")
        folder = self.folder(user_path)
        prefix = self.rel(folder)
        prefix = prefix + "/" if prefix else ""
        hidden = set() if folder != self.ws.root else \
            {SETTINGS_FILE} | (set() if include_internal else {LAYOUT["trash"], LAYOUT["cache"]})
        entries: list[FileEntry] = []
        with os.scandir(folder) as it:
            for de in it:
                if de.name in hidden:
                    continue
                try:
                    is_dir = de.is_dir()
                    st = de.stat()
                except OSError:
                    is_dir, st = False, de.stat(follow_symlinks=False)
                entries.append(FileEntry(shown(de.name), shown(prefix + de.name), is_dir, kind_of(de.name, is_dir),
                                         0 if is_dir else st.st_size, st.st_mtime))
        key = {
            "name": lambda e: e.name.casefold(),
            "size": lambda e: (e.size, e.name.casefold()),
            "mtime": lambda e: (e.mtime, e.name.casefold()),
            "kind": lambda e: (e.kind, e.name.casefold()),
        }[sort_by]
        entries.sort(key=key, reverse=descending)
        # Folders stay on top whichever way the table is sorted.
        entries.sort(key=lambda e: not e.is_dir)
        return entries

    def subfolders(self, user_path: str = "") -> list[str]:
        """Workspace-relative paths of the folders directly inside one (for a lazy folder tree)."""
        return [e.path for e in self.list_dir(user_path) if e.is_dir]

    def search(self, query: str, root: str = "", limit: int = 500) -> SearchResult:
        """Recursive search by name under ``root``: a case-insensitive substring, or a glob
        when the query has ``*``, ``?`` or ``[``. Skips the trash and the cache; never follows
        symlinked folders (no loops, no escapes)."""
        query = (query or "").strip()
        if not query:
            return SearchResult([], False, 0)
        start = self.folder(root)
        needle = query.casefold()
        if any(c in needle for c in "*?["):
            pattern = fnmatch.translate(needle)
            import re

            rx = re.compile(pattern)
            match = lambda n: rx.match(n) is not None  # noqa: E731
        else:
            match = lambda n: needle in n  # noqa: E731
        skip = {str(self.ws.trash), str(self.ws.cache)}
        root_prefix = self.rel(start)
        hits: list[FileEntry] = []
        scanned = 0
        stack = [(str(start), root_prefix)]
        while stack:
            dirpath, relpath = stack.pop()
            try:
                it = os.scandir(dirpath)
            except OSError:
                continue
            subdirs = []
            with it:
                for de in it:
                    scanned += 1
                    try:
                        real_dir = de.is_dir(follow_symlinks=False)
                    except OSError:
                        real_dir = False
                    rel = f"{relpath}/{de.name}" if relpath else de.name
                    if real_dir:
                        if de.path in skip:
                            continue
                        subdirs.append((de.path, rel))
                    if match(de.name.casefold()) and Path(de.path) not in self._private:
                        if len(hits) >= limit:
                            return SearchResult(_sorted_hits(hits), True, scanned)
                        hits.append(self._to_entry(Path(de.path), rel, real_dir or None))
            subdirs.sort(reverse=True)
            stack.extend(subdirs)
        return SearchResult(_sorted_hits(hits), False, scanned)

    # Change ------------------------------------------------------------------------------
    def mkdir(self, parent: str, name: str) -> Path:
        folder = self.folder(parent)
        target = folder / check_name(name)
        self._refuse_private(target)
        if os.path.lexists(target):
            raise ClashError(f"{name} already exists in {self.rel(folder) or 'the workspace root'}",
                             name=name, folder=self.rel(folder))
        target.mkdir()
        return target

    def companions(self, path: Path) -> list[Path]:
        """The files that travel with ``path`` when it is an image: its captions (``.txt``,
        ``.caption`` and a dataset's own caption extension) and its sd-scripts cache files."""
        if not is_image_name(path.name) or path.is_symlink() or not path.is_file():
            return []
        exts = list(CAPTION_EXTS)
        root = self.ws.datasets
        if root in path.parents and path.parent.parent.parent == root:  # datasets/<name>/<concept>/<image>
            from nyx_core.datasets.layout import DatasetError, load_settings

            try:
                exts.append(load_settings(path.parent.parent).caption_ext)
            except DatasetError:
                pass
        return companions(path, tuple(exts))

    def _clash(self, target: Path, moving: set[Path]) -> bool:
        return os.path.lexists(target) and target not in moving

    def rename(self, user_path: str, new_name: str) -> Path:
        path = self.entry(user_path)
        self._guard(path, "renamed")
        check_name(new_name)
        target = path.parent / new_name
        self._refuse_private(target)
        if target == path:
            return path
        # A case-only rename on a case-insensitive disk "exists" already: that's the same file.
        if os.path.lexists(target) and not _same_file(path, target):
            raise ClashError(f"{new_name} already exists here; pick another name",
                             name=new_name, folder=self.rel(path.parent))
        stem = Path(new_name).stem
        group = [(c, renamed_companion(c, path.stem, stem)) for c in self.companions(path)]
        group = [(c, t) for c, t in group if c != t]
        moving = {c for c, _ in group}
        for _c, t in group:  # check all before renaming any
            if self._clash(t, moving):
                raise ClashError(f"{t.name} (the renamed {path.name}'s caption or cache) already exists here; "
                                 "pick another name", name=t.name, folder=self.rel(path.parent))
        os.rename(path, target)
        for c, t in group:
            os.rename(c, t)
        return target

    def move(self, user_paths: list[str], dest_dir: str, on_clash: str = "ask") -> list[Path]:
        return self._transfer(user_paths, dest_dir, on_clash, copy=False)

    def copy(self, user_paths: list[str], dest_dir: str, on_clash: str = "ask") -> list[Path]:
        return self._transfer(user_paths, dest_dir, on_clash, copy=True)

    def _transfer(self, user_paths: list[str], dest_dir: str, on_clash: str, *, copy: bool) -> list[Path]:
        _check_on_clash(on_clash)
        dest = self.folder(dest_dir)
        if dest == self.ws.trash or self.ws.trash in dest.parents:
            raise FileOpError("move items to the trash with delete, not move/copy")
        sources = [self.entry(p) for p in user_paths]
        verb = "copied" if copy else "moved"
        for src in sources:
            self._refuse_private(dest / src.name)
            # Copying a layout folder (e.g. all of configs/) is fine; moving it is not.
            if not copy or src == self.ws.root or src == self.ws.trash or self.ws.trash in src.parents:
                self._guard(src, verb)
            try:
                real = src.resolve()
            except (OSError, RuntimeError):  # a link in a loop: copied or moved as the link itself
                real = src
            if src.is_dir() and not src.is_symlink() and (dest == real or real in dest.parents):
                raise FileOpError(f"cannot put {src.name} inside itself")
        chosen = set(sources)
        # an image's companions travel with it (unless they were picked themselves)
        extra = {src: [c for c in self.companions(src) if c not in chosen] for src in sources}
        # Check every clash first so "ask" changes nothing when any name is taken.
        if on_clash == "ask":
            for src in sources:
                for item in [src] + extra[src]:
                    target = dest / item.name
                    if os.path.lexists(target) and target != item:
                        raise ClashError(f"{item.name} already exists in {self.rel(dest) or 'the workspace root'}",
                                         name=item.name, folder=self.rel(dest))
        done = []
        for src in sources:
            target = dest / src.name
            if not copy and target == src:
                done.append(src)
                continue
            comps = extra[src]

            def taken(t: Path) -> bool:  # the image's name or one of its companions' is in use
                return os.path.lexists(t) or any(
                    os.path.lexists(renamed_companion(c, src.stem, t.stem, dest)) for c in comps)

            if taken(target):
                if on_clash == "skip":
                    continue
                if on_clash == "keep_both" or (copy and target == src):
                    target = free_name(target, "copy" if copy else "", taken=taken)
                elif not os.path.lexists(target):
                    pass  # replace: only companions clash; handled below
                elif target in src.parents:
                    raise FileOpError(f"cannot replace {target.name}: it contains {src.name}")
                else:  # replace: the old one goes to the trash, not away
                    trash.move_to_trash(self.ws, target)
            pairs = [(src, target)] + [(c, renamed_companion(c, src.stem, target.stem, dest)) for c in comps]
            for item, to in pairs:
                if item is not src and os.path.lexists(to) and to != item:
                    if on_clash == "skip":
                        continue
                    trash.move_to_trash(self.ws, to)  # replace: restorable from the trash
                if copy:
                    if item.is_dir() and not item.is_symlink():
                        shutil.copytree(item, to, symlinks=True)
                    else:
                        shutil.copy2(item, to, follow_symlinks=False)
                else:
                    shutil.move(str(item), str(to))
            done.append(target)
        return done

    def delete(self, user_paths: list[str]) -> list[trash.TrashEntry]:
        """Move entries to the trash (restorable). Checks all before moving any."""
        paths = [self.entry(p) for p in user_paths]
        for p in paths:
            self._guard(p, "deleted")
        return [trash.move_to_trash(self.ws, p) for p in paths]

    # Upload / download -------------------------------------------------------------------
    def save_upload(self, dest_dir: str, name: str, fileobj: BinaryIO, on_clash: str = "ask",
                    chunk: int = CHUNK) -> Path | None:
        """Stream ``fileobj`` into ``dest_dir/name`` in chunks (never whole in memory).

        Returns where it was written, or None when skipped. The data lands in a temp file in the
        same folder and is renamed into place at the end, so a broken upload leaves nothing.
        """
        _check_on_clash(on_clash)
        folder = self.folder(dest_dir)
        if folder == self.ws.trash or self.ws.trash in folder.parents:
            raise FileOpError("cannot upload into the trash")
        # Browsers send a bare name, but some tools send a path: keep only the last part.
        name = check_name(PurePosixPath(name.replace("\\", "/")).name or name)
        target = folder / name
        self._refuse_private(target)
        if os.path.lexists(target):
            if on_clash == "ask":
                raise ClashError(f"{name} already exists in {self.rel(folder) or 'the workspace root'}",
                                 name=name, folder=self.rel(folder))
            if on_clash == "skip":
                return None
            if on_clash == "keep_both":
                target = free_name(target)
        try:
            fileobj.seek(0)
        except (AttributeError, OSError, ValueError):
            pass
        def keep_old_restorable() -> None:
            if os.path.lexists(target):
                trash.move_to_trash(self.ws, target)

        def check_image(tmp: Path) -> None:
            # The same check as a dataset import: a bomb or a broken image is never kept.
            from nyx_core.datasets.ingest import check_image as why_not

            why = why_not(tmp)
            if why and "not supported" not in why:  # a GIF may live in Files; it just won't train
                raise FileOpError(f"{name}: {why}; not uploaded")

        with atomic_output(target, mode=0o644, fsync=False, before_replace=keep_old_restorable,
                           check=check_image if kind_of(name, False) == "image" else None) as out:
            while block := fileobj.read(chunk):
                out.write(block)
        return target

    def open_file(self, user_path: str) -> Path:
        """A confined file to download (not a folder)."""
        path = self.ws.resolve(user_path, must_exist=True)
        self._refuse_private(path)
        if path.is_dir():
            raise FileOpError(f"{path.name} is a folder; download it as a zip")
        return path

    def iter_zip(self, user_path: str, chunk: int = CHUNK) -> Iterator[bytes]:
        """A folder as a zip, generated in chunks. Links leading out of the workspace are left out."""
        folder = self.folder(user_path)
        if folder == self.ws.trash:
            raise FileOpError("the trash cannot be downloaded")
        return iter_zip(folder, allow=self._inside, chunk=chunk,
                        exclude=self._private | {self.ws.trash, self.ws.cache})

    def zip_to_file(self, user_path: str) -> Path:
        """Write a folder's zip into ``ws.cache/downloads`` chunk by chunk; returns the file."""
        folder = self.folder(user_path)
        out_dir = self.ws.cache / "downloads"
        out_dir.mkdir(parents=True, exist_ok=True)
        # a unique name: two sessions zipping folders of the same name must not share one file
        final = out_dir / f"{folder.name or 'workspace'}-{secrets.token_hex(6)}.zip"
        with atomic_output(final, fsync=False) as out:
            for block in self.iter_zip(user_path):
                out.write(block)
        return final

    def _inside(self, path: Path) -> bool:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
            return False
        return real == self.ws.root or self.ws.root in real.parents

    # Text --------------------------------------------------------------------------------
    def read_text(self, user_path: str) -> str:
        """The text of a file for the editor; refuses binaries and files over 2 MB."""
        path = self.ws.resolve(user_path, must_exist=True)
        self._refuse_private(path)
        if path.is_dir():
            raise FileOpError(f"{path.name} is a folder")
        return read_text_file(path)

    def save_text(self, user_path: str, text: str) -> Path:
        """Validate (.toml/.json/.yaml, naming the line) then write atomically. Invalid = not saved."""
        path = self.ws.resolve(user_path)
        self._refuse_private(path)
        if path.is_dir():
            raise FileOpError(f"{path.name} is a folder")
        if not path.parent.is_dir():
            raise FileOpError(f"no such folder: {self.rel(path.parent) or '/'}")
        if self.ws.trash in path.parents:
            raise FileOpError("files in the trash cannot be edited; restore them first")
        validate_text(path.name, text)
        atomic_write_text(path, text)
        return path


def _sorted_hits(hits: list[FileEntry]) -> list[FileEntry]:
    return sorted(hits, key=lambda e: (e.folder.casefold(), e.name.casefold()))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_on_clash(on_clash: str) -> None:
    if on_clash not in ON_CLASH:
        raise ValueError(f"on_clash must be one of {ON_CLASH}, not {on_clash!r}")
