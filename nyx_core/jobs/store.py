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
import copy
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from nyx_core.cache import StampCache
from nyx_core.errors import NyxError
from nyx_core.fsutil import atomic_write_text
from nyx_core.jobs import control
from nyx_core.jobs.models import ACTIVE_STATES, FINAL_STATES, Job, JobSpec, JobState, JobStatus, event
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
        _link_outputs(job_dir, spec)
        # job.json last: it is what makes a folder a job, so no reader ever sees a job without
        # its status (which would be shown as damaged)
        write_status(job_dir, JobStatus(state=JobState.QUEUED))
        (job_dir / "progress.jsonl").touch()
        atomic_write_text(job_dir / "job.json", json.dumps(meta, indent=1) + "\n")
        return self.load_dir(job_dir)

    # Reading ----------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """Job ids, newest first. Ids start with a timestamp in whole seconds; jobs made within the
        same second are ordered by when their job.json was written (not by name)."""
        found = []
        for p in self.root.iterdir():
            try:
                found.append((p.name[:15], (p / "job.json").stat().st_mtime_ns, p.name))
            except OSError:
                continue  # not a job (no job.json), or removed meanwhile
        return [name for _, _, name in sorted(found, reverse=True)]

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
        """The job in ``job_dir``. Never raises for damaged files: such a job comes back with
        ``damage`` set (which file, what is wrong), so one bad folder never hides the others.

        job.json and status.json are parsed once while unchanged (a page lists every run on each
        rerun); each call gets fresh objects, so a caller may change what it got."""
        job_dir = Path(job_dir)
        name, spec, status, damage = _JOB_READS.get(
            ("job", str(job_dir)), lambda: (_read_job(job_dir), [job_dir / "job.json", job_dir / "status.json"]))
        return Job(id=job_dir.name, dir=job_dir, name=name, spec=_fresh(spec), status=_fresh(status), damage=damage)

    def list(self) -> list[Job]:
        """Every job, newest first; damaged ones included (``Job.damage`` says why)."""
        out = []
        for i in self.ids():
            try:
                out.append(self.load_dir(self.root / i))
            except OSError:
                continue  # removed between listing and reading
        return out

    # Reconciling ------------------------------------------------------------------------
    # Reads never change anything: ``observe`` only *says* that a job is lost. Recording it (and
    # ending a training program its runner left behind) is ``reconcile``, called by explicit
    # actions (JobManager.reconcile / start / stop, `nyx train reconcile`, the Monitor's button).

    def assess(self, job: Job) -> str | None:
        """Why ``job`` must be lost (its runner is gone), or None. Pure: reads processes only."""
        st = job.status
        if job.damage or st.state not in ACTIVE_STATES:
            return None
        if st.runner_pid:
            if st.boot_time is not None and not control.same_boot(st.boot_time):
                return f"the machine restarted while the job was {st.state.value}"
            if control.is_alive(st.runner_pid, st.runner_create_time):
                return None
            return f"the runner process (pid {st.runner_pid}) disappeared while the job was {st.state.value}"
        if time.time() - (st.started_at or st.created_at) < STARTING_TIMEOUT_S:
            return None  # the runner is still starting up
        return f"the runner process never started (the job was {st.state.value} for {STARTING_TIMEOUT_S:.0f} s)"

    def observe(self, job: Job) -> Job:
        """``job`` as it really is, without writing: an active job whose runner is gone is shown
        ``lost`` (in memory) with ``unrecorded`` set."""
        why = self.assess(job)
        if why:
            job.unrecorded = why
            job.status.state = JobState.LOST
            job.status.reason = f"{why} (not yet recorded: `nyx train reconcile` or the Monitor's Reconcile)"
        return job

    def reconcile(self, job: Job) -> Job:
        """Record what ``observe`` sees: the job becomes ``lost`` with its last log lines, one
        ``end`` event is appended (exactly one, however many processes reconcile at once), and
        a training program that outlived its runner is terminated — only processes proven to be
        the ones the runner started (pid + create time, same boot; see control.own_group_members).
        """
        if self.assess(job) is None:
            return job

        def mark_lost(s: JobStatus) -> None:
            if s.state not in ACTIVE_STATES:
                return  # the runner finished, or another reader recorded it, before we got the lock
            current = Job(id=job.id, dir=job.dir, name=job.name, spec=job.spec, status=s)
            why = self.assess(current)
            if why is None:
                return
            members = control.own_group_members(s.child_pgid, s.child_pid, s.child_create_time, s.boot_time)
            killed = ""
            if members:
                control.kill_members(members)
                killed = " Its training process was still running and has been terminated."
            ended = _last_end_event(job.dir)
            if ended is not None and ended.get("state") in {x.value for x in FINAL_STATES}:
                # the runner wrote its end event (events first) and died before its status: take it
                s.state = JobState(ended["state"])
                s.exit_code = ended.get("exit_code") if isinstance(ended.get("exit_code"), int) else None
                s.reason = ended.get("reason") if isinstance(ended.get("reason"), str) else None
                s.ended_at = ended.get("t") if isinstance(ended.get("t"), (int, float)) else time.time()
                return
            s.state = JobState.LOST
            s.ended_at = time.time()
            s.reason = why[0].upper() + why[1:] + "." + killed
            # the program's last words, or the runner's own (e.g. it failed to start)
            s.error_lines = tail_lines(job.log_path, 8) or tail_lines(job.dir / "runner.log", 8)
            # inside the status lock, by the one process that made the change: exactly one end
            append_event(job.dir, event("end", state="lost", exit_code=s.exit_code,
                                        duration_s=s.duration_s, reason=s.reason))

        try:
            job.status = update_status(job.dir, mark_lost)
        except NyxError as exc:  # status.json damaged meanwhile
            job.damage = str(exc)
        return job

    def active(self) -> list[Job]:
        """Jobs whose runner is alive and active (pure: lost-but-unrecorded jobs are left out)."""
        return [j for j in (self.observe(j) for j in self.list()) if j.state in ACTIVE_STATES]

    def reconcile_all(self) -> list[Job]:
        """Record every lost job (see ``reconcile``); returns the jobs that changed."""
        changed = []
        for j in self.list():
            if self.assess(j):
                changed.append(self.reconcile(j))
        return changed

    # Starting ---------------------------------------------------------------------------
    def start_next(self) -> list[Job]:
        """Start queued jobs whose GPU set is free, in queue order. Safe to call from anywhere.

        One active run per GPU set: a job on GPUs "0" and one on "1" may run side by side; "all"
        (the default) conflicts with everything. A job waiting for its GPUs does not hold back a
        later job that needs other GPUs.
        """
        started: list[Job] = []
        with self.queue.locked():
            # a job whose runner is gone but is not recorded lost yet still holds its GPUs here:
            # only reconcile (an explicit action) frees them
            busy = [j.spec.gpu_set for j in self.list() if j.status.state in ACTIVE_STATES and not j.damage]
            for job_id in self.queue.ids():
                try:
                    job = self.load(job_id)
                except (JobNotFound, OSError):
                    self.queue.remove(job_id, lock=False)
                    continue
                if job.damage or job.status.state != JobState.QUEUED:
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


#: parsed job.json + status.json by job folder (see JobStore.load_dir)
_JOB_READS = StampCache(maxsize=4096)


def _read_job(job_dir: Path) -> tuple[str, JobSpec, JobStatus, str | None]:
    """(name, spec, status, damage) of one job, read from its files."""
    damage = None
    name, spec = job_dir.name, JobSpec(argv=[])
    try:
        meta = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("spec"), dict):
            raise ValueError("no 'spec' object")
        spec = JobSpec.from_dict(meta["spec"])
        if isinstance(meta.get("name"), str) and meta["name"]:
            name = meta["name"]
    except (OSError, ValueError, TypeError) as exc:
        damage = f"job.json: {_why(exc)}"
    try:
        status = read_status(job_dir)
    except NyxError as exc:
        status = JobStatus(state=JobState.FAILED)
        status.created_at = _mtime(job_dir)
        damage = "; ".join(x for x in (damage, str(exc)) if x)
    return name, spec, status, damage


def _fresh(obj):  # noqa: ANN001, ANN202 - a JobSpec or JobStatus
    """A copy of a cached dataclass whose lists and dicts are its own (their items are text and
    numbers), so callers that change a job they loaded never change the cache. Much cheaper
    than a deepcopy, which cost more than reading the files."""
    new = object.__new__(type(obj))
    for k, v in obj.__dict__.items():
        new.__dict__[k] = v.copy() if isinstance(v, (list, dict)) else v
    return new


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
    """status.json, checked; NyxError("status.json: <what is wrong>") when it cannot be used."""
    why = "unreadable"
    for _ in range(3):
        try:
            text = (Path(job_dir) / "status.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NyxError("status.json: missing") from None
        except (OSError, UnicodeDecodeError) as exc:
            why = _why(exc)
            break
        if not text.strip():
            why = "empty"
        else:
            try:
                return JobStatus.from_dict(json.loads(text))
            except (ValueError, TypeError) as exc:
                why = _why(exc)
        time.sleep(0.02)  # atomic replace makes a torn read near impossible; be kind anyway
    raise NyxError(f"status.json: {why}")


def _why(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _mtime(path: Path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


def _last_end_event(job_dir: Path, max_bytes: int = 65536) -> dict | None:
    """The last ``end`` event in progress.jsonl (read from its tail), or None."""
    try:
        with open(Path(job_dir) / "progress.jsonl", "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            data = fh.read()
    except OSError:
        return None
    for line in reversed(data.split(b"\n")):
        if b'"end"' in line:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("type") == "end":
                return ev
    return None


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
