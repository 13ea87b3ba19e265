# ruff: noqa: E501  (reference captions are kept whole, one per line)
"""Same model + same images → same tags as sd-scripts' finetune/tag_images_by_wd14_tagger.py.

EXPECTED is what that script (pinned commit 48d368fa, run once in the real sd-scripts CPU venv with
``--onnx --remove_underscore --general_threshold 0.35 --character_threshold 1.01
--undesired_tags smile --use_rating_tags --batch_size 1``) wrote for the tiny tagger and images
built below: small images (enlarged with Lanczos), large ones (shrunk with INTER_AREA), RGBA, L,
JPEG. Character tags are off in the reference because that script, at this commit, stops with
``UnboundLocalError: character_tags`` as soon as a character tag passes its threshold with a
SmilingWolf label file; Nyx's character selection is tested in test_tagging_select.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from nyx_core.tagging.engine import Tagger  # noqa: E402
from nyx_core.tagging.options import TagOptions  # noqa: E402
from nyx_core.tagging.wd14 import tag_images  # noqa: E402
from tests.tagging_fixtures import build_model, make_images  # noqa: E402

EXPECTED = {
    'big_img000.png': 'general, solo, blue sky, outdoors, holding, cat ears, black hair, (tag) with brackets',
    'big_img001.png': 'questionable, short hair, blue sky, ^_^, white background, holding, (tag) with brackets',
    'big_img002.png': 'questionable, solo, blue sky, white background, looking at viewer, holding, (tag) with brackets, monochrome',
    'big_img003.jpg': 'general, solo, blue sky, white background, looking at viewer, holding, cat ears, black hair, (tag) with brackets',
    'big_img004.png': 'questionable, 1girl, solo, long hair, short hair, ^_^, white background, looking at viewer, holding, flower, blonde hair, green eyes, (tag) with brackets, monochrome',
    'big_img005.png': 'general, short hair, blue sky, outdoors, holding, black hair, (tag) with brackets',
    'img000.png': 'general, solo, blue sky, white background, looking at viewer, (tag) with brackets',
    'img001.png': 'general, 1girl, short hair, holding, black hair, (tag) with brackets',
    'img002.png': 'questionable, solo, ^_^, white background, holding, (tag) with brackets, monochrome',
    'img003.jpg': 'questionable, solo, blue sky, ^_^, white background, holding, flower, blonde hair, (tag) with brackets, monochrome',
    'img004.png': 'general, solo, blue sky, white background, holding, (tag) with brackets',
    'img005.png': 'questionable, solo, short hair, ^_^, white background, holding, green eyes, (tag) with brackets, monochrome',
}


def _fixture(tmp: Path) -> tuple[Path, list[Path]]:
    model = build_model(tmp / "model", side=448, seed=7)
    imgs = make_images(tmp / "imgs", 6, seed=11)
    for p in make_images(tmp / "big", 6, seed=12, size=(640, 500)):
        imgs.append(p.rename(tmp / "imgs" / f"big_{p.name}"))
    return model, sorted(imgs)


@pytest.mark.parametrize("batch", [1, 5])
def test_same_tags_as_sd_scripts_wd14_script(tmp_path, batch):
    model, images = _fixture(tmp_path)
    opts = TagOptions(undesired=["smile"], rating=True, character_threshold=1.0)
    got = {it.image.name: ", ".join(it.tags) for it in tag_images(Tagger(model), images, opts, batch_size=batch, write=False)}
    assert got == EXPECTED
