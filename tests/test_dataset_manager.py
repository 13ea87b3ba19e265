"""Create / rename / delete datasets and concepts on real folders."""
from __future__ import annotations

import pytest
from PIL import Image

from nyx_core.datasets.layout import DatasetError, scan_dataset
from nyx_core.datasets import manager as m
from nyx_core.trash import list_trash, restore


def test_create_rename_delete(ws):
    layout = m.create_dataset(ws, "cats", "ohwx cat", 12, trigger_word="ohwx")
    assert [(c.folder.name) for c in layout.concepts] == ["12_ohwx cat"]
    assert layout.trigger_word == "ohwx"
    with pytest.raises(DatasetError, match="already exists"):
        m.create_dataset(ws, "cats", "x", 1)
    with pytest.raises(DatasetError):
        m.create_dataset(ws, "../x", "x", 1)
    with pytest.raises(DatasetError):
        m.create_dataset(ws, "ok", "x", 0)
    assert not (ws.datasets / "ok").exists()
    m.rename_dataset(ws, "cats", "kitties")
    assert (ws.datasets / "kitties" / "12_ohwx cat").is_dir() and not (ws.datasets / "cats").exists()
    m.create_dataset(ws, "other", "x", 1)
    with pytest.raises(DatasetError):
        m.rename_dataset(ws, "kitties", "other")
    entry = m.delete_dataset(ws, "kitties")
    assert not (ws.datasets / "kitties").exists()
    assert entry.original == "datasets/kitties" and list_trash(ws)
    restore(ws, entry.id)
    assert (ws.datasets / "kitties").is_dir()


def test_concepts_and_repeats(ws):
    m.create_dataset(ws, "d", "a", 10)
    m.add_concept(ws, "d", "b", 3)
    with pytest.raises(DatasetError):
        m.add_concept(ws, "d", "b", 4)
    Image.new("RGB", (4, 4)).save(ws.datasets / "d" / "3_b" / "x.png")
    m.set_repeats(ws, "d", "b", 7)
    m.rename_concept(ws, "d", "a", "alpha")
    layout = scan_dataset(ws, "d")
    assert [(c.name, c.repeats, len(c.images)) for c in layout.concepts] == [("alpha", 10, 0), ("b", 7, 1)]
    with pytest.raises(DatasetError):
        m.rename_concept(ws, "d", "alpha", "b")
    with pytest.raises(DatasetError):
        m.set_repeats(ws, "d", "nope", 2)
    m.update_settings(ws, "d", caption_ext=".caption", trigger_word="tw")
    s = m.summarize(scan_dataset(ws, "d"))
    assert s.image_count == 1 and s.captioned_count == 0 and s.caption_ext == ".caption" and s.trigger_word == "tw"
    assert s.size_bytes > 0
    m.delete_concept(ws, "d", "b")
    assert [c.name for c in scan_dataset(ws, "d").concepts] == ["alpha"]
