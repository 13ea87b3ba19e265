"""The Step calculator in a real browser: change inputs, the step count follows."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_role("spinbutton", name=label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def test_calculator_updates_live(page, app_server) -> None:
    page.goto(app_server.url + "/calculator")
    wait_for_app(page)
    page.get_by_role("heading", name="Step calculator").wait_for()
    assert _metric(page, "Total optimisation steps") == "2,000"

    _set_number(page, "Number of images", 7)
    _set_number(page, "Repeats", 1)
    _set_number(page, "Batch size", 3)
    _set_number(page, "Gradient accumulation", 2)
    _set_number(page, "Epochs", 5)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')].some(e => e.innerText.trim() === '10')"
    )
    assert _metric(page, "Total optimisation steps") == "10"
    assert _metric(page, "Steps per epoch") == "2"

    page.get_by_text("Steps", exact=True).click()
    wait_for_app(page)
    _set_number(page, "Steps", 1)
    assert _metric(page, "Total optimisation steps") == "1"
    page.get_by_text("less than one epoch").first.wait_for()
