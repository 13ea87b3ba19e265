"""What a run produced: the one function the Monitor, ``nyx train status`` and notebooks use.

Every training run writes into its own folder (``<config output dir>/<run id>/``, chosen by
``JobManager.start_training``), so which files belong to a run is decided by construction. Runs
made before that (several runs sharing one folder) are still listed, by modification time within
the run's start and end, and flagged ``shared``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nyx_core.kohya.naming import LORA_EXTENSIONS, is_state_dir

SAMPLE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class RunFiles:
    folder: Path | None
    #: LoRA files, the final one first, then checkpoints newest first
    loras: list[Path] = field(default_factory=list)
    #: saved training states (folders sd-scripts can resume from), newest first
    states: list[Path] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)
    #: True for an old run whose folder other runs share (files picked by time)
    shared: bool = False

    def to_dict(self) -> dict:
        return {"folder": str(self.folder) if self.folder else None, "loras": [str(p) for p in self.loras],
                "states": [str(p) for p in self.states], "samples": [str(p) for p in self.samples],
                "shared": self.shared}


def owns_folder(job) -> bool:
    """A run made with its own output folder (named after the job id)."""
    return bool(job.spec.output_dir) and Path(job.spec.output_dir).name == job.id


def run_files(job) -> RunFiles:
    out = Path(job.spec.output_dir) if job.spec.output_dir else None
    files = RunFiles(folder=out)
    if out is None or not out.is_dir():
        return files
    files.shared = not owns_folder(job)
    since = until = None
    if files.shared:
        if job.status.started_at is None:
            return files  # queued: the shared folder holds only earlier runs' files
        since = job.status.started_at - 1
        until = None if job.state.active else (job.status.ended_at or job.status.started_at) + 5
    final = Path(job.spec.expected_output).name if job.spec.expected_output else None

    def mine(p: Path) -> bool:
        if not files.shared:
            return True
        try:
            m = p.stat().st_mtime
        except OSError:
            return False
        return m >= since and (until is None or m <= until)

    def newest(p: Path) -> tuple:
        try:
            return (p.stat().st_mtime, p.name)
        except OSError:
            return (0.0, p.name)

    stem = Path(final).stem if final else None
    for p in out.iterdir():
        if p.is_file() and p.suffix in LORA_EXTENSIONS and (stem is None or p.name.startswith(stem)) and mine(p):
            files.loras.append(p)
        elif is_state_dir(p) and (stem is None or p.name.startswith(stem)) and mine(p):
            files.states.append(p)
    files.loras.sort(key=newest, reverse=True)
    files.loras.sort(key=lambda p: p.name != final)  # stable: the final file first
    files.states.sort(key=newest, reverse=True)
    sample_dir = out / "sample"
    if sample_dir.is_dir():
        files.samples = sorted((p for p in sample_dir.iterdir()
                                if p.suffix.lower() in SAMPLE_EXTENSIONS and mine(p)), key=lambda p: p.name)
    return files
