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


_RENAME_EXCHANGE = 2  # linux/fs.h
_renameat2 = None  # resolved on first use: False where the C library has no renameat2


def _load_renameat2():  # noqa: ANN202
    global _renameat2
    if _renameat2 is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = (fn, ctypes)
        except (OSError, AttributeError):
            _renameat2 = False
    return _renameat2


def replace_existing(tmp: str, path: str) -> None:
    """``os.replace(tmp, path)`` for a ``path`` that usually exists, atomic for readers, but cheaper
    on ext4 in bulk: replacing an existing file by rename makes ext4 start writing the new data out
    at once (its ``auto_da_alloc`` safeguard), which doubled the time of a 10,000-caption edit here.
    Exchanging the two names (``renameat2(RENAME_EXCHANGE)``) and unlinking the old file avoids that;
    readers still see the old content or the new, never neither. Falls back to ``os.replace``."""
    import errno

    loaded = _load_renameat2()
    if loaded:
        fn, ctypes = loaded
        if fn(-100, os.fsencode(tmp), -100, os.fsencode(path), _RENAME_EXCHANGE) == 0:  # -100: AT_FDCWD
            os.unlink(tmp)  # now the old content
            return
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            global _renameat2
            _renameat2 = False  # kernel or filesystem without it: plain renames from now on
        elif err != errno.ENOENT:  # ENOENT: path did not exist, a plain rename creates it
            raise OSError(err, os.strerror(err), path)
    os.replace(tmp, path)
