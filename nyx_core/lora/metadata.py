"""Edit a file's user metadata by writing a new file; the original is never touched.

Only the header changes: the data block is copied byte for byte in the same layout, so the
tensors and ``sshs_model_hash`` (a hash of the data block) stay valid.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

from nyx_core.errors import NyxError
from nyx_core.fsutil import atomic_output
from nyx_core.lora import st

#: user-editable fields → the metadata key written (modelspec keys as sd-scripts' --metadata_* write them)
EDITABLE = {
    "title": "modelspec.title",
    "author": "modelspec.author",
    "description": "modelspec.description",
    "trigger": "modelspec.trigger_phrase",
    "license": "modelspec.license",
    "tags": "modelspec.tags",
    "comment": "ss_training_comment",
}


class MetadataError(NyxError):
    pass


def user_fields(metadata: dict[str, str]) -> dict[str, str]:
    return {field: metadata.get(key, "") for field, key in EDITABLE.items()}


def edited(metadata: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """A copy of ``metadata`` with ``changes`` (field name or full key → value; "" or None removes)."""
    out = dict(metadata)
    for name, value in changes.items():
        key = EDITABLE.get(name, name)
        if key not in EDITABLE.values():
            raise MetadataError(f"{name!r} is not user metadata: editable fields are {', '.join(EDITABLE)}")
        if value is None or str(value).strip() == "":
            out.pop(key, None)
        else:
            text = str(value)
            if "\x00" in text:
                raise MetadataError(f"{name}: text contains a NUL character")
            out[key] = text.strip()
    return out


def write_with_metadata(src: str | os.PathLike[str], dest: str | os.PathLike[str],
                        metadata: dict[str, str]) -> Path:
    src_p, dest_p = Path(src), Path(dest)
    if src_p.resolve() == dest_p.resolve():
        raise MetadataError("write the edited metadata to a new file: the original is kept")
    h = st.read_header(src_p)
    obj: dict = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    base = 8 + h.header_len
    for e in h.tensors.values():
        obj[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": [e.start - base, e.end - base]}
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(src_p, "rb") as fi, atomic_output(dest_p) as fo:
        fo.write(struct.pack("<Q", len(raw)) + raw)
        fi.seek(base)
        shutil.copyfileobj(fi, fo, 1 << 22)
    return dest_p


def default_edited_name(src: Path) -> Path:
    """``x.safetensors`` → ``x-edited.safetensors`` (then -edited-2, … so nothing is overwritten)."""
    stem = src.stem
    cand = src.with_name(f"{stem}-edited{src.suffix}")
    n = 2
    while cand.exists():
        cand = src.with_name(f"{stem}-edited-{n}{src.suffix}")
        n += 1
    return cand
