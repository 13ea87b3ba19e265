"""Results of expensive reads, reused until a file or folder they came from changes.

A page reruns its whole script on every click, so a scan of 10,000 images or a read of 20 progress
files must not happen on every rerun. ``StampCache`` keeps a computed value with the *stamps*
(modification time in ns, size, inode) of the paths it was computed from, and hands the value
back only while every one of those stamps is unchanged. A folder's stamp changes when an entry is
added, removed or renamed in it (atomic writes are renames, so rewriting a file counts too).

Same-tick edits: a filesystem timestamp has a granularity (a kernel tick), so a change made in
the same tick as the read could leave the stamp equal. As git does with its index ("racy git"),
an entry whose newest stamp is within ``RACY_S`` of the moment the read began is not trusted:
it is recomputed until that path has been quiet for a while, and only then served from memory.

Thread-safe (Streamlit runs each session's script in its own thread); bounded (least recently
used entries go first). Values are shared between callers: store immutable values, or copy what
you hand out.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable

#: stamps this close (seconds) to the start of the read may hide a same-tick change
RACY_S = 1.0

Stamp = tuple[int, int, int] | None


def stamp(path: Path | str) -> Stamp:
    """(mtime_ns, size, inode) of ``path``, or None when it does not exist (that is a state too:
    a file appearing later changes it)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass
class _Entry:
    value: Any
    stamps: tuple[tuple[str, Stamp], ...]
    read_at_ns: int

    def fresh(self) -> bool:
        for path, old in self.stamps:
            if stamp(path) != old:
                return False
            if old is not None and old[0] >= self.read_at_ns - int(RACY_S * 1e9):
                return False  # changed just before the read: a same-tick change could hide
        return True


class StampCache:
    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], tuple[Any, Iterable[Path | str]]]) -> Any:
        """The value for ``key``: the cached one while the stamps of the paths it was computed
        from are unchanged, else ``compute()``, which returns ``(value, paths it read)``."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry.fresh():
            with self._lock:
                self.hits += 1
                if key in self._entries:
                    self._entries.move_to_end(key)
            return entry.value
        read_at = time.time_ns()
        value, paths = compute()
        # stamps taken after the read: a change during it shows as racy (recent) or different
        stamps = tuple((str(p), stamp(p)) for p in paths)
        with self._lock:
            self.misses += 1
            self._entries[key] = _Entry(value, stamps, read_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
