"""The Files page in a real browser: create a folder, upload, rename, delete, restore — checked on disk."""
from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.timeout(180)


def _eventually(check, timeout: float = 15.0) -> None:  # noqa: ANN001
    """Disk changes land when Streamlit's rerun finishes; poll instead of sleeping a fixed time."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.2)


def _open_files_page(page, url: str) -> None:
    page.goto(url + "/files")
    wait_for_app(page)
    # Whatever the default page is, the sidebar link leads to Files.
    nav = page.get_by_test_id("stSidebarNav").get_by_role("link", name="Files", exact=True)
    if nav.count():
        nav.first.click()
        wait_for_app(page)
    page.get_by_role("heading", name="Files").first.wait_for()


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_for_app(page)


def _select(page, name: str) -> None:
    ms = page.get_by_test_id("stMultiSelect").filter(has_text="Selected items")
    ms.get_by_role("combobox").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app(page)


def test_create_upload_rename_delete_restore(page, app_server, tmp_path: Path) -> None:
    ws = app_server.workspace
    _open_files_page(page, app_server.url)

    # Create a folder, then open it from the folder tree.
    _fill(page, "New folder name", "shots")
    page.get_by_role("button", name="Create folder").click()
    wait_for_app(page)
    _eventually(lambda: (ws / "shots").is_dir())
    page.get_by_test_id("stSidebar").get_by_role("button", name=re.compile(r"shots$")).click()
    wait_for_app(page)
    page.get_by_text("Upload files to /shots").wait_for()

    # Upload a real PNG through the uploader's file input.
    buf = io.BytesIO()
    Image.new("RGB", (320, 200), (180, 60, 200)).save(buf, "PNG")
    png = buf.getvalue()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "cat.png", "mimeType": "image/png", "buffer": png}])
    _eventually(lambda: (ws / "shots" / "cat.png").is_file())
    assert (ws / "shots" / "cat.png").read_bytes() == png
    wait_for_app(page)

    # Select it (the keyboard-friendly selection box) and rename it.
    _select(page, "cat.png")
    page.get_by_role("img", name="cat.png").or_(page.get_by_text("Full size")).first.wait_for()
    _fill(page, "New name", "kitty.png")
    page.get_by_role("button", name="Rename").click()
    _eventually(lambda: (ws / "shots" / "kitty.png").is_file() and not (ws / "shots" / "cat.png").exists())
    wait_for_app(page)
    page.screenshot(path=str(tmp_path / "files-desktop.png"), full_page=True)

    # Delete asks first, then moves to the trash.
    page.get_by_role("button", name=re.compile(r"Delete \(1\)")).click()
    wait_for_app(page)
    assert (ws / "shots" / "kitty.png").exists()
    page.get_by_role("button", name="Yes, move to trash").click()
    _eventually(lambda: not (ws / "shots" / "kitty.png").exists())
    trashed = list((ws / ".trash").glob("*/item/kitty.png"))
    assert len(trashed) == 1 and trashed[0].read_bytes() == png
    wait_for_app(page)

    # Restore from the Trash section: the bytes come back to the same place.
    page.get_by_text(re.compile(r"Trash \(1\)")).click()
    page.get_by_role("button", name=re.compile("Restore")).click()
    _eventually(lambda: (ws / "shots" / "kitty.png").is_file())
    assert (ws / "shots" / "kitty.png").read_bytes() == png
    _eventually(lambda: not list((ws / ".trash").iterdir()))
    wait_for_app(page)

    # Uploading a name that exists asks: keep both / replace / skip. Nothing is overwritten meanwhile.
    # (A real image: images uploaded through Files are checked like a dataset import.)
    buf2 = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buf2, "PNG")
    png2 = buf2.getvalue()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "kitty.png", "mimeType": "image/png", "buffer": png2}])
    wait_for_app(page)
    page.get_by_text("already exist").first.wait_for()
    assert (ws / "shots" / "kitty.png").read_bytes() == png
    page.get_by_test_id("stRadio").filter(has_text="already exists").get_by_text("Keep both").click()
    wait_for_app(page)
    page.get_by_role("button", name="Apply to uploads").click()
    _eventually(lambda: (ws / "shots" / "kitty (1).png").is_file())
    assert (ws / "shots" / "kitty (1).png").read_bytes() == png2
    assert (ws / "shots" / "kitty.png").read_bytes() == png
    wait_for_app(page)

    # Download the folder: a zip built on the fly holding both files.
    page.get_by_role("button", name="workspace").first.click()
    wait_for_app(page)
    _select(page, "shots")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download shots.zip").click()
    with zipfile.ZipFile(download.value.path()) as zf:
        assert sorted(zf.namelist()) == ["shots/kitty (1).png", "shots/kitty.png"]
        assert zf.read("shots/kitty.png") == png

    page.set_viewport_size({"width": 390, "height": 844})
    wait_for_app(page)
    page.screenshot(path=str(tmp_path / "files-phone.png"), full_page=True)
    print("screenshots:", tmp_path)
