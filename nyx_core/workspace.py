"""The workspace: one root folder that holds everything a user works on.

``Workspace.resolve`` is the only way a user-given path (from the UI, the CLI or a notebook)
becomes a ``Path``. It refuses anything that could reach outside the root: ``..`` parts,
absolute paths elsewhere, symlinks pointing out, NUL and control characters, and
Windows-style separators or drive letters (which would otherwise be a literal file name on
Linux and a traversal on the user's mental model).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from nyx_core.errors import PathError
from nyx_core.names import shown, unshown

#: Folders every workspace has. Names are part of the public layout (provisioning, docs).
LAYOUT: dict[str, str] = {
    "datasets": "datasets",
    "models": "models",
    "outputs": "outputs",
    "jobs": "jobs",
    "configs": "configs",
    "trash": ".trash",
    "cache": ".cache",
}

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def default_root() -> Path:
    """``NYX_WORKSPACE`` if set, else ``./workspace`` (pods set ``/workspace`` in provisioning)."""
    env = os.environ.get("NYX_WORKSPACE")
    return Path(env).expanduser() if env else Path.cwd() / "workspace"


@dataclass(frozen=True)
class Workspace:
    """A workspace root. Create with ``Workspace.open()``; every folder in ``LAYOUT`` exists after."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> "Workspace":
        path = Path(root).expanduser() if root is not None else default_root()
        path.mkdir(parents=True, exist_ok=True)
        ws = cls(path.resolve())
        for name in LAYOUT.values():
            (ws.root / name).mkdir(exist_ok=True)
        return ws

    @classmethod
    def peek(cls, root: str | os.PathLike[str] | None = None) -> "Workspace":
        """The workspace at ``root`` for reading only: creates nothing (it may not exist)."""
        path = Path(root).expanduser() if root is not None else default_root()
        return cls(path.resolve())

    @property
    def exists(self) -> bool:
        return self.root.is_dir()

    # Named folders -----------------------------------------------------------------------
    @property
    def datasets(self) -> Path:
        return self.root / LAYOUT["datasets"]

    @property
    def models(self) -> Path:
        return self.root / LAYOUT["models"]

    @property
    def outputs(self) -> Path:
        return self.root / LAYOUT["outputs"]

    @property
    def jobs(self) -> Path:
        return self.root / LAYOUT["jobs"]

    @property
    def configs(self) -> Path:
        return self.root / LAYOUT["configs"]

    @property
    def trash(self) -> Path:
        return self.root / LAYOUT["trash"]

    @property
    def cache(self) -> Path:
        return self.root / LAYOUT["cache"]

    # Path confinement --------------------------------------------------------------------
    def resolve(self, user_path: str | os.PathLike[str] = "", *, must_exist: bool = False) -> Path:
        """Turn a user path (relative to the root, or absolute inside it) into a real Path.

        Raises ``PathError`` with a one-line reason when the path is malformed or escapes.
        Symlinks are followed, so a link inside the workspace that points outside is refused,
        while a link pointing elsewhere inside is fine.
        """
        if isinstance(user_path, Path):
            text = str(user_path)
        elif isinstance(user_path, (str, os.PathLike)):
            text = os.fspath(user_path)
            if isinstance(text, bytes):
                raise PathError("paths must be text, not bytes")
        else:
            raise PathError(f"not a path: {type(user_path).__name__}")
        if "\x00" in text:
            raise PathError("path contains a NUL byte")
        # A name shown escaped (bytes that are not UTF-8, see names.py) comes back to its real form.
        text = unshown(text)
        if _CONTROL.search(text):
            raise PathError("path contains a control character")
        if "\\" in text:
            raise PathError(f"use '/' as the separator, not '\\': {shown(text)!r}")
        if _DRIVE.match(text):
            raise PathError(f"Windows drive paths are not workspace paths: {text!r}")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PathError(f"'..' is not allowed in a path: {shown(text)!r}")
        for part in parts:
            if len(part.encode("utf-8", "surrogateescape")) > 255:
                raise PathError(f"a file or folder name can be at most 255 bytes: {shown(part)[:40]!r}…")
        if text.startswith("/"):
            candidate = Path(text)
            # An absolute path is accepted only when it names something inside the root.
            if not _is_within(Path(os.path.normpath(text)), self.root) and not _is_within(
                _real(candidate, text), self.root
            ):
                raise PathError(f"path is outside the workspace ({self.root}): {shown(text)!r}")
        else:
            candidate = self.root.joinpath(*parts) if parts else self.root
        real = _real(candidate, text)
        if not _is_within(real, self.root):
            raise PathError(f"path leads outside the workspace (via a symlink?): {text!r}")
        if must_exist and not real.exists():
            raise PathError(f"no such file or folder: {self.relative(real) or '/'}")
        return real

    def relative(self, path: Path) -> str:
        """A path's workspace-relative POSIX form ('' for the root) for display and storage."""
        rel = Path(path).resolve().relative_to(self.root)
        return "" if str(rel) == "." else rel.as_posix()


def _real(path: Path, text: str) -> Path:
    """``path.resolve()``, with a symlink loop or an over-long path as a one-line ``PathError``."""
    try:
        return path.resolve()
    except RuntimeError:  # Python 3.11-3.12: "Symlink loop from …"
        raise PathError(f"path goes round a symlink loop: {shown(text)!r}") from None
    except OSError as exc:
        raise PathError(f"cannot follow {shown(text)!r}: {exc.strerror or exc}") from None


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
