"""Training setup in a real browser: create a config, change fields, watch the step count and the
pre-flight check update, save, and find the change in the file on disk."""
from __future__ import annotations

import re

import pytest

from nyx_core.config import load_config
from nyx_core.workspace import Workspace
from tests.e2e.conftest import wait_for_app
from tests.test_config_support import fake_checkpoint, make_dataset

pytestmark = pytest.mark.e2e


def _select(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def _metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.locator('[data-testid="stMetricValue"]').inner_text()


def test_create_edit_save(page, app_server) -> None:
    ws = Workspace.open(app_server.workspace)
    make_dataset(ws, "cats")  # 3 images in 10_ohwx cat
    fake_checkpoint(ws.models / "base.safetensors", "sd15")

    page.goto(app_server.url + "/training")
    wait_for_app(page)
    page.get_by_role("heading", name="Training setup").wait_for()

    page.get_by_role("button", name="New config").click()
    page.get_by_label("Name", exact=True).fill("browser-lora")
    _select(page, "Dataset", "cats")
    page.get_by_role("button", name="Create").click()
    wait_for_app(page)
    page.get_by_text("Created configs/browser-lora.toml").wait_for()
    assert (app_server.workspace / "configs" / "browser-lora.toml").is_file()

    # 3 images x 10 repeats, batch 1, 10 epochs; no base model yet -> a pre-flight error
    page.wait_for_function("() => document.body.innerText.includes('Training steps')")
    steps_before = _metric(page, "Training steps")
    preflight = page.locator(".st-key-tc_preflight")
    assert "Model › Base model" in preflight.inner_text()
    assert page.get_by_role("button", name="▶ Start training").is_disabled()

    page.get_by_role("tab", name="Dataset").click()
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("4")
    epochs.press("Enter")
    wait_for_app(page)
    page.wait_for_function(
        "(before) => { const m = [...document.querySelectorAll('[data-testid=stMetric]')]"
        ".find(e => e.innerText.includes('Training steps'));"
        " return m && !m.innerText.includes(before); }", arg=steps_before)
    after = _metric(page, "Training steps")
    assert int(re.sub(r"\D", "", after)) * 10 == int(re.sub(r"\D", "", steps_before)) * 4

    page.get_by_role("tab", name="Model").click()
    _select(page, "Base model", "base.safetensors")
    wait_for_app(page)
    page.wait_for_function(
        "() => !document.querySelector('.st-key-tc_preflight').innerText.includes('Model › Base model')")

    page.locator(".st-key-tc_save button").click()
    wait_for_app(page)
    page.get_by_text("Saved configs/browser-lora.toml").wait_for()
    cfg = load_config(app_server.workspace / "configs" / "browser-lora.toml")
    assert cfg.dataset.max_train_epochs == 4
    assert cfg.model.base_model == "base.safetensors"
    assert cfg.dataset.name == "cats"


def _dim(page):
    page.get_by_role("tab", name="Network").click()
    return page.get_by_label("Dim (rank)", exact=True)


def _set_dim(page, value: int) -> None:
    box = _dim(page)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def _pick(page, name: str) -> None:
    _select(page, "Config", name)
    wait_for_app(page)


def test_switch_between_two_configs_and_edit_each(page, app_server) -> None:
    """Issue 8: an SDXL config once got saved with the SD1.5 config's name, family and base model,
    because the browser kept the first config's widget values after the switch."""
    from nyx_core.config import save_config
    from tests.test_config_support import ready_config

    ws = Workspace.open(app_server.workspace)
    cfg_dir = app_server.workspace / "configs"
    save_config(ready_config(ws, "sd15", network={"dim": 7}, project={"name": "one"}), cfg_dir / "a-sd15.toml")
    save_config(ready_config(ws, "sdxl", network={"dim": 64}, project={"name": "two"}), cfg_dir / "b-sdxl.toml")

    page.goto(app_server.url + "/training")
    wait_for_app(page)
    assert _dim(page).input_value() == "7"
    _set_dim(page, 16)
    page.locator(".st-key-tc_save button").click()
    wait_for_app(page)
    page.get_by_text("Saved configs/a-sd15.toml").wait_for()

    _pick(page, "b-sdxl")
    assert _dim(page).input_value() == "64"
    _set_dim(page, 32)
    page.locator(".st-key-tc_save button").click()
    wait_for_app(page)
    page.get_by_text("Saved configs/b-sdxl.toml").wait_for()
    b = load_config(cfg_dir / "b-sdxl.toml")
    assert (b.model.family.value, b.network.dim, b.project.name, b.model.base_model) == \
        ("sdxl", 32, "two", "base-sdxl.safetensors")
    a = load_config(cfg_dir / "a-sd15.toml")
    assert (a.model.family.value, a.network.dim, a.project.name) == ("sd15", 16, "one")

    # an unsaved edit stays with its own config, in both directions
    _pick(page, "a-sd15")
    assert _dim(page).input_value() == "16"
    _set_dim(page, 20)
    _pick(page, "b-sdxl")
    assert _dim(page).input_value() == "32"
    page.get_by_text("Unsaved changes kept for: a-sd15").wait_for()
    _pick(page, "a-sd15")
    assert _dim(page).input_value() == "20"
    page.get_by_text("Unsaved changes", exact=True).wait_for()
    assert load_config(cfg_dir / "a-sd15.toml").network.dim == 16  # nothing written behind the user's back

    # leaving the page and coming back opens the config you were on
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Home").click()
    wait_for_app(page)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Training setup").click()
    wait_for_app(page)
    page.get_by_role("heading", name="Training setup").wait_for()
    assert _dim(page).input_value() == "20"
    assert load_config(cfg_dir / "b-sdxl.toml").network.dim == 32
