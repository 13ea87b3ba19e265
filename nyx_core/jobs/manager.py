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


class AlreadyActive(NyxError):
    """The config is already queued or running; start it again only after asking the user."""

    def __init__(self, config: str, jobs: list[Job]) -> None:
        self.config, self.jobs = config, jobs
        listed = ", ".join(f"{j.id} ({j.state.value})" for j in jobs)
        super().__init__(f"{config} is already queued or running: {listed}. Start another run of it anyway? "
                         "(CLI: --again)")


class JobManager:
    def __init__(self, ws: Workspace, settings: Settings | None = None) -> None:
        self.ws = ws
        self.settings = settings if settings is not None else Settings.load(ws.root)
        self.store = JobStore(ws.jobs)

    # Reading (pure: nothing is written, started or killed) ---------------------------------
    def list(self, state: str | None = None) -> list[Job]:
        """Every job, newest first, as it really is: a job whose runner is gone shows ``lost``
        (``job.unrecorded`` says why) but is only recorded by ``reconcile``. Damaged job folders
        are included with state ``damaged`` (``job.damage`` says why)."""
        jobs = [self.store.observe(j) for j in self.store.list()]
        if state:
            jobs = [j for j in jobs if j.state.value == state]
        return jobs

    def get(self, job_id: str) -> Job:
        return self.store.observe(self.store.load(job_id))

    def active(self) -> Job | None:
        act = self.store.active()
        return act[0] if act else None

    # Explicit actions that record reality ----------------------------------------------------
    def reconcile(self) -> tuple[list[Job], list[Job]]:
        """Record every lost job (its runner died: kill -9, OOM killer, reboot), end a training
        program its runner left behind, then start the queued jobs whose GPUs are free.

        Who starts the next queued run: the runner of the run that ends (normally). When a
        runner dies instead, nothing starts until an explicit action calls this: the Monitor's
        *Reconcile* button, `nyx train reconcile`, or starting/stopping any run (reads never do).
        Returns (jobs recorded lost, jobs started)."""
        lost = self.store.reconcile_all()
        return lost, self.store.start_next()

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
        self.reconcile()  # an action: a dead run must not hold the GPUs this job waits for
        return self.get(job.id)

    def start_training(self, cfg, name: str | None = None, *, config_path: Path | str | None = None,
                       again: bool = False) -> Job:
        """Validate ``cfg`` (every error listed in one NyxError), snapshot it, render the sd-scripts
        files into ``jobs/<id>/render/``, and queue or start the run.

        The run writes into its own folder, ``<config output dir>/<run id>/`` (LoRAs, ``sample/``,
        saved states), so runs of one config never overwrite each other. ``config_path`` (the file
        the config came from) lets Nyx refuse, with ``AlreadyActive``, to start a config that is
        already queued or running unless ``again`` is set: the caller asks the user first."""
        from nyx_core.config import save_config
        from nyx_core.config import validate
        from nyx_core.config.plan import plan
        from nyx_core.kohya.render import render

        found, why = self.settings.sd_scripts_status()
        if not found:
            # Pre-flight lists this as a warning (configs can be prepared without sd-scripts);
            # a run cannot start without it, so refuse here rather than leave a failed job behind.
            raise NyxError(f"cannot start training: {why}")
        source = self._config_ref(config_path)
        if source and not again:
            busy = self.runs_of_config(source)
            if busy:
                raise AlreadyActive(source, busy)
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
            rel = cfg.project.output_dir.strip() or f"{self.ws.relative(self.ws.outputs)}/{cfg.project.name}"
            output_dir = self.ws.resolve(rel) / job_dir.name
            run = render(cfg, ws=self.ws, settings=self.settings, render_dir=job_dir / "render",
                         logging_dir=job_dir / "tb", output_dir=output_dir, plan=run_plan)
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
            config=source,
        )
        return self.submit(spec, name, job_dir=job_dir)

    def _config_ref(self, config_path: Path | str | None) -> str | None:
        if config_path is None:
            return None
        try:
            return self.ws.relative(self.ws.resolve(config_path))
        except NyxError:
            return str(config_path)

    def runs_of_config(self, config_path: Path | str) -> list[Job]:
        """Queued or active runs started from the config file ``config_path``."""
        ref = self._config_ref(config_path)
        return [j for j in self.list() if j.spec.config == ref and (j.state.active or j.state == JobState.QUEUED)]

    # What a run produced, and runs made from it ----------------------------------------------
    def files(self, job_id: str):
        """The run's LoRAs, saved states and samples (``nyx_core.jobs.outputs.RunFiles``)."""
        from nyx_core.jobs.outputs import run_files

        return run_files(self.get(job_id))

    def _snapshot(self, job_id: str):
        from nyx_core.config import load_config

        job = self.get(job_id)
        if job.damage:
            raise NyxError(f"job {job.id} is damaged ({job.damage})")
        snap = job.dir / "job.toml"
        if not snap.is_file():
            raise NyxError(f"job {job.id} has no config snapshot (job.toml): only training runs can be re-run")
        return job, load_config(snap)

    def rerun(self, job_id: str, *, again: bool = False) -> Job:
        """A new run of the same config as ``job_id`` (its snapshot, not today's file)."""
        job, cfg = self._snapshot(job_id)
        return self.start_training(cfg, name=job.name, config_path=job.spec.config, again=again)

    def resume(self, job_id: str, state: Path | str | None = None, *, again: bool = False) -> Job:
        """A new run of ``job_id``'s config that continues from a training state it saved
        (``save_state``): ``state`` or, by default, the newest one. sd-scripts' ``resume``."""
        from nyx_core.jobs.outputs import run_files

        job, cfg = self._snapshot(job_id)
        states = run_files(job).states
        if state is None:
            if not states:
                raise NyxError(f"run {job.id} saved no training state (turn on 'save state' in the config "
                               "to make runs resumable)")
            chosen = states[0]
        else:
            chosen = self.ws.resolve(state, must_exist=True)
        cfg.model.resume_state = self.ws.relative(chosen)
        return self.start_training(cfg, name=job.name, config_path=job.spec.config, again=again)

    def clone_config(self, job_id: str, new_name: str) -> Path:
        """Save ``job_id``'s config snapshot as a new config file ``configs/<new_name>.toml``
        (never over an existing one); returns its path."""
        from nyx_core.config import save_config

        _job, cfg = self._snapshot(job_id)
        stem = (new_name or "").strip()
        if not stem or "/" in stem or stem.startswith(".") or len(stem.encode()) > 200:
            raise NyxError(f"config name {new_name!r}: use a plain name (no '/', not starting with '.')")
        stem = stem[:-5] if stem.endswith(".toml") else stem
        dest = self.ws.resolve(f"{self.ws.relative(self.ws.configs)}/{stem}.toml")
        if dest.exists():
            raise NyxError(f"{self.ws.relative(dest)} already exists: pick another name")
        cfg.project.name = stem
        save_config(cfg, dest)
        return dest

    # Stopping and the queue ----------------------------------------------------------------
    def stop(self, job_id: str, save: bool = False) -> Job:
        """Stop a run: ``save=False`` now (SIGINT, SIGTERM, SIGKILL to its process group), or
        ``save=True`` right after the next checkpoint sd-scripts saves. A queued job is dequeued."""
        job = self.store.load(job_id)
        before = job.status.state
        job = self.store.reconcile(job)
        if job.damage:
            raise NyxError(f"job {job.id} is damaged ({job.damage}); it cannot be stopped from Nyx")
        if job.state == JobState.LOST and before != JobState.LOST:
            self.store.start_next()  # its runner was gone: nobody else will start the queue
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
            if job.damage:
                return removed

            def drop(s: JobStatus) -> None:
                if s.state == JobState.QUEUED:
                    s.state = JobState.STOPPED
                    s.ended_at = time.time()
                    s.reason = "removed from the queue before it started"
                    # under the status lock, by whoever made the change: exactly one end event
                    append_event(job.dir, event("end", state="stopped", exit_code=None, duration_s=0,
                                                reason=s.reason))

            update_status(job.dir, drop)
        return removed

    def move_in_queue(self, job_id: str, delta: int) -> list[str]:
        return self.store.queue.move(self.store.load(job_id).id, delta)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.2) -> Job:
        """Block until the job is final (or ``timeout`` seconds pass); returns the job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.state.final or job.damage or (deadline is not None and time.monotonic() >= deadline):
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
