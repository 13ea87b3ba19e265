"""ProgressReader (byte offsets, half-written lines) and the chart helpers."""
from __future__ import annotations

import json
import math

from nyx_core.jobs.models import event
from nyx_core.jobs.reader import ProgressReader, ProgressState, downsample, ema, follow


def test_reader_is_incremental_and_skips_a_half_written_line(tmp_path):
    path = tmp_path / "progress.jsonl"
    a = json.dumps(event("step", step=1, total=4, avr_loss=None))
    b = json.dumps(event("step", step=2, total=4, avr_loss=0.5))
    path.write_text(a + "\n" + b[:10])
    r = ProgressReader(tmp_path)
    assert [e["step"] for e in r.read_new()] == [1]
    assert r.read_new() == []
    with open(path, "a") as fh:
        fh.write(b[10:] + "\n" + "{not json}\n")
    assert [e["step"] for e in r.read_new()] == [2]
    assert r.offset == path.stat().st_size


def test_state_folds_events_and_survives_a_dict_round_trip(tmp_path):
    path = tmp_path / "progress.jsonl"
    lines = [event("summary", total=10, epochs=2), event("epoch", epoch=1, epochs=2),
             event("step", step=3, total=10, epoch=1, epochs=2, rate=2.0, rate_unit="s/it", it_per_s=0.5,
                   eta_s=14, elapsed_s=6, avr_loss=0.2),
             event("metric", step=3, values={"loss/current": 0.19, "lr/unet": 1e-4}, loss=0.19, lr=1e-4),
             event("checkpoint", path="/x/a-000001.safetensors", final=False),
             event("error", message="boom", lines=["boom"]),
             event("end", state="failed", exit_code=1, duration_s=3, reason="r")]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines[:3]))
    st = follow(tmp_path)
    assert st.step == 3 and st.total == 10 and st.fraction == 0.3 and st.eta_s == 14
    st = ProgressState(**st.to_dict())  # what a page keeps in session_state
    with open(path, "a") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in lines[3:]))
    st = follow(tmp_path, st)
    assert st.loss_series() == ([3], [0.19], "loss (per step)")
    assert st.lr_values == [1e-4] and st.checkpoints == ["/x/a-000001.safetensors"]
    assert st.end["state"] == "failed" and st.errors[0]["message"] == "boom" and st.phase == "finished"


def test_loss_falls_back_to_avr_loss():
    st = ProgressState().apply([event("step", step=1, total=2, avr_loss=None),
                                event("step", step=1, total=2, avr_loss=0.4)])
    assert st.loss_series() == ([1], [0.4], "avr_loss (tqdm running average)")


def test_downsample_keeps_extremes_and_the_end():
    xs = list(range(100_000))
    ys = [math.sin(i / 100) for i in xs]
    ys[50_000] = 99.0
    ox, oy = downsample(xs, ys, 1000)
    assert len(ox) <= 1001 and ox[-1] == 99_999 and 99.0 in oy
    assert downsample([1, 2], [3, 4], 1000) == ([1, 2], [3, 4])


def test_ema_debiased():
    assert ema([1.0, 1.0, 1.0], 0.9) == [1.0, 1.0, 1.0]
    assert ema([1.0, 2.0], 0.0) == [1.0, 2.0]
    sm = ema([0.0, 10.0], 0.5)
    assert sm[0] == 0.0 and abs(sm[1] - 10 * 0.5 / 0.75) < 1e-9


def test_fast_path_matches_full_decode_in_any_slicing(tmp_path):
    sep = (",", ":")
    evs = [event("phase", phase="training"), event("summary", total=6, epochs=2)]
    for i in range(1, 7):
        evs.append(event("step", step=i, total=6, epoch=1 + (i > 3), epochs=2, it_per_s=1.5, elapsed_s=i,
                         eta_s=6 - i, avr_loss=None if i == 2 else 0.1 * i))
        evs.append(event("metric", step=i, loss=0.2 / i, lr=None if i == 4 else 1e-4, lr_tag="lr/unet", values={}))
        if i == 3:
            evs.append(event("checkpoint", path="/o/x-000001.safetensors", final=False))
            evs.append(event("phase", phase="saving"))
    evs.append(event("phase", phase="sampling"))
    data = "".join(json.dumps(e, separators=sep) + "\n" for e in evs).encode()
    full = ProgressState().apply([json.loads(x) for x in data.splitlines()])
    for cut in (len(data), 300, 1000):
        path = tmp_path / "progress.jsonl"
        path.write_bytes(b"")
        st = ProgressState()
        for k in range(0, len(data), cut):
            with open(path, "ab") as fh:
                fh.write(data[k:k + cut])
            st = follow(tmp_path, st)
        for f in ("step", "total", "epoch", "loss_steps", "loss_values", "lr_steps", "lr_values", "checkpoints",
                  "events", "phase", "eta_s", "avr_loss"):
            assert getattr(st, f) == getattr(full, f), (cut, f)


def test_series_file_feeds_the_chart_without_double_counting(tmp_path):
    from nyx_core.jobs.reader import SERIES_FILE, series_record

    sep = (",", ":")
    (tmp_path / SERIES_FILE).write_bytes(b"")
    lines, recs = [], b""
    for i in range(1, 5):
        lines.append(json.dumps(event("step", step=i, total=4, epoch=1, epochs=1, it_per_s=1.0, elapsed_s=i,
                                      eta_s=4 - i, avr_loss=0.5), separators=sep))
        lines.append(json.dumps(event("metric", step=i, loss=0.25 * i, lr=None if i == 2 else 0.5, lr_tag="lr/unet",
                                      values={}), separators=sep))
        recs += series_record(i, 0.25 * i, None if i == 2 else 0.5)
    (tmp_path / "progress.jsonl").write_text("\n".join(lines[:4]) + "\n")
    (tmp_path / SERIES_FILE).write_bytes(recs[:2 * 12 + 5])  # a half-written record
    st = follow(tmp_path)
    assert st.series_offset == 24 and st.loss_steps == [1, 2] and st.lr_steps == [1]
    (tmp_path / "progress.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / SERIES_FILE).write_bytes(recs)
    st = follow(tmp_path, st)
    assert st.loss_steps == [1, 2, 3, 4] and st.loss_values == [0.25, 0.5, 0.75, 1.0]
    assert st.lr_steps == [1, 3, 4] and st.step == 4 and st.events == 8
