"""Monitor fixes: labelled sample grid with enlarge, integer step axes with epoch marks, webhook
failures on the run, Stop as a secondary button, and the selector's states kept true."""
from __future__ import annotations

import time

import pytest

from nyx_core.jobs import JobManager, JobSpec, JobState, ProgressState
from nyx_core.jobs.store import append_event, update_status
from nyx_core.settings import Settings
from nyx_ui import monitor_data as md
from tests.test_jobs import synth_spec
from tests.test_page_monitor import page, texts

pytestmark = pytest.mark.timeout(120)


def test_step_axes_are_whole_numbers_with_epoch_boundaries():
    st = ProgressState(loss_steps=[1, 2, 3, 4, 5, 6], loss_values=[0.3, 0.2, 0.25, 0.2, 0.1, 0.1],
                       lr_steps=[1, 2, 3, 4, 5, 6], lr_values=[1e-4] * 6, epoch_starts=[[1, 0], [2, 3]])
    for fig in (md.loss_figure(st, 0.5), md.lr_figure(st)):
        assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.tickmode == "linear"  # never 1.5, 2.5
        assert [s.x0 for s in fig.layout.shapes] == [3.5]  # epoch 2 began after step 3
    long = ProgressState(loss_steps=list(range(1, 501)), loss_values=[0.1] * 500)
    assert md.loss_figure(long, 0.5).layout.xaxis.tickformat == "d"


def test_epoch_starts_are_read_from_the_progress_file(ws):
    jm = JobManager(ws, Settings())
    job = jm.wait(jm.submit(synth_spec(ws, "epochs", steps=6, epochs=3), "epochs").id, 60)
    st = jm.progress(job.id)
    assert [e for e, _ in st.epoch_starts] == [1, 2, 3]
    assert [s for _, s in st.epoch_starts] == [0, 2, 4]
    assert md.prompt_texts("a cat, sitting --n blurry --w 512\n# comment\n\nmy dog --s 20\n") == ["a cat, sitting",
                                                                                                 "my dog"]


def test_every_sample_is_labelled_by_epoch_and_prompt_and_can_be_enlarged(ws):
    jm = JobManager(ws, Settings())
    job = jm.wait(jm.submit(synth_spec(ws, "samples", "--prompts", "2", steps=6, epochs=6), "samples").id, 60)
    (job.render_dir / "sample_prompts.txt").write_text("a red fox --n blurry\na blue bird\n")
    at = page().run()
    assert not at.exception
    images = [e for e in at.main if type(e).__name__ == "Image"]
    assert len(images) == 12  # every epoch, not the last four
    t = texts(at)
    assert "epoch 1" in t and "epoch 6" in t
    at.button(key=f"mon_big_{job.id}_6_1").click().run()
    assert not at.exception


def _finished_job(jm, name, notify=None, kind="download"):
    job = jm.store.create(name, JobSpec(argv=["true"], kind=kind))
    if notify is not None:
        append_event(job.dir, {"v": 1, "t": time.time(), "type": "notify", **notify})
    append_event(job.dir, {"v": 1, "t": time.time(), "type": "end", "state": "completed", "exit_code": 0,
                           "duration_s": 1, "reason": None})

    def done(s):
        s.state, s.started_at, s.ended_at, s.exit_code = JobState.COMPLETED, time.time() - 1, time.time(), 0

    update_status(job.dir, done)
    return job


def test_a_failed_webhook_shows_on_the_run(ws):
    jm = JobManager(ws, Settings())
    _finished_job(jm, "hooked", notify={"ok": False, "message": "HTTP Error 404: Not Found"}, kind="train")
    at = page().run()
    assert not at.exception
    assert any("webhook failed" in w.value and "404" in w.value for w in at.warning)


def test_the_selector_is_redrawn_when_a_run_changes_state(ws, monkeypatch):
    """The watch fragment compares the states the page was drawn with to the current ones."""
    from nyx_ui import monitor_views as views

    jm = JobManager(ws, Settings())
    _finished_job(jm, "a")
    q = jm.store.create("q", JobSpec(argv=["true"]))
    jm.store.queue.push(q.id)
    drawn = jm.list()
    calls = []
    monkeypatch.setattr(views.st, "fragment", lambda run_every=None: (lambda fn: (lambda: calls.append(fn))))
    views.watch_states(jm, drawn)
    (check,) = calls  # registered: a job is queued
    reran = []
    monkeypatch.setattr(views.st, "rerun", lambda scope="app": reran.append(scope))
    check()
    assert reran == []  # nothing changed
    jm.remove_from_queue(q.id)  # the queued job ends
    check()
    assert reran == ["app"]
    calls.clear()
    views.watch_states(jm, jm.list())
    assert calls == []  # nothing active or queued: no polling at all
