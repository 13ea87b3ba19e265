"""File names that are not valid UTF-8 (a Shift-JIS zip unpacked in a shell, say).

Python hands such names over with "surrogate escapes" (each undecodable byte becomes U+DC80..
U+DCFF), which no page, table or UTF-8 terminal can show: printing one raises
UnicodeEncodeError. Nyx shows them with each bad byte written ``\\xNN`` (``shown``), and
``Workspace.resolve`` takes that form back (``unshown``), so an escaped name from a listing can be
renamed or deleted like any other. Names made through Nyx never contain a backslash, so the
escaped form cannot be mistaken for a real name.
"""
from __future__ import annotations

import codecs
import re

_ESCAPE = re.compile(r"\\x([89a-fA-F][0-9a-fA-F])")


def _escape_surrogates(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start:exc.end]
        if all(0xDC80 <= ord(c) <= 0xDCFF for c in bad):
            return "".join(f"\\x{ord(c) - 0xDC00:02x}" for c in bad), exc.end
        return "".join(f"\\u{ord(c):04x}" for c in bad), exc.end
    raise exc


#: An error handler for streams and encoders: ``stream.reconfigure(errors="nyx_escape")``.
codecs.register_error("nyx_escape", _escape_surrogates)


def has_bad_bytes(text: str) -> bool:
    return any(0xDC80 <= ord(c) <= 0xDCFF for c in text)


def shown(text: str) -> str:
    """``text`` safe to display anywhere: undecodable bytes as ``\\xNN``, everything else unchanged."""
    if not has_bad_bytes(text) and not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    return text.encode("utf-8", "nyx_escape").decode("utf-8")


def unshown(text: str) -> str:
    """The real (surrogate-escaped) name behind a ``shown`` one; other text unchanged."""
    if "\\x" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), text)
