"""Reads change nothing; reconcile touches only what is provably ours; one `end` per job; events
before status; damaged job files are listed as damaged. Real processes, real files."""
from __future__ import annotations

import http.server
import json
import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nyx_core.jobs import JobManager, JobSpec, JobState
from nyx_core.jobs import control
from nyx_core.jobs.store import JobStore, read_status, update_status
from nyx_core.settings import Settings
from tests.test_jobs import events, synth_spec

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def jm(ws):
    return JobManager(ws, Settings())


def _dead_pid() -> tuple[int, float]:
    """A pid that existed and is gone now (with the create time it had)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    ct = control.create_time(p.pid) or time.time()
    p.wait()
    return p.pid, ct


def _running_job(jm, name: str, **fields) -> object:
    """A job whose status says running and whose runner is dead (as after kill -9)."""
    job = jm.store.create(name, JobSpec(argv=["true"]))
    pid, ct = _dead_pid()

    def fake(s):
        s.state = JobState.RUNNING
        s.runner_pid, s.runner_create_time = pid, ct
        s.started_at = time.time() - 5
        s.boot_time = control.boot_time()
        for k, v in fields.items():
            setattr(s, k, v)

    update_status(job.dir, fake)
    return jm.store.load(job.id)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """`nyx ARGS` in this process (a traceback fails the test; a subprocess per call is slow)."""
    from nyx_core.cli import main

    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def _ends(job) -> list[dict]:
    return [e for e in events(job) if e["type"] == "end"]


# Reconcile never kills a stranger ---------------------------------------------------------------
@pytest.fixture
def foreign_group():
    """A process group that is not ours: a process in its own session (pgid == its pid)."""
    p = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        yield p
    finally:
        p.kill()
        p.wait()


def test_reconcile_leaves_a_foreign_group_with_a_recorded_pgid_alone(jm, foreign_group):
    # status.json recorded pgid P for our training program, created long before the process that
    # now leads group P (the number was reused, e.g. after the group emptied)
    pid = foreign_group.pid
    ct = control.create_time(pid)
    job = _running_job(jm, "reused", child_pid=pid, child_pgid=pid, child_create_time=ct - 100)
    assert control.group_members(pid) == [pid]
    jm.store.reconcile(job)
    assert jm.get(job.id).state == JobState.LOST
    time.sleep(0.3)
    assert foreign_group.poll() is None, "reconcile killed a process group that was not ours"


def test_reconcile_touches_nothing_recorded_before_a_reboot(jm, foreign_group):
    # same pid, same create time, but the status was written under another boot: nothing is ours
    pid = foreign_group.pid
    job = _running_job(jm, "rebooted", child_pid=pid, child_pgid=pid,
                       child_create_time=control.create_time(pid), boot_time=control.boot_time() - 86400)
    assert "restarted" in (jm.get(job.id).status.reason or "")
    jm.store.reconcile(job)
    assert jm.get(job.id).state == JobState.LOST
    time.sleep(0.3)
    assert foreign_group.poll() is None


# Exactly one end event --------------------------------------------------------------------------
def _all_at_once(target, *args, n: int) -> list[int | None]:  # noqa: ANN001
    """Run ``target(*args, barrier)`` in ``n`` forked processes released together; their exit codes."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=target, args=(*args, barrier)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    return [p.exitcode for p in procs]


def _reconcile_at_once(jobs_root: str, job_id: str, barrier) -> None:
    store = JobStore(Path(jobs_root))
    job = store.load(job_id)  # every reader sees the job running before any of them records it
    barrier.wait()
    store.reconcile(job)


def test_several_readers_reconciling_a_dead_runner_append_exactly_one_end(jm, ws):
    job = _running_job(jm, "race")
    assert _all_at_once(_reconcile_at_once, str(ws.jobs), job.id, n=6) == [0] * 6
    assert jm.get(job.id).state == JobState.LOST
    assert len(_ends(job)) == 1


def _remove_at_once(jobs_root: str, job_id: str, barrier) -> None:
    from nyx_core.workspace import Workspace

    jm = JobManager(Workspace.open(Path(jobs_root).parent), Settings())
    barrier.wait()
    jm.remove_from_queue(job_id)


def test_removing_a_queued_job_twice_at_once_appends_one_end(jm, ws):
    job = jm.store.create("q", JobSpec(argv=["true"]))
    jm.store.queue.push(job.id)
    _all_at_once(_remove_at_once, str(ws.jobs), job.id, n=4)
    assert len(_ends(job)) == 1 and jm.get(job.id).state == JobState.STOPPED


def test_a_runner_that_died_after_its_end_event_keeps_that_state(jm):
    # events first, status last: a runner killed between the two left `end` but a running status
    job = _running_job(jm, "late")
    with open(job.progress_path, "a") as fh:
        fh.write(json.dumps({"v": 1, "t": time.time(), "type": "end", "state": "completed", "exit_code": 0,
                             "duration_s": 4.0, "reason": None}) + "\n")
    job = jm.store.reconcile(job)
    assert job.state == JobState.COMPLETED and job.status.exit_code == 0
    assert len(_ends(job)) == 1


# Events first, status last ---------------------------------------------------------------------
class _SlowHook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(1.0)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_a_final_status_is_never_seen_before_the_events(jm, ws, monkeypatch):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("NYX_WEBHOOK_URL", f"http://127.0.0.1:{srv.server_port}/hook")
    try:
        job = jm.submit(synth_spec(ws, "order", steps=3, step_time=0.05), "order")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = read_status(job.dir)
            if st.state.final:
                kinds = [e["type"] for e in events(job)]
                # the whole record is there once the status is final: the webhook's outcome, then end
                assert kinds[-2:] == ["notify", "end"], kinds[-4:]
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the run did not end")
    finally:
        srv.shutdown()
    job = jm.get(job.id)
    assert job.state == JobState.COMPLETED
    from nyx_core.jobs import follow

    assert follow(job.dir).notify == {"ok": False, "message": follow(job.dir).notify["message"]}
    assert follow(job.dir).notify["message"]


# Reads are pure ----------------------------------------------------------------------------------
def _queued_behind_nothing(jm):
    """A queued job whose GPUs are free, as after the runner that should have started it died."""
    job = jm.store.create("waiting", JobSpec(argv=[sys.executable, "-c", "pass"], kind="download"))
    jm.store.queue.push(job.id)
    return job


def test_listing_getting_and_the_cli_start_nothing_and_write_nothing(jm, ws, capsys):
    q = _queued_behind_nothing(jm)
    dead = _running_job(jm, "dead")
    snapshot = {p: p.read_bytes() for d in (q.dir, dead.dir) for p in d.iterdir() if p.is_file()}
    assert [j.state for j in jm.list() if j.id == q.id] == [JobState.QUEUED]
    assert jm.get(dead.id).state == JobState.LOST and jm.active() is None
    for args in (["train", "ls"], ["train", "ls", "--json"], ["train", "status", dead.id]):
        rc, out, err = cli(capsys, *args)
        assert rc == 0, err
    assert "nyx train reconcile" in cli(capsys, "train", "ls")[1]
    time.sleep(0.3)
    assert read_status(q.dir).state == JobState.QUEUED and read_status(dead.dir).state == JobState.RUNNING
    assert {p: p.read_bytes() for p in snapshot} == snapshot


@pytest.mark.parametrize("page", ["pages/monitor.py", "app.py"])  # app.py opens on Home
def test_opening_home_or_monitor_starts_and_records_nothing(jm, ws, page):
    q = _queued_behind_nothing(jm)
    dead = _running_job(jm, "dead")
    at = AppTest.from_file(str(REPO / page), default_timeout=30).run()
    assert not at.exception
    time.sleep(0.3)
    assert read_status(q.dir).state == JobState.QUEUED and read_status(dead.dir).state == JobState.RUNNING
    assert _ends(dead) == []


def test_the_cli_reconcile_records_the_lost_run_and_starts_the_queue(jm, ws, capsys):
    q = _queued_behind_nothing(jm)
    dead = _running_job(jm, "dead")
    rc, out, err = cli(capsys, "train", "reconcile")
    assert rc == 0, err
    assert f"{dead.id}\tlost" in out and f"{q.id}\tstarted" in out
    assert jm.wait(q.id, 30).state == JobState.COMPLETED
    assert len(_ends(dead)) == 1


# Damaged job files ------------------------------------------------------------------------------
DAMAGE = {
    "truncated": ("status.json", '{"state": "runn'),
    "empty": ("status.json", ""),
    "garbage": ("status.json", "\x00\x01 not json at all"),
    "unknown-state": ("status.json", '{"state": "exploded", "created_at": 1}'),
    "text-pid": ("status.json", '{"state": "running", "created_at": 1, "runner_pid": "abc"}'),
    "missing": ("status.json", None),
    "bad-jobjson": ("job.json", "{{{ garbage"),
}


@pytest.fixture
def damaged(jm, ws):
    good = jm.wait(jm.submit(synth_spec(ws, "good", steps=2), "good").id, 60)
    made = {}
    for name, (fname, text) in DAMAGE.items():
        job = jm.store.create(name, JobSpec(argv=["true"]))

        def done(s):
            s.state = JobState.COMPLETED
            s.started_at = s.ended_at = time.time()

        update_status(job.dir, done)
        if text is None:
            (job.dir / fname).unlink()
        else:
            (job.dir / fname).write_text(text)
        made[name] = job.id
    # a step event with fields of the wrong type, in an otherwise good job
    bad_step = jm.store.create("bad-step", JobSpec(argv=["true"]))
    update_status(bad_step.dir, done)
    bad_step.progress_path.write_text(
        '{"v":1,"t":1.0,"type":"step","step":"seven","total":"x","epoch":null,"epochs":null,"it_per_s":null,'
        '"elapsed_s":null,"eta_s":null,"avr_loss":"high"}\n'
        '{"v":1,"t":1.0,"type":"epoch","epoch":"one","epochs":2}\n'
        '{"v":1,"t":1.0,"type":"step","step":3,"total":10,"epoch":1,"epochs":1,"it_per_s":1.0,"elapsed_s":1,'
        '"eta_s":1,"avr_loss":"high"}\n'
        '{"v":1,"t":1.0,"type":"metric","step":4,"loss":"x","lr":0.0001,"lr_tag":"lr/unet","values":{}}\n'
        '{"v":1,"t":1.0,"type":"metric","step":5,"loss":0.5,"lr":0.0001,"lr_tag":"lr/unet","values":{}}\n')
    return good, made, bad_step


def test_damaged_jobs_are_listed_as_damaged_with_the_reason(jm, damaged):
    good, made, bad_step = damaged
    jobs = {j.id: j for j in jm.list()}
    assert jobs[good.id].state == JobState.COMPLETED and jobs[bad_step.id].state == JobState.COMPLETED
    for name, job_id in made.items():
        assert jobs[job_id].state == JobState.DAMAGED, name
        assert jobs[job_id].damage.startswith(DAMAGE[name][0]), (name, jobs[job_id].damage)
    assert "exploded" in jobs[made["unknown-state"]].damage and "runner_pid" in jobs[made["text-pid"]].damage
    assert "missing" in jobs[made["missing"]].damage and "not valid JSON" in jobs[made["truncated"]].damage
    st = jm.progress(bad_step.id)
    assert st.bad_events == 4 and "step" in st.bad_event
    assert st.loss_values == [0.5]  # the good line after the bad ones still counts
    # nothing can start, stop or reconcile a damaged job, and none of it raises
    jm.reconcile()
    assert jm.wait(made["text-pid"], 1).state == JobState.DAMAGED


def test_the_cli_lists_damaged_jobs_and_never_crashes(jm, ws, damaged, capsys):
    good, made, bad_step = damaged

    class R:
        def __init__(self, args):
            self.returncode, self.stdout, self.stderr = cli(capsys, *args)

    def nyx(*args):
        return R(args)

    r = nyx("train", "ls")
    assert r.returncode == 0 and good.id in r.stdout
    for job_id in made.values():
        assert f"{job_id}\tdamaged" in r.stdout
    listed = {j["id"]: j for j in json.loads(nyx("train", "ls", "--json").stdout)}
    assert listed[good.id]["state"] == "completed" and listed[made["garbage"]]["state"] == "damaged"
    assert listed[made["garbage"]]["damage"].startswith("status.json")
    for job_id in made.values():
        r = nyx("train", "status", job_id)
        assert r.returncode == 1 and "damaged: " in r.stdout
        assert json.loads(nyx("train", "status", job_id, "--json").stdout)["state"] == "damaged"
    r = nyx("train", "status", bad_step.id)
    assert r.returncode == 0 and "damaged progress line" in r.stdout


def test_the_monitor_shows_damaged_jobs_and_the_rest(jm, damaged):
    good, made, bad_step = damaged
    at = AppTest.from_file(str(REPO / "pages" / "monitor.py"), default_timeout=30).run()
    assert not at.exception
    options = at.selectbox(key="mon_pick").options
    assert len(options) == len(made) + 2
    at.selectbox(key="mon_pick").set_value(made["truncated"]).run()
    assert not at.exception
    assert any("status.json" in e.value for e in at.error)
    at.selectbox(key="mon_pick").set_value(bad_step.id).run()
    assert not at.exception
    assert any("damaged progress line" in w.value for w in at.warning)


def test_runner_cpu_counts_its_start_up(jm):
    """bench/jobs.py reports runner_cpu_s: it must include the interpreter start and imports
    before the runner's detaching fork (a forked child's CPU clock starts at zero)."""
    job = jm.wait(jm.submit(JobSpec(argv=[sys.executable, "-c", "pass"], kind="download"), "cpu").id, 60)
    assert job.state == JobState.COMPLETED
    assert job.status.runner_cpu_s >= 0.03  # importing nyx_core.jobs alone costs more than this


def test_the_monitors_reconcile_button_records_and_starts(jm, ws):
    q = _queued_behind_nothing(jm)
    dead = _running_job(jm, "dead")
    at = AppTest.from_file(str(REPO / "pages" / "monitor.py"), default_timeout=30).run()
    assert any("lost their runner" in w.value for w in at.warning)
    at.button(key="mon_reconcile").click().run()
    assert not at.exception
    assert read_status(dead.dir).state == JobState.LOST and len(_ends(dead)) == 1
    assert jm.wait(q.id, 30).state == JobState.COMPLETED


def test_stopping_a_run_whose_runner_died_records_it_and_starts_the_queue(jm):
    q = _queued_behind_nothing(jm)
    dead = _running_job(jm, "dead")
    assert jm.stop(dead.id).state == JobState.LOST and len(_ends(dead)) == 1
    assert jm.wait(q.id, 30).state == JobState.COMPLETED


def test_jobs_made_in_the_same_second_list_newest_first(ws):
    """Ids carry whole seconds; two jobs of one second list in creation order, not by name."""
    import os as _os

    from nyx_core.jobs.models import JobSpec as _Spec
    from nyx_core.jobs.store import JobStore

    store = JobStore(ws.root / "jobs")
    first = store.create("zzz", _Spec(argv=["true"]))
    second = store.create("aaa", _Spec(argv=["true"]))
    # force the same timestamp prefix and a later job.json for the second
    t = (first.dir / "job.json").stat().st_mtime_ns
    _os.utime(second.dir / "job.json", ns=(t + 5_000_000, t + 5_000_000))
    same = first.id[:15] + "-aaa"
    if second.id[:15] != first.id[:15]:
        second.dir.rename(second.dir.with_name(same))
    ids = store.ids()
    assert ids.index(first.id) > ids.index(same if second.id[:15] != first.id[:15] else second.id)
