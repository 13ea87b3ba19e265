"""The safetensors file format, read and written with numpy only (no torch in the UI process).

A safetensors file is an 8-byte little-endian header length, a JSON header (``__metadata__``:
str→str, and per tensor ``dtype``/``shape``/``data_offsets``) and one data block. Reading the
header alone is what makes the metadata viewer instant on a 7 GB checkpoint; reading a tensor
seeks to its bytes, so a bake streams one tensor at a time.

numpy has no bfloat16: BF16 tensors are widened to float32 on read (exact) and narrowed with
round-to-nearest-even on write (what ``torch.Tensor.to(torch.bfloat16)`` does).
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from nyx_core.errors import NyxError
from nyx_core.fsutil import atomic_output
from nyx_core.models.safetensors_header import InvalidWeights
from nyx_core.models.safetensors_header import read_header as parse_header


_NP = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_, "U16": np.uint16,
    "U32": np.uint32, "U64": np.uint64,
}
ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
            "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
#: user-facing precision names → safetensors dtype
PRECISIONS = {"fp16": "F16", "bf16": "BF16", "fp32": "F32", "float": "F32"}


class SafetensorsError(NyxError):
    """The file is not a readable safetensors file (one line saying why)."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute file offsets
    end: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class Header:
    path: Path
    metadata: dict[str, str]
    tensors: dict[str, TensorEntry]
    header_len: int
    file_size: int


def read_header(path: str | os.PathLike[str]) -> Header:
    """The header with absolute tensor offsets; one parser for the whole project (the model
    library's, which also proves every tensor lies inside the file)."""
    p = Path(path)
    try:
        h = parse_header(p)
        size = p.stat().st_size
    except InvalidWeights as exc:
        raise SafetensorsError(f"{p.name}: {exc}") from None
    except OSError as exc:
        raise SafetensorsError(f"{p.name}: cannot read ({exc.strerror or exc})") from None
    base = 8 + h.header_len
    tensors = {}
    for name, t in h.tensors.items():
        start, end = (int(x) for x in t["data_offsets"])
        tensors[name] = TensorEntry(name, str(t["dtype"]), tuple(int(d) for d in t["shape"]), base + start, base + end)
    return Header(p, dict(h.metadata), tensors, h.header_len, size)


def bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(a: np.ndarray) -> np.ndarray:
    """Round to nearest even, NaN kept as NaN (as torch does)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        rounded = np.where(nan, np.uint16(0x7FC0), rounded)
    return rounded


def read_tensor(header: Header, name: str, f=None) -> np.ndarray:
    """One tensor as a numpy array (BF16 → float32). ``f``: an open binary file to reuse."""
    e = header.tensors[name]
    close = f is None
    if f is None:
        f = open(header.path, "rb")
    try:
        f.seek(e.start)
        buf = f.read(e.end - e.start)
    finally:
        if close:
            f.close()
    if e.dtype == "BF16":
        return bf16_to_f32(np.frombuffer(buf, dtype=np.uint16)).reshape(e.shape)
    if e.dtype not in _NP:
        raise SafetensorsError(f"{header.path.name}: tensor {name!r} has dtype {e.dtype}, which Nyx cannot read")
    return np.frombuffer(buf, dtype=_NP[e.dtype]).reshape(e.shape)


def read_raw(header: Header, name: str, f) -> bytes:
    e = header.tensors[name]
    f.seek(e.start)
    return f.read(e.end - e.start)


def encode(a: np.ndarray, dtype: str) -> bytes:
    """numpy array → the bytes of a safetensors tensor of ``dtype`` (little-endian)."""
    if dtype == "BF16":
        return f32_to_bf16(np.asarray(a, dtype=np.float32)).astype("<u2").tobytes()
    return np.ascontiguousarray(a, dtype=np.dtype(_NP[dtype]).newbyteorder("<")).tobytes()


@dataclass
class OutTensor:
    """A tensor to write: its dtype/shape up front, its bytes produced when written (streaming)."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    data: Callable[[], bytes] | bytes

    @property
    def nbytes(self) -> int:
        n = ITEMSIZE[self.dtype]
        for d in self.shape:
            n *= d
        return n


def out_array(name: str, a: np.ndarray, dtype: str) -> OutTensor:
    a = np.asarray(a)
    return OutTensor(name, dtype, tuple(a.shape), encode(a, dtype))


def layout_order(tensors: Iterable[OutTensor]) -> list[OutTensor]:
    """The order the safetensors library lays data out in (wider dtypes first, then by name), so
    a file we write hashes like one sd-scripts writes."""
    return sorted(tensors, key=lambda t: (-ITEMSIZE[t.dtype], t.name))


def header_bytes(tensors: list[OutTensor], metadata: dict[str, str] | None) -> bytes:
    obj: dict[str, Any] = {}
    if metadata:
        obj["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    off = 0
    for t in tensors:
        obj[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
        off += t.nbytes
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # 8-byte alignment of the data block, as the reference writer does
    return struct.pack("<Q", len(raw)) + raw


def write_file(path: str | os.PathLike[str], tensors: Iterable[OutTensor], metadata: dict[str, str] | None,
               *, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write atomically (temp + rename); each tensor's bytes are produced just before written."""
    dest = Path(path)
    items = layout_order(tensors)
    head = header_bytes(items, metadata)
    with atomic_output(dest) as f:
        f.write(head)
        for i, t in enumerate(items):
            data = t.data() if callable(t.data) else t.data
            if len(data) != t.nbytes:
                raise SafetensorsError(f"tensor {t.name}: {len(data)} bytes, expected {t.nbytes}")
            f.write(data)
            if progress:
                progress(i + 1, len(items))
    return dest


def data_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of the data block (the 'model hash' sd-webui-additional-networks and sd-scripts use)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_hashes(tensors: list[OutTensor], metadata: dict[str, str]) -> dict[str, str]:
    """``sshs_model_hash`` / ``sshs_legacy_hash`` for a file about to be written (in-memory tensors),
    computed as sd-scripts does: over the file serialised with only the ``ss_*`` metadata."""
    import hashlib

    items = layout_order(tensors)
    datas = [t.data() if callable(t.data) else t.data for t in items]
    h = hashlib.sha256()
    for d in datas:
        h.update(d)
    head = header_bytes(items, {k: v for k, v in metadata.items() if k.startswith("ss_")})
    # the legacy hash reads 64 KiB at offset 1 MiB of that serialisation
    need_from, need_to = 0x100000, 0x100000 + 0x10000
    buf = bytearray()
    pos = 0
    for chunk in [head, *datas]:
        end = pos + len(chunk)
        if end > need_from and pos < need_to:
            buf += chunk[max(0, need_from - pos):min(len(chunk), need_to - pos)]
        pos = end
        if pos >= need_to:
            break
    return {"sshs_model_hash": h.hexdigest(), "sshs_legacy_hash": hashlib.sha256(bytes(buf)).hexdigest()[:8]}
