"""The app shell in a real browser: it starts, navigates, and the Settings page saves."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e


def test_shell_navigates_and_saves_settings(page, app_server) -> None:
    page.goto(app_server.url + "/settings")
    wait_for_app(page)
    page.get_by_role("heading", name="Settings").wait_for()
    page.get_by_label("Webhook URL for 'run finished' notifications").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Saved.", exact=True).wait_for()
    assert 'webhook_url = "http://127.0.0.1:9/hook"' in (app_server.workspace / "settings.toml").read_text()
    # Every section of the navigation is there.
    for label in ("Datasets", "Training setup", "Monitor", "Step calculator", "Files", "Settings"):
        page.get_by_role("link", name=label).first.wait_for()


def test_password_gate_on_a_fresh_server(browser, tmp_path) -> None:
    """The very first request to a fresh server, straight to a page URL, still meets the login form."""
    from tests.e2e.conftest import start_app, stop_app

    server = start_app(tmp_path, {"NYX_PASSWORD": "open sesame"})
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(20_000)
        pg.goto(server.url + "/settings")
        wait_for_app(pg)
        pg.get_by_label("Password", exact=True).fill("wrong")
        pg.get_by_role("button", name="Sign in").click()
        pg.get_by_text("Wrong password.").wait_for()
        assert pg.get_by_role("heading", name="Settings").count() == 0
        pg.get_by_label("Password", exact=True).fill("open sesame")
        pg.get_by_role("button", name="Sign in").click()
        pg.get_by_role("link", name="Settings").first.wait_for()
        # Sign out: back to the form, and the app is gone.
        pg.get_by_role("button", name="Sign out").click()
        pg.get_by_role("button", name="Sign in").wait_for()
        # the signed-in page's elements go once the rerun that replaced them has finished
        expect(pg.get_by_role("link", name="Settings")).to_have_count(0, timeout=20_000)
    finally:
        ctx.close()
        stop_app(server.proc)
