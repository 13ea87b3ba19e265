"""Job, its status, its spec, and the progress event schema (v1).

A job is a folder (see ``store.py``); these dataclasses are what its JSON files hold.

Progress events, schema v1
==========================

``progress.jsonl`` holds one JSON object per line, appended by the runner (and an ``end`` event by
whoever finds a job lost or removes it from the queue). Every event has
``v`` (schema version, ``1``), ``t`` (Unix time in seconds, float) and ``type``. Readers must ignore
unknown types and unknown fields (new fields may be added without a version bump; removing or
changing the meaning of a field bumps ``v``). The runner writes compact JSON with the fields in
the order listed; ``reader.py`` relies on that order for its fast path on step/metric lines.

=============  ===================================================================================
type           fields
=============  ===================================================================================
``phase``      ``phase``: one of ``PHASES`` (starting, preparing dataset, loading model, caching
               latents, preparing optimizer, training, saving, sampling, finished)
``summary``    what sd-scripts printed before training: ``total`` (optimization steps), ``epochs``,
               ``images`` (train images x repeats), ``reg_images``, ``batches_per_epoch``,
               ``batch_size``, ``grad_accum`` (each optional)
``step``       ``step``, ``total``, ``epoch``, ``epochs`` (may be null before the first epoch line),
               ``it_per_s`` (tqdm's it/s, or 1 / its s/it), ``elapsed_s``, ``eta_s``, ``avr_loss``
               (tqdm's running average; null on the first print of a step)
``epoch``      ``epoch``, ``epochs``
``metric``     from the TensorBoard events: ``step``, ``loss`` (``loss/current``), ``lr``
               (``lr/unet`` or the first ``lr/*``), ``lr_tag``, ``values`` (every other tag, e.g.
               ``loss/average``, ``lr/textencoder``); also indexed in ``series.bin`` (reader.py)
``checkpoint`` ``path`` (absolute), ``final`` (true for the ``<output_name>.safetensors`` file)
``sample``     ``path`` (absolute), ``epoch``, ``prompt`` (prompt index), ``step`` (if known)
``warning``    ``message``
``error``      ``message``, ``lines`` (the traceback or record, last lines)
``heartbeat``  nothing else: the runner is alive; written after ``HEARTBEAT_S`` without other events
``stop``       ``mode`` (``now`` or ``after_checkpoint``), ``signal`` when one was sent
``notify``     ``ok``, ``message`` (the end-of-run webhook, if configured)
``end``        ``state`` (final JobState), ``exit_code`` (negative = killed by that signal),
               ``duration_s``, ``reason`` (null when completed)
``task``       a non-training job's progress (``task.py``): ``done``, ``total``, ``unit``,
               ``rate`` (units/s), ``eta_s``, ``elapsed_s``, ``message`` (each optional but ``done``)
``result``     what a non-training job produced: ``data`` (a JSON object defined by the job kind)
=============  ===================================================================================

Job kinds (``JobSpec.kind``): ``train`` (sd-scripts training; completion needs a LoRA and steps
seen) and task kinds (``tag``, ``caption``, ``download``, ``upload``, ``generate``, ``lora``):
their program speaks the ``@nyx`` protocol of ``task.py`` and completion is its exit code 0 (plus
``expected_output`` when set). ``gpu_set = "none"`` marks a job that needs no GPU: it starts at
once, beside a training run, instead of waiting in the queue.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
HEARTBEAT_S = 10.0

PHASES = (
    "starting",
    "preparing dataset",
    "loading model",
    "caching latents",
    "preparing optimizer",
    "training",
    "saving",
    "sampling",
    "finished",
)
EVENT_TYPES = (
    "phase", "summary", "step", "epoch", "metric", "checkpoint", "sample", "warning", "error",
    "heartbeat", "stop", "notify", "end", "task", "result",
)


def event(type_: str, t: float | None = None, **fields_: Any) -> dict[str, Any]:
    """A v1 event dict, ready for ``json.dumps``."""
    out: dict[str, Any] = {"v": SCHEMA_VERSION, "t": round(time.time() if t is None else t, 3), "type": type_}
    out.update(fields_)
    return out


class JobState(str, Enum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    LOST = "lost"
    #: not a state any job is put in: how a job whose files cannot be read is shown (``Job.damage``)
    DAMAGED = "damaged"

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


ACTIVE_STATES = frozenset({JobState.STARTING, JobState.RUNNING, JobState.STOPPING})
FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.STOPPED, JobState.LOST})


@dataclass
class JobSpec:
    """What the runner runs: generic, so tagging/captioning jobs can reuse it.

    ``files`` are written into ``render/`` when the job is created (name -> text).
    ``expected_output`` is the file whose existence proves success (the LoRA); None means the exit
    code alone decides. ``output_dir`` is watched for checkpoints and ``<output_dir>/sample`` for
    sample images; ``tb_dir`` for TensorBoard event files.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    expected_output: str | None = None
    output_dir: str | None = None
    tb_dir: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    kind: str = "train"
    gpu_set: str = "all"
    #: seconds to wait after SIGINT, then after SIGTERM, before escalating
    stop_grace_s: tuple[float, float] = (20.0, 10.0)
    #: the config file a training run was started from (workspace-relative), to tell the user
    #: when they start a config that is already queued or running
    config: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop_grace_s"] = list(self.stop_grace_s)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobSpec":
        """Checked like ``JobStatus.from_dict``: ValueError naming the field."""
        if not isinstance(d, dict):
            raise ValueError(f"spec is not a JSON object but {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        argv = kw.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("spec.argv is not a list of text")
        env = kw.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError("spec.env is not a text-to-text table")
        for k in ("cwd", "expected_output", "output_dir", "tb_dir", "kind", "gpu_set", "config"):
            if kw.get(k) is not None and not isinstance(kw[k], str):
                raise ValueError(f"spec.{k} is {kw[k]!r}, not text")
        if "stop_grace_s" in kw:
            try:
                a, b = (float(x) for x in kw["stop_grace_s"])
            except (TypeError, ValueError):
                raise ValueError("spec.stop_grace_s is not two numbers") from None
            kw["stop_grace_s"] = (a, b)
        if not isinstance(kw.get("files", {}), dict):
            raise ValueError("spec.files is not a table")
        return cls(**kw)


@dataclass
class JobStatus:
    """``status.json``. Written atomically by whoever holds the job's status lock."""

    state: JobState = JobState.QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    runner_pid: int | None = None
    runner_create_time: float | None = None
    child_pid: int | None = None
    child_create_time: float | None = None
    child_pgid: int | None = None
    #: when the program's output closed (≈ its exit), for overhead measurements
    child_ended_at: float | None = None
    #: CPU seconds the runner itself used (user + system), for overhead measurements
    runner_cpu_s: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    error_lines: list[str] = field(default_factory=list)
    #: None, "now" or "after_checkpoint" (set by JobManager.stop, acted on by the runner)
    stop_request: str | None = None
    stop_requested_at: float | None = None
    #: the machine's boot time when the runner started (psutil.boot_time): after a reboot no pid
    #: or process group recorded here is ours any more, whatever its number
    boot_time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobStatus":
        """Checked: a file written by a bug, a tool or a full disk raises ValueError naming the
        field, so one damaged job is shown as damaged instead of breaking every listing."""
        if not isinstance(d, dict):
            raise ValueError(f"not a JSON object but {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        state = kw.get("state", "queued")
        try:
            kw["state"] = JobState(state)
        except ValueError:
            raise ValueError(f"unknown state {state!r}") from None
        if kw["state"] == JobState.DAMAGED:
            raise ValueError("unknown state 'damaged'")
        for k in _INT_FIELDS:
            v = kw.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ValueError(f"{k} is {v!r}, not a whole number")
        for k in _TIME_FIELDS:
            v = kw.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"{k} is {v!r}, not a number")
        for k in ("reason", "stop_request"):
            if kw.get(k) is not None and not isinstance(kw[k], str):
                raise ValueError(f"{k} is {kw[k]!r}, not text")
        lines = kw.get("error_lines", [])
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ValueError("error_lines is not a list of text lines")
        if "created_at" in kw and kw["created_at"] is None:
            kw.pop("created_at")
        return cls(**kw)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


_INT_FIELDS = ("runner_pid", "child_pid", "child_pgid", "exit_code")
_TIME_FIELDS = ("created_at", "started_at", "ended_at", "runner_create_time", "child_create_time",
                "child_ended_at", "runner_cpu_s", "stop_requested_at", "boot_time")


@dataclass
class Job:
    """One job folder, as read from disk.

    ``damage`` is set (one line: which file, what is wrong) when a file of the job cannot be read;
    such a job is listed with state ``damaged`` and never started, stopped or reconciled.
    ``unrecorded`` is set by a read that sees an active job whose runner is gone: the job is shown
    ``lost`` but nothing is written until an explicit reconcile (``JobManager.reconcile``).
    """

    id: str
    dir: Path
    name: str
    spec: JobSpec
    status: JobStatus
    damage: str | None = None
    unrecorded: str | None = None

    @property
    def state(self) -> JobState:
        return JobState.DAMAGED if self.damage else self.status.state

    @property
    def progress_path(self) -> Path:
        return self.dir / "progress.jsonl"

    @property
    def log_path(self) -> Path:
        return self.dir / "train.log"

    @property
    def render_dir(self) -> Path:
        return self.dir / "render"

    @property
    def expected_output(self) -> Path | None:
        return Path(self.spec.expected_output) if self.spec.expected_output else None

    @property
    def output_dir(self) -> Path | None:
        return Path(self.spec.output_dir) if self.spec.output_dir else None

    def summary(self) -> dict[str, Any]:
        """Flat dict for tables and ``--json``."""
        s = self.status
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.spec.kind,
            "state": self.state.value,
            "damage": self.damage,
            "unrecorded": self.unrecorded,
            "created_at": s.created_at,
            "started_at": s.started_at,
            "ended_at": s.ended_at,
            "duration_s": None if s.duration_s is None else round(s.duration_s, 1),
            "exit_code": s.exit_code,
            "reason": s.reason,
            "expected_output": self.spec.expected_output,
            "dir": str(self.dir),
        }
