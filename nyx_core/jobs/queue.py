"""The FIFO of queued job ids: ``jobs/queue.json``, guarded by an flock so the UI, the CLI and
runners (which start the next job when theirs ends) can all edit it."""
from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path
from typing import Iterator

from nyx_core.fsutil import atomic_write_text

QUEUE_FILE = "queue.json"
LOCK_FILE = ".queue.lock"


class JobQueue:
    def __init__(self, jobs_root: Path) -> None:
        self.root = Path(jobs_root)
        self.path = self.root / QUEUE_FILE

    @contextlib.contextmanager
    def locked(self) -> Iterator["JobQueue"]:
        """Hold the queue lock (also used to serialise "is anything running? start the next")."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # These read/write without locking; callers hold ``locked()`` for read-modify-write.
    def ids(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return []
        return [str(x) for x in data.get("queue", [])] if isinstance(data, dict) else []

    def _write(self, ids: list[str]) -> None:
        atomic_write_text(self.path, json.dumps({"queue": ids}, indent=1) + "\n")

    def push(self, job_id: str) -> None:
        with self.locked():
            ids = self.ids()
            if job_id not in ids:
                ids.append(job_id)
            self._write(ids)

    def remove(self, job_id: str, *, lock: bool = True) -> bool:
        ctx = self.locked() if lock else contextlib.nullcontext()
        with ctx:
            ids = self.ids()
            if job_id not in ids:
                return False
            ids.remove(job_id)
            self._write(ids)
            return True

    def move(self, job_id: str, delta: int) -> list[str]:
        """Move by ``delta`` places (negative = earlier), clamped to the ends."""
        with self.locked():
            ids = self.ids()
            if job_id not in ids:
                return ids
            i = ids.index(job_id)
            j = max(0, min(len(ids) - 1, i + delta))
            ids.insert(j, ids.pop(i))
            self._write(ids)
            return ids
