"""Contract B: the Kohya folder layout read from real folders on disk."""
from __future__ import annotations

import pytest
from PIL import Image

from nyx_core.datasets.layout import (
    IMAGE_EXTS,
    DatasetError,
    DatasetSettings,
    caption_path,
    list_datasets,
    load_settings,
    parse_concept_folder,
    save_settings,
    scan_dataset,
    validate_name,
)


def _img(path, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "red").save(path)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("10_ohwx woman", (10, "ohwx woman")),
        ("1_a_b", (1, "a_b")),
        ("010_x", (10, "x")),
        ("0_x", None),
        ("x_10", None),
        ("10_", None),
        ("10", None),
        ("10_ ", None),
        ("-1_x", None),
    ],
)
def test_parse_concept_folder(name, expected):
    assert parse_concept_folder(name) == expected


def test_image_exts_contract():
    assert IMAGE_EXTS == (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def test_scan_dataset_reads_concepts_images_and_stray(ws):
    root = ws.datasets / "cats"
    _img(root / "10_ohwx cat" / "b.png")
    _img(root / "10_ohwx cat" / "a.JPG")
    (root / "10_ohwx cat" / "a.txt").write_text("ohwx cat")
    (root / "10_ohwx cat" / "notes.md").write_text("x")
    (root / "10_ohwx cat" / ".hidden.png").write_bytes(b"")
    _img(root / "2_style" / "c.webp")
    _img(root / "misc" / "d.png")
    _img(root / "loose.png")
    layout = scan_dataset(ws, "cats")
    assert layout.name == "cats" and layout.root == root.resolve()
    assert [(c.name, c.repeats) for c in layout.concepts] == [("ohwx cat", 10), ("style", 2)]
    assert [p.name for p in layout.concepts[0].images] == ["a.JPG", "b.png"]
    assert layout.image_count == 3
    assert layout.caption_ext == ".txt"
    assert [p.name for p in layout.stray] == ["misc"]
    assert [p.name for p in layout.loose_images] == ["loose.png"]
    c = layout.concepts[0]
    assert c.caption_path(c.images[0]) == c.folder / "a.txt"
    assert c.caption_path(c.images[0], ".caption") == c.folder / "a.caption"


def test_settings_roundtrip_keeps_comments(ws):
    root = ws.datasets / "d"
    root.mkdir()
    assert load_settings(root) == DatasetSettings()
    (root / ".nyx-dataset.toml").write_text("# my notes\ncaption_extension = \".caption\"\n")
    assert load_settings(root).caption_ext == ".caption"
    save_settings(root, DatasetSettings(".caption", "ohwx"))
    text = (root / ".nyx-dataset.toml").read_text()
    assert "# my notes" in text and 'trigger_word = "ohwx"' in text
    assert scan_dataset(ws, "d").trigger_word == "ohwx"
    with pytest.raises(DatasetError):
        save_settings(root, DatasetSettings("txt"))


def test_list_datasets_and_missing(ws):
    (ws.datasets / "b").mkdir()
    (ws.datasets / "A").mkdir()
    (ws.datasets / ".tmp").mkdir()
    assert [d.name for d in list_datasets(ws)] == ["A", "b"]
    with pytest.raises(DatasetError):
        scan_dataset(ws, "nope")


@pytest.mark.parametrize("bad", ["", "  ", "a/b", "a\\b", ".hidden", "..", "C:x", "a\x00b"])
def test_validate_name_refuses(bad):
    with pytest.raises(DatasetError):
        validate_name(bad)


def test_caption_path():
    from pathlib import Path

    assert caption_path(Path("/x/a.b.png")) == Path("/x/a.b.txt")
