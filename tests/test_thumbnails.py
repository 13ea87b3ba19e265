"""Thumbnails on real images: size, EXIF orientation, caching by mtime/size, bad images."""
from __future__ import annotations

import os

import pytest
from PIL import Image

from nyx_core.errors import NyxError
from nyx_core.thumbnails import clear_thumbnails, thumbnail


def _img(path, size=(800, 400), mode="RGB", color=(200, 10, 10), **save):
    Image.new(mode, size, color).save(path, **save)
    return path


def test_jpeg_thumbnail_cached(ws) -> None:
    src = _img(ws.root / "a.jpg", (1600, 800))
    t = thumbnail(ws, src, 256)
    assert t.is_file() and ws.cache in t.parents
    with Image.open(t) as im:
        assert max(im.size) == 256 and im.size == (256, 128) and im.format == "JPEG"
    mtime = t.stat().st_mtime_ns
    assert thumbnail(ws, src, 256) == t and t.stat().st_mtime_ns == mtime
    assert thumbnail(ws, src, 128) != t


def test_changed_image_gets_new_thumbnail(ws) -> None:
    src = _img(ws.root / "b.png", (300, 300))
    t1 = thumbnail(ws, src)
    _img(src, (300, 600))
    os.utime(src, ns=(1, 1))
    t2 = thumbnail(ws, src)
    assert t1 != t2
    with Image.open(t2) as im:
        assert im.size == (128, 256)


def test_exif_orientation_applied(ws) -> None:
    im = Image.new("RGB", (400, 200), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    src = ws.root / "rot.jpg"
    im.save(src, exif=exif.tobytes())
    with Image.open(thumbnail(ws, src, 100)) as t:
        assert t.size == (50, 100)


def test_alpha_and_palette_flattened(ws) -> None:
    rgba = _img(ws.root / "t.png", (64, 64), "RGBA", (0, 0, 0, 0))
    pal = Image.new("P", (64, 32))
    pal.save(ws.root / "p.gif")
    for src in (rgba, ws.root / "p.gif"):
        with Image.open(thumbnail(ws, src, 32)) as t:
            assert t.mode == "RGB"


def test_unreadable_image_raises_nyx_error(ws) -> None:
    bad = ws.root / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(NyxError, match="not a readable image"):
        thumbnail(ws, bad)
    with pytest.raises(NyxError):
        thumbnail(ws, ws.root / "missing.png")


def test_clear(ws) -> None:
    t = thumbnail(ws, _img(ws.root / "c.webp", (50, 50)))
    clear_thumbnails(ws)
    assert not t.exists()


def test_make_thumbnails_hands_each_one_over_in_order(ws) -> None:
    from nyx_core.thumbnails import make_thumbnails, missing_thumbnails

    good = [_img(ws.root / f"g{i}.png", (40 + i, 30)) for i in range(5)]
    bad = ws.root / "bad.png"
    bad.write_bytes(b"nope")
    got, ticks = [], []
    made = make_thumbnails(ws, [*good[:2], bad, *good[2:]], 64, each=lambda im, t: got.append((im, t)),
                           progress=lambda d, n: ticks.append((d, n)))
    assert made == 6 and [im for im, _ in got] == [*good[:2], bad, *good[2:]]
    assert [t is None for _, t in got] == [False, False, True, False, False, False]
    assert all(t == thumbnail(ws, im, 64) for im, t in got if t is not None)
    assert ticks[-1] == (6, 6) and missing_thumbnails(ws, good, 64) == []
