"""The tagger's pipeline: the reordered pre-processing gives the very bytes of the plain order
(sd-scripts' steps), results come in the images' order whatever finishes first, the look-ahead is
bounded, one broken image (or unwritable caption) is reported in one line and the rest go on,
and stopping early does not wait for queued work. No timings: every wait has a deadline and
only guards against a hang."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nyx_core.tagging import preprocess
from nyx_core.tagging.engine import cpu_plan
from nyx_core.tagging.pipeline import ordered_map
from nyx_dev.wd14_plain import plain_preprocess as plain

pytestmark = pytest.mark.timeout(120)


def _cases() -> list[tuple[str, Image.Image]]:
    rng = np.random.default_rng(5)

    def rgb(w: int, h: int) -> Image.Image:
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        a[: h // 2] //= 3  # some structure, not only noise
        return Image.fromarray(a)

    rgba = rgb(301, 220).convert("RGBA")
    alpha = rng.integers(0, 256, (220, 301), dtype=np.uint8)
    rgba.putalpha(Image.fromarray(alpha))
    pal = rgb(200, 120).convert("P")
    pal.info["transparency"] = 3
    return [
        ("wide, shrunk", rgb(640, 500)),
        ("tall, odd padding", rgb(499, 641)),
        ("square, exact size", rgb(64, 64)),
        ("square, shrunk", rgb(97, 97)),
        ("small, enlarged", rgb(50, 31)),
        ("one pixel high", rgb(150, 1)),
        ("RGBA on white", rgba),
        ("LA", rgb(90, 70).convert("LA")),
        ("L", rgb(130, 90).convert("L")),
        ("palette with transparency", pal),
        ("CMYK", rgb(80, 100).convert("CMYK")),
    ]


@pytest.mark.parametrize("name,image", _cases(), ids=[c[0] for c in _cases()])
def test_preprocess_gives_the_bytes_of_the_plain_order(tmp_path, name, image):
    side = 64
    want = plain(image, side)
    assert want.shape == (side, side, 3) and want.dtype == np.float32
    assert preprocess.preprocess(image, side).tobytes() == want.tobytes()
    path = tmp_path / ("img.png" if image.mode != "CMYK" else "img.jpg")
    image.save(path)
    with Image.open(path) as im:
        from_file = plain(im, side)
    slot = np.full((side, side, 3), -1, dtype=np.float32)
    preprocess.load_into(path, side, slot)
    assert slot.tobytes() == from_file.tobytes() == preprocess.load(path, side).tobytes()


def test_cpu_plan_one_worker_per_core_up_to_four():
    assert cpu_plan(1) == (1, 1)
    assert cpu_plan(2) == (2, 1)
    assert cpu_plan(4) == (4, 1)
    assert cpu_plan(16) == (4, 4)


def test_results_come_in_order_when_later_items_finish_first():
    later_done = threading.Event()
    hung = []

    def fn(i: int) -> int:
        if i == 0 and not later_done.wait(60):  # item 0 finishes only after item 2 has
            hung.append(i)
        if i == 2:
            later_done.set()
        return i * 10

    out = [(d.item, d.result, d.error) for d in ordered_map(fn, range(7), workers=3)]
    assert not hung
    assert out == [(i, i * 10, None) for i in range(7)]


@pytest.mark.parametrize("workers,ahead", [(1, None), (2, None), (2, 5), (4, 4)])
def test_look_ahead_is_bounded(workers, ahead):
    pulled = 0

    def items():
        nonlocal pulled
        for i in range(40):
            pulled += 1
            yield i

    bound = ahead or workers + 1
    handed = 0
    for d in ordered_map(lambda i: i, items(), workers=workers, ahead=ahead):
        handed += 1
        # taken from the input and not yet handed over (counting this one): never above the bound
        assert pulled - (handed - 1) <= bound
        assert d.item == handed - 1
    assert handed == pulled == 40


def test_one_failure_is_reported_in_one_line_and_the_rest_go_on():
    def fn(i: int) -> int:
        if i in (3, 4):
            raise ValueError("cannot identify image file\n  second line\tof the message")
        if i == 6:
            raise OSError()
        return i

    out = list(ordered_map(fn, range(8), workers=2))
    assert [d.item for d in out] == list(range(8))
    assert [d.result for d in out if d.error is None] == [0, 1, 2, 5, 7]
    assert out[3].error == out[4].error == "ValueError: cannot identify image file second line of the message"
    assert out[6].error == "OSError"


def test_stopping_early_cancels_queued_work_and_does_not_wait_for_running():
    release = threading.Event()
    started = []
    hung = []

    def fn(i: int) -> int:
        started.append(i)
        if i > 0 and not release.wait(60):
            hung.append(i)
        return i

    gen = ordered_map(fn, range(100), workers=2, ahead=4)
    assert next(gen).item == 0
    gen.close()  # must return while items 1 and 2 are still running (they wait for release)
    release.set()
    assert not hung
    assert len(started) <= 4  # the look-ahead; everything queued behind it was cancelled


# --- the tagger itself (onnxruntime) ------------------------------------------------------

def _tagger_fixture(tmp_path: Path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from nyx_core.tagging.engine import Tagger
    from tests.tagging_fixtures import build_model, make_images

    tagger = Tagger(build_model(tmp_path / "m", side=32))
    good = make_images(tmp_path / "imgs", 6)
    broken = tmp_path / "imgs" / "broken.png"
    broken.write_bytes(b"not a png")
    cut = tmp_path / "imgs" / "cut.jpg"
    cut.write_bytes(good[3].read_bytes()[:200])  # a JPEG cut short
    missing = tmp_path / "imgs" / "missing.png"
    images = [good[0], broken, good[1], good[2], cut, good[3], missing, good[4], good[5]]
    return tagger, good, images


@pytest.mark.parametrize("batch,workers,cpu", [(1, 1, True), (3, 2, True), (4, 3, True), (2, 2, False)])
def test_scores_in_order_with_broken_images_in_place(tmp_path, batch, workers, cpu):
    tagger, good, images = _tagger_fixture(tmp_path)
    reference = {s.image: s.scores for s in tagger.score(good, batch_size=1, workers=1)}
    tagger.on_cpu = cpu  # False: the GPU layout (workers decode, this thread infers), here on the CPU
    out = list(tagger.score(images, batch_size=batch, workers=workers))
    assert [s.image for s in out] == images
    failed = {s.image.name: s.error for s in out if s.scores is None}
    assert set(failed) == {"broken.png", "cut.jpg", "missing.png"}
    assert all(e and "\n" not in e and len(e) <= 300 for e in failed.values())
    assert "missing.png" in failed["missing.png"] or "No such file" in failed["missing.png"]
    for s in out:
        if s.scores is not None:
            assert np.allclose(s.scores, reference[s.image], atol=1e-6)


@pytest.mark.parametrize("mode", ["skip", "overwrite"])
def test_tag_images_in_order_and_an_unwritable_caption_fails_only_its_image(tmp_path, mode):
    from nyx_core.tagging.options import TagOptions
    from nyx_core.tagging.wd14 import tag_images

    tagger, good, images = _tagger_fixture(tmp_path)
    good[1].with_suffix(".txt").write_text("already captioned")
    good[4].with_suffix(".txt").mkdir()  # a caption path that can be neither read nor written
    out = list(tag_images(tagger, images, TagOptions(mode=mode), batch_size=2, workers=2))
    assert [o.image for o in out] == images
    by_name = {o.image.name: o for o in out}
    if mode == "skip":
        assert by_name[good[1].name].outcome.after is None  # skipped, left alone
        assert good[1].with_suffix(".txt").read_text() == "already captioned"
    assert "caption" in by_name[good[4].name].error and "\n" not in by_name[good[4].name].error
    written = [g for g in good if g not in (good[1], good[4])]
    assert all(by_name[g.name].error is None and g.with_suffix(".txt").read_text() for g in written)
    assert {o.image.name for o in out if o.error} == {"broken.png", "cut.jpg", "missing.png", good[4].name}
