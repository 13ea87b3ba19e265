"""The model index: cached SHA-256 and provenance of files under workspace/models.

One JSON file (``.cache/models/index.json``) keyed by the model's path relative to
workspace/models. A hash is trusted only while the file's size and mtime are what they were when it
was hashed, so a replaced file is hashed again. Download and hash jobs write it concurrently, so
every update is read-modify-write under an ``flock`` and the write is atomic.

Standard library only (job programs use it).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

INDEX_NAME = "index.json"
CHUNK = 8 * 1024 * 1024


def index_dir(ws_root: Path) -> Path:
    return Path(ws_root) / ".cache" / "models"


def _path(ws_root: Path) -> Path:
    return index_dir(ws_root) / INDEX_NAME


def load(ws_root: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_path(ws_root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def _locked(ws_root: Path) -> Iterator[None]:
    d = index_dir(ws_root)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update(ws_root: Path, rel: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the entry for ``rel`` (a path relative to workspace/models)."""
    with _locked(ws_root):
        data = load(ws_root)
        entry = dict(data.get(rel) or {})
        entry.update({k: v for k, v in fields.items() if v is not None})
        data[rel] = entry
        d = index_dir(ws_root)
        fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".tmp", dir=d)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, _path(ws_root))
        return entry


def stamp(path: Path) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def cached_sha256(entry: dict[str, Any] | None, path: Path) -> str | None:
    """The cached hash if it still describes the file on disk."""
    if not entry or not entry.get("sha256"):
        return None
    try:
        size, mtime = stamp(path)
    except OSError:
        return None
    if entry.get("size") == size and entry.get("mtime_ns") == mtime:
        return str(entry["sha256"])
    return None


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            if progress:
                progress(len(chunk))
    return h.hexdigest()


def record_hash(ws_root: Path, rel: str, path: Path, sha256: str) -> None:
    size, mtime = stamp(path)
    update(ws_root, rel, sha256=sha256, size=size, mtime_ns=mtime, hashed_at=round(time.time(), 3))
