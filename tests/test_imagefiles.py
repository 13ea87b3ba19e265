"""One image rule (sd-scripts' exact-case extensions) and an image's companions travelling with it."""
from __future__ import annotations

import pytest

from nyx_core.files import ClashError, FileManager
from nyx_core.imagefiles import companions, is_skipped_image, is_trainable_image, normalized_name
from nyx_core.trash import list_trash


def _write(path, data="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    return path


def test_extension_rule_is_sd_scripts_exact_case():
    assert is_trainable_image("a.png") and is_trainable_image("a.PNG") and is_trainable_image("x/a.JPEG")
    assert not is_trainable_image("b.Png") and is_skipped_image("b.Png") and is_skipped_image("c.jPg")
    assert not is_skipped_image("a.png") and not is_skipped_image("a.txt") and not is_trainable_image("a.gif")
    assert normalized_name("b.Png") == "b.png" and normalized_name("a.PNG") == "a.PNG"


def test_companions_are_captions_and_caches_of_that_stem_only(tmp_path):
    img = _write(tmp_path / "a.png")
    mine = ["a.txt", "a.caption", "a.npz", "a_0512x0768_sd.npz", "a_te_outputs.npz", "a_flux_te.npz"]
    for n in mine + ["ab.txt", "a_1.txt", "a_1.png", "a.json", "a_x.npz"]:
        _write(tmp_path / n)
    assert [p.name for p in companions(img)] == sorted(mine)
    _write(tmp_path / "a.jpg")  # two images share a.txt: it stays put
    assert companions(img) == []


@pytest.fixture
def fm(ws) -> FileManager:
    return FileManager(ws)


def test_rename_carries_caption_and_caches(ws, fm):
    folder = ws.datasets / "d" / "10_c"
    (ws.datasets / "d" / ".nyx-dataset.toml").parent.mkdir(parents=True, exist_ok=True)
    (ws.datasets / "d" / ".nyx-dataset.toml").write_text('caption_extension = ".cap"\n')
    for n in ("a.png", "a.txt", "a.cap", "a_0512x0512_sd.npz", "ab.txt"):
        _write(folder / n, n)
    fm.rename("datasets/d/10_c/a.png", "b.png")
    assert sorted(p.name for p in folder.iterdir()) == ["ab.txt", "b.cap", "b.png", "b.txt", "b_0512x0512_sd.npz"]
    assert (folder / "b.txt").read_text() == "a.txt"
    _write(folder / "c.png")
    _write(folder / "c.txt", "c's own caption")
    with pytest.raises(ClashError):  # b.txt -> c.txt would overwrite another caption: nothing moves
        fm.rename("datasets/d/10_c/b.png", "c.jpg")
    assert (folder / "b.png").exists() and (folder / "c.txt").read_text() == "c's own caption"


def test_move_and_copy_carry_companions(ws, fm):
    src, dst = ws.datasets / "d" / "10_c", ws.datasets / "d" / "5_other"
    for n in ("a.png", "a.txt", "a.npz", "z.png"):
        _write(src / n, n)
    dst.mkdir(parents=True)
    _write(dst / "a.txt", "a caption already there")
    with pytest.raises(ClashError):  # "ask" checks companions too, and changes nothing
        fm.move(["datasets/d/10_c/a.png"], "datasets/d/5_other")
    assert (src / "a.png").exists() and (src / "a.txt").exists()
    fm.move(["datasets/d/10_c/a.png"], "datasets/d/5_other", on_clash="keep_both")
    names = sorted(p.name for p in dst.iterdir())
    assert "a (1).png" in names and "a (1).txt" in names and "a (1).npz" in names
    assert (dst / "a (1).txt").read_text() == "a.txt" and not (src / "a.txt").exists()
    fm.copy(["datasets/d/5_other/a (1).png"], "datasets/d/10_c")
    assert (src / "a (1).txt").read_text() == "a.txt" and (dst / "a (1).txt").exists()
    _write(src / "z.txt", "z")
    fm.move(["datasets/d/10_c/z.png"], "datasets/d/5_other", on_clash="replace")
    assert (dst / "z.txt").read_text() == "z"
    fm.move(["datasets/d/10_c/a (1).png"], "datasets/d/5_other", on_clash="replace")
    assert any(e.original.endswith("a (1).txt") for e in list_trash(ws))  # the replaced caption is restorable


def test_layout_health_steps_and_ingest_share_the_rule(ws):
    """b.Png used to be shown, counted and checked, but sd-scripts never trained it (issue 8)."""
    from PIL import Image

    from nyx_core.datasets.health import check_dataset
    from nyx_core.datasets.ingest import ingest_files
    from nyx_core.datasets.layout import scan_dataset
    from nyx_core.datasets.manager import create_dataset, normalize_extensions
    from nyx_core.steps import image_files

    create_dataset(ws, "d", "c", 1)
    folder = ws.datasets / "d" / "1_c"
    for n in ("a.png", "b.Png", "c.JPG"):
        Image.new("RGB", (64, 64)).save(folder / n, "PNG" if n != "c.JPG" else "JPEG")
    (folder / "b.txt").write_text("bee")
    layout = scan_dataset(ws, "d")
    assert [p.name for p in layout.images()] == ["a.png", "c.JPG"] == [p.name for p in image_files(folder)]
    assert [p.name for p in layout.skipped_images()] == ["b.Png"]
    rep = check_dataset(ws, "d", resolution=64)
    prob = next(p for p in rep.problems if p.kind == "skipped_extension")
    assert prob.images == ["1_c/b.Png"] and rep.image_count == 2
    assert normalize_extensions(ws, "d") == [("1_c/b.Png", "1_c/b.png")]
    assert (folder / "b.txt").read_text() == "bee" and len(scan_dataset(ws, "d").images()) == 3

    import io
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "PNG")
    report = ingest_files(ws, "d", [("new.Png", io.BytesIO(buf.getvalue()))], concept="c")
    assert report.taken == ["1_c/new.png"] and report.renamed == [("new.Png", "1_c/new.png")]
