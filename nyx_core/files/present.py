"""Pure helpers that turn file-manager data into what a view shows (tested without Streamlit)."""
from __future__ import annotations

import os
import time
from pathlib import PurePosixPath

from nyx_core.files.kinds import icon
from nyx_core.files.manager import FileEntry
from nyx_core.fsutil import human_size

LANGUAGES = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".py": "python",
             ".sh": "bash", ".md": "markdown", ".ini": "ini", ".cfg": "ini", ".html": "html",
             ".css": "css", ".js": "javascript", ".csv": "csv"}


def breadcrumb(path: str) -> list[tuple[str, str]]:
    """'a/b/c' -> [('workspace', ''), ('a', 'a'), ('b', 'a/b'), ('c', 'a/b/c')]."""
    crumbs = [("workspace", "")]
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        crumbs.append((part, "/".join(parts[: i + 1])))
    return crumbs


def parent_of(path: str) -> str:
    parent = PurePosixPath(path).parent.as_posix()
    return "" if parent == "." else parent


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def modified(ts: float) -> str:
    # ISO-like so a plain string sort in the grid is also a time sort.
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def table_rows(entries: list[FileEntry]) -> list[dict[str, object]]:
    """Rows for the grid: a display name with its kind icon, plus raw values that sort right."""
    return [
        {
            "Name": f"{icon(e.kind)} {e.name}",
            "Size": "" if e.is_dir else human_size(e.size),
            "Modified": modified(e.mtime),
            "Kind": e.kind,
            "bytes": -1 if e.is_dir else e.size,
            "name": e.name,
        }
        for e in entries
    ]


def language_for(name: str) -> str | None:
    return LANGUAGES.get(os.path.splitext(name)[1].lower())


def is_training_config(path: str) -> bool:
    return path.startswith("configs/") and path.lower().endswith(".toml")


def display_folder(path: str) -> str:
    return f"/{path}" if path else "/ (workspace)"
