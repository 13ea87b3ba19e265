"""Which files are training images, and which files belong to an image.

One rule for the whole of Nyx (dataset layout, health check, step count, ingest, file operations):
sd-scripts finds images with ``glob("*" + ext)`` for each of its ``IMAGE_EXTENSIONS``, which lists
the lower- and the upper-case spelling of each extension. On Linux a glob is case-sensitive, so
``a.png`` and ``a.PNG`` train while ``a.Png`` is silently skipped. Nyx shows, counts and checks
exactly the files sd-scripts will read, and names the others.

An image's *companions* are the files sd-scripts pairs with it by name: its caption
(``<stem><caption ext>``) and its cached latents / text-encoder outputs (``<stem>.npz``,
``<stem>_<W>x<H>_<arch>.npz``, ``<stem>_te_outputs.npz``, ``<stem>_<arch>_te.npz``). Renaming or
moving an image without them loses its caption, so file operations carry them along.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

#: sd-scripts' ``IMAGE_EXTENSIONS`` (library/train_util.py), matched exactly, case included.
SD_SCRIPTS_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP")
#: The extensions as Nyx writes them (ingest and conversions produce lower case).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
CAPTION_EXTS = (".txt", ".caption")

# the cache-file tails sd-scripts appends to an image's stem
_NPZ_TAIL = re.compile(r"(?:_\d+x\d+_[A-Za-z0-9]+|_te_outputs|_[A-Za-z0-9]+_te)?\.npz$")


def is_trainable_image(path: Path | str) -> bool:
    """True when sd-scripts' image glob finds this file name (extension case included)."""
    return os.path.splitext(str(path))[1] in SD_SCRIPTS_IMAGE_EXTS


def is_image_name(path: Path | str) -> bool:
    """An image by its extension in any case (what a person would call an image file)."""
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTS


def is_skipped_image(path: Path | str) -> bool:
    """An image file sd-scripts will not train on because of its extension's case (``b.Png``)."""
    return is_image_name(path) and not is_trainable_image(path)


def normalized_name(name: str) -> str:
    """``b.Png`` -> ``b.png``: the spelling sd-scripts finds. Other names are returned unchanged."""
    stem, ext = os.path.splitext(name)
    return stem + ext.lower() if is_skipped_image(name) else name


def companions(image: Path, caption_exts: tuple[str, ...] | list[str] = CAPTION_EXTS) -> list[Path]:
    """The existing files that belong to ``image`` by name (captions, latent caches), sorted.

    Nothing is returned when another image in the folder has the same stem (``a.png`` and ``a.jpg``
    both use ``a.txt``): those files are shared and stay where they are."""
    image = Path(image)
    stem, folder = image.stem, image.parent
    try:
        names = [n for n in os.listdir(folder) if n.startswith(stem) and n != image.name]
    except OSError:
        return []
    if any(is_image_name(n) and os.path.splitext(n)[0] == stem for n in names):
        return []
    wanted = set(stem + e for e in caption_exts)
    out = []
    for n in names:
        if n in wanted:
            out.append(folder / n)
        elif n.endswith(".npz"):
            tail = _NPZ_TAIL.search(n[len(stem):])
            if tail is not None and tail.start() == 0:
                out.append(folder / n)
    return sorted(out)


def renamed_companion(companion: Path, old_stem: str, new_stem: str, dest: Path | None = None) -> Path:
    """Where a companion goes when its image's stem becomes ``new_stem`` (in ``dest`` if given)."""
    return (dest or companion.parent) / (new_stem + companion.name[len(old_stem):])
