"""Counted work redraws its progress bar a few times a second, not once per file (issue 15)."""
from __future__ import annotations

from nyx_ui.progress import counted


class _Bar:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def progress(self, value: float, text: str = "") -> None:
        self.calls.append((value, text))


def test_a_bar_is_redrawn_at_most_every_interval_and_always_at_the_end():
    bar, now = _Bar(), [0.0]
    tick = counted(bar, "Writing captions…", every_s=0.1, clock=lambda: now[0])
    for i in range(1, 10_001):
        now[0] = i * 0.0001  # 10,000 files in one second
        tick(i, 10_000)
    assert 5 <= len(bar.calls) <= 12
    assert bar.calls[-1] == (1.0, "Writing captions… 10000/10000")
    tick2 = counted(bar, "Importing…", clock=lambda: 0.0)
    tick2(1, 3, "a.png")
    assert bar.calls[-1] == (1 / 3, "Importing… 1/3 · a.png")


def test_a_gallery_pages_missing_thumbnails_are_made_up_front_with_counted_progress(ws):
    from PIL import Image

    from nyx_core.thumbnails import all_thumbnails_cached, make_thumbnails, thumbnail

    folder = ws.datasets / "d"
    folder.mkdir(parents=True)
    images = []
    for i in range(5):
        p = folder / f"i{i}.png"
        Image.new("RGB", (64, 48), (i * 40, 0, 0)).save(p)
        images.append(p)
    bad = folder / "broken.png"
    bad.write_bytes(b"not an image")
    thumbnail(ws, images[0], 256, square=True)  # one is cached already
    seen = []
    assert not all_thumbnails_cached(ws, images, 256, square=True)
    assert make_thumbnails(ws, images + [bad], 256, square=True, progress=lambda i, n: seen.append((i, n))) == 5
    assert seen == [(i, 5) for i in range(1, 6)]  # the cached one is not redone; the broken one is tried
    assert all_thumbnails_cached(ws, images, 256, square=True)
    assert make_thumbnails(ws, images, 256, square=True) == 0
