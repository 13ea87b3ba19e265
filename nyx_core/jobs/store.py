"""Job folders on disk: create, read, update status atomically, reconcile with reality.

Layout of ``workspace/jobs/<yyyymmdd-hhmmss>-<name>/``::

    job.json        name, kind and the JobSpec (argv, env, cwd, expected output …)
    job.toml        the Nyx training config snapshot (training jobs only)
    status.json     JobStatus, atomic writes under ``.status.lock``
    progress.jsonl  events (schema v1, see models.py), appended by the runner
    train.log       everything the program printed (raw bytes, \\r kept)
    runner.log      the runner's own stdout/stderr (normally empty)
    render/         config.toml, dataset.toml, sample_prompts.txt, argv.json
    tb/             TensorBoard logging dir given to sd-scripts

No process keeps state in memory that isn't in these files: any process (UI, CLI, a runner, a
restarted server) can pick a job up from its folder.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from nyx_core.errors import NyxError
from nyx_core.fsutil import atomic_write_text
from nyx_core.jobs import control
from nyx_core.jobs.models import ACTIVE_STATES, Job, JobSpec, JobState, JobStatus, event
from nyx_core.jobs.queue import JobQueue

REPO_ROOT = Path(__file__).resolve().parents[2]
#: a job that says "starting" but whose runner never wrote its pid is declared lost after this
STARTING_TIMEOUT_S = 60.0
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


class JobNotFound(NyxError):
    pass


def slug(name: str) -> str:
    s = _SLUG.sub("-", name.strip()).strip("-._")
    return (s or "job")[:48]


def tail_lines(path: Path, n: int = 20, max_bytes: int = 64_000) -> list[str]:
    """The last ``n`` non-empty lines of a log, tqdm redraws (\\r) collapsed to their last state."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", "replace")
    lines = []
    for raw in text.split("\n"):
        last = raw.rstrip("\r").split("\r")[-1].rstrip()
        if last.strip():
            lines.append(last)
    return lines[-n:]


def append_event(job_dir: Path, ev: dict) -> None:
    """One ``write`` of a whole line with O_APPEND, so concurrent appenders don't interleave."""
    data = (json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    fd = os.open(job_dir / "progress.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class JobStore:
    def __init__(self, jobs_root: Path) -> None:
        self.root = Path(jobs_root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.queue = JobQueue(self.root)

    # Creating ---------------------------------------------------------------------------
    def new_dir(self, name: str) -> Path:
        base = time.strftime("%Y%m%d-%H%M%S") + "-" + slug(name)
        for i in range(1, 1000):
            d = self.root / (base if i == 1 else f"{base}-{i}")
            try:
                d.mkdir()
                return d
            except FileExistsError:
                continue
        raise NyxError("could not create a job folder (too many jobs with the same name this second)")

    def create(self, name: str, spec: JobSpec, job_dir: Path | None = None) -> Job:
        job_dir = job_dir or self.new_dir(name)
        (job_dir / "render").mkdir(exist_ok=True)
        for rel, text in spec.files.items():
            atomic_write_text(job_dir / "render" / rel, text)
        meta = {"name": name, "kind": spec.kind, "spec": spec.to_dict()}
        atomic_write_text(job_dir / "job.json", json.dumps(meta, indent=1) + "\n")
        _link_outputs(job_dir, spec)
        status = JobStatus(state=JobState.QUEUED)
        write_status(job_dir, status)
        (job_dir / "progress.jsonl").touch()
        return self.load_dir(job_dir)

    # Reading ----------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """Job ids, newest first (ids start with a timestamp)."""
        return sorted((p.name for p in self.root.iterdir() if (p / "job.json").is_file()), reverse=True)

    def job_dir(self, job_id: str) -> Path:
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise JobNotFound(f"no such job: {job_id!r}")
        d = self.root / job_id
        if not (d / "job.json").is_file():
            # allow unique prefixes / suffixes for the CLI
            matches = [i for i in self.ids() if i.startswith(job_id) or i.endswith(job_id)]
            if len(matches) == 1:
                return self.root / matches[0]
            raise JobNotFound(f"no such job: {job_id!r} (see `nyx train ls`)")
        return d

    def load(self, job_id: str) -> Job:
        return self.load_dir(self.job_dir(job_id))

    def load_dir(self, job_dir: Path) -> Job:
        job_dir = Path(job_dir)
        meta = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
        return Job(
            id=job_dir.name,
            dir=job_dir,
            name=meta.get("name", job_dir.name),
            spec=JobSpec.from_dict(meta["spec"]),
            status=read_status(job_dir),
        )

    def list(self) -> list[Job]:
        out = []
        for i in self.ids():
            try:
                out.append(self.load(i))
            except (OSError, ValueError, KeyError):
                continue  # a folder being created right now, or damaged: not a job to show
        return out

    # Reconciling ------------------------------------------------------------------------
    def reconcile(self, job: Job) -> Job:
        """Make status.json match reality: an active job whose runner is gone becomes ``lost``.

        If the runner died but its training program still runs (orphaned), the program's group is
        terminated so the GPU is freed and no zombie run goes on unseen.
        """
        if job.status.state not in ACTIVE_STATES:
            return job
        st = job.status
        if st.runner_pid and control.is_alive(st.runner_pid, st.runner_create_time):
            return job
        if not st.runner_pid and time.time() - (st.started_at or st.created_at) < STARTING_TIMEOUT_S:
            return job  # the runner is still starting up

        def mark_lost(s: JobStatus) -> None:
            if s.state not in ACTIVE_STATES:
                return  # the runner finished between our read and the lock
            if s.runner_pid and control.is_alive(s.runner_pid, s.runner_create_time):
                return
            killed = ""
            if s.child_pgid and control.group_members(s.child_pgid):
                control.terminate_group(s.child_pgid, (5.0, 5.0), start_with_sigint=False)
                killed = " Its training process was still running and has been terminated."
            # the program's last words, or the runner's own (e.g. it failed to start)
            last = tail_lines(job.log_path, 8) or tail_lines(job.dir / "runner.log", 8)
            s.state = JobState.LOST
            s.ended_at = time.time()
            who = f"the runner process (pid {s.runner_pid})" if s.runner_pid else "the runner process"
            s.reason = f"{who} disappeared while the job was {st.state.value}.{killed}"
            s.error_lines = last

        new = update_status(job.dir, mark_lost)
        if new.state == JobState.LOST and st.state != JobState.LOST:
            append_event(job.dir, event("end", state="lost", exit_code=new.exit_code,
                                        duration_s=new.duration_s, reason=new.reason))
        job.status = new
        return job

    def active(self) -> list[Job]:
        return [j for j in (self.reconcile(j) for j in self.list()) if j.status.state in ACTIVE_STATES]

    # Starting ---------------------------------------------------------------------------
    def start_next(self) -> list[Job]:
        """Start queued jobs whose GPU set is free, in queue order. Safe to call from anywhere.

        One active run per GPU set: a job on GPUs "0" and one on "1" may run side by side; "all"
        (the default) conflicts with everything. A job waiting for its GPUs does not hold back a
        later job that needs other GPUs.
        """
        started: list[Job] = []
        with self.queue.locked():
            busy = [j.spec.gpu_set for j in self.active()]
            for job_id in self.queue.ids():
                try:
                    job = self.load(job_id)
                except (JobNotFound, OSError, ValueError, KeyError):
                    self.queue.remove(job_id, lock=False)
                    continue
                if job.status.state != JobState.QUEUED:
                    self.queue.remove(job_id, lock=False)
                    continue
                if any(gpu_sets_conflict(job.spec.gpu_set, b) for b in busy):
                    continue
                self.queue.remove(job_id, lock=False)

                def starting(s: JobStatus) -> None:
                    s.state = JobState.STARTING
                    s.started_at = time.time()

                job.status = update_status(job.dir, starting)
                launch_runner(job.dir)
                busy.append(job.spec.gpu_set)
                started.append(job)
        return started


def _link_outputs(job_dir: Path, spec: JobSpec) -> None:
    """``<job>/output`` → the run's output folder (LoRAs and ``sample/``), relative, and only when
    that folder is inside the same workspace (a link must never lead out of it)."""
    if not spec.output_dir:
        return
    out = Path(spec.output_dir).resolve()
    ws_root = Path(job_dir).resolve().parent.parent
    if ws_root not in out.parents:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        (Path(job_dir) / "output").symlink_to(os.path.relpath(out, Path(job_dir).resolve()), target_is_directory=True)
    except OSError:
        pass  # a convenience only


def gpu_sets_conflict(a: str, b: str) -> bool:
    a, b = (a or "all").replace(" ", ""), (b or "all").replace(" ", "")
    if a == "none" or b == "none":  # a job that needs no GPU (downloads, uploads, CPU tools)
        return False
    if a == "all" or b == "all":
        return True
    return bool(set(a.split(",")) & set(b.split(",")))


# status.json ------------------------------------------------------------------------------
@contextlib.contextmanager
def _status_lock(job_dir: Path) -> Iterator[None]:
    with open(Path(job_dir) / ".status.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_status(job_dir: Path) -> JobStatus:
    for _ in range(3):
        try:
            return JobStatus.from_dict(json.loads((Path(job_dir) / "status.json").read_text(encoding="utf-8")))
        except ValueError:
            time.sleep(0.02)  # atomic replace makes this near impossible; be kind anyway
    raise NyxError(f"status.json of {Path(job_dir).name} is damaged")


def write_status(job_dir: Path, status: JobStatus) -> None:
    atomic_write_text(Path(job_dir) / "status.json", json.dumps(status.to_dict(), indent=1) + "\n")



def update_status(job_dir: Path, fn: Callable[[JobStatus], None]) -> JobStatus:
    """Read-modify-write of status.json under its lock; returns the new status."""
    with _status_lock(job_dir):
        s = read_status(job_dir)
        fn(s)
        write_status(job_dir, s)
        return s


# Launching --------------------------------------------------------------------------------
def launch_runner(job_dir: Path) -> None:
    """Start ``python -m nyx_core.jobs.runner <dir>`` fully detached.

    ``--detach`` makes the runner fork once and its first process exit at once, so the runner is
    re-parented to init: it never becomes a zombie child of the UI, and outlives it.
    """
    env = dict(os.environ)
    # The runner needs Nyx importable; the training program (sd-scripts, its own venv) must not see
    # Nyx's folders on its path, so the runner puts the caller's PYTHONPATH back for it.
    env["NYX_CALLER_PYTHONPATH"] = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONUNBUFFERED"] = "1"
    with open(Path(job_dir) / "runner.log", "ab") as log:
        p = subprocess.Popen(
            [sys.executable, "-m", "nyx_core.jobs.runner", "--detach", str(job_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd=str(job_dir), env=env,
        )
    p.wait(timeout=60)
