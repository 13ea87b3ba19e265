"""Reads cached by file stamps (issue 15): served from memory while unchanged, re-read as soon as a
file or folder they came from changes, and never shared mutably between callers."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from nyx_core import cache as cache_mod
from nyx_core.cache import StampCache
from nyx_core.datasets import layout as layout_mod
from nyx_core.datasets.layout import save_settings, scan_dataset, DatasetSettings
from nyx_core.datasets.manager import create_dataset
from nyx_core.jobs.models import JobSpec, JobState, event
from nyx_core.jobs.store import JobStore, update_status
from nyx_core import steps as steps_mod

PAST = time.time() - 3600


def _age(*paths: Path) -> None:
    """Make paths look quiet (an hour old), so the cache may trust their stamps."""
    for p in paths:
        os.utime(p, (PAST, PAST))


def _counting(value_of):
    calls = []

    def compute():
        calls.append(1)
        return value_of()

    return compute, calls


def test_a_value_is_reused_while_its_files_are_unchanged_and_reread_when_one_changes(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one")
    _age(f)
    c = StampCache()
    compute, calls = _counting(lambda: (f.read_text(), [f]))
    assert c.get("k", compute) == "one" and c.get("k", compute) == "one"
    assert len(calls) == 1
    f.write_text("two!")
    _age(f)
    os.utime(f, (PAST + 5, PAST + 5))  # a later time, as any edit gives
    assert c.get("k", compute) == "two!" and len(calls) == 2


def test_a_file_appearing_or_disappearing_invalidates(tmp_path):
    f = tmp_path / "maybe.toml"
    c = StampCache()
    compute, calls = _counting(lambda: (f.is_file(), [f]))
    assert c.get("k", compute) is False
    f.write_text("x")
    assert c.get("k", compute) is True
    f.unlink()
    assert c.get("k", compute) is False and len(calls) == 3


def test_a_change_within_the_same_timestamp_is_still_seen(tmp_path):
    """A rewrite in the same filesystem tick, same size, same inode leaves the stamp equal: a
    freshly changed path is not trusted until it has been quiet for a while."""
    f = tmp_path / "a.txt"
    f.write_text("aaaa")
    st = os.stat(f)
    c = StampCache()
    compute, calls = _counting(lambda: (f.read_text(), [f]))
    assert c.get("k", compute) == "aaaa"
    with open(f, "r+") as fh:  # in place: same inode and size
        fh.write("bbbb")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime, as in one tick
    assert cache_mod.stamp(f) == (st.st_mtime_ns, st.st_size, st.st_ino)
    assert c.get("k", compute) == "bbbb"


def test_the_cache_is_bounded(tmp_path):
    c = StampCache(maxsize=3)
    for i in range(10):
        c.get(i, lambda i=i: (i, []))
    assert len(c._entries) == 3


# -- datasets ----------------------------------------------------------------------------------
def _quiet_dataset(ws, name="cats"):
    layout = create_dataset(ws, name, "cat", repeats=3)
    folder = layout.concepts[0].folder
    for n in range(3):
        (folder / f"img{n}.png").write_bytes(b"\x89PNG fake")
    _age(*folder.iterdir(), *layout.root.iterdir(), folder, layout.root)
    return layout.root, folder


def test_a_dataset_scan_is_reused_until_its_folders_change(ws, monkeypatch):
    root, folder = _quiet_dataset(ws)
    seen = []
    real = layout_mod._images_in
    monkeypatch.setattr(layout_mod, "_images_in", lambda f: seen.append(f) or real(f))
    assert scan_dataset(ws, "cats").image_count == 3
    assert scan_dataset(ws, "cats").image_count == 3
    assert len(seen) == 1  # the second page rerun listed nothing

    (folder / "new.jpg").write_bytes(b"jpg")  # an upload
    assert scan_dataset(ws, "cats").image_count == 4
    (folder / "img0.png").rename(folder / "renamed.png")
    assert [p.name for p in scan_dataset(ws, "cats").images()][-1] == "renamed.png"
    (root / "5_dog").mkdir()  # a new concept folder
    assert [c.name for c in scan_dataset(ws, "cats").concepts] == ["cat", "dog"]
    save_settings(root, DatasetSettings(caption_ext=".caption", trigger_word="ohwx"))
    got = scan_dataset(ws, "cats")
    assert (got.caption_ext, got.trigger_word) == (".caption", "ohwx")


def test_changing_a_scanned_layout_does_not_change_the_next_scan(ws):
    _quiet_dataset(ws)
    first = scan_dataset(ws, "cats")
    first.concepts[0].images.clear()
    first.concepts.clear()
    again = scan_dataset(ws, "cats")
    assert again.image_count == 3 and len(again.concepts) == 1


# -- jobs --------------------------------------------------------------------------------------
def test_a_listed_job_shows_every_status_change_and_callers_cannot_change_the_cache(ws):
    store = JobStore(ws.jobs)
    job = store.create("r", JobSpec(argv=["python", "x.py"], env={"A": "1"}))
    assert store.load(job.id).status.state == JobState.QUEUED

    def run(s):
        s.state = JobState.RUNNING

    update_status(job.dir, run)
    got = store.load(job.id)
    assert got.status.state == JobState.RUNNING
    got.status.state = JobState.LOST  # what observe() does in memory
    got.status.error_lines.append("x")
    got.spec.argv.append("--oops")
    got.spec.env["B"] = "2"
    again = store.load(job.id)
    assert again.status.state == JobState.RUNNING and again.status.error_lines == []
    assert again.spec.argv == ["python", "x.py"] and again.spec.env == {"A": "1"}
    (job.dir / "status.json").write_text("{garbage")
    assert "status.json" in (store.load(job.id).damage or "")


def test_past_run_speeds_are_read_once_and_again_when_a_run_writes(ws, monkeypatch):
    store = JobStore(ws.jobs)
    job = store.create("r", JobSpec(argv=["true"]))
    prog = job.dir / "progress.jsonl"

    def write(elapsed: float) -> None:
        with open(prog, "w") as fh:
            for s in (1, 11):
                fh.write(json.dumps(event("step", step=s, total=20, elapsed_s=elapsed * s / 11)) + "\n")

    write(11.0)
    _age(prog, job.dir / "status.json", job.dir / "job.json")
    reads = []
    real = steps_mod.speed_from_progress
    monkeypatch.setattr(steps_mod, "speed_from_progress", lambda p: reads.append(p) or real(p))
    assert steps_mod.speeds_from_jobs(ws.jobs) == [(job.id, 1.0)]
    assert steps_mod.speeds_from_jobs(ws.jobs) == [(job.id, 1.0)]
    assert len(reads) == 1
    write(22.0)
    assert steps_mod.speeds_from_jobs(ws.jobs) == [(job.id, 2.0)]
