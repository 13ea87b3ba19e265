"""Bringing images into a dataset: uploaded files, a .zip, or a folder already in the workspace.

Everything is first written into a private staging folder inside the dataset
(``<dataset>/.nyx/ingest-*``; dotted, so sd-scripts never sees it), each image is opened with Pillow
there, and only when the whole batch is staged are the files moved into their concept folders.
An ingest that fails part-way therefore leaves the dataset as it was.

Zips are read entry by entry with bounded chunks (memory stays flat whatever the zip size), and
are refused as a whole, before anything is unpacked, when the central directory shows an entry
that could leave the dataset (``..``, absolute, drive letter, backslash), a symlink entry, or
sizes that look like a compression bomb.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterable

from nyx_core.datasets.layout import (
    IMAGE_EXTS,
    STATE_DIR,
    DatasetError,
    DatasetLayout,
    concept_folder_name,
    is_image,
    parse_concept_folder,
    scan_dataset,
)
from nyx_core.errors import NyxError
from nyx_core.imagefiles import CAPTION_EXTS, normalized_name
from nyx_core.workspace import Workspace

CHUNK = 1 << 20
#: Pillow formats sd-scripts can train on (MPO is the multi-picture JPEG many cameras write).
FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP"}
#: sd-scripts reads a caption's first line; a real one is a few hundred bytes. Captions are
#: streamed to the staging folder (never held in memory) and refused above this size.
MAX_CAPTION_BYTES = 64 * 1024
_CAPTION_TOO_BIG = f"caption file over {MAX_CAPTION_BYTES // 1024} KB"
#: The largest bucket sd-scripts trains is about 4 MP (2048x2048); 40 MP (a 45 MP camera's frame
#: is 8192x5464 = 44.8 MP: downscale it) leaves room for crops while bounding what decoding one
#: image costs (about 160 MB at RGBA).
MAX_PIXELS = 40_000_000

Progress = Callable[[int, int, str], None]


class IngestError(NyxError):
    """The whole ingest was refused (hostile or broken zip, no concept to put images in, ...)."""


class ZipRefused(IngestError):
    """A zip that could write outside the dataset or blow up in size; nothing was unpacked."""


@dataclass(frozen=True)
class IngestLimits:
    max_entries: int = 20_000
    max_total_bytes: int = 20 * 1024**3
    max_entry_bytes: int = 1 * 1024**3
    #: Images barely compress; an entry that inflates over this ratio is a bomb, not a photo.
    max_ratio: float = 200.0
    #: Small entries (captions, tiny PNGs) may compress well; the ratio check starts above this size.
    ratio_floor_bytes: int = 256 * 1024


@dataclass
class IngestReport:
    #: dataset-relative posix paths of the images now in the dataset
    taken: list[str] = field(default_factory=list)
    #: (name in the source, dataset-relative path it got) for names that clashed
    renamed: list[tuple[str, str]] = field(default_factory=list)
    #: (name in the source, why it was not imported)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    captions: int = 0

    def summary(self) -> str:
        return (f"{len(self.taken)} image(s) imported, {self.captions} caption(s), "
                f"{len(self.renamed)} renamed, {len(self.skipped)} skipped")


# -- image check -----------------------------------------------------------------------------------
def check_image(path: Path) -> str | None:
    """None when ``path`` is a complete image sd-scripts can read; else a short reason.

    ``verify()`` catches broken structure (bad chunks, CRCs) without decoding; it leaves the file
    unusable, so it is reopened and decoded with ``load()``, which is what catches truncated pixel
    data. JPEGs decode in draft mode (1/8 scale) to keep memory low; the whole stream is still read.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt = im.format
            if im.width * im.height > MAX_PIXELS:
                return (f"too large ({im.width}×{im.height} pixels, over {MAX_PIXELS // 1_000_000} MP); "
                        "downscale it first")
            im.verify()
        if fmt not in FORMATS:
            return f"{fmt} images are not supported (use jpg, png, webp or bmp)"
        with Image.open(path) as im:
            if fmt in ("JPEG", "MPO"):
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except UnidentifiedImageError:
        return "not an image"
    except Image.DecompressionBombError:
        return "too many pixels (decompression bomb)"
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        return f"corrupt or truncated image ({exc})"
    return None


# -- names -----------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def hostile_reason(name: str) -> str | None:
    """Why an archive member name could land outside the target folder (None when it cannot)."""
    if "\\" in name:
        return "uses a backslash in its path"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "names a drive letter"
    if _CONTROL.search(name):
        return "has control characters in its name"
    if ".." in name.split("/"):
        return "climbs out with '..'"
    return None


def _parts(name: str) -> list[str]:
    return [p for p in name.split("/") if p not in ("", ".")]


def _ignorable(parts: list[str]) -> str | None:
    if any(p == "__MACOSX" for p in parts):
        return "macOS metadata"
    if any(p.startswith(".") for p in parts):
        return "hidden file"
    return None


# -- staging ---------------------------------------------------------------------------------------
@dataclass
class _Staged:
    source: str          # name as the user knows it (zip entry, upload name)
    key: tuple[str, str]  # (source dir, stem) to pair captions with images
    folder: str          # concept folder name in the dataset
    name: str            # wanted file name
    tmp: Path
    renamed: bool = False  # the wanted name already differs from the source's (extension case)


class _Stage:
    """One ingest: files land in a private folder, then move into place together or not at all."""

    def __init__(self, layout: DatasetLayout, concept: str | None, limits: IngestLimits):
        self.layout = layout
        self.limits = limits
        self.default_folder = _default_folder(layout, concept)
        self.by_name = {c.name: c.folder.name for c in layout.concepts}
        clean_stale_staging(layout.root / STATE_DIR)
        # The pid in the name tells a later ingest whether this one is still running.
        self.dir = layout.root / STATE_DIR / f"ingest-{os.getpid()}-{secrets.token_hex(4)}"
        self.dir.mkdir(parents=True)
        self.images: list[_Staged] = []
        self.captions: dict[tuple[str, str], tuple[str, str, Path]] = {}  # key -> (ext, source, staged file)
        self.report = IngestReport()
        self._n = 0

    # where a file from source dir parts goes
    def folder_for(self, dir_parts: list[str]) -> str | None:
        for part in dir_parts:
            parsed = parse_concept_folder(part)
            if parsed:
                # same concept already in the dataset under other repeats: keep the dataset's folder
                return self.by_name.get(parsed[1], part)
        return self.default_folder

    def needs_default(self, dir_parts: list[str]) -> bool:
        return not any(parse_concept_folder(p) for p in dir_parts)

    def add_image(self, source: str, dir_parts: list[str], name: str, reader: BinaryIO, limit: int) -> None:
        folder = self.folder_for(dir_parts)
        if folder is None:
            self.report.skipped.append((source, "no concept chosen for images outside a concept folder"))
            return
        too_long = _too_long(name, folder)
        if too_long:
            # one over-long entry is skipped; it must not fail the whole upload at the final move
            self.report.skipped.append((source, too_long))
            return
        self._n += 1
        tmp = self.dir / f"{self._n:06d}{Path(name).suffix.lower()}"
        written = _copy_capped(reader, tmp, limit)
        if written is None:
            tmp.unlink(missing_ok=True)
            self.report.skipped.append((source, "larger than the size limit"))
            return
        why = check_image(tmp)
        if why:
            tmp.unlink(missing_ok=True)
            self.report.skipped.append((source, why))
            return
        # the extension as sd-scripts finds it: b.Png would be imported but never trained
        self.images.append(_Staged(source, ("/".join(dir_parts), Path(name).stem), folder, normalized_name(name), tmp,
                                   renamed=normalized_name(name) != name))

    def add_caption(self, source: str, dir_parts: list[str], name: str, reader: BinaryIO) -> None:
        """Stream a caption into the staging folder (a zip of 4,000 captions never sits in memory)."""
        key = ("/".join(dir_parts), Path(name).stem)
        ext = Path(name).suffix.lower()
        if _too_long(name):
            self.report.skipped.append((source, _too_long(name)))
            return
        self._n += 1
        tmp = self.dir / f"{self._n:06d}.cap"
        if _copy_capped(reader, tmp, MAX_CAPTION_BYTES) is None:
            tmp.unlink(missing_ok=True)
            self.report.skipped.append((source, _CAPTION_TOO_BIG))
            return
        have = self.captions.get(key)
        # both a.txt and a.caption: the one matching the dataset's extension wins
        if have is not None:
            if have[0] == self.layout.caption_ext:
                tmp.unlink(missing_ok=True)
                self.report.skipped.append((source, f"{Path(have[1]).name} is used as the caption instead"))
                return
            have[2].unlink(missing_ok=True)
            self.report.skipped.append((have[1], f"{name} is used as the caption instead"))
        self.captions[key] = (ext, source, tmp)

    def commit(self, progress: Progress | None = None) -> IngestReport:
        report = self.report
        used: dict[str, set[str]] = {}
        moves: list[tuple[Path, Path]] = []
        created: list[Path] = []
        try:
            for item in self.images:
                target_dir = self.layout.root / item.folder
                if item.folder not in used:
                    if not target_dir.exists():
                        target_dir.mkdir()
                        created.append(target_dir)
                    used[item.folder] = {p.stem.casefold() for p in target_dir.iterdir()}
                while True:
                    final = _free_name(item.name, used[item.folder])
                    used[item.folder].add(Path(final).stem.casefold())
                    dest = target_dir / final
                    try:
                        _move_no_clobber(item.tmp, dest)
                        break
                    except FileExistsError:
                        continue  # appeared since we listed the folder (another ingest): next name
                moves.append((dest, item.tmp))
                rel = dest.relative_to(self.layout.root).as_posix()
                report.taken.append(rel)
                if final != item.name or item.renamed:
                    report.renamed.append((item.source, rel))
                cap = self.captions.pop(item.key, None)
                if cap is not None:
                    cap_dest = dest.with_name(Path(final).stem + self.layout.caption_ext)
                    cap_tmp = cap[2]
                    try:
                        _move_no_clobber(cap_tmp, cap_dest)
                    except FileExistsError:
                        report.skipped.append((cap[1], f"{cap_dest.name} appeared meanwhile; not overwritten"))
                        continue
                    moves.append((cap_dest, cap_tmp))
                    report.captions += 1
        except BaseException:
            for dest, tmp in reversed(moves):  # put the dataset back as it was
                try:
                    os.replace(dest, tmp)
                except OSError:
                    pass
            for folder in reversed(created):
                try:
                    folder.rmdir()
                except OSError:
                    pass
            raise
        for _ext, source, _data in self.captions.values():
            report.skipped.append((source, "caption without a matching image"))
        n = len(report.taken)
        if progress:
            progress(n, n, "done")
        return report

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self.dir.parent.rmdir()  # .nyx, only when empty
        except OSError:
            pass


_STAGING = re.compile(r"^ingest-(?:(\d+)-)?[0-9a-f]+$")
#: A staging folder of a live process is never this old; an unnamed (older Nyx) one after this is stale.
STALE_AFTER_S = 6 * 3600


def clean_stale_staging(state_dir: Path) -> list[str]:
    """Remove ``ingest-*`` staging folders a killed import left behind (its process is gone, or
    it is older than ``STALE_AFTER_S``). Returns the names removed."""
    import time

    removed: list[str] = []
    try:
        entries = list(os.scandir(state_dir))
    except OSError:
        return removed
    now = time.time()
    for de in entries:
        m = _STAGING.match(de.name)
        if not m or not de.is_dir(follow_symlinks=False):
            continue
        pid = int(m.group(1)) if m.group(1) else None
        try:
            old = now - de.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if old or (pid is not None and pid != os.getpid() and not _alive(pid)):
            shutil.rmtree(de.path, ignore_errors=True)
            removed.append(de.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _too_long(*names: str) -> str | None:
    """Why a file or folder name cannot exist on disk (255 bytes per name), or None."""
    for name in names:
        # room for a clash suffix (a_12.png) and the caption extension
        if len(name.encode("utf-8", "surrogateescape")) > 240:
            return "name longer than 240 bytes; rename it"
    return None


def _move_no_clobber(src: Path, dest: Path) -> None:
    """Move ``src`` to ``dest`` unless ``dest`` exists (FileExistsError), atomically: a hard link
    fails when the name is taken, where a rename would silently replace it. Filesystems without
    hard links fall back to check-then-rename."""
    try:
        os.link(src, dest)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(dest):
            raise FileExistsError(dest) from None
        os.replace(src, dest)
        return
    os.unlink(src)


def _default_folder(layout: DatasetLayout, concept: str | None) -> str | None:
    if concept:
        return layout.concept(concept).folder.name
    if len(layout.concepts) == 1:
        return layout.concepts[0].folder.name
    return None


def _free_name(name: str, used_stems: set[str]) -> str:
    """``a.png`` -> ``a_1.png`` … until the stem is unused (stems, because captions pair by stem)."""
    stem, suffix = Path(name).stem, Path(name).suffix
    if stem.casefold() not in used_stems:
        return name
    i = 1
    while f"{stem}_{i}".casefold() in used_stems:
        i += 1
    return f"{stem}_{i}{suffix}"


def _copy_capped(reader: BinaryIO, dest: Path, limit: int) -> int | None:
    """Stream ``reader`` into ``dest`` in 1 MiB chunks; None (and stop) once over ``limit`` bytes."""
    total = 0
    with open(dest, "wb") as out:
        while True:
            chunk = reader.read(CHUNK)
            if not chunk:
                return total
            total += len(chunk)
            if total > limit:
                return None
            out.write(chunk)


def _kind(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in IMAGE_EXTS:
        return "image"
    if suffix in CAPTION_EXTS:
        return "caption"
    if suffix == ".zip":
        return "zip"
    return "other"


# -- zips ------------------------------------------------------------------------------------------
def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def inspect_zip(zf: zipfile.ZipFile, limits: IngestLimits, free_bytes: int | None = None) -> list[zipfile.ZipInfo]:
    """Check the whole central directory before unpacking anything. Raises ZipRefused."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise ZipRefused(f"the zip has {len(infos)} entries (limit {limits.max_entries}); split it")
    total = 0
    for info in infos:
        why = hostile_reason(info.filename)
        if why:
            raise ZipRefused(f"the zip entry {info.filename!r} {why}; refusing the whole zip")
        if _is_symlink(info):
            raise ZipRefused(f"the zip entry {info.filename!r} is a symbolic link; refusing the whole zip")
        if info.is_dir():
            continue
        if info.file_size > limits.max_entry_bytes:
            raise ZipRefused(f"the zip entry {info.filename!r} unpacks to {info.file_size} bytes, over the limit")
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ZipRefused(f"the zip entry {info.filename!r} inflates {ratio:.0f}:1 (a zip bomb?); refusing the zip")
        total += info.file_size
    if total > limits.max_total_bytes:
        raise ZipRefused(f"the zip unpacks to {total} bytes, over the {limits.max_total_bytes}-byte limit")
    if free_bytes is not None and total > free_bytes:
        raise ZipRefused(f"the zip unpacks to {total} bytes but only {free_bytes} are free on disk")
    return infos


def _stage_zip(stage: _Stage, source: str | os.PathLike | BinaryIO, label: str, progress: Progress | None) -> None:
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ZipRefused(f"{label} is not a readable zip ({exc})") from exc
    with zf:
        infos = inspect_zip(zf, stage.limits, shutil.disk_usage(stage.dir).free)
        files = [i for i in infos if not i.is_dir()]
        # decide before unpacking anything whether loose images have a concept to go to
        if stage.default_folder is None:
            for info in files:
                parts = _parts(info.filename)
                if _kind(info.filename) == "image" and not _ignorable(parts) and stage.needs_default(parts[:-1]):
                    raise IngestError(f"{label} has images outside a '<repeats>_<concept>' folder "
                                      f"(e.g. {info.filename!r}); choose the concept they go to")
        for n, info in enumerate(files, 1):
            parts = _parts(info.filename)
            shown = f"{label}:{info.filename}"
            if progress:
                progress(n - 1, len(files), info.filename)
            if not parts:
                continue
            skip = _ignorable(parts)
            kind = _kind(info.filename)
            if skip:
                stage.report.skipped.append((shown, skip))
            elif info.flag_bits & 0x1:
                stage.report.skipped.append((shown, "encrypted"))
            elif kind == "image":
                try:
                    with zf.open(info) as fh:
                        stage.add_image(shown, parts[:-1], parts[-1], fh, stage.limits.max_entry_bytes)
                except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError) as exc:
                    stage.report.skipped.append((shown, f"unreadable zip entry ({exc})"))
            elif kind == "caption":
                if info.file_size > MAX_CAPTION_BYTES:
                    stage.report.skipped.append((shown, _CAPTION_TOO_BIG))  # not even read
                    continue
                try:
                    with zf.open(info) as fh:
                        stage.add_caption(shown, parts[:-1], parts[-1], fh)
                except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError) as exc:
                    stage.report.skipped.append((shown, f"unreadable zip entry ({exc})"))
            elif kind == "zip":
                stage.report.skipped.append((shown, "zips inside a zip are not unpacked"))
            else:
                stage.report.skipped.append((shown, "not an image (jpg, jpeg, png, webp, bmp) or caption"))


# -- public entry points ---------------------------------------------------------------------------
def _run(ws: Workspace, name: str, concept: str | None, limits: IngestLimits,
         fill: Callable[[_Stage], None], progress: Progress | None) -> IngestReport:
    layout = scan_dataset(ws, name)
    stage = _Stage(layout, concept, limits)
    try:
        fill(stage)
        return stage.commit(progress)
    finally:
        stage.close()


def ingest_zip(ws: Workspace, name: str, zip_file: str | os.PathLike | BinaryIO, *, concept: str | None = None,
               progress: Progress | None = None, limits: IngestLimits = IngestLimits()) -> IngestReport:
    """Unpack a zip into dataset ``name``. Concept folders in the zip (``10_cat/…``, at any depth)
    map to concepts (created when new); other images go to ``concept``. Captions (.txt/.caption with
    the image's stem, same folder) come along, renamed to the dataset's caption extension."""
    if hasattr(zip_file, "read"):
        label = str(getattr(zip_file, "name", None) or "upload.zip")
    else:
        label = os.fspath(zip_file)
    label = PurePosixPath(str(label).replace("\\", "/")).name or "upload.zip"
    return _run(ws, name, concept, limits, lambda st: _stage_zip(st, zip_file, label, progress), progress)


def ingest_files(ws: Workspace, name: str, files: Iterable[tuple[str, BinaryIO | bytes | os.PathLike]], *,
                 concept: str | None = None, progress: Progress | None = None,
                 limits: IngestLimits = IngestLimits()) -> IngestReport:
    """Import uploaded files: images, captions, and zips, in any mix. ``files`` holds (file name,
    readable binary file / bytes / local path). A refused zip is reported as skipped; the other
    files are still imported."""
    files = list(files)

    def fill(stage: _Stage) -> None:
        total = len(files)
        for n, (raw_name, obj) in enumerate(files):
            fname = PurePosixPath(str(raw_name).replace("\\", "/")).name
            if progress:
                progress(n, total, fname)
            kind = _kind(fname)
            if not fname or fname.startswith("."):
                stage.report.skipped.append((str(raw_name), "hidden or empty file name"))
                continue
            if kind == "other":
                stage.report.skipped.append((fname, "not an image (jpg, jpeg, png, webp, bmp), caption or zip"))
                continue
            if kind == "image" and stage.default_folder is None:
                if not stage.layout.concepts:
                    raise IngestError(f"dataset {stage.layout.name!r} has no concept folder yet; add a concept first")
                raise IngestError("choose the concept the uploaded images go to")
            with _open(obj) as fh:
                if kind == "image":
                    stage.add_image(fname, [], fname, fh, limits.max_entry_bytes)
                elif kind == "caption":
                    stage.add_caption(fname, [], fname, fh)
                else:
                    try:
                        _stage_zip(stage, fh, fname, progress)
                    except IngestError as exc:
                        stage.report.skipped.append((fname, str(exc)))

    return _run(ws, name, concept, limits, fill, progress)


def ingest_folder(ws: Workspace, name: str, folder: str | os.PathLike, *, concept: str | None = None,
                  progress: Progress | None = None, limits: IngestLimits = IngestLimits()) -> IngestReport:
    """Copy images (and captions) from a workspace folder into dataset ``name``; the source stays.
    Subfolders named ``<repeats>_<concept>`` map to concepts. Symlinks are skipped."""
    src = ws.resolve(folder, must_exist=True)
    if not src.is_dir():
        raise IngestError(f"{folder} is not a folder")
    target = scan_dataset(ws, name).root
    if src == target or target in src.parents or src in target.parents:
        raise IngestError("the folder to import overlaps the dataset itself; pick a folder outside it")
    entries: list[tuple[Path, list[str]]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        rel = Path(dirpath).relative_to(src).parts
        for fn in sorted(filenames):
            entries.append((Path(dirpath) / fn, list(rel)))

    def fill(stage: _Stage) -> None:
        if stage.default_folder is None:
            for path, rel in entries:
                if _kind(path.name) == "image" and stage.needs_default(rel):
                    raise IngestError(f"{path.relative_to(ws.root).as_posix()} is outside a '<repeats>_<concept>' folder; "
                                      "choose the concept it goes to")
        for n, (path, rel) in enumerate(entries):
            shown = path.relative_to(ws.root).as_posix()
            if progress:
                progress(n, len(entries), path.name)
            kind = _kind(path.name)
            if path.name.startswith("."):
                stage.report.skipped.append((shown, "hidden file"))
            elif path.is_symlink():
                stage.report.skipped.append((shown, "symbolic link"))
            elif kind == "image":
                with open(path, "rb") as fh:
                    stage.add_image(shown, rel, path.name, fh, limits.max_entry_bytes)
            elif kind == "caption":
                with open(path, "rb") as fh:
                    stage.add_caption(shown, rel, path.name, fh)
            else:
                stage.report.skipped.append((shown, "not an image (jpg, jpeg, png, webp, bmp) or caption"))

    return _run(ws, name, concept, limits, fill, progress)


def ingest_path(ws: Workspace, name: str, path: str | os.PathLike, **kwargs) -> IngestReport:  # noqa: ANN003
    """A workspace path to a .zip or a folder (what ``nyx dataset import`` takes)."""
    real = ws.resolve(path, must_exist=True)
    if real.is_dir():
        return ingest_folder(ws, name, real, **kwargs)
    if real.suffix.lower() == ".zip" or zipfile.is_zipfile(real):
        return ingest_zip(ws, name, real, **kwargs)
    if is_image(real):
        return ingest_files(ws, name, [(real.name, real)], **kwargs)
    raise IngestError(f"{path} is not a .zip, a folder or an image")


class _open:
    """Context manager giving a binary reader for bytes / a path / an already-open file (left open)."""

    def __init__(self, obj: BinaryIO | bytes | os.PathLike):
        self.obj = obj
        self.fh: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        import io

        if isinstance(self.obj, (bytes, bytearray)):
            return io.BytesIO(self.obj)
        if isinstance(self.obj, (str, os.PathLike)):
            self.fh = open(self.obj, "rb")
            return self.fh
        if hasattr(self.obj, "seek"):
            try:
                self.obj.seek(0)
            except (OSError, ValueError):
                pass
        return self.obj  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


__all__ = [
    "IngestError", "IngestLimits", "IngestReport", "ZipRefused", "check_image", "concept_folder_name",
    "hostile_reason", "ingest_files", "ingest_folder", "ingest_path", "ingest_zip", "inspect_zip", "DatasetError",
]
