"""A folder as a zip, produced on the fly in chunks: the archive is never whole in memory."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Callable, Collection, Iterator

from nyx_core.files.kinds import kind_of

CHUNK = 1024 * 1024


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer that the generator drains after each write.

    Being unseekable makes ``zipfile`` use data descriptors, so it never seeks back.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # noqa: ANN001
        self._buf += b
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def pending(self) -> int:  # not __len__: zipfile tests `if not fp`
        return len(self._buf)

    def drain(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


def iter_zip(folder: Path, *, allow: Callable[[Path], bool] = lambda p: True,
             chunk: int = CHUNK, exclude: Collection[Path] = ()) -> Iterator[bytes]:
    """Yield a zip of ``folder`` (entries under ``<folder name>/``) in chunks of about ``chunk`` bytes.

    ``allow`` decides for each symlink whether to follow it (the file manager refuses links
    that lead out of the workspace); symlinked folders are never descended, so no loops.
    ``exclude`` names files and folders (absolute, as walked) that never go in: Nyx's settings,
    the trash, the cache.
    """
    skip = {str(p) for p in exclude}
    sink = _Sink()
    base = folder.name or "workspace"
    with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if os.path.join(dirpath, d) not in skip)
            rel_dir = os.path.relpath(dirpath, folder)
            arc_dir = base if rel_dir == "." else f"{base}/{Path(rel_dir).as_posix()}"
            if not filenames and not dirnames:
                zf.writestr(zipfile.ZipInfo(arc_dir + "/"), b"")
            for name in sorted(filenames):
                path = Path(dirpath, name)
                if str(path) in skip or path.is_symlink() and (not allow(path) or str(path.resolve()) in skip):
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue  # a dangling link or a file deleted while zipping
                info = zipfile.ZipInfo.from_file(path, f"{arc_dir}/{name}")
                # Images, models and archives are already compressed: storing them is much faster.
                info.compress_type = (zipfile.ZIP_DEFLATED if kind_of(name) in ("text", "config", "other")
                                      else zipfile.ZIP_STORED)
                with open(path, "rb") as src, zf.open(info, "w", force_zip64=st.st_size > 2**31) as dst:
                    while block := src.read(chunk):
                        dst.write(block)
                        if sink.pending() >= chunk:
                            yield sink.drain()
            if sink.pending() >= chunk:
                yield sink.drain()
    if sink.pending():
        yield sink.drain()
