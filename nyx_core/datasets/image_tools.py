"""Image tools over a dataset: convert format, downscale to a max side. Originals go to the trash.

The new file is fully written next to the original (hidden temp name) first. Then, so that a
kill at any moment never leaves the image missing: a new name (png -> webp) is renamed into
place before the original goes to the trash (at worst both exist for a moment); the same name
(downscale) first keeps a copy of the original in the trash, then replaces it atomically. When
a conversion changes an image's stem (a clash), its caption is copied to the new stem first.
"""
from __future__ import annotations

import io
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from nyx_core.datasets.layout import DatasetLayout, caption_path, scan_dataset
from nyx_core.errors import NyxError
from nyx_core.workspace import Workspace

FORMATS = {"webp": ("WEBP", ".webp"), "png": ("PNG", ".png"), "jpg": ("JPEG", ".jpg"), "jpeg": ("JPEG", ".jpg")}


class ImageToolError(NyxError):
    """Bad arguments to an image tool."""


@dataclass
class ToolReport:
    changed: list[tuple[str, str]] = field(default_factory=list)  # (old rel, new rel)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (rel, why)


def _encode(im, fmt: str, quality: int, info: dict) -> bytes:  # noqa: ANN001
    from PIL import Image

    if fmt == "JPEG" and (im.mode in ("RGBA", "LA", "P") or "transparency" in im.info):
        # JPEG has no alpha: composite on white, as most editors do
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        im = bg
    elif fmt == "JPEG" and im.mode not in ("RGB", "L", "CMYK"):
        im = im.convert("RGB")
    elif fmt in ("WEBP", "PNG") and im.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
    kwargs: dict = {}
    if info.get("icc_profile"):
        kwargs["icc_profile"] = info["icc_profile"]
    if info.get("exif"):
        kwargs["exif"] = info["exif"]
    if fmt == "JPEG":
        kwargs.update(quality=quality, optimize=True)
    elif fmt == "WEBP":
        kwargs.update(quality=quality, method=4)
    elif fmt == "PNG":
        kwargs.update(optimize=False)
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _targets(layout: DatasetLayout, images: Iterable[Path] | None) -> list[Path]:
    if images is None:
        return layout.images()
    members = {p.resolve() for p in layout.images()}
    out = []
    for img in images:
        if Path(img).resolve() not in members:
            raise ImageToolError(f"{Path(img).name} is not an image of dataset {layout.name!r}")
        out.append(Path(img))
    return out


def _replace(ws: Workspace, layout: DatasetLayout, original: Path, data: bytes, new_suffix: str,
             report: ToolReport) -> None:
    from nyx_core.trash import keep_copy_in_trash, move_to_trash

    folder = original.parent
    target = folder / (original.stem + new_suffix)
    if target != original and target.exists():
        # another image already has that name: take a fresh stem and give it a copy of the caption
        i = 1
        while any((folder / f"{original.stem}_{i}{ext}").exists() for ext in (new_suffix, layout.caption_ext)):
            i += 1
        target = folder / f"{original.stem}_{i}{new_suffix}"
    tmp = folder / f".{target.name}.{secrets.token_hex(3)}.tmp"
    tmp.write_bytes(data)
    try:
        if target.stem != original.stem:
            cap = caption_path(original, layout.caption_ext)
            if cap.exists():
                shutil.copyfile(cap, caption_path(target, layout.caption_ext))
        if target == original:
            keep_copy_in_trash(ws, original)  # the old bytes are safe before the name changes content
            os.replace(tmp, target)
        else:
            os.replace(tmp, target)  # the new image exists before the old one leaves
            move_to_trash(ws, original)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report.changed.append((original.relative_to(layout.root).as_posix(), target.relative_to(layout.root).as_posix()))


class _Skip(Exception):
    """An image the tool leaves alone, with the reason."""


def _rewrite_each(ws: Workspace, name: str, images: Iterable[Path] | None,
                  progress: Callable[[int, int, str], None] | None,
                  encode: Callable[[Path, object], tuple[bytes, str]]) -> ToolReport:
    """Run ``encode(path, opened image) -> (bytes, new suffix)`` over a dataset's images and put each
    result in place of its original (original to trash). ``encode`` raises ``_Skip`` to leave one."""
    from PIL import Image

    layout = scan_dataset(ws, name)
    todo = _targets(layout, images)
    report = ToolReport()
    for i, img in enumerate(todo):
        rel = img.relative_to(layout.root).as_posix()
        if progress:
            progress(i, len(todo), img.name)
        try:
            with Image.open(img) as im:
                data, suffix = encode(img, im)
        except _Skip as why:
            report.skipped.append((rel, str(why)))
            continue
        except (OSError, ValueError, SyntaxError) as exc:
            report.skipped.append((rel, f"unreadable ({exc})"))
            continue
        _replace(ws, layout, img, data, suffix, report)
    if progress:
        progress(len(todo), len(todo), "done")
    return report


def _plan(ws: Workspace, name: str, images: Iterable[Path] | None,
          decide: Callable[[Path, object], str]) -> ToolReport:
    """What a tool would do, from image headers only (nothing decoded, nothing written): ``changed``
    holds (image, what happens to it), ``skipped`` (image, why not)."""
    from PIL import Image

    layout = scan_dataset(ws, name)
    report = ToolReport()
    for img in _targets(layout, images):
        rel = img.relative_to(layout.root).as_posix()
        try:
            with Image.open(img) as im:
                report.changed.append((rel, decide(img, im)))
        except _Skip as why:
            report.skipped.append((rel, str(why)))
        except (OSError, ValueError, SyntaxError) as exc:
            report.skipped.append((rel, f"unreadable ({exc})"))
    return report


def _check_convert(fmt: str, quality: int) -> tuple[str, str]:
    if fmt.lower() not in FORMATS:
        raise ImageToolError(f"unknown format {fmt!r}; use webp, png or jpg")
    if not 1 <= quality <= 100:
        raise ImageToolError("quality must be between 1 and 100")
    return FORMATS[fmt.lower()]


def _already(img: Path, im, pil_fmt: str, suffix: str) -> bool:  # noqa: ANN001
    return im.format == pil_fmt and img.suffix.lower() in (suffix, ".jpeg" if suffix == ".jpg" else suffix)


def plan_convert(ws: Workspace, name: str, fmt: str, *, quality: int = 95,
                 images: Iterable[Path] | None = None) -> ToolReport:
    """What ``convert_images`` would change, to show before asking (reads headers only)."""
    pil_fmt, suffix = _check_convert(fmt, quality)

    def decide(img: Path, im) -> str:  # noqa: ANN001
        if _already(img, im, pil_fmt, suffix):
            raise _Skip(f"already {fmt}")
        return f"{im.format or img.suffix} → {fmt} ({img.stem}{suffix})"

    return _plan(ws, name, images, decide)


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    w, h = size
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def plan_downscale(ws: Workspace, name: str, max_side: int, *, images: Iterable[Path] | None = None) -> ToolReport:
    """What ``downscale_images`` would change, to show before asking (reads headers only)."""
    if max_side < 64:
        raise ImageToolError("the max side must be at least 64 pixels")

    def decide(img: Path, im) -> str:  # noqa: ANN001
        if max(im.size) <= max_side:
            raise _Skip(f"already within {max_side}px")
        w, h = _fit(im.size, max_side)
        return f"{im.size[0]}×{im.size[1]} → about {w}×{h}"

    return _plan(ws, name, images, decide)


def convert_images(ws: Workspace, name: str, fmt: str, *, quality: int = 95, images: Iterable[Path] | None = None,
                   progress: Callable[[int, int, str], None] | None = None) -> ToolReport:
    """Re-encode images as webp / png / jpg (``quality`` 1-100 for webp and jpg)."""
    pil_fmt, suffix = _check_convert(fmt, quality)

    def encode(img: Path, im) -> tuple[bytes, str]:  # noqa: ANN001
        if _already(img, im, pil_fmt, suffix):
            raise _Skip(f"already {fmt}")
        im.load()
        return _encode(im, pil_fmt, quality, im.info), suffix

    return _rewrite_each(ws, name, images, progress, encode)


def downscale_images(ws: Workspace, name: str, max_side: int, *, quality: int = 95,
                     images: Iterable[Path] | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> ToolReport:
    """Shrink images whose long side exceeds ``max_side`` (same format and name; Lanczos)."""
    from PIL import Image

    if max_side < 64:
        raise ImageToolError("the max side must be at least 64 pixels")

    def encode(img: Path, im) -> tuple[bytes, str]:  # noqa: ANN001
        if max(im.size) <= max_side:
            raise _Skip(f"already within {max_side}px")
        fmt = im.format if im.format in ("JPEG", "PNG", "WEBP", "BMP") else "PNG"
        info = dict(im.info)
        if fmt in ("JPEG", "MPO"):
            im.draft(im.mode, (max_side, max_side))
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return _encode(im, fmt, quality, info), img.suffix

    return _rewrite_each(ws, name, images, progress, encode)
