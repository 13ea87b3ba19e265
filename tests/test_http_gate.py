"""The HTTP-level gate (issue 14): uploads from sessions that are not signed in are refused before
a byte is read, /_stcore/metrics is not served, foreign Host/Origin or proxy headers are refused
on a passwordless loopback bind, and the shared sign-in throttle. Unit tests on the ASGI wrapper,
then real servers, real websockets and real HTTP PUTs with the server's RSS measured."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from pathlib import Path

import psutil
import pytest

from nyx_core.auth import SignInGuard
from nyx_ui import http_gate
from tests.e2e import conftest as e2e
from tests.hostile_client import drain_until_finished, get, open_session, put_upload, rerun, sign_in

pytestmark = pytest.mark.timeout(180)


# The throttle: per client address and global, across sessions -----------------------------------
def test_throttle_is_per_address_and_global_whatever_the_session() -> None:
    g = SignInGuard(free=3, base_s=2, cap_s=300, global_per_minute=20)
    t = 1000.0
    for _ in range(3):
        assert g.wait_s("1.1.1.1", t) == 0
        g.failure("1.1.1.1", t)
    assert g.wait_s("1.1.1.1", t) == pytest.approx(2)  # the 4th guess waits, from any session
    assert g.wait_s("2.2.2.2", t) == 0  # another address is not punished …
    g.failure("1.1.1.1", t + 2)
    assert g.wait_s("1.1.1.1", t + 2) == pytest.approx(4)  # … and the wait doubles
    # A swarm of addresses: at most 20 failures a minute from everywhere together.
    for i in range(20):
        g.failure(f"10.0.0.{i}", t + 3)
    assert g.wait_s("3.3.3.3", t + 3) > 50
    assert g.wait_s("3.3.3.3", t + 64) == 0
    g.success("1.1.1.1")
    assert g.wait_s("1.1.1.1", t + 64) == 0


def test_guesses_per_minute_are_bounded_for_a_parallel_guesser() -> None:
    """What the review measured: fresh sessions per guess got 17-19 guesses a minute, parallel
    sessions 136-275. Simulated minute: 50 parallel sessions from one address, then from 50."""
    g = SignInGuard()
    checked = 0
    for second in range(60):
        for _session in range(50):
            if g.wait_s("6.6.6.6", float(second)) == 0:
                checked += 1
                g.failure("6.6.6.6", float(second))
    assert checked <= 8
    g = SignInGuard()
    checked = 0
    for second in range(60):
        for n in range(50):
            addr = f"7.7.{second}.{n}"
            if g.wait_s(addr, float(second)) == 0:
                checked += 1
                g.failure(addr, float(second))
    assert checked <= 20


def test_a_fresh_session_per_guess_is_still_throttled(ws, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    from nyx_core.auth import GUARD
    from tests.conftest import REPO_ROOT

    GUARD.reset()
    monkeypatch.setattr(GUARD, "base_s", 60.0)  # this test's runs take seconds; keep the wait long
    monkeypatch.setenv("NYX_PASSWORD", "right")
    seen = []
    for _ in range(6):  # a new AppTest is a new Streamlit session
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=30).run()
        at.text_input[0].input("wrong")
        at.button[0].click().run()
        seen.append(" ".join(e.value for e in at.error))
    GUARD.reset()
    assert ["Wrong password" in s for s in seen] == [True, True, True, False, False, False]
    assert all("Too many failed sign-ins" in s for s in seen[3:])


# The ASGI wrapper, unit-level --------------------------------------------------------------------
class _Inner:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        self.calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _call(gate, path: str, method: str = "GET", headers: list | None = None) -> tuple[int, bool]:
    sent: list[dict] = []
    read = []

    async def receive():
        read.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "path": path, "method": method, "headers": headers or [(b"host", b"127.0.0.1:8501")]}
    # A fresh thread: a session-wide Playwright browser (the e2e tests) keeps an event loop
    # running in the main thread, where asyncio.run() refuses to start another.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, gate(scope, receive, send)).result()
    return sent[0]["status"], bool(read)


def test_gate_refuses_uploads_of_unknown_sessions_without_reading_and_hides_metrics() -> None:
    inner = _Inner()
    gate = http_gate.NyxGate(inner, state=lambda: (True, True))
    status, read = _call(gate, "/_stcore/upload_file/sess-1/f1", "PUT")
    assert (status, read, inner.calls) == (403, False, 0)
    http_gate.allow_session("sess-1")
    assert _call(gate, "/_stcore/upload_file/sess-1/f1", "PUT")[0] == 200
    http_gate.forget_session("sess-1")
    assert _call(gate, "/_stcore/upload_file/sess-1/f1", "PUT")[0] == 403
    assert _call(gate, "/_stcore/metrics")[0] == 404
    assert _call(gate, "/")[0] == 200


@pytest.mark.parametrize("headers,refused", [
    ([(b"host", b"127.0.0.1:8501")], False),
    ([(b"host", b"localhost:8501"), (b"origin", b"http://localhost:8501")], False),
    ([(b"host", b"[::1]:8501")], False),
    ([(b"host", b"rebind.evil.example:8501")], True),
    ([(b"host", b"127.0.0.1:8501"), (b"origin", b"http://evil.example")], True),
    ([(b"host", b"127.0.0.1:8501"), (b"x-forwarded-for", b"8.8.8.8")], True),
    ([(b"host", b"127.0.0.1:8501"), (b"forwarded", b"for=8.8.8.8")], True),
])
def test_passwordless_loopback_refuses_foreign_hosts_and_proxies(headers, refused) -> None:
    gate = http_gate.NyxGate(_Inner(), state=lambda: (True, False))
    assert (_call(gate, "/", headers=headers)[0] == 403) is refused
    with_password = http_gate.NyxGate(_Inner(), state=lambda: (True, True))
    assert _call(with_password, "/", headers=headers)[0] == 200  # the sign-in form is the gate then


# Real servers --------------------------------------------------------------------------------------
def _start(tmp_path: Path, script: str, env: dict[str, str]) -> e2e.AppServer:
    original = e2e.subprocess.Popen

    def popen(args, **kw):  # noqa: ANN001, ANN202
        return original([script if a == "app.py" else a for a in args], **kw)

    e2e.subprocess.Popen = popen
    try:
        return e2e.start_app(tmp_path, env)
    finally:
        e2e.subprocess.Popen = original


class _PeakRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak, self.stop = psutil.Process(pid), 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)


def _completed_job(ws_root: Path) -> None:
    from nyx_core.jobs import JobManager
    from nyx_core.settings import Settings
    from nyx_core.workspace import Workspace
    from tests.test_jobs import synth_spec

    ws = Workspace.open(ws_root)
    jm = JobManager(ws, Settings())
    jm.wait(jm.submit(synth_spec(ws, "load", "--prompts", "1"), "load").id, 60)


def test_monitor_sessions_and_an_upload_flood_keep_the_server_small(tmp_path) -> None:
    """serve.py (the gate is middleware from the first request), a password, 10 signed-in
    Monitor sessions, and unauthenticated sessions PUTting 40 x 50 MB in parallel."""
    _completed_job(tmp_path / "workspace")
    srv = _start(tmp_path, "serve.py", {"NYX_PASSWORD": "pw-for-load"})
    peak = _PeakRss(srv.proc.pid)
    peak.start()
    try:
        assert get(srv.url, "/_stcore/metrics")[0] == 404
        monitors = []
        for _ in range(10):
            ws, sid = open_session(srv.url)
            sign_in(ws, drain_until_finished(ws), "pw-for-load")
            msgs = rerun(ws, page_name="monitor")
            titles = [m.delta.new_element.heading.body for m in msgs
                      if m.WhichOneof("type") == "delta" and m.delta.new_element.WhichOneof("type") == "heading"]
            assert "Monitor" in titles
            monitors.append((ws, sid))
        attackers = [open_session(srv.url) for _ in range(4)]
        statuses: list[int] = []

        def flood(sid: str) -> None:
            for _ in range(10):
                statuses.append(put_upload(srv.url, sid, 50 << 20))

        threads = [threading.Thread(target=flood, args=(sid,)) for _ws, sid in attackers]
        for t in threads:
            t.start()
        for ws, _sid in monitors[:5]:  # the Monitor keeps working meanwhile
            rerun(ws, page_name="monitor")
        for t in threads:
            t.join(120)
        assert len(statuses) == 40 and set(statuses) <= {403, 0}, statuses
        assert put_upload(srv.url, monitors[0][1], 1 << 20) == 204  # signed in: uploads work
        peak.stop.set()
        peak.join(2)
        print(f"server RSS peak {peak.peak >> 20} MB")
        assert peak.peak < 300 * 2**20, f"server peaked at {peak.peak >> 20} MB"
        for ws, _ in monitors + attackers:
            ws.close()
    finally:
        peak.stop.set()
        e2e.stop_app(srv.proc)


def test_plain_streamlit_run_installs_the_gate_and_refuses_rebinding(tmp_path) -> None:
    """`streamlit run app.py`: the gate is installed on the first run; no password on loopback
    refuses a foreign Host (DNS rebinding) and proxy headers, over HTTP and the websocket."""
    srv = _start(tmp_path, "app.py", {})
    try:
        ws, _sid = open_session(srv.url)
        drain_until_finished(ws)
        assert get(srv.url, "/_stcore/metrics")[0] == 404
        status, body = get(srv.url, "/", {"Host": "rebind.evil.example:8501"})
        assert status == 403 and b"no password" in body
        assert get(srv.url, "/", {"X-Forwarded-For": "8.8.8.8"})[0] == 403
        assert get(srv.url, "/")[0] == 200
        with pytest.raises(Exception):
            open_session(srv.url, host="rebind.evil.example:8501", timeout=5)
        # a session that never ran the script was never let in: its uploads are refused
        other, sid = open_session(srv.url, run_script=True)
        assert put_upload(srv.url, "not-a-session", 1 << 20) in (403, 0)
        ws.close()
        other.close()
    finally:
        e2e.stop_app(srv.proc)
