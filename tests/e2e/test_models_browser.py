"""The Models page in a real browser: a download typed into the form shows live byte progress
(the fragment updates without a reload), survives a reload, then the model is in the library."""
from __future__ import annotations

import re

import pytest

from tests import model_fixtures as fx
from tests.e2e.conftest import wait_for_app
from tests.model_servers import FileServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_download_progress_live_then_listed(page, app_server, tmp_path):
    data = fx.write_safetensors(tmp_path / "sdxl.safetensors", fx.sdxl_checkpoint(), sparse=False).read_bytes()
    with FileServer(files={"/sdxl.safetensors": data}, chunk_delay=0.02) as srv:  # ~6 s
        page.goto(app_server.url + "/models")
        wait_for_app(page)
        page.get_by_role("tab", name="Get models").click()
        page.get_by_label("Source").fill(srv.url("/sdxl.safetensors"))
        page.get_by_role("button", name="Download").click()
        page.get_by_text("Downloads and uploads").wait_for()
        page.get_by_text(re.compile(r"of 18\.\d MB")).first.wait_for()  # the size, once the server answers
        first = page.locator('[data-testid="stProgress"]').first.get_attribute("aria-valuenow") or "0"
        page.reload()
        wait_for_app(page)
        page.wait_for_function(
            """(v) => { const el = document.querySelector('[data-testid="stProgress"] [role="progressbar"]');
                       return el && parseFloat(el.getAttribute('aria-valuenow')) > parseFloat(v); }""",
            arg=first, timeout=30_000)
        page.get_by_text("checkpoints/sdxl.safetensors").first.wait_for(timeout=60_000)
    assert (app_server.workspace / "models" / "checkpoints" / "sdxl.safetensors").read_bytes() == data
