"""Read a safetensors header (names, dtypes, shapes, ``__metadata__``) without loading a tensor,
and check that a weights file is what its name says.

Standard library only: download job programs use it, and reading 8 bytes + the JSON header of a
23 GB Flux checkpoint must stay instant.
"""
from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

#: A real header is a few MB at most (Flux: ~100 KB); anything larger is not a safetensors file.
MAX_HEADER = 100 * 1024 * 1024
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E8M0": 1, "F4": 1}
PRECISION = {"F16": "fp16", "BF16": "bf16", "F32": "fp32", "F64": "fp64", "F8_E4M3": "fp8 (e4m3)",
             "F8_E5M2": "fp8 (e5m2)", "I8": "int8", "U8": "uint8"}


class InvalidWeights(ValueError):
    """The file is not a valid weights file; the message says why in one line."""


@dataclass
class Header:
    tensors: dict[str, dict]          # name -> {"dtype", "shape", "data_offsets"}
    metadata: dict[str, str] = field(default_factory=dict)
    header_len: int = 0

    def shape(self, name: str) -> list[int] | None:
        t = self.tensors.get(name)
        return list(t.get("shape", [])) if t else None

    @property
    def precision(self) -> str | None:
        """The dtype holding most of the parameters, in words (fp16, bf16, fp32, fp8 …)."""
        by_dtype: dict[str, int] = {}
        for t in self.tensors.values():
            n = 1
            for d in t.get("shape", []):
                n *= int(d)
            by_dtype[t.get("dtype", "?")] = by_dtype.get(t.get("dtype", "?"), 0) + n
        if not by_dtype:
            return None
        top = max(by_dtype, key=by_dtype.__getitem__)
        return PRECISION.get(top, top.lower())


def read_header(path: Path, *, check_size: bool = True) -> Header:
    """Parse the header; ``check_size`` also proves every tensor's bytes are inside the file (a
    truncated download fails here)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise InvalidWeights("not a safetensors file: shorter than 8 bytes")
            (n,) = struct.unpack("<Q", head)
            if n < 2 or n > MAX_HEADER or n > size - 8:
                raise InvalidWeights(_not_safetensors(head))
            raw = fh.read(n)
    except OSError as exc:
        raise InvalidWeights(f"cannot read {path.name}: {exc.strerror or exc}") from None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidWeights("not a safetensors file: its header is not JSON") from None
    if not isinstance(obj, dict):
        raise InvalidWeights("not a safetensors file: its header is not a JSON object")
    meta = obj.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        meta = {}
    tensors: dict[str, dict] = {}
    end = 0
    for name, t in obj.items():
        if not isinstance(t, dict) or "dtype" not in t or "shape" not in t or "data_offsets" not in t:
            raise InvalidWeights(f"not a safetensors file: tensor {name[:80]!r} has no dtype/shape/offsets")
        try:
            begin, stop = (int(x) for x in t["data_offsets"])
            count = 1
            for d in t["shape"]:
                count *= int(d)
        except (TypeError, ValueError):
            raise InvalidWeights(f"not a safetensors file: tensor {name[:80]!r} has a malformed entry") from None
        width = DTYPE_BYTES.get(str(t["dtype"]))
        if width is not None and t["dtype"] != "F4" and stop - begin != count * width:
            raise InvalidWeights(f"damaged safetensors file: tensor {name[:80]!r} has the wrong byte length")
        end = max(end, stop)
        tensors[name] = t
    if check_size and 8 + n + end > size:
        raise InvalidWeights(f"truncated safetensors file: it needs {8 + n + end:,} bytes, has {size:,}")
    return Header(tensors=tensors, metadata={str(k): str(v) for k, v in meta.items()}, header_len=n)


def _not_safetensors(head: bytes) -> str:
    if head.lstrip().startswith((b"<!DOC", b"<html", b"<HTML", b"<!doc")):
        return "not a model: the server sent a web page (HTML), often a login or 'accept the licence' page"
    if head.lstrip().startswith((b"{", b"[")):
        return "not a model: the server sent a JSON message instead of the file"
    return "not a safetensors file: its header length is impossible"


def check_weights(path: Path, suffix: str | None = None) -> str:
    """Prove ``path`` is a usable weights file; return its format ('safetensors', 'ckpt', 'onnx',
    'gguf', 'bin') or raise ``InvalidWeights`` with the reason. ``suffix`` overrides the file's own
    (a download is checked while still named ``….part``)."""
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    if suffix in (".safetensors", ".sft"):
        read_header(path)
        return "safetensors"
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.lstrip()[:5].lower() in (b"<!doc", b"<html"):
        raise InvalidWeights("not a model: the server sent a web page (HTML), often a login or 'accept the licence' page")
    if suffix in (".ckpt", ".pt", ".pth", ".bin"):
        # torch.save writes a zip archive (since 1.6) or a raw pickle (protocol 2+: 0x80 0x02..0x05)
        if head.startswith(b"PK\x03\x04"):
            try:
                with zipfile.ZipFile(path) as zf:
                    names = zf.namelist()
            except zipfile.BadZipFile:
                raise InvalidWeights("damaged checkpoint: the zip archive is truncated or corrupt") from None
            if not any(n.endswith("data.pkl") for n in names):
                raise InvalidWeights("not a PyTorch checkpoint: the zip archive has no data.pkl")
            return "ckpt"
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            return "ckpt"
        raise InvalidWeights("not a PyTorch checkpoint: neither a torch zip archive nor a pickle")
    if suffix == ".gguf":
        if not head.startswith(b"GGUF"):
            raise InvalidWeights("not a GGUF file: the magic bytes are missing")
        return "gguf"
    if suffix == ".onnx":
        if not head or head[:1] not in (b"\x08", b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x3a", b"\x42"):
            raise InvalidWeights("not an ONNX model: the file does not start with a protobuf field")
        return "onnx"
    return suffix.lstrip(".") or "file"
