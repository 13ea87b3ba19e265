"""TensorBoard event files without tensorflow: read scalars, and write them (for the stand-in).

An event file is a sequence of TFRecords::

    uint64 length (LE) | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)

and each ``data`` is an ``Event`` protobuf. We decode only what scalars need:

    Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    Summary { repeated Value value = 1; }
    Value   { string tag = 1; float simple_value = 2; TensorProto tensor = 8; }
    TensorProto { int32 dtype = 1; bytes tensor_content = 4; repeated float float_val = 5 [packed];
                  repeated double double_val = 6 [packed]; }

``torch.utils.tensorboard.SummaryWriter.add_scalar`` (what sd-scripts uses through accelerate)
writes ``simple_value``; newer writers may use a rank-0 ``tensor``; both are read.
"""
from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# crc32c (Castagnoli), table-driven. Only the writer needs it: the reader skips CRC checks
# because a half-written record is detected by its length and retried on the next poll.
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@dataclass(frozen=True)
class Scalar:
    step: int
    tag: str
    value: float
    wall_time: float


# Protobuf wire format ----------------------------------------------------------------------
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value): value is int (varint/fixed) or bytes (length-delimited)."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
            yield num, wt, v
        elif wt == 1:
            yield num, wt, buf[i:i + 8]
            i += 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            yield num, wt, buf[i:i + ln]
            i += ln
        elif wt == 5:
            yield num, wt, buf[i:i + 4]
            i += 4
        else:  # groups (3/4) are not used by these messages
            raise ValueError(f"unsupported wire type {wt}")


def _tensor_value(buf: bytes) -> float | None:
    dtype = 0
    content = b""
    for num, wt, v in _fields(buf):
        if num == 1 and wt == 0:
            dtype = v  # type: ignore[assignment]
        elif num == 4 and wt == 2:
            content = v  # type: ignore[assignment]
        elif num == 5:
            if wt == 2 and len(v) >= 4:  # type: ignore[arg-type]
                return struct.unpack_from("<f", v)[0]  # type: ignore[arg-type]
            if wt == 5:
                return struct.unpack("<f", v)[0]  # type: ignore[arg-type]
        elif num == 6:
            if wt == 2 and len(v) >= 8:  # type: ignore[arg-type]
                return struct.unpack_from("<d", v)[0]  # type: ignore[arg-type]
            if wt == 1:
                return struct.unpack("<d", v)[0]  # type: ignore[arg-type]
    if content:
        if dtype == 1 and len(content) >= 4:  # DT_FLOAT
            return struct.unpack_from("<f", content)[0]
        if dtype == 2 and len(content) >= 8:  # DT_DOUBLE
            return struct.unpack_from("<d", content)[0]
    return None


def decode_event(data: bytes) -> list[Scalar]:
    wall, step, summary = 0.0, 0, None
    for num, wt, v in _fields(data):
        if num == 1 and wt == 1:
            wall = struct.unpack("<d", v)[0]  # type: ignore[arg-type]
        elif num == 2 and wt == 0:
            step = v  # type: ignore[assignment]
        elif num == 5 and wt == 2:
            summary = v
    if summary is None:
        return []
    out = []
    for num, wt, vbuf in _fields(summary):  # type: ignore[arg-type]
        if num != 1 or wt != 2:
            continue
        tag, value = "", None
        for fnum, fwt, fv in _fields(vbuf):  # type: ignore[arg-type]
            if fnum == 1 and fwt == 2:
                tag = fv.decode("utf-8", "replace")  # type: ignore[union-attr]
            elif fnum == 2 and fwt == 5:
                value = struct.unpack("<f", fv)[0]  # type: ignore[arg-type]
            elif fnum == 8 and fwt == 2 and value is None:
                value = _tensor_value(fv)  # type: ignore[arg-type]
        if tag and value is not None:
            out.append(Scalar(step=int(step), tag=tag, value=float(value), wall_time=wall))
    return out


# Reading --------------------------------------------------------------------------------------
def read_records(path: Path, offset: int = 0) -> tuple[list[bytes], int]:
    """Complete records from ``offset``; returns them and the offset after the last complete one."""
    records = []
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    i = 0
    while i + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, i)
        end = i + 12 + length + 4
        if end > len(data):
            break  # half-written: read it next time
        records.append(data[i + 12:i + 12 + length])
        i = end
    return records, offset + i


class TBWatcher:
    """Incrementally reads every ``events.out.tfevents.*`` file under a folder (sd-scripts puts them
    in ``<logging_dir>/<timestamp>/network_train/``), remembering an offset per file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.offsets: dict[Path, int] = {}

    def poll(self) -> list[Scalar]:
        if not self.root.is_dir():
            return []
        out: list[Scalar] = []
        for path in sorted(self.root.rglob("events.out.tfevents.*")):
            off = self.offsets.get(path, 0)
            try:
                if path.stat().st_size <= off:
                    continue
                records, new_off = read_records(path, off)
            except OSError:
                continue
            self.offsets[path] = new_off
            for r in records:
                try:
                    out += decode_event(r)
                except (ValueError, IndexError, struct.error):
                    continue  # a record we can't decode is not worth failing a run for
        return out


# Writing (for the stand-in and tests) ----------------------------------------------------------
def _enc_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc_field(num: int, wt: int, payload: bytes) -> bytes:
    key = _enc_varint((num << 3) | wt)
    if wt == 2:
        return key + _enc_varint(len(payload)) + payload
    return key + payload


def encode_event(step: int, scalars: dict[str, float], wall_time: float | None = None,
                 file_version: str | None = None) -> bytes:
    body = _enc_field(1, 1, struct.pack("<d", time.time() if wall_time is None else wall_time))
    body += _enc_field(2, 0, _enc_varint(step))
    if file_version is not None:
        body += _enc_field(3, 2, file_version.encode())
    if scalars:
        summary = b"".join(
            _enc_field(1, 2, _enc_field(1, 2, tag.encode()) + _enc_field(2, 5, struct.pack("<f", val)))
            for tag, val in scalars.items()
        )
        body += _enc_field(5, 2, summary)
    return body


def frame(record: bytes) -> bytes:
    length = struct.pack("<Q", len(record))
    return length + struct.pack("<I", masked_crc(length)) + record + struct.pack("<I", masked_crc(record))


class TBWriter:
    """Appends scalar events to a new ``events.out.tfevents.<time>.<host>`` file in ``folder``."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"events.out.tfevents.{int(time.time())}.{os.uname().nodename}.{os.getpid()}.0"
        with open(self.path, "ab") as fh:
            fh.write(frame(encode_event(0, {}, file_version="brain.Event:2")))

    def add_scalars(self, step: int, scalars: dict[str, float]) -> None:
        with open(self.path, "ab") as fh:
            fh.write(frame(encode_event(step, scalars)))
