"""Jobs: folders on disk, a detached runner per job, progress events, stop, queue.

See ``docs/jobs.md``; the event schema is documented in ``nyx_core.jobs.models``, the protocol
for non-training job programs in ``nyx_core.jobs.task``. Names load on first use, so a job
program can import ``nyx_core.jobs.task`` (stdlib only) in a Python without Nyx's dependencies.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "JobManager": "nyx_core.jobs.manager",
    "ACTIVE_STATES": "nyx_core.jobs.models", "FINAL_STATES": "nyx_core.jobs.models",
    "SCHEMA_VERSION": "nyx_core.jobs.models", "Job": "nyx_core.jobs.models", "JobSpec": "nyx_core.jobs.models",
    "JobState": "nyx_core.jobs.models", "JobStatus": "nyx_core.jobs.models",
    "ProgressReader": "nyx_core.jobs.reader", "ProgressState": "nyx_core.jobs.reader",
    "downsample": "nyx_core.jobs.reader", "ema": "nyx_core.jobs.reader", "follow": "nyx_core.jobs.reader",
    "JobNotFound": "nyx_core.jobs.store", "JobStore": "nyx_core.jobs.store",
}
__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from nyx_core.jobs.manager import JobManager
    from nyx_core.jobs.models import (
        ACTIVE_STATES, FINAL_STATES, SCHEMA_VERSION, Job, JobSpec, JobState, JobStatus,
    )
    from nyx_core.jobs.reader import ProgressReader, ProgressState, downsample, ema, follow
    from nyx_core.jobs.store import JobNotFound, JobStore


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nyx_core.jobs' has no attribute {name!r}")
