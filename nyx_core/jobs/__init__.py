"""Training jobs: folders on disk, a detached runner per run, progress events, stop, queue.

See ``docs/jobs.md``; the event schema is documented in ``nyx_core.jobs.models``.
"""
from nyx_core.jobs.manager import JobManager
from nyx_core.jobs.models import (
    ACTIVE_STATES, FINAL_STATES, SCHEMA_VERSION, Job, JobSpec, JobState, JobStatus,
)
from nyx_core.jobs.reader import ProgressReader, ProgressState, downsample, ema, follow
from nyx_core.jobs.store import JobNotFound, JobStore

__all__ = [
    "ACTIVE_STATES", "FINAL_STATES", "SCHEMA_VERSION", "Job", "JobManager", "JobNotFound", "JobSpec",
    "JobState", "JobStatus", "JobStore", "ProgressReader", "ProgressState", "downsample", "ema", "follow",
]
