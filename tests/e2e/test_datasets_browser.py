"""The Datasets page in a real browser: create, upload images + a zip, edit a caption, trigger word, undo."""
from __future__ import annotations

import io
import os
import zipfile

import pytest
from PIL import Image

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e


def _png(path, color, size=(96, 64)):
    Image.new("RGB", size, color).save(path)
    return path


def _commit(page, locator, text, *, area=False):
    locator.fill(text)
    # text widgets send their value on Enter (Ctrl+Enter in a text area) or blur
    locator.press("Control+Enter" if area else "Enter")
    wait_for_app(page)


def test_dataset_workflow_in_browser(page, app_server, tmp_path):
    files = [_png(tmp_path / "red.png", "red"), _png(tmp_path / "green.png", "green"), _png(tmp_path / "blue.jpg", "blue")]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, color in (("z1.png", "white"), ("z2.png", "black")):
            b = io.BytesIO()
            Image.new("RGB", (80, 80), color).save(b, "PNG")
            zf.writestr(name, b.getvalue())
        zf.writestr("z1.txt", "from zip, white")
    zpath = tmp_path / "more.zip"
    zpath.write_bytes(buf.getvalue())

    page.goto(app_server.url + "/datasets")
    wait_for_app(page)
    page.get_by_role("heading", name="Datasets").first.wait_for()

    # create
    page.get_by_label("Dataset name").fill("cats")
    page.get_by_label("First concept").fill("ohwx cat")
    page.get_by_role("button", name="Create dataset").click()
    page.get_by_text("Created dataset").wait_for()
    wait_for_app(page)
    concept = app_server.workspace / "datasets" / "cats" / "10_ohwx cat"
    assert concept.is_dir()

    # upload 3 images and a zip in one go
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(p) for p in files] + [str(zpath)])
    page.get_by_text("5 image(s) imported").wait_for(timeout=30_000)
    wait_for_app(page)
    assert sorted(p.name for p in concept.iterdir()) == ["blue.jpg", "green.png", "red.png", "z1.png", "z1.txt", "z2.png"]

    # open an image and edit its caption
    page.get_by_role("button", name="red.png", exact=True).click()
    wait_for_app(page)
    area = page.get_by_role("textbox", name="Caption", exact=True)
    area.wait_for()
    _commit(page, area, "ohwx cat, red background", area=True)
    page.locator(".st-key-ds_save button").click()
    wait_for_app(page)
    assert (concept / "red.txt").read_text() == "ohwx cat, red background"
    page.screenshot(path=str(tmp_path / "editor.png"), full_page=False)
    if os.environ.get("NYX_SHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["NYX_SHOT_DIR"], "datasets_editor.png"), full_page=True)
    before = {p.name: p.read_bytes() for p in concept.glob("*.txt")}

    # trigger word for all: preview, apply
    _commit(page, page.get_by_label("Trigger word", exact=True), "sks")
    page.get_by_role("button", name="Add to all").click()
    page.get_by_text("would change").wait_for()
    page.locator(".st-key-ds_apply button").click()
    page.get_by_text("caption(s) changed").wait_for()
    wait_for_app(page)
    caps = {p.name: p.read_text() for p in concept.glob("*.txt")}
    assert len(caps) == 5 and all(t.startswith("sks") for t in caps.values())
    assert caps["red.txt"] == "sks, ohwx cat, red background"

    # undo puts back exactly what was there (captions the op created are gone again)
    page.locator(".st-key-ds_undo button").click()
    page.get_by_text("caption(s) restored").wait_for()
    assert {p.name: p.read_bytes() for p in concept.glob("*.txt")} == before
    # the AG Grid tag table drives the bulk operations too: tick "white", preview a removal
    wait_for_app(page)
    grid = page.frame_locator("iframe[title='st_aggrid.AgGrid.agGrid']").first
    row = grid.locator(".ag-row", has_text="white")
    row.locator("input[type=checkbox], .ag-checkbox-input").first.click()
    wait_for_app(page)
    page.locator(".st-key-ds_preview button").click()
    page.get_by_text("1 of 5 caption(s) would change").wait_for()

    if os.environ.get("NYX_SHOT_DIR"):  # for a human look at the tag table and health panel
        wait_for_app(page)
        page.get_by_role("heading", name="Tags").scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        page.screenshot(path=os.path.join(os.environ["NYX_SHOT_DIR"], "datasets_tags.png"))
        page.locator(".st-key-ds_health_run button").click()
        wait_for_app(page)
        page.get_by_role("heading", name="Health check").scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        page.screenshot(path=os.path.join(os.environ["NYX_SHOT_DIR"], "datasets_health.png"))
