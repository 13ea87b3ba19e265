"""Reading text safely (no binaries, no huge files) and validating config formats before a save."""
from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from nyx_core.files.errors import NotTextError, TextValidationError
from nyx_core.files.kinds import VALIDATED

MAX_TEXT_BYTES = 2 * 1024 * 1024
SNIFF_BYTES = 8192


def looks_binary(head: bytes) -> bool:
    return b"\x00" in head


def read_text_file(path: Path, max_bytes: int = MAX_TEXT_BYTES) -> str:
    size = path.stat().st_size
    if size > max_bytes:
        raise NotTextError(
            f"{path.name} is {size / 1024 / 1024:.1f} MB; the editor opens text files up to "
            f"{max_bytes // 1024 // 1024} MB (download it instead)")
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if looks_binary(data[:SNIFF_BYTES]):
        raise NotTextError(f"{path.name} is a binary file, not text; download it instead")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotTextError(f"{path.name} is not UTF-8 text (byte {exc.start}); download it instead") from exc


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def validate_text(name: str, text: str) -> None:
    """Raise ``TextValidationError`` naming the line when a .toml/.json/.yaml text does not parse."""
    fmt = VALIDATED.get(os.path.splitext(name)[1].lower())
    if fmt == "TOML":
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            msg = str(exc)
            m = _TOML_POS.search(msg)
            line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
            reason = _TOML_POS.sub("", msg).strip()
            raise _invalid(name, fmt, line, reason, col) from exc
    elif fmt == "JSON":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid(name, fmt, exc.lineno, exc.msg, exc.colno) from exc
    elif fmt == "YAML":
        import yaml

        try:
            for _ in yaml.safe_load_all(text):
                pass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            col = mark.column + 1 if mark is not None else None
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise _invalid(name, fmt, line, reason, col) from exc


def _invalid(name: str, fmt: str, line: int | None, reason: str, col: int | None) -> TextValidationError:
    where = f" at line {line}" if line else ""
    return TextValidationError(f"Not saved: {name} is not valid {fmt}{where}: {reason}", line=line, column=col)
