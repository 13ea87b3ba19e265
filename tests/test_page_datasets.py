"""AppTest for pages/datasets.py against a real workspace with real images and captions."""
from __future__ import annotations

from PIL import Image
from streamlit.testing.v1 import AppTest

from nyx_core.datasets.layout import scan_dataset
from nyx_core.datasets.manager import create_dataset
from tests.conftest import REPO_ROOT


def _page() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / "datasets.py"), default_timeout=60)


def _dataset(ws, n=3):
    create_dataset(ws, "cats", "ohwx cat", 5)
    f = ws.datasets / "cats" / "5_ohwx cat"
    for i in range(n):
        Image.new("RGB", (64 + i, 64), (i * 40, 0, 0)).save(f / f"img{i}.png")
    (f / "img0.txt").write_bytes(b"cat, sitting\r\n")
    (f / "img1.txt").write_text("cat, long_hair")
    return f


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_empty_workspace_create_dataset(ws):
    at = _page().run()
    assert not at.exception
    assert any("No datasets yet" in i.value for i in at.info)
    at.text_input[0].input("dogs")
    at.text_input[1].input("good dog")
    at.number_input[0].set_value(7)
    next(b for b in at.button if b.label == "Create dataset").click().run()
    assert not at.exception
    assert (ws.datasets / "dogs" / "7_good dog").is_dir()
    assert at.selectbox(key="ds_pick").value == "dogs"
    assert any("Created dataset" in s.value for s in at.success)


def test_gallery_editor_tags_undo_health(ws):
    f = _dataset(ws)
    before = {p.name: p.read_bytes() for p in f.glob("*.txt")}
    at = _page().run()
    assert not at.exception
    assert at.selectbox(key="ds_pick").value == "cats"
    assert {m.label: m.value for m in at.metric}["Images"] == "3"
    # gallery: one open-button per image, captions under them
    assert {b.label for b in at.button if b.key and b.key.startswith("ds_open_")} == {"img0.png", "img1.png", "img2.png"}
    # filter: only without caption
    at.checkbox(key="ds_f_nocap").check().run()
    assert [b.label for b in at.button if b.key and b.key.startswith("ds_open_")] == ["img2.png"]
    at.checkbox(key="ds_f_nocap").uncheck().run()

    # open an image, edit and save its caption, go next
    _button(at, "ds_open_5_ohwx cat/img1.png").click().run()
    area = next(t for t in at.text_area if t.label == "Caption")
    assert area.value == "cat, long_hair"
    area.input("cat, long hair, blue eyes")  # typed: the Save shortcut submits it with the form
    _button(at, "ds_save").click().run()
    assert not at.exception
    assert (f / "img1.txt").read_text() == "cat, long hair, blue eyes"
    _button(at, "ds_next").click().run()
    assert next(t for t in at.text_area if t.label == "Caption").value == ""
    _button(at, "ds_close").click().run()

    # tag table: select via the multiselect, remove, preview, apply, undo
    at.multiselect(key="ds_tag_sel").select("sitting").run()
    _button(at, "ds_preview").click().run()
    assert any("1 of 3 caption(s) would change" in md.value for md in at.markdown)
    _button(at, "ds_apply").click().run()
    assert not at.exception  # the multiselect still holds a tag that no longer exists
    assert (f / "img0.txt").read_bytes() == b"cat\r\n"
    _button(at, "ds_undo").click().run()
    assert (f / "img0.txt").read_bytes() == before["img0.txt"]

    # trigger word: add to all, preview, apply, undo -> exact bytes again (new captions removed)
    snap = {p.name: p.read_bytes() for p in f.glob("*.txt")}
    at.text_input(key="ds_trigger_cats").input("ohwx").run()
    _button(at, "ds_add_all").click().run()
    _button(at, "ds_apply").click().run()
    assert not at.exception
    assert (f / "img2.txt").read_text() == "ohwx"
    assert (f / "img0.txt").read_text().startswith("ohwx, cat")
    assert scan_dataset(ws, "cats").trigger_word == "ohwx"
    _button(at, "ds_undo").click().run()
    assert {p.name: p.read_bytes() for p in f.glob("*.txt")} == snap

    # health check: problems listed, then "show in gallery" narrows the gallery
    at.number_input(key="ds_h_batch").set_value(2)
    _button(at, "ds_health_run").click().run()
    assert not at.exception
    titles = [e.label for e in at.expander]
    assert any("Images without a caption" in t for t in titles)
    assert any("Small images" in t for t in titles)  # 64 px at 512
    key = next(b.key for b in at.button if b.key and b.key.startswith("ds_show_missing_caption"))
    _button(at, key).click().run()
    assert [b.label for b in at.button if b.key and b.key.startswith("ds_open_")] == ["img2.png"]


def test_regex_error_is_shown_not_raised(ws):
    _dataset(ws)
    at = _page().run()
    at.selectbox(key="ds_op").select("Regex replace in every tag").run()
    at.text_input(key="ds_op_pattern").input("(a+)+").run()
    assert not at.exception
    assert any("repeats a repeated group" in e.value for e in at.error)


def test_concept_settings_forms(ws):
    _dataset(ws)
    at = _page().run()
    at.number_input(key="ds_rep_value").set_value(3)
    at.text_input(key="ds_rep_rename").input("tabby")
    next(b for b in at.button if b.label == "Update concept").click().run()
    assert not at.exception
    assert (ws.datasets / "cats" / "3_tabby").is_dir()
    at.text_input(key="ds_add_concept_name").input("dog")
    next(b for b in at.button if b.label == "Add concept").click().run()
    assert (ws.datasets / "cats" / "10_dog").is_dir()
    at.text_input(key="ds_set_trigger").input("ohwx")
    at.text_input(key="ds_set_rename").input("felines")
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception
    assert at.selectbox(key="ds_pick").value == "felines"
    assert scan_dataset(ws, "felines").trigger_word == "ohwx"
    at.checkbox(key="ds_del_confirm").check().run()
    next(b for b in at.button if b.key == "ds_delete").click().run()
    assert not at.exception and not (ws.datasets / "felines").exists()


def test_remove_tags_with_chips(ws):
    f = _dataset(ws)
    at = _page().run()
    _button(at, "ds_open_5_ohwx cat/img1.png").click().run()
    chips = at.button_group(key="ds_chips_5_ohwx cat/img1.png")
    chips.set_value(["long_hair"])  # in the editor form: sent with the button press
    _button(at, "ds_drop_chips").click().run()
    assert not at.exception
    assert (f / "img1.txt").read_text() == "cat"
    assert next(t for t in at.text_area if t.label == "Caption").value == "cat"


def test_gallery_pages_follow_the_filter(ws):
    create_dataset(ws, "many", "c", 1)
    f = ws.datasets / "many" / "1_c"
    for i in range(100):
        Image.new("RGB", (16, 16), (i, 0, 0)).save(f / f"{i:03d}.png")
        if i < 60:
            (f / f"{i:03d}.txt").write_text("common" if i < 55 else "rare")
    at = _page().run()
    opens = lambda: [b.label for b in at.button if b.key and b.key.startswith("ds_open_")]  # noqa: E731
    assert len(opens()) == 24
    at.number_input(key="ds_page").set_value(5).run()
    assert opens() == [f"{i:03d}.png" for i in range(96, 100)]
    at.selectbox(key="ds_f_tag").select("common").run()  # 55 images: 3 pages, so page 5 becomes 3
    assert not at.exception
    assert opens() == [f"{i:03d}.png" for i in range(48, 55)]


def test_what_nyx_shows_is_what_sd_scripts_reads(ws):
    """sd-scripts trains on the first line of a caption file: one whose first line is blank trains as
    empty, so the gallery and the tag table must not show its later text as the caption (issue 8)."""
    f = _dataset(ws)
    (f / "img2.txt").write_text("\nohwx cat, red scarf\n")
    at = _page().run()
    assert not at.exception
    assert "red scarf" not in {o for o in at.selectbox(key="ds_f_tag").options}
    tile_texts = " ".join(c.value for c in at.caption)
    assert "red scarf" not in tile_texts and "trains as empty" in tile_texts
    at.checkbox(key="ds_f_nocap").check().run()  # "without caption" = trains without one
    assert "img2.png" in [b.label for b in at.button if b.key and b.key.startswith("ds_open_")]
    at.checkbox(key="ds_f_nocap").uncheck().run()
    _button(at, "ds_open_5_ohwx cat/img2.png").click().run()
    assert any("first line only" in w.value for w in at.warning)
    _button(at, "ds_save").click().run()  # saving stores what sd-scripts will read: one line
    assert (f / "img2.txt").read_text() == "ohwx cat, red scarf"
    assert not any("first line only" in w.value for w in at.warning)


def test_editor_saves_exactly_the_box_and_joins_lines(ws):
    f = _dataset(ws)
    at = _page().run()
    _button(at, "ds_open_5_ohwx cat/img0.png").click().run()
    _button(at, "ds_next").click().run()  # untouched: moving on rewrites nothing
    assert (f / "img0.txt").read_bytes() == b"cat, sitting\r\n"
    area = next(t for t in at.text_area if t.label == "Caption")
    area.input("cat, long hair\nblue eyes\n")  # typed, then Alt+N: saved, as one line
    _button(at, "ds_next").click().run()
    assert not at.exception
    assert (f / "img1.txt").read_text() == "cat, long hair, blue eyes"
    assert any("as one line" in i.value for i in at.info)  # said next to the editor
    assert not (f / "img2.txt").exists()  # an uncaptioned image gets no file by being visited
    _button(at, "ds_prev").click().run()
    assert next(t for t in at.text_area if t.label == "Caption").value == "cat, long hair, blue eyes"


def test_undo_history_shown_and_hand_edits_listed(ws):
    f = _dataset(ws)
    at = _page().run()
    for tag in ("one", "two"):
        at.text_input(key="ds_trigger_cats").input(tag).run()
        _button(at, "ds_add_all").click().run()
        _button(at, "ds_apply").click().run()
        assert not at.exception
    assert any("Undo history (2 operation(s)" in e.label for e in at.expander)
    (f / "img0.txt").write_text("edited by hand")
    _button(at, "ds_undo").click().run()
    assert not at.exception
    assert any("left alone because they were edited since" in w.value for w in at.warning)
    assert any("5_ohwx cat/img0.txt" in c.value for c in at.code)
    assert (f / "img0.txt").read_text() == "edited by hand"
    assert (f / "img1.txt").read_text() == "one, cat, long_hair"
    assert any("Next undo: add one" in c.value for c in at.caption)


def test_convert_all_shows_what_changes_and_asks_once(ws):
    f = _dataset(ws)
    at = _page().run()
    _button(at, "ds_t_convert").click().run()  # webp by default
    assert not at.exception
    assert sorted(p.name for p in f.glob("*.png")) == ["img0.png", "img1.png", "img2.png"]  # nothing yet
    assert any("3 image(s) will be re-encoded as webp" in m.value for m in at.markdown)
    _button(at, "ds_tool_go").click().run()
    assert not at.exception
    assert sorted(p.name for p in f.glob("*.webp")) == ["img0.webp", "img1.webp", "img2.webp"]
    assert any("Converted 3 image(s)" in s.value for s in at.success)
    _button(at, "ds_t_downscale").click().run()
    assert any("0 image(s) will be shrunk" in m.value for m in at.markdown)
    assert _button(at, "ds_tool_go").disabled
    _button(at, "ds_tool_cancel").click().run()
    assert not any(b.key == "ds_tool_go" for b in at.button)


def test_rename_move_and_delete_one_image_carry_its_caption(ws):
    from nyx_core.datasets.manager import add_concept

    f = _dataset(ws)
    add_concept(ws, "cats", "other", 2)
    (f / "img1.npz").write_bytes(b"latents")
    at = _page().run()
    _button(at, "ds_open_5_ohwx cat/img1.png").click().run()
    at.text_input(key="ds_mv_name_5_ohwx cat/img1.png").input("fluffy.png")
    at.selectbox(key="ds_mv_concept_5_ohwx cat/img1.png").select("other")
    _button(at, "ds_mv_go").click().run()
    assert not at.exception
    other = ws.datasets / "cats" / "2_other"
    assert sorted(p.name for p in other.iterdir()) == ["fluffy.npz", "fluffy.png", "fluffy.txt"]
    assert (other / "fluffy.txt").read_text() == "cat, long_hair" and not (f / "img1.txt").exists()
    assert next(t for t in at.text_area if t.label == "Caption").value == "cat, long_hair"
    _button(at, "ds_del_5_ohwx cat/img0.png").click().run()  # the tile's delete
    assert not at.exception
    assert not (f / "img0.png").exists() and not (f / "img0.txt").exists()
    assert any("Moved img0.png and 1 file(s) with it to the trash" in s.value for s in at.success)
    tiles = " ".join(c.value for c in at.caption)
    assert "66×64 → bucket" in tiles  # size and bucket under each image


def test_a_first_view_draws_every_tile_then_fills_in_its_preview(ws):
    # a dataset's first view: the previews are not made yet; the tiles and the rest of the page come
    # first (names, sizes, captions), and the previews are made last, each into its own tile
    import ast

    from nyx_core.thumbnails import missing_thumbnails

    f = _dataset(ws, n=4)
    (f / "img3.png").write_bytes(b"not an image")
    images = sorted(p for p in f.iterdir() if p.suffix == ".png")
    assert len(missing_thumbnails(ws, images, 256, square=True)) == 4
    at = _page().run()
    assert not at.exception
    assert {b.label for b in at.button if b.key and b.key.startswith("ds_open_")} == {
        "img0.png", "img1.png", "img2.png", "img3.png"}
    assert missing_thumbnails(ws, images, 256, square=True) == [images[3]]  # made, except the bad one
    assert len(at.get("image")) == 3  # each readable image's preview is in its tile
    assert any(w.value == "unreadable" for w in at.warning)
    assert not any("Making preview" in c.value for c in at.caption)
    # made after everything else is drawn: the page's last statement
    tree = ast.parse((REPO_ROOT / "pages" / "datasets.py").read_text())
    assert ast.unparse(tree.body[-1]) == "fill_previews()"


def test_exclude_from_tile_and_panel_then_include_back(ws):
    f = _dataset(ws)
    (f / "img1.npz").write_bytes(b"latents")
    at = _page().run()
    _button(at, "ds_excl_5_ohwx cat/img1.png").click().run()  # the tile's exclude
    assert not at.exception
    kept = ws.datasets / "cats" / ".nyx" / "excluded" / "5_ohwx cat"
    assert sorted(p.name for p in kept.iterdir()) == ["img1.npz", "img1.png", "img1.txt"]
    assert any("Excluded img1.png with img1.npz, img1.txt from training" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Images"] == "2"  # no longer counted
    assert not any(b.key == "ds_open_5_ohwx cat/img1.png" for b in at.button)
    assert any(e.label == "Excluded from training (1)" for e in at.expander)

    # the selected-image panel excludes too
    _button(at, "ds_open_5_ohwx cat/img0.png").click().run()
    _button(at, "ds_excl_go").click().run()
    assert not at.exception and (kept / "img0.png").exists() and (kept / "img0.txt").exists()
    assert any(e.label == "Excluded from training (2)" for e in at.expander)

    # include back: a clash is refused in one line, nothing moves
    Image.new("RGB", (8, 8)).save(f / "img0.png")
    _button(at, "ds_incl_5_ohwx cat/img0.png").click().run()
    assert not at.exception
    assert any("img0.png already exists in 5_ohwx cat" in e.value for e in at.error)
    assert (kept / "img0.png").exists() and (kept / "img0.txt").exists()
    (f / "img0.png").unlink()
    _button(at, "ds_incl_5_ohwx cat/img1.png").click().run()
    assert not at.exception
    assert sorted(p.name for p in f.glob("img1*")) == ["img1.npz", "img1.png", "img1.txt"]
    assert any("img1.png is back in 5_ohwx cat" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Images"] == "2"

    # its concept is gone: the row asks for one, and includes into it
    (f).rename(ws.datasets / "cats" / "3_kitten")
    at.run()
    assert at.selectbox(key="ds_incl_to_5_ohwx cat/img0.png").value == "kitten"
    _button(at, "ds_incl_5_ohwx cat/img0.png").click().run()
    assert not at.exception
    assert (ws.datasets / "cats" / "3_kitten" / "img0.png").exists()
    assert not any(e.label.startswith("Excluded from training") for e in at.expander)


def test_exclude_every_image_the_filter_shows(ws):
    f = _dataset(ws, n=4)  # img0 "cat, sitting", img1 "cat, long_hair", img2/img3 uncaptioned
    at = _page().run()
    assert not any(b.key == "ds_excl_all" for b in at.button)  # no filter: nothing to act on
    at.checkbox(key="ds_f_nocap").check().run()
    go = _button(at, "ds_excl_all")
    assert go.disabled  # asks first
    at.checkbox(key="ds_excl_all_ok").check().run()
    _button(at, "ds_excl_all").click().run()
    assert not at.exception, at.exception
    kept = ws.datasets / "cats" / ".nyx" / "excluded" / "5_ohwx cat"
    assert sorted(p.name for p in kept.iterdir()) == ["img2.png", "img3.png"]
    assert sorted(p.name for p in f.iterdir()) == ["img0.png", "img0.txt", "img1.png", "img1.txt"]
    assert any("Excluded 2 image(s) from training" in s.value for s in at.success)
    assert any(e.label == "Excluded from training (2)" for e in at.expander)


def test_undo_an_older_history_entry_from_its_row(ws):
    f = _dataset(ws)
    before = (f / "img0.txt").read_bytes()
    at = _page().run()
    for tag in ("one", "two"):
        at.text_input(key="ds_trigger_cats").input(tag).run()
        _button(at, "ds_add_all").click().run()
        _button(at, "ds_apply").click().run()
    (f / "img2.txt").write_text("mine")  # img2's caption was created by "one", rewritten by "two", now by hand
    rows = [b for b in at.button if b.key and b.key.startswith("ds_undo_entry_")]
    assert len(rows) == 2 and all(b.label == "Undo this" for b in rows)
    rows[1].click().run()  # the older entry, "add one", out of order
    assert not at.exception
    assert any("Undid 'add one at the front': 0 caption(s) restored; 3 left alone" in w.value for w in at.warning)
    assert any("5_ohwx cat/img0.txt  (rewritten since by: add two at the front)" in c.value for c in at.code)
    assert (f / "img0.txt").read_bytes() == b"two, one, cat, sitting\r\n"
    assert any(e.label.startswith("Undo history (1 operation(s)") for e in at.expander)
    # the newest entry still undoes as before: "two" comes off, hand edit kept
    _button(at, "ds_undo").click().run()
    assert (f / "img0.txt").read_bytes() == b"one, cat, sitting\r\n" and (f / "img2.txt").read_text() == "mine"
    assert not any(b.key and b.key.startswith("ds_undo_entry_") for b in at.button)
    assert before != (f / "img0.txt").read_bytes()
