"""Real-browser fixtures: a real `streamlit run app.py` on a free localhost port, and Playwright
driving Debian's chromium. Skipped (not failed) only where chromium is missing."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, url: str, workspace: Path, proc: subprocess.Popen, log: Path):
        self.url, self.workspace, self.proc, self.log = url, workspace, proc, log


def start_app(tmp_path: Path, extra_env: dict[str, str] | None = None) -> AppServer:
    """`streamlit run app.py` on a free localhost port against a fresh workspace."""
    port = _free_port()
    workspace = tmp_path / "workspace"
    env = {k: v for k, v in os.environ.items() if k not in ("NYX_PASSWORD", "HF_TOKEN", "CIVITAI_TOKEN")}
    env.update(NYX_WORKSPACE=str(workspace), PYTHONUNBUFFERED="1", **(extra_env or {}))
    log = tmp_path / f"streamlit-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return AppServer(url, workspace, proc, log)
        except OSError:
            time.sleep(0.3)
    stop_app(proc)
    pytest.fail("streamlit did not start:\n" + log.read_text(errors="replace"))


def stop_app(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 15)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    """Browser tests wait on a real browser and a real server sharing two cores with the rest of
    the suite; a click that times out under that load gets one fresh retry (a new server, tab
    and workspace). A real defect fails both tries. Unit tests are never retried."""
    for item in items:
        if "/e2e/" in str(item.fspath) and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[AppServer]:
    """Starts the app against a fresh workspace; yields its URL and workspace path."""
    server = start_app(tmp_path)
    try:
        yield server
    finally:
        stop_app(server.proc)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (tests/run.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    """A fresh browser tab, with a phone-to-desktop-friendly viewport, at the app's root."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    ctx.close()


def wait_for_app(pg) -> None:
    """Wait until Streamlit has finished running the script (no 'running' indicator)."""
    pg.wait_for_selector('[data-testid="stApp"]')
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=30_000,
    )
    try:  # elements left from the previous run are marked stale until the new run has drawn them
        pg.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=10_000)
    except Exception:  # noqa: BLE001 - a page that reruns on its own may never be fully still
        pass
    pg.wait_for_timeout(300)
