"""Errors the file manager raises; each message is one line saying what to do."""
from __future__ import annotations

from nyx_core.errors import NyxError


class FileOpError(NyxError):
    """A file operation was refused (bad name, protected folder, wrong kind of item, …)."""


class ClashError(FileOpError, FileExistsError):
    """The target name already exists and the caller asked to be asked (``on_clash="ask"``)."""

    def __init__(self, message: str, *, name: str = "", folder: str = "") -> None:
        super().__init__(message)
        self.name = name
        self.folder = folder


class NotTextError(FileOpError):
    """The file is binary or too big to open in the text editor."""


class TextValidationError(FileOpError):
    """A TOML/JSON/YAML text does not parse; nothing was saved. ``line`` is 1-based (or None)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
