"""The task-progress protocol (nyx_core/jobs/task.py): a non-training job program reports counted
progress and a result through the real runner; jobs that need no GPU start beside a training run."""
from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

import pytest

from nyx_core.jobs import JobManager, JobSpec, JobState
from nyx_core.jobs.parser import OutputParser
from nyx_core.jobs.reader import ProgressState
from nyx_core.jobs.task import TaskReporter, parse_line
from nyx_core.settings import Settings

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[1]


def test_reporter_lines_round_trip_through_the_parser():
    buf = io.StringIO()
    rep = TaskReporter(total=3, unit="images", stream=buf, min_interval_s=0)
    rep.advance(message="a.png")
    rep.advance()
    rep.advance()
    rep.result(written=3, files=["a.txt"])
    rep.warning("b.png was not an image")
    parser = OutputParser()
    evs = [e for line in buf.getvalue().splitlines() for e in parser.feed(line)]
    assert [e["type"] for e in evs] == ["task", "task", "task", "result", "warning"]
    assert evs[0]["done"] == 1 and evs[0]["total"] == 3 and evs[0]["unit"] == "images"
    assert evs[0]["message"] == "a.png"
    assert evs[3]["data"] == {"written": 3, "files": ["a.txt"]}
    state = ProgressState().apply(evs)
    assert state.task["done"] == 3 and state.fraction == 1.0
    assert state.result == {"written": 3, "files": ["a.txt"]}


@pytest.mark.parametrize("line", [
    "@nyx not json", "@nyx [1,2]", '@nyx {"type":"bogus"}', '@nyx {"type":"task"}',
    '@nyx {"type":"task","done":"3"}', '@nyx {"type":"task","done":Infinity}', "nyx {}",
])
def test_malformed_protocol_lines_are_ordinary_output(line):
    assert parse_line(line) is None
    assert not [e for e in OutputParser().feed(line) if e["type"] in ("task", "result")]


def test_throttle_keeps_the_last_line():
    buf = io.StringIO()
    rep = TaskReporter(total=1000, stream=buf, min_interval_s=60)
    for i in range(1, 1001):
        rep.progress(i)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2  # the first, and the finished one
    assert json.loads(lines[-1][5:])["done"] == 1000


PROGRAM = textwrap.dedent("""
    import sys, time
    from nyx_core.jobs.task import TaskReporter
    n = int(sys.argv[1]); out = sys.argv[2]
    rep = TaskReporter(total=n, unit="images", min_interval_s=0)
    for i in range(n):
        time.sleep(float(sys.argv[3]))
        rep.advance(message=f"image {i}")
    open(out, "w").write("done")
    rep.result(images=n, output=out)
""")


def _task_spec(tmp_path: Path, n: int, delay: float, gpu_set: str = "none", kind: str = "tag") -> JobSpec:
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    out = tmp_path / f"out-{n}-{delay}.txt"
    return JobSpec(argv=[sys.executable, str(prog), str(n), str(out), str(delay)],
                   env={"PYTHONPATH": str(REPO)}, kind=kind, gpu_set=gpu_set)


def test_task_job_reports_progress_and_result_through_the_runner(ws, tmp_path):
    jm = JobManager(ws, Settings())
    job = jm.wait(jm.submit(_task_spec(tmp_path, 5, 0.01), "tag 5").id, 60)
    assert job.state == JobState.COMPLETED, job.status.reason
    state = jm.progress(job.id)
    assert state.task["done"] == 5 and state.task["total"] == 5 and state.task["unit"] == "images"
    assert state.result["images"] == 5
    assert state.end["state"] == "completed"


def test_a_no_gpu_job_starts_beside_a_gpu_job(ws, tmp_path):
    jm = JobManager(ws, Settings())
    # the GPU job runs until stopped, so a slow CI machine cannot let it finish before the check
    slow = jm.submit(_task_spec(tmp_path, 100_000, 0.1, gpu_set="all", kind="generate"), "gpu work")
    quick = jm.submit(_task_spec(tmp_path, 2, 0.01), "download")
    assert jm.get(quick.id).state != JobState.QUEUED
    assert jm.wait(quick.id, 60).state == JobState.COMPLETED
    assert jm.get(slow.id).state.active
    jm.stop(slow.id)
    jm.wait(slow.id, 60)


def test_a_failed_task_job_says_output_not_lora(ws, tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("print('working')\n")
    spec = JobSpec(argv=[sys.executable, str(prog)], kind="download", gpu_set="none",
                   expected_output=str(tmp_path / "never.bin"))
    job = JobManager(ws, Settings()).submit(spec, "dl")
    job = JobManager(ws, Settings()).wait(job.id, 60)
    assert job.state == JobState.FAILED
    assert "wrote no output" in job.status.reason


def test_task_module_imports_without_nyx_dependencies(tmp_path):
    """A job program in sd-scripts' Python (no pydantic, tomlkit, psutil …) can import the protocol."""
    import subprocess

    block = tmp_path / "block"
    block.mkdir()
    for mod in ("pydantic", "tomlkit", "psutil", "yaml", "streamlit", "numpy", "PIL"):
        (block / f"{mod}.py").write_text(f"raise ImportError('{mod} is not in this Python')\n")
    code = "import nyx_core.jobs.task as t; t.TaskReporter(total=1).advance(); print('ok')"
    env = {"PYTHONPATH": f"{block}:{REPO}", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "ok"
