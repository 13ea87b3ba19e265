"""The trash on real files: round trips restore bytes exactly, clashes, emptying, refusals."""
from __future__ import annotations

import json
import os

import pytest

from nyx_core.errors import NyxError
from nyx_core.trash import (RestoreClashError, TrashError, empty_trash, list_trash, move_to_trash,
                            restore)


def test_file_round_trip_restores_exact_bytes(ws) -> None:
    data = os.urandom(50_000)
    f = ws.datasets / "a" / "img.png"
    f.parent.mkdir(parents=True)
    f.write_bytes(data)
    mtime = f.stat().st_mtime_ns
    entry = move_to_trash(ws, ws.resolve("datasets/a/img.png"))
    assert not f.exists()
    assert entry.original == "datasets/a/img.png" and entry.size == 50_000 and not entry.is_dir
    sidecar = json.loads((ws.trash / entry.id / "entry.json").read_text())
    assert sidecar["original"] == "datasets/a/img.png"
    assert list_trash(ws) == [entry]
    # The parent folder went away meanwhile: restore re-creates it.
    (ws.datasets / "a").rmdir()
    back = restore(ws, entry.id)
    assert back == f and f.read_bytes() == data and f.stat().st_mtime_ns == mtime
    assert list_trash(ws) == [] and not (ws.trash / entry.id).exists()


def test_folder_round_trip(ws) -> None:
    d = ws.root / "proj"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "x.txt").write_text("x" * 10)
    (d / "y.txt").write_text("yy")
    entry = move_to_trash(ws, d)
    assert entry.is_dir and entry.size == 12 and not d.exists()
    restore(ws, entry.id)
    assert (d / "sub" / "x.txt").read_text() == "x" * 10 and (d / "y.txt").read_text() == "yy"


def test_restore_clash_rename_or_error(ws) -> None:
    f = ws.configs / "run.toml"
    f.write_text("old")
    entry = move_to_trash(ws, f)
    f.write_text("new")
    with pytest.raises(RestoreClashError):
        restore(ws, entry.id, on_clash="error")
    back = restore(ws, entry.id)
    assert back.name == "run (restored).toml" and back.read_text() == "old" and f.read_text() == "new"
    entry2 = move_to_trash(ws, f)
    f.write_text("newer")
    back2 = restore(ws, entry2.id)
    assert back2.name == "run (restored 2).toml" and back2.read_text() == "new"


def test_same_name_twice_and_newest_first(ws) -> None:
    f = ws.root / "n.txt"
    f.write_text("1")
    e1 = move_to_trash(ws, f)
    f.write_text("2")
    e2 = move_to_trash(ws, f)
    assert [e.id for e in list_trash(ws)] == [e2.id, e1.id]
    assert restore(ws, e1.id).read_text() == "1"


def test_empty_some_and_all(ws) -> None:
    ids = []
    for i in range(3):
        p = ws.root / f"f{i}"
        p.write_text(str(i))
        ids.append(move_to_trash(ws, p).id)
    assert empty_trash(ws, [ids[0]]) == 1
    assert {e.id for e in list_trash(ws)} == set(ids[1:])
    ro = ws.root / "ro"
    (ro / "in").mkdir(parents=True)
    (ro / "in" / "f").write_text("r")
    os.chmod(ro / "in" / "f", 0o444)
    os.chmod(ro / "in", 0o555)
    move_to_trash(ws, ro)
    assert empty_trash(ws) == 3
    assert list_trash(ws) == [] and list(ws.trash.iterdir()) == []


def test_refusals(ws) -> None:
    with pytest.raises(TrashError):
        move_to_trash(ws, ws.root)
    with pytest.raises(TrashError):
        move_to_trash(ws, ws.trash)
    p = ws.root / "z"
    p.write_text("z")
    e = move_to_trash(ws, p)
    with pytest.raises(TrashError):
        move_to_trash(ws, ws.trash / e.id / "item" / "z")
    with pytest.raises(NyxError):
        move_to_trash(ws, ws.root / "missing")
    for bad in ("../etc", "nope", "", "a/b"):
        with pytest.raises(TrashError):
            restore(ws, bad)


def test_symlink_is_trashed_itself_not_its_target(ws) -> None:
    target = ws.root / "real.txt"
    target.write_text("keep me")
    link = ws.root / "link.txt"
    link.symlink_to(target)
    entry = move_to_trash(ws, link)
    assert entry.original == "link.txt" and target.read_text() == "keep me"
    restore(ws, entry.id)
    assert link.is_symlink() and link.read_text() == "keep me"


def test_tampered_sidecar_cannot_restore_outside(ws, tmp_path) -> None:
    p = ws.root / "t.txt"
    p.write_text("t")
    e = move_to_trash(ws, p)
    side = ws.trash / e.id / "entry.json"
    data = json.loads(side.read_text())
    data["original"] = "../outside/t.txt"
    side.write_text(json.dumps(data))
    with pytest.raises(NyxError):
        restore(ws, e.id)
    assert not (tmp_path / "outside").exists()
