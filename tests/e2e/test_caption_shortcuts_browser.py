"""Caption editor shortcuts in a real browser: type a caption, press Alt+S (saves exactly what is in
the box, box keeps it), type another, press Alt+N (saves, then moves on)."""
from __future__ import annotations

import pytest
from PIL import Image

from nyx_core.datasets import manager
from nyx_core.workspace import Workspace
from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e


def test_type_then_alt_s_and_alt_n(page, app_server):
    ws = Workspace.open(app_server.workspace)
    manager.create_dataset(ws, "cats", "ohwx cat", 10)
    concept = app_server.workspace / "datasets" / "cats" / "10_ohwx cat"
    for name, color in (("a.png", "red"), ("b.png", "green"), ("c.png", "blue")):
        Image.new("RGB", (64, 64), color).save(concept / name)

    page.goto(app_server.url + "/datasets")
    wait_for_app(page)
    page.get_by_role("button", name="a.png", exact=True).click()
    wait_for_app(page)
    area = page.get_by_role("textbox", name="Caption", exact=True)
    area.click()
    page.keyboard.type("ohwx cat, red")  # typed, not committed: no blur, no Ctrl+Enter
    page.keyboard.press("Alt+s")
    wait_for_app(page)
    page.wait_for_timeout(500)
    wait_for_app(page)
    assert (concept / "a.txt").read_text() == "ohwx cat, red"
    assert page.get_by_role("textbox", name="Caption", exact=True).input_value() == "ohwx cat, red"

    area = page.get_by_role("textbox", name="Caption", exact=True)
    area.click()
    page.keyboard.press("End")
    page.keyboard.type(", sitting")
    page.keyboard.press("Alt+n")
    wait_for_app(page)
    page.wait_for_timeout(500)
    wait_for_app(page)
    assert (concept / "a.txt").read_text() == "ohwx cat, red, sitting"
    page.get_by_text("b.png — 2 of 3").wait_for()
    area = page.get_by_role("textbox", name="Caption", exact=True)
    assert area.input_value() == ""
    area.click()
    page.keyboard.type("ohwx cat, green")
    page.keyboard.press("Alt+n")
    wait_for_app(page)
    page.get_by_text("c.png — 3 of 3").wait_for()
    assert (concept / "b.txt").read_text() == "ohwx cat, green"
