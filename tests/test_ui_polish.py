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


def _old_job(folder, started, ended, active=False):
    return SimpleNamespace(id="20260101-000000-mine", spec=SimpleNamespace(
        output_dir=str(folder), expected_output=str(folder / "mine.safetensors")),
        status=SimpleNamespace(started_at=started, ended_at=ended), state=SimpleNamespace(active=active))


def test_an_old_runs_files_in_a_shared_folder_keep_to_its_own_time_window(tmp_path):
    # runs made before per-run folders shared the config's folder: an older run's and a later
    # run's files are not this run's
    from nyx_core.jobs.outputs import run_files

    t0 = time.time() - 1000
    _lora(tmp_path, "mine-000001.safetensors", t0 - 500)  # an earlier run
    a = _lora(tmp_path, "mine-000002.safetensors", t0 + 10)
    b = _lora(tmp_path, "mine.safetensors", t0 + 20)
    c = _lora(tmp_path, "mine-000004.safetensors", t0 + 20)  # same second as the final file
    _lora(tmp_path, "mine-000006.safetensors", t0 + 400)  # a later run
    _lora(tmp_path, "other.safetensors", t0 + 10)
    (tmp_path / "notes.txt").write_text("x")
    files = run_files(_old_job(tmp_path, t0, t0 + 16))
    assert files.loras == [b, c, a] and files.shared
    assert len(run_files(_old_job(tmp_path, t0, None, active=True)).loras) == 4  # still running: no end yet
    assert run_files(_old_job(tmp_path / "missing", t0, t0 + 16)).loras == []
    assert run_files(_old_job(tmp_path, None, None)).loras == []  # queued: nothing is its yet


def test_job_label_is_plain_text_and_state_icons_are_material():
    job = SimpleNamespace(name="cat v1", state=SimpleNamespace(value="running"),
                          status=SimpleNamespace(created_at=time.time()))
    label = md.job_label(job)
    assert label.startswith("cat v1 · running · ")
    assert all(v.startswith(":material/") for v in md.STATE_ICON.values())
    assert all(ord(ch) < 0x2000 or ch == "·" for ch in label)
