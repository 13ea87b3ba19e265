"""Pure view helpers polished in the UX pass (no streamlit, no browser)."""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

from nyx_ui import monitor_data as md


def _lora(folder, name, mtime):
    p = folder / name
    p.write_bytes(b"\0" * 8)
    os.utime(p, (mtime, mtime))
    return p


def test_output_files_keep_to_the_runs_own_time_window(tmp_path):
    # runs of one config share the output folder: an older run's and a later run's files are not this run's
    t0 = time.time() - 1000
    _lora(tmp_path, "mine-000001.safetensors", t0 - 500)  # an earlier run
    a = _lora(tmp_path, "mine-000002.safetensors", t0 + 10)
    b = _lora(tmp_path, "mine.safetensors", t0 + 20)
    c = _lora(tmp_path, "mine-000004.safetensors", t0 + 20)  # same second as the final file
    _lora(tmp_path, "mine-000006.safetensors", t0 + 400)  # a later run
    _lora(tmp_path, "other.safetensors", t0 + 10)
    (tmp_path / "notes.txt").write_text("x")
    assert md.output_files(tmp_path, "mine", since=t0, until=t0 + 21) == [b, c, a]
    assert len(md.output_files(tmp_path, "mine", since=t0)) == 4  # still running: no end yet
    assert len(md.output_files(tmp_path, "mine")) == 5
    assert md.output_files(tmp_path / "missing", "mine") == []


def test_job_label_is_plain_text_and_state_icons_are_material():
    job = SimpleNamespace(name="cat v1", state=SimpleNamespace(value="running"),
                          status=SimpleNamespace(created_at=time.time()))
    label = md.job_label(job)
    assert label.startswith("cat v1 · running · ")
    assert all(v.startswith(":material/") for v in md.STATE_ICON.values())
    assert all(ord(ch) < 0x2000 or ch == "·" for ch in label)
