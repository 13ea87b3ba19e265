"""Small filesystem helpers shared by every manager: atomic writes and human sizes."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator


@contextmanager
def atomic_output(
    path: Path, *, mode: int | None = None, fsync: bool = True, before_replace: Callable[[], None] | None = None,
    check: Callable[[Path], None] | None = None,
) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``path`` only when the block ends without error.

    Readers see either the old file or the new one, never a torn one: the temp file lives in the
    same folder so ``os.replace`` is a rename on one filesystem. ``fsync=False`` keeps that
    guarantee for readers but not across a power cut (bulk caption edits need the speed).
    ``before_replace`` runs just before the rename (e.g. to move the old file to the trash).
    ``check`` gets the complete temp file first and raises to refuse it (nothing is replaced).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        if mode is None:
            mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        if check is not None:
            check(Path(tmp))
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` atomically (see ``atomic_output``)."""
    with atomic_output(path, mode=mode) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def human_size(n: int | float) -> str:
    """1536 -> '1.5 KB'. Decimal-free for bytes, one decimal above."""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover
