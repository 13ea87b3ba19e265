"""Image thumbnails, cached on disk under ``ws.cache/thumbs``.

The cache key is the image's path, mtime_ns, byte size and the thumbnail size, so an edited or
replaced image gets a fresh thumbnail without any invalidation step, and stale ones are merely
unused files (``clear_thumbnails`` drops them all).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from nyx_core.errors import NyxError
from nyx_core.fsutil import atomic_write_bytes
from nyx_core.workspace import Workspace

THUMB_DIR = "thumbs"
# Decoding a giant image to make a small preview costs its full size in memory (except JPEG,
# decoded at 1/8 scale); above what a dataset may hold (ingest's cap) a tile shows no preview.
from nyx_core.datasets.ingest import MAX_PIXELS  # noqa: E402


class ThumbnailError(NyxError):
    """The file could not be read as an image."""


def _cache_path(ws: Workspace, image: Path, size: int, st: os.stat_result, square: bool = False) -> Path:
    key = f"{image}\x00{st.st_mtime_ns}\x00{st.st_size}\x00{size}{'sq' if square else ''}".encode(
        "utf-8", "surrogateescape")
    digest = hashlib.sha256(key).hexdigest()[:32]
    return ws.cache / THUMB_DIR / digest[:2] / f"{digest}.jpg"


def thumbnail(ws: Workspace, image: Path, size: int = 256, *, square: bool = False) -> Path:
    """A JPEG no larger than ``size``×``size`` for ``image`` (already confined); cached on disk.
    ``square`` centres it on a ``size``×``size`` canvas, so gallery tiles line up whatever the shape."""
    if size < 16 or size > 4096:
        raise ValueError(f"thumbnail size must be 16..4096, not {size}")
    image = Path(image)
    try:
        st = image.stat()
    except OSError as exc:
        raise ThumbnailError(f"cannot read {image.name}: {exc.strerror or exc}") from exc
    cached = _cache_path(ws, image, size, st, square)
    if cached.is_file():
        return cached
    atomic_write_bytes(cached, _render(image, size, square))
    return cached


def all_thumbnails_cached(ws: Workspace, images: list[Path], size: int = 256, *, square: bool = False) -> bool:
    """True when every image has its thumbnail on disk (stats only, nothing decoded)."""
    return not _missing(ws, images, size, square)


def missing_thumbnails(ws: Workspace, images: list[Path], size: int = 256, *, square: bool = False) -> list[Path]:
    """The images among ``images`` whose thumbnail is not on disk yet (stats only, nothing decoded)."""
    return _missing(ws, images, size, square)


def _missing(ws: Workspace, images: list[Path], size: int, square: bool) -> list[Path]:
    todo = []
    for image in images:
        try:
            if not _cache_path(ws, Path(image), size, Path(image).stat(), square).is_file():
                todo.append(Path(image))
        except OSError:
            continue
    return todo


def make_thumbnails(ws: Workspace, images: list[Path], size: int = 256, *, square: bool = False,
                    progress: Callable[[int, int], None] | None = None,
                    each: Callable[[Path, Path | None], None] | None = None) -> int:
    """Make the missing thumbnails of ``images`` (a gallery page), a few at a time, so the page
    can show counted progress instead of sitting silent while 48 images are decoded. ``each(image,
    thumbnail or None if unreadable)`` is called in the caller's thread as each one is ready, in
    order (a page fills that tile). Returns how many were attempted."""
    todo = _missing(ws, images, size, square)
    if not todo:
        return 0

    def one(image: Path) -> Path | None:
        try:
            return thumbnail(ws, image, size, square=square)
        except (NyxError, OSError):
            return None

    # Pillow releases the GIL while it decodes and resizes: threads use every core
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for i, (image, made) in enumerate(zip(todo, pool.map(one, todo)), 1):
            if each:
                each(image, made)
            if progress:
                progress(i, len(todo))
    return len(todo)


def _render(image: Path, size: int, square: bool = False) -> bytes:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(image) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ThumbnailError(f"{image.name} is too large to preview ({im.width}×{im.height})")
            # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale: far less work for a small preview.
            im.draft("RGB", (size, size))
            # Shrink first (thumbnail uses reduce(): block averaging, no second full-size copy),
            # then rotate the small image by its EXIF orientation.
            im.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
            im = ImageOps.exif_transpose(im)
            im = _flatten(im)
            if square:
                canvas = Image.new("RGB", (size, size), (38, 39, 48))
                canvas.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
                im = canvas
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85, optimize=True)
            return buf.getvalue()
    except ThumbnailError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ThumbnailError(f"{image.name} is not a readable image ({exc})") from exc


def _flatten(im):  # noqa: ANN001, ANN202
    """JPEG has no alpha or palette: composite transparency on a dark grey (the app's theme)."""
    from PIL import Image

    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGB", im.size, (38, 39, 48))
        bg.paste(im, mask=im.getchannel("A"))
        return bg
    if im.mode != "RGB":
        return im.convert("RGB")
    return im


def clear_thumbnails(ws: Workspace) -> None:
    shutil.rmtree(ws.cache / THUMB_DIR, ignore_errors=True)
