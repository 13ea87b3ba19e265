"""AppTest for pages/monitor.py with real jobs (stand-in training program, real processes)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nyx_core.jobs import JobManager, JobSpec, JobState, follow
from nyx_core.settings import Settings
from nyx_ui import monitor_data as md
from tests.test_jobs import synth_spec, wait_for

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]


def page() -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / "monitor.py"), default_timeout=30)


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error] + \
        [s.value for s in at.success] + [w.value for w in at.warning] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def test_empty_workspace(ws):
    at = page().run()
    assert not at.exception
    assert "No runs yet" in texts(at)


def test_completed_and_failed_runs(ws):
    jm = JobManager(ws, Settings())
    ok = jm.wait(jm.submit(synth_spec(ws, "good", "--prompts", "2"), "good").id, 60)
    bad = jm.wait(jm.submit(synth_spec(ws, "bad", "--no-data"), "bad").id, 60)
    assert ok.state == JobState.COMPLETED and bad.state == JobState.FAILED
    at = page().run()
    assert not at.exception
    # newest first: the failed one is selected
    assert at.selectbox(key="mon_pick").value == bad.id
    t = texts(at)
    assert "wrote no LoRA" in t and "What to try" in t and "No training images were found" in t
    at.selectbox(key="mon_pick").select(ok.id).run()
    assert not at.exception
    assert "Completed" in texts(at)
    assert len(at.get("plotly_chart")) == 2  # loss and learning rate
    assert sum(1 for e in at.main if type(e).__name__ == "Image") == 4  # 2 epochs x 2 prompts
    assert "Samples" in texts(at)
    # the Training page's handover selects the run it just started
    at2 = page()
    at2.session_state["monitor_job_id"] = ok.id
    at2.run()
    assert at2.selectbox(key="mon_pick").value == ok.id
    # history filter
    at.selectbox(key="mon_filter").select("failed").run()
    assert at.selectbox(key="mon_pick").options == [md.job_label(jm.get(bad.id))]


def test_stop_with_confirmation_and_queue_controls(ws):
    jm = JobManager(ws, Settings())
    run = jm.submit(synth_spec(ws, "long", steps=400, step_time=0.05), "long")
    q1 = jm.submit(synth_spec(ws, "q1", steps=2), "q1")
    q2 = jm.submit(synth_spec(ws, "q2", steps=2), "q2")
    wait_for(lambda: follow(run.dir).step >= 1, 30)
    at = page().run()
    assert not at.exception
    assert at.selectbox(key="mon_pick").value == run.id
    at.button(key=f"q_up_{q2.id}").click().run()
    assert [j.id for j in jm.queued()] == [q2.id, q1.id]
    at.button(key=f"q_rm_{q1.id}").click().run()
    assert [j.id for j in jm.queued()] == [q2.id]
    # secondary: stopping loses work, it must not be the loudest button on the page
    assert at.button(key=f"mon_stop_{run.id}").proto.type == "secondary"
    at.button(key=f"mon_stop_{run.id}").click().run()
    assert "Stop now?" in texts(at)
    at.button(key=f"mon_yes_{run.id}").click().run()
    assert jm.wait(run.id, 30).state == JobState.STOPPED
    jm.wait(q2.id, 60)  # the queued one starts after the stop


def test_pure_helpers():
    assert md.fmt_duration(3725) == "1h 02m" and md.fmt_duration(65) == "1m 05s" and md.fmt_duration(None) == "–"
    assert md.filter_log(["ok", "RuntimeError: x", "WARNING y"], True) == ["RuntimeError: x", "WARNING y"]
    grid = [{"epoch": e, "prompt": p, "path": f"{e}{p}"} for e in range(1, 7) for p in (0, 1)]
    rows, prompts, cells = md.sample_grid(grid)
    assert rows == [1, 2, 3, 4, 5, 6] and prompts == [0, 1] and cells[(6, 1)] == "61"  # every sample
    assert md.sample_grid(grid, last_epochs=4)[0] == [3, 4, 5, 6]
    assert any("Out of memory" in t for t in md.advice("killed by SIGKILL", []))


def test_save_and_stop_says_what_happens(ws):
    from nyx_core.jobs.store import read_status

    jm = JobManager(ws, Settings())
    run = jm.submit(synth_spec(ws, "saver", "--save-every", "1", steps=400, epochs=4, step_time=0.05), "saver")
    try:
        wait_for(lambda: follow(run.dir).step >= 1, 30)
        at = page().run()
        at.button(key=f"mon_savestop_{run.id}").click().run()
        assert "no save-on-signal" in texts(at) and "next checkpoint" in texts(at)
        at.button(key=f"mon_yes_{run.id}").click().run()
        assert read_status(run.dir).stop_request == "after_checkpoint"
        assert "Will stop right after the next checkpoint" in texts(at)
    finally:
        jm.stop(run.id)
        jm.wait(run.id, 30)
