"""The Monitor page in a real browser: a running job's chart updates live, survives a reload and
keeps moving, and the Stop button (with confirmation) stops the real process tree."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from nyx_core.jobs import JobManager, JobSpec, JobState
from nyx_core.jobs.store import read_status
from nyx_core.jobs import control
from nyx_core.settings import Settings
from nyx_core.workspace import Workspace
from tests.e2e.conftest import wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
REPO = Path(__file__).resolve().parents[2]
STEP = re.compile(r"step (\d+)/(\d+)")


def _step(page) -> int:
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    m = STEP.search(text)
    return int(m.group(1)) if m else -1


def _wait_step_above(page, n: int, timeout_ms: int = 30_000) -> int:
    page.wait_for_function(
        """(n) => { const el = document.querySelector('[data-testid="stProgress"]');
                   const m = el && el.innerText.match(/step (\\d+)\\//); return m && parseInt(m[1]) > n; }""",
        arg=n, timeout=timeout_ms,
    )
    return _step(page)


def test_monitor_live_chart_reload_and_stop(page, app_server):
    ws = Workspace.open(app_server.workspace)
    out = ws.outputs / "browser"
    tb = ws.root / "tb-browser"
    spec = JobSpec(
        argv=[sys.executable, "-m", "nyx_dev.standin", "--synth", "--steps", "600", "--epochs", "3",
              "--step-time", "0.1", "--output-dir", str(out), "--output-name", "browser", "--tb-dir", str(tb)],
        env={"PYTHONPATH": str(REPO)}, expected_output=str(out / "browser.safetensors"), output_dir=str(out),
        tb_dir=str(tb), stop_grace_s=(5.0, 3.0),
    )
    jm = JobManager(ws, Settings())
    job = jm.submit(spec, "browser")
    try:
        page.goto(app_server.url + "/monitor")
        wait_for_app(page)
        page.get_by_role("heading", name="Monitor").wait_for()
        first = _wait_step_above(page, 0)
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        later = _wait_step_above(page, first + 3)
        assert later > first

        page.reload()
        wait_for_app(page)
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        after_reload = _wait_step_above(page, later - 1)  # the progress survived the reload
        moving = _wait_step_above(page, after_reload + 3)
        assert moving > after_reload
        page.locator(".js-plotly-plot").first.wait_for(timeout=10_000)  # (re-drawn every 2 s)

        pgid = read_status(job.dir).child_pgid
        page.get_by_role("button", name="Stop", exact=True).click()
        page.get_by_text("Stop now?").wait_for()
        page.get_by_role("button", name="Yes, stop").click()
        done = jm.wait(job.id, 40)
        assert done.state == JobState.STOPPED
        assert control.group_members(pgid) == []
        page.get_by_text("stopped on request").first.wait_for(timeout=30_000)
    finally:
        jm.stop(job.id)
        jm.wait(job.id, 30)


@pytest.fixture
def quick_standin(monkeypatch):
    """Set before app_server starts, so the server (and the runners it launches) inherit it."""
    monkeypatch.setenv("NYX_STANDIN_STEP_TIME", "0.05")


def test_start_on_the_training_page_lands_on_the_monitor(quick_standin, page, app_server, tmp_path):
    from nyx_core.config import new_config, save_config
    from nyx_dev.standin import make_fake_sd_scripts
    from tests.test_config_support import fake_checkpoint, make_dataset

    ws = Workspace.open(app_server.workspace)
    make_dataset(ws, "cats")
    fake_checkpoint(ws.models / "base.safetensors", "sd15")
    save_config(new_config("from-page", dataset={"name": "cats", "max_train_epochs": 2},
                           model={"base_model": "base.safetensors"}), ws.configs / "from-page.toml")
    Settings(sd_scripts_dir=make_fake_sd_scripts(tmp_path / "sd-scripts"), sd_scripts_python=Path(sys.executable),
             launcher="python").save(ws.root)

    page.goto(app_server.url + "/training")
    wait_for_app(page)
    page.get_by_role("button", name="▶ Start training").click()
    page.wait_for_url(re.compile(r".*/monitor"), timeout=30_000)
    page.get_by_role("heading", name="Monitor").wait_for()
    page.get_by_text(re.compile(r"Completed in")).first.wait_for(timeout=60_000)
    [job] = JobManager(ws, Settings.load(ws.root)).list()
    assert job.name == "from-page" and job.state == JobState.COMPLETED
    page.locator(".js-plotly-plot").first.wait_for(timeout=10_000)


def test_the_page_says_what_is_true_when_a_run_ends_while_another_is_shown(page, app_server):
    """Viewing a finished run while another one runs: when that one ends, the page (the "Now"
    panel and the run selector) says so without any click."""
    ws = Workspace.open(app_server.workspace)
    jm = JobManager(ws, Settings())

    def spec(name, steps):
        out = ws.outputs / name
        return JobSpec(argv=[sys.executable, "-m", "nyx_dev.standin", "--synth", "--steps", str(steps), "--epochs",
                             "1", "--step-time", "0.1", "--output-dir", str(out), "--output-name", name],
                       env={"PYTHONPATH": str(REPO)}, expected_output=str(out / f"{name}.safetensors"),
                       output_dir=str(out))

    done = jm.wait(jm.submit(spec("earlier", 2), "earlier").id, 60)
    assert done.state == JobState.COMPLETED
    running = jm.submit(spec("later", 80), "later")
    try:
        page.goto(app_server.url + f"/monitor?job={done.id}")
        wait_for_app(page)
        page.get_by_text(re.compile(r"later · running")).first.wait_for(timeout=30_000)  # in "Now"
        page.get_by_text(re.compile(r"Completed in")).first.wait_for(timeout=30_000)  # the earlier run is shown
        assert jm.wait(running.id, 60).state == JobState.COMPLETED
        page.get_by_text("No run is active.").wait_for(timeout=30_000)  # redrawn by itself
    finally:
        jm.stop(running.id)
        jm.wait(running.id, 30)
