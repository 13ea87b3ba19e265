"""The pod start in a real browser: `provisioning/runpod.sh` as a pod runs it (set-up on its offline
path, a generated password, Streamlit on 0.0.0.0 under the restart loop) on a free local port.
Every page needs the password and a wrong one is refused; killing the Streamlit process while a
stand-in run trains brings the UI back and the run finishes."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nyx_core.jobs import JobManager, JobSpec, JobState
from nyx_core.settings import Settings
from nyx_core.workspace import Workspace
from tests.e2e.conftest import _free_port, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
REPO = Path(__file__).resolve().parents[2]
#: every page app.py registers (the home page is served at /)
PAGES = ("", *(p for p in re.findall(r'url_path="([\w-]+)"', (REPO / "app.py").read_text()) if p != "signin"))


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{log.read_text(errors='replace')}" if log and log.exists() else ""))


@pytest.fixture
def pod(tmp_path):
    """runpod.sh with no NYX_PASSWORD: it generates one, prints it once and stores it."""
    port = _free_port()
    ws = tmp_path / "workspace"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NYX_", "HF_TOKEN", "CIVITAI_TOKEN"))}
    env.update(NYX_WORKSPACE=str(ws), NYX_PORT=str(port), NYX_PYTHON=sys.executable, NYX_OFFLINE="1",
               NYX_RESTART_DELAY="1", PYTHONUNBUFFERED="1", RUNPOD_POD_ID="abc123")
    out = tmp_path / "pod.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(["bash", "provisioning/runpod.sh"], cwd=REPO, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(url), 90, "the pod's UI", out)
        yield url, ws, out, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the loop's trap stops Streamlit and exits
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _sign_in(pg, password: str) -> None:
    pg.get_by_label("Password", exact=True).fill(password)
    pg.get_by_role("button", name="Sign in").click()
    pg.get_by_role("link", name="Monitor").first.wait_for()


def test_pod_start_password_gate_and_ui_restart_while_training(browser, pod):
    url, ws_root, out, proc = pod
    printed = out.read_text()
    assert f"runpod: open https://abc123-{url.rsplit(':', 1)[1]}.proxy.runpod.net" in printed
    assert "== Nyx set-up report" in printed  # set-up ran (offline path) before the UI
    m = re.search(r"Generated dashboard password \(shown only now[^)]*\): (\S+)", printed)
    assert m, printed
    password = m.group(1)
    assert password not in (ws_root / "logs" / "ui.log").read_text()
    assert "0.0.0.0" in (ws_root / "logs" / "ui.log").read_text() or "0.0.0.0" in printed

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    try:
        for path in PAGES:  # every page, asked for directly, shows only the sign-in form
            pg.goto(f"{url}/{path}")
            wait_for_app(pg)
            pg.get_by_label("Password", exact=True).wait_for()
            assert pg.get_by_role("link", name="Files").count() == 0, path
            assert pg.get_by_role("heading", name=re.compile("Files|Settings|Monitor|Datasets")).count() == 0, path
        pg.goto(url)
        wait_for_app(pg)
        pg.get_by_label("Password", exact=True).fill(password + "x")
        pg.get_by_role("button", name="Sign in").click()
        pg.get_by_text("Wrong password.").wait_for()
        assert pg.get_by_role("link", name="Monitor").count() == 0
        _sign_in(pg, password)

        # a run trains while the UI process is killed outright
        ws = Workspace.open(ws_root)
        out_dir = ws.outputs / "pod"
        spec = JobSpec(
            argv=[sys.executable, "-m", "nyx_dev.standin", "--synth", "--steps", "100", "--epochs", "2",
                  "--step-time", "0.1", "--output-dir", str(out_dir), "--output-name", "pod"],
            env={"PYTHONPATH": str(REPO)}, expected_output=str(out_dir / "pod.safetensors"), output_dir=str(out_dir),
        )
        jm = JobManager(ws, Settings())
        job = jm.submit(spec, "pod")
        try:
            _wait(lambda: jm.progress(job.id).step >= 5, 30, "the run to train")
            ui_pid = int((ws_root / "logs" / "ui.pid").read_text())
            os.kill(ui_pid, signal.SIGKILL)
            _wait(lambda: not _healthy(url), 10, "the UI to go down")
            step_when_killed = jm.progress(job.id).step
            _wait(lambda: _healthy(url), 60, "the restart loop to bring the UI back", ws_root / "logs" / "ui.log")
            assert int((ws_root / "logs" / "ui.pid").read_text()) != ui_pid
            assert "the UI exited (137); restarting" in (ws_root / "logs" / "ui.log").read_text()
            assert jm.get(job.id).state == JobState.RUNNING  # the run never noticed

            pg.goto(url)  # a new server: sign in again, then the run is there
            wait_for_app(pg)
            _sign_in(pg, password)
            pg.get_by_role("link", name="Monitor").first.click()
            pg.get_by_role("heading", name="Monitor").wait_for()
            done = jm.wait(job.id, 60)
            assert done.state == JobState.COMPLETED
            assert jm.progress(job.id).step > step_when_killed
            assert (out_dir / "pod.safetensors").is_file()
        finally:
            jm.stop(job.id)
            jm.wait(job.id, 30)
    finally:
        ctx.close()
    assert proc.poll() is None  # the loop itself is still there, serving
