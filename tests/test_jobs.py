"""Training jobs on real processes: the detached runner, the stand-in training program, stop,
crash, reattach, the queue, the webhook and start_training through a fake sd-scripts folder."""
from __future__ import annotations

import http.server
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from nyx_core.errors import NyxError
from nyx_core.jobs import JobManager, JobSpec, JobState, ProgressReader, ProgressState, follow
from nyx_core.jobs import control
from nyx_core.jobs.store import read_status, update_status
from nyx_core.settings import Settings

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[1]


def synth_spec(ws, name: str, *args: str, steps: int = 6, epochs: int = 2, step_time: float = 0.05,
               grace=(3.0, 2.0)) -> JobSpec:
    out = ws.outputs / name
    tb = ws.root / "tb" / name
    argv = [sys.executable, "-m", "nyx_dev.standin", "--synth", "--steps", str(steps), "--epochs", str(epochs),
            "--step-time", str(step_time), "--output-dir", str(out), "--output-name", name, "--tb-dir", str(tb), *args]
    return JobSpec(argv=argv, env={"PYTHONPATH": str(REPO)}, cwd=str(REPO),
                   expected_output=str(out / f"{name}.safetensors"),
                   output_dir=str(out), tb_dir=str(tb), stop_grace_s=grace)


def events(job) -> list[dict]:
    return [json.loads(line) for line in job.progress_path.read_text().splitlines() if line.strip()]


def wait_for(pred, timeout: float = 30.0, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    raise AssertionError("condition not met in time")


@pytest.fixture
def jm(ws):
    return JobManager(ws, Settings())


def test_start_progress_completion(jm, ws):
    job = jm.submit(synth_spec(ws, "ok", "--save-every", "1", "--prompts", "2"), "ok")
    assert job.state in (JobState.STARTING, JobState.RUNNING)
    job = jm.wait(job.id, 60)
    assert job.state == JobState.COMPLETED, job.status.reason
    assert job.status.exit_code == 0 and job.status.reason is None
    assert Path(job.spec.expected_output).is_file()
    evs = events(job)
    assert all(e["v"] == 1 and "t" in e for e in evs)
    types = {e["type"] for e in evs}
    assert {"phase", "summary", "step", "epoch", "metric", "checkpoint", "sample", "end"} <= types
    st = follow(job.dir)
    assert st.step == 6 and st.total == 6 and st.epochs == 2
    assert len(st.loss_values) == 6 and len(st.lr_values) == 6  # per-step loss from the TB events
    assert len(st.samples) == 4 and {s["epoch"] for s in st.samples} == {1, 2}
    assert st.end["state"] == "completed"
    assert any(c.endswith("ok-000001.safetensors") for c in st.checkpoints)
    # the reader's fast path (regexes on the runner's compact lines) agrees with a full JSON decode
    slow = ProgressState().apply(ProgressReader(job.dir).read_new())
    for f in ("step", "total", "epoch", "epochs", "loss_steps", "lr_steps", "checkpoints",
              "samples", "end", "events", "phase", "eta_s", "it_per_s"):
        assert getattr(slow, f) == getattr(st, f), f
    # series.bin holds the float32 values TensorBoard stored; the events their 7-digit decimals
    assert st.series_offset and st.loss_values == pytest.approx(slow.loss_values, rel=1e-6)
    assert st.lr_values == pytest.approx(slow.lr_values, rel=1e-6)
    # the runner and its program are gone, no zombie
    wait_for(lambda: not control.is_alive(job.status.runner_pid, job.status.runner_create_time), 60)
    assert control.group_members(job.status.child_pgid) == []
    assert "steps:" in job.log_path.read_text()


def test_exit_zero_without_lora_is_failed(jm, ws):
    job = jm.wait(jm.submit(synth_spec(ws, "nodata", "--no-data"), "nodata").id, 60)
    assert job.state == JobState.FAILED
    assert "exited with code 0 but wrote no LoRA" in job.status.reason
    assert "No data found" in job.status.reason


def test_crash_is_failed_with_the_error(jm, ws):
    job = jm.wait(jm.submit(synth_spec(ws, "crash", "--fail-at", "3"), "crash").id, 60)
    assert job.state == JobState.FAILED and job.status.exit_code == 1
    assert "OutOfMemoryError" in job.status.reason
    assert any("Traceback" in line for line in job.status.error_lines)


def _running_with_steps(jm, job_id, min_step=1):
    def ok():
        st = follow(jm.get(job_id).dir)
        return st if st.step >= min_step else None
    return wait_for(ok, 30)


def test_stop_leaves_no_process_in_the_group(jm, ws):
    job = jm.submit(synth_spec(ws, "long", steps=400, step_time=0.05), "long")
    _running_with_steps(jm, job.id)
    st = read_status(job.dir)
    pgid = st.child_pgid
    assert pgid and control.group_members(pgid)
    jm.stop(job.id)
    job = jm.wait(job.id, 30)
    assert job.state == JobState.STOPPED, job.status.reason
    assert control.group_members(pgid) == []
    assert not control.is_alive(st.child_pid, st.child_create_time)
    stops = [e for e in events(job) if e["type"] == "stop"]
    assert stops and stops[0]["signal"] == "SIGINT"


def test_stop_escalates_when_sigint_and_sigterm_are_ignored(jm, ws):
    code = ("import signal,time,sys\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('steps:   0%|          | 0/9 [00:00<?, ?it/s]', flush=True)\n"
            "while True: time.sleep(0.1)\n")
    spec = JobSpec(argv=[sys.executable, "-c", code], stop_grace_s=(0.5, 0.5))
    job = jm.submit(spec, "stubborn")
    wait_for(lambda: read_status(job.dir).child_pgid)
    time.sleep(0.5)
    pgid = read_status(job.dir).child_pgid
    jm.stop(job.id)
    job = jm.wait(job.id, 30)
    assert job.state == JobState.STOPPED
    assert "SIGKILL" in job.status.reason
    assert control.group_members(pgid) == []


def test_kill9_of_runner_makes_the_job_lost_and_frees_the_gpu(jm, ws):
    job = jm.submit(synth_spec(ws, "orphan", steps=400, step_time=0.05), "orphan")
    waiting = jm.submit(synth_spec(ws, "next", steps=2), "next")
    _running_with_steps(jm, job.id)
    st = read_status(job.dir)
    os.kill(st.runner_pid, signal.SIGKILL)
    wait_for(lambda: not control.is_alive(st.runner_pid, st.runner_create_time), 60)
    # reads are pure: they show the job lost, but record nothing and start nothing
    before = (job.dir / "status.json").read_bytes(), job.progress_path.read_bytes()
    seen = jm.get(job.id)
    assert seen.state == JobState.LOST and seen.unrecorded
    assert [j.state for j in jm.list() if j.id == waiting.id] == [JobState.QUEUED]
    assert (job.dir / "status.json").read_bytes() == before[0]
    assert read_status(waiting.dir).state == JobState.QUEUED
    # the explicit action records it, ends the orphaned program and starts the queued run
    lost, started = jm.reconcile()
    assert [j.id for j in lost] == [job.id] and [j.id for j in started] == [waiting.id]
    job = jm.get(job.id)
    assert job.state == JobState.LOST and not job.unrecorded
    assert "runner process" in job.status.reason and "disappeared" in job.status.reason
    wait_for(lambda: control.group_members(st.child_pgid) == [], 10)
    assert events(job)[-1]["type"] == "end"
    assert jm.wait(waiting.id, 60).state == JobState.COMPLETED


def test_kill9_of_training_process_fails_with_reason(jm, ws):
    job = jm.submit(synth_spec(ws, "oom", steps=400, step_time=0.05), "oom")
    _running_with_steps(jm, job.id)
    st = read_status(job.dir)
    os.kill(st.child_pid, signal.SIGKILL)
    job = jm.wait(job.id, 30)
    assert job.state == JobState.FAILED
    assert "killed by SIGKILL" in job.status.reason and job.status.exit_code == -9


def test_reconcile_detects_a_reused_pid(jm, ws):
    job = jm.store.create("ghost", JobSpec(argv=["true"]))

    def fake(s):
        s.state = JobState.RUNNING
        s.runner_pid = os.getpid()  # alive, but not the process that was recorded
        s.runner_create_time = 12345.0
        s.started_at = time.time()

    update_status(job.dir, fake)
    job = jm.get(job.id)
    assert job.state == JobState.LOST


def test_a_new_manager_finds_and_follows_a_running_job(jm, ws):
    job = jm.submit(synth_spec(ws, "follow", steps=30, step_time=0.08), "follow")
    first = _running_with_steps(jm, job.id)
    other = JobManager(ws, Settings())  # a restarted UI
    assert other.active().id == job.id
    assert other.get(job.id).state == JobState.RUNNING
    state = ProgressState()
    state = other.progress(job.id, state)
    offset = state.offset
    later = wait_for(lambda: (s := other.progress(job.id, ProgressState(**state.to_dict()))).step > state.step and s)
    assert later.offset > offset and later.step > first.step
    assert other.wait(job.id, 60).state == JobState.COMPLETED


def test_queue_order_reorder_remove(jm, ws):
    a = jm.submit(synth_spec(ws, "a", steps=40, step_time=0.1), "a")  # long enough to outlast the queue edits on a busy machine
    b = jm.submit(synth_spec(ws, "b", steps=2), "b")
    c = jm.submit(synth_spec(ws, "c", steps=2), "c")
    d = jm.submit(synth_spec(ws, "d", steps=2), "d")
    assert jm.get(a.id).state.active
    assert [j.id for j in jm.queued()] == [b.id, c.id, d.id]
    jm.move_in_queue(d.id, -2)
    assert [j.id for j in jm.queued()] == [d.id, b.id, c.id]
    assert jm.remove_from_queue(c.id)
    assert jm.get(c.id).state == JobState.STOPPED
    for j in (a, d, b):
        assert jm.wait(j.id, 60).state == JobState.COMPLETED
    starts = [jm.get(j.id).status.started_at for j in (a, d, b)]
    assert starts == sorted(starts)
    # one run at a time: each started after the previous ended
    assert jm.get(d.id).status.started_at >= jm.get(a.id).status.ended_at - 0.01


def test_save_and_stop_stops_after_the_next_checkpoint(jm, ws):
    job = jm.submit(synth_spec(ws, "save", "--save-every", "1", steps=60, epochs=6, step_time=0.05), "save")
    _running_with_steps(jm, job.id)
    jm.stop(job.id, save=True)
    job = jm.wait(job.id, 60)
    assert job.state == JobState.STOPPED
    assert "Last checkpoint" in job.status.reason
    st = follow(job.dir)
    assert st.checkpoints and Path(st.checkpoints[0]).is_file()
    assert st.step < 60


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):  # noqa: D401
        pass


def test_webhook_is_called_and_failures_are_ignored(jm, ws, monkeypatch):
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("NYX_WEBHOOK_URL", f"http://127.0.0.1:{srv.server_port}/hook")
        job = jm.wait(jm.submit(synth_spec(ws, "hook", steps=2), "hook").id, 60)
        assert job.state == JobState.COMPLETED
        wait_for(lambda: _Hook.received, 5)
        body = _Hook.received[-1]
        assert body["name"] == "hook" and body["state"] == "completed" and body["duration_s"] >= 0
    finally:
        srv.shutdown()
    monkeypatch.setenv("NYX_WEBHOOK_URL", f"http://127.0.0.1:{srv.server_port}/gone")
    job = jm.wait(jm.submit(synth_spec(ws, "nohook", steps=2), "nohook").id, 60)
    assert job.state == JobState.COMPLETED
    notes = wait_for(lambda: [e for e in events(job) if e["type"] == "notify"], 10)
    assert notes[0]["ok"] is False
    wait_for(lambda: "webhook notification failed" in (job.dir / "runner.log").read_text(), 5)


def test_notify_flavours():
    from nyx_core.jobs.notify import build_request

    d = build_request("https://discord.com/api/webhooks/1/x", job_id="j", name="n", state="completed", duration_s=5)
    assert json.loads(d.data)["content"].startswith("Nyx:")
    n = build_request("https://ntfy.sh/topic", job_id="j", name="n", state="failed", duration_s=5)
    assert n.headers["Title"] == "Nyx: n failed" and b"failed" in n.data


# start_training, with a fake sd-scripts folder --------------------------------
def _training_setup(ws, tmp_path):
    from PIL import Image

    from nyx_dev.standin import make_fake_sd_scripts

    d = ws.datasets / "ds" / "10_subject"
    d.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (64, 64), (i * 60, 0, 0)).save(d / f"{i}.png")
        (d / f"{i}.txt").write_text("subject")
    (ws.models / "base.safetensors").write_bytes(b"\0" * 64)
    fake = make_fake_sd_scripts(tmp_path / "sd-scripts")
    return Settings(sd_scripts_dir=fake, sd_scripts_python=Path(sys.executable), launcher="python")


def test_start_training_renders_and_runs(ws, tmp_path, monkeypatch):
    from nyx_core.config import new_config

    settings = _training_setup(ws, tmp_path)
    monkeypatch.setenv("NYX_STANDIN_STEP_TIME", "0.05")
    jm = JobManager(ws, settings)
    cfg = new_config("first lora", dataset={"name": "ds", "max_train_epochs": 2},
                     model={"base_model": "base.safetensors"})
    job = jm.start_training(cfg)
    assert job.name == "first lora" and job.id.endswith("first-lora")
    for f in ("config.toml", "dataset.toml", "argv.json"):
        assert (job.render_dir / f).is_file()
    assert (job.dir / "job.toml").is_file()
    job = jm.wait(job.id, 60)
    assert job.state == JobState.COMPLETED, (job.status.reason, job.status.error_lines)
    assert job.expected_output.is_file() and job.expected_output.parent == ws.outputs / "first lora" / job.id
    link = job.dir / "output"
    assert link.is_symlink() and not os.readlink(link).startswith("/")
    assert ws.resolve(f"jobs/{job.id}/output/first_lora.safetensors", must_exist=True) == job.expected_output
    st = follow(job.dir)
    assert st.total == 8 and st.step == 8 and st.loss_values  # TB events landed in jobs/<id>/tb


def test_start_training_refuses_an_invalid_config(ws, tmp_path):
    from nyx_core.config import new_config

    jm = JobManager(ws, _training_setup(ws, tmp_path))
    cfg = new_config("bad", dataset={"name": "nope"}, model={"base_model": "missing.safetensors"})
    with pytest.raises(NyxError, match="error"):
        jm.start_training(cfg)
    assert jm.list() == []


# Replaying real sd-scripts logs through the runner (needs ../shared) ------------------------------
def replay_spec(ws, log: Path, name: str, speed: float = 40) -> JobSpec:
    out = ws.outputs / name
    tb = ws.root / "tb" / name
    argv = [sys.executable, "-m", "nyx_dev.standin", "--log", str(log), "--speed", str(speed),
            "--output-dir", str(out), "--output-name", name, "--tb-dir", str(tb)]
    return JobSpec(argv=argv, env={"PYTHONPATH": str(REPO)}, expected_output=str(out / f"{name}.safetensors"),
                   output_dir=str(out), tb_dir=str(tb))


def test_replay_of_a_real_run_completes(jm, ws, kohya_facts):
    job = jm.submit(replay_spec(ws, kohya_facts / "logs" / "sd15_lora_dim4_samples.log", "replayed"), "replayed")
    job = jm.wait(job.id, 60)
    assert job.state == JobState.COMPLETED, job.status.reason
    st = follow(job.dir)
    assert (st.step, st.total, st.epochs) == (8, 8, 2)
    assert [Path(c).name for c in st.checkpoints] == ["replayed-000001.safetensors", "replayed.safetensors"]
    assert sorted((s["epoch"], s["prompt"]) for s in st.samples) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert st.loss_values  # TB events written by the stand-in, read by the runner


def test_replay_of_exit_zero_without_data_fails(jm, ws, kohya_facts):
    job = jm.submit(replay_spec(ws, kohya_facts / "logs" / "fail_missing_image_dir.log", "nodata", speed=100), "nodata")
    job = jm.wait(job.id, 60)
    assert job.state == JobState.FAILED and job.status.exit_code == 0
    assert "No data found" in job.status.reason


def test_a_leftover_holding_the_output_open_does_not_hang_the_job(jm, ws, monkeypatch):
    monkeypatch.setenv("NYX_LEFTOVER_GRACE_S", "1")  # inherited by the runner
    # the leader exits, a background process it started keeps stdout open (like a stray worker)
    job = jm.submit(JobSpec(argv=["sh", "-c", "sleep 120 & echo started"], kind="tool"), "leftover")
    job = jm.wait(job.id, 30)
    assert job.state == JobState.COMPLETED and job.status.exit_code == 0
    assert control.group_members(job.status.child_pgid) == []


def test_one_active_run_per_gpu_set(jm, ws):
    from nyx_core.jobs.store import gpu_sets_conflict

    assert gpu_sets_conflict("all", "1") and gpu_sets_conflict("0,1", "1") and not gpu_sets_conflict("0", "1")
    specs = {}
    for name, gpus in (("g0", "0"), ("g1", "1"), ("g0b", "0")):
        spec = synth_spec(ws, name, steps=30, step_time=0.1)
        spec.gpu_set = gpus
        specs[name] = jm.submit(spec, name)
    assert jm.get(specs["g0"].id).state.active and jm.get(specs["g1"].id).state.active
    assert jm.get(specs["g0b"].id).state == JobState.QUEUED  # waits for GPU 0
    for j in specs.values():
        assert jm.wait(j.id, 60).state == JobState.COMPLETED
    assert jm.get(specs["g0b"].id).status.started_at >= jm.get(specs["g0"].id).status.ended_at - 0.01


def test_training_program_does_not_inherit_nyx_on_its_path(jm, ws, monkeypatch):
    """sd-scripts runs in its own venv: the runner's own PYTHONPATH (Nyx's folder) must not leak into it."""
    monkeypatch.setenv("PYTHONPATH", "/caller/path")
    probe = "import os; print('PP=' + os.environ.get('PYTHONPATH', '<none>'))"
    job = jm.submit(JobSpec(argv=[sys.executable, "-c", probe], expected_output=str(ws.outputs / "none.bin")), "pp")
    job = jm.wait(job.id, 60)
    assert "PP=/caller/path" in job.log_path.read_text()


def test_a_stale_lora_from_an_earlier_run_is_no_evidence(jm, ws):
    spec = synth_spec(ws, "stale", "--no-data")
    stale = Path(spec.expected_output)
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"an earlier run's LoRA")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    job = jm.wait(jm.submit(spec, "stale").id, 60)
    assert job.state == JobState.FAILED
    assert "wrote no LoRA" in job.status.reason


def test_start_training_refuses_without_sd_scripts(ws, tmp_path):
    from nyx_core.config import new_config

    jm = JobManager(ws, Settings(sd_scripts_dir=tmp_path / "nowhere"))
    with pytest.raises(NyxError, match="cannot start training: no train_network.py"):
        jm.start_training(new_config("x", "sd15"))
    assert jm.list() == []  # nothing half-made
