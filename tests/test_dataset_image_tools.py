"""Convert and downscale on real images; originals land in the trash; captions follow."""
from __future__ import annotations

import pytest
from PIL import Image

from nyx_core.datasets.image_tools import ImageToolError, convert_images, downscale_images
from nyx_core.datasets.layout import scan_dataset
from nyx_core.datasets.manager import create_dataset
from nyx_core.trash import list_trash


@pytest.fixture
def ds(ws):
    create_dataset(ws, "d", "x", 1)
    f = ws.datasets / "d" / "1_x"
    Image.new("RGBA", (300, 200), (255, 0, 0, 128)).save(f / "a.png")
    (f / "a.txt").write_text("cap a")
    Image.new("RGB", (100, 80), "blue").save(f / "b.jpg")
    Image.new("RGB", (50, 50), "green").save(f / "c.png")
    Image.new("RGB", (50, 50), "green").save(f / "c.webp")  # c.png -> c.webp clashes
    (f / "c.txt").write_text("cap c")
    return ws


def test_convert_to_jpg_and_webp(ds):
    f = ds.datasets / "d" / "1_x"
    rep = convert_images(ds, "d", "webp", images=[f / "c.png"])
    assert rep.changed == [("1_x/c.png", "1_x/c_1.webp")]
    assert (f / "c_1.txt").read_text() == "cap c" and (f / "c.txt").read_text() == "cap c"
    seen = []
    rep = convert_images(ds, "d", "jpg", quality=80, progress=lambda i, n, name: seen.append(i))
    assert ("1_x/a.png", "1_x/a.jpg") in rep.changed
    assert ("1_x/b.jpg", "already jpg") in rep.skipped
    with Image.open(f / "a.jpg") as im:
        assert im.format == "JPEG" and im.size == (300, 200)
    assert (f / "a.txt").read_text() == "cap a" and not (f / "a.png").exists()
    assert any(e.original == "datasets/d/1_x/a.png" for e in list_trash(ds))
    assert seen[-1] == seen[0] + len(seen) - 1
    assert not list(f.glob(".*.tmp"))


def test_downscale(ds):
    f = ds.datasets / "d" / "1_x"
    before = (f / "b.jpg").read_bytes()
    rep = downscale_images(ds, "d", 150)
    assert ("1_x/a.png", "1_x/a.png") in rep.changed
    with Image.open(f / "a.png") as im:
        assert im.size == (150, 100) and im.mode == "RGBA"
    assert (f / "b.jpg").read_bytes() == before
    assert scan_dataset(ds, "d").image_count == 4
    with pytest.raises(ImageToolError):
        downscale_images(ds, "d", 10)
    with pytest.raises(ImageToolError):
        convert_images(ds, "d", "gif")
