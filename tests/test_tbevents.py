"""TensorBoard event files: our reader/writer round trip, CRC, half-written records, tensors."""
from __future__ import annotations

import struct

from nyx_core.jobs import tbevents as tb


def test_crc32c_known_vector():
    assert tb.crc32c(b"123456789") == 0xE3069283


def test_round_trip_and_incremental_watch(tmp_path):
    w = tb.TBWriter(tmp_path / "run" / "network_train")
    watcher = tb.TBWatcher(tmp_path)
    for step in range(1, 6):
        w.add_scalars(step, {"loss/current": 0.1 * step, "lr/unet": 1e-4})
    first = watcher.poll()
    assert [(s.step, s.tag) for s in first][:2] == [(1, "loss/current"), (1, "lr/unet")]
    assert abs(first[-2].value - 0.5) < 1e-6 and len(first) == 10
    assert watcher.poll() == []
    w.add_scalars(6, {"loss/current": 0.6})
    assert [(s.step, round(s.value, 4)) for s in watcher.poll()] == [(6, 0.6)]


def test_half_written_record_is_read_later(tmp_path):
    rec = tb.frame(tb.encode_event(3, {"loss/current": 1.5}))
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(tb.frame(tb.encode_event(0, {}, file_version="brain.Event:2")) + rec[:7])
    watcher = tb.TBWatcher(tmp_path)
    assert watcher.poll() == []
    with open(path, "ab") as fh:
        fh.write(rec[7:])
    got = watcher.poll()
    assert [(s.step, s.tag, s.value) for s in got] == [(3, "loss/current", 1.5)]


def test_framing_crcs_are_valid(tmp_path):
    rec = tb.encode_event(1, {"a": 1.0})
    framed = tb.frame(rec)
    (length,) = struct.unpack_from("<Q", framed)
    assert struct.unpack_from("<I", framed, 8)[0] == tb.masked_crc(framed[:8])
    assert struct.unpack_from("<I", framed, 12 + length)[0] == tb.masked_crc(rec)


def test_tensor_valued_scalar_is_read():
    # Value { tag = "loss/current"; tensor = TensorProto { dtype = DT_FLOAT; float_val = [0.25] } }
    tensor = tb._enc_field(1, 0, tb._enc_varint(1)) + tb._enc_field(5, 2, struct.pack("<f", 0.25))
    value = tb._enc_field(1, 2, b"loss/current") + tb._enc_field(8, 2, tensor)
    ev = tb._enc_field(1, 1, struct.pack("<d", 1.0)) + tb._enc_field(2, 0, tb._enc_varint(7)) + \
        tb._enc_field(5, 2, tb._enc_field(1, 2, value))
    [s] = tb.decode_event(ev)
    assert (s.step, s.tag, s.value) == (7, "loss/current", 0.25)
    # tensor_content form (DT_DOUBLE)
    tensor = tb._enc_field(1, 0, tb._enc_varint(2)) + tb._enc_field(4, 2, struct.pack("<d", 0.5))
    value = tb._enc_field(1, 2, b"lr/unet") + tb._enc_field(8, 2, tensor)
    ev = tb._enc_field(2, 0, tb._enc_varint(2)) + tb._enc_field(5, 2, tb._enc_field(1, 2, value))
    assert tb.decode_event(ev)[0].value == 0.5
