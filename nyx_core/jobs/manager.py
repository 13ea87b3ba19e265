"""JobManager: the one façade pages, the CLI and notebooks use for training jobs.

Example (a notebook)::

    from nyx_core.workspace import Workspace
    from nyx_core.config import load_config
    from nyx_core.jobs import JobManager

    jm = JobManager(Workspace.open())
    job = jm.start_training(load_config("workspace/configs/mine.toml"))
    jm.wait(job.id)            # or follow jm.progress(job.id)
"""
from __future__ import annotations

import time
from pathlib import Path

from nyx_core.errors import NyxError
from nyx_core.jobs.models import Job, JobSpec, JobState, JobStatus, event
from nyx_core.jobs.reader import ProgressState, follow
from nyx_core.jobs.store import JobStore, append_event, update_status
from nyx_core.settings import Settings
from nyx_core.workspace import Workspace


class JobManager:
    def __init__(self, ws: Workspace, settings: Settings | None = None) -> None:
        self.ws = ws
        self.settings = settings if settings is not None else Settings.load(ws.root)
        self.store = JobStore(ws.jobs)

    # Reading (every read reconciles) ------------------------------------------------------
    def list(self, state: str | None = None) -> list[Job]:
        """Every job, newest first, each reconciled with its processes."""
        jobs = [self.store.reconcile(j) for j in self.store.list()]
        if any(j.state == JobState.QUEUED for j in jobs):
            # something waits: start it if its GPUs are free (e.g. the runner that should have
            # started it died)
            if self.store.start_next():
                jobs = [self.store.reconcile(j) for j in self.store.list()]
        if state:
            jobs = [j for j in jobs if j.state.value == state]
        return jobs

    def get(self, job_id: str) -> Job:
        return self.store.reconcile(self.store.load(job_id))

    def active(self) -> Job | None:
        act = self.store.active()
        return act[0] if act else None

    def queued(self) -> list[Job]:
        """Queued jobs in the order they will start."""
        out = []
        for i in self.store.queue.ids():
            try:
                j = self.store.load(i)
            except NyxError:
                continue
            if j.state == JobState.QUEUED:
                out.append(j)
        return out

    def progress(self, job_id: str, state: ProgressState | None = None) -> ProgressState:
        return follow(self.store.job_dir(job_id), state)

    # Starting ------------------------------------------------------------------------------
    def submit(self, spec: JobSpec, name: str, job_dir: Path | None = None) -> Job:
        """Create a job for any program (generic spec), queue it, and start it if the GPU is free."""
        job = self.store.create(name, spec, job_dir=job_dir)
        self.store.queue.push(job.id)
        self.store.start_next()
        return self.get(job.id)

    def start_training(self, cfg, name: str | None = None) -> Job:
        """Validate ``cfg`` (every error listed in one NyxError), snapshot it, render the sd-scripts
        files into ``jobs/<id>/render/``, and queue or start the run."""
        from nyx_core.config import save_config
        from nyx_core.config import validate
        from nyx_core.config.plan import plan
        from nyx_core.kohya.render import render

        found, why = self.settings.sd_scripts_status()
        if not found:
            # Pre-flight lists this as a warning (configs can be prepared without sd-scripts);
            # a run cannot start without it, so refuse here rather than leave a failed job behind.
            raise NyxError(f"cannot start training: {why}")
        run_plan = plan(cfg, self.ws)  # the dataset is read once, for pre-flight and rendering
        problems = validate(run_plan, self.ws, self.settings)
        errors = [p for p in problems if getattr(p, "level", "error") == "error"]
        if errors:
            listed = "; ".join(f"{getattr(p, 'label', p.field)}: {p.message}" if p.field else p.message for p in errors)
            raise NyxError(f"the config has {len(errors)} error(s), fix them first: {listed}")
        name = name or _config_name(cfg)
        job_dir = self.store.new_dir(name)
        try:
            save_config(cfg, job_dir / "job.toml")
            run = render(cfg, ws=self.ws, settings=self.settings, render_dir=job_dir / "render",
                         logging_dir=job_dir / "tb", plan=run_plan)
            run.write(job_dir / "render")
        except Exception:
            import shutil

            shutil.rmtree(job_dir, ignore_errors=True)  # an empty, never-started job folder
            raise
        spec = JobSpec(
            argv=[str(a) for a in run.argv],
            cwd=str(self.settings.sd_scripts_dir) if Path(self.settings.sd_scripts_dir).is_dir() else None,
            expected_output=str(run.expected_output),
            output_dir=str(run.output_dir),
            tb_dir=str(job_dir / "tb"),
            kind="train",
            gpu_set=_gpu_set(cfg),
        )
        return self.submit(spec, name, job_dir=job_dir)

    # Stopping and the queue ----------------------------------------------------------------
    def stop(self, job_id: str, save: bool = False) -> Job:
        """Stop a run: ``save=False`` now (SIGINT, SIGTERM, SIGKILL to its process group), or
        ``save=True`` right after the next checkpoint sd-scripts saves. A queued job is dequeued."""
        job = self.get(job_id)
        if job.state == JobState.QUEUED:
            self.remove_from_queue(job.id)
            return self.get(job.id)
        if job.state.final:
            return job
        mode = "after_checkpoint" if save else "now"

        def req(s: JobStatus) -> None:
            if s.state.final:
                return
            if s.stop_request == "now":
                return  # never downgrade an immediate stop
            s.stop_request = mode
            s.stop_requested_at = time.time()
            if mode == "now":
                s.state = JobState.STOPPING

        job.status = update_status(job.dir, req)
        return job

    def remove_from_queue(self, job_id: str) -> bool:
        job = self.store.load(job_id)
        with self.store.queue.locked():
            removed = self.store.queue.remove(job.id, lock=False)

            def drop(s: JobStatus) -> None:
                if s.state == JobState.QUEUED:
                    s.state = JobState.STOPPED
                    s.ended_at = time.time()
                    s.reason = "removed from the queue before it started"

            st = update_status(job.dir, drop)
        if st.state == JobState.STOPPED and st.reason and "queue" in st.reason:
            append_event(job.dir, event("end", state="stopped", exit_code=None, duration_s=0, reason=st.reason))
        return removed

    def move_in_queue(self, job_id: str, delta: int) -> list[str]:
        return self.store.queue.move(self.store.load(job_id).id, delta)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.2) -> Job:
        """Block until the job is final (or ``timeout`` seconds pass); returns the job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.state.final or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(poll)


def _gpu_set(cfg) -> str:
    ids = getattr(getattr(cfg, "performance", None), "gpu_ids", "") or ""
    return ids.replace(" ", "") or "all"


def _config_name(cfg) -> str:
    project = getattr(cfg, "project", None)
    for v in (getattr(project, "name", None), getattr(cfg, "output_name", None)):
        if isinstance(v, str) and v.strip():
            return v.strip()
    return "training"
