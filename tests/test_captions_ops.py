"""Caption files on disk: read/write, bulk preview/apply, undo restoring exact bytes."""
from __future__ import annotations

import pytest
from PIL import Image

from nyx_core.datasets import caption_ops
from nyx_core.datasets.captions import TagOp
from nyx_core.datasets.caption_ops import UndoError
from nyx_core.datasets.layout import scan_dataset
from nyx_core.datasets.manager import create_dataset
from nyx_core.trash import list_trash


@pytest.fixture
def layout(ws):
    create_dataset(ws, "d", "ohwx", 5)
    folder = ws.datasets / "d" / "5_ohwx"
    for i in range(4):
        Image.new("RGB", (8, 8)).save(folder / f"{i}.png")
    (folder / "0.txt").write_bytes(b"\xef\xbb\xbfa, b\r\n")  # BOM + CRLF: must come back byte-exact
    (folder / "1.txt").write_bytes(b"b,c")
    (folder / "2.txt").write_bytes(b"")  # empty caption
    # 3.png has no caption
    return scan_dataset(ws, "d")


def _bytes(layout):
    return {p.name: p.read_bytes() for p in sorted((layout.root / "5_ohwx").glob("*.txt"))}


def test_read_write_one(layout):
    img = layout.images()[3]
    assert caption_ops.read_caption(layout, img) is None
    caption_ops.write_caption(layout, img, "new one")
    assert caption_ops.read_caption(layout, img) == "new one"
    assert caption_ops.read_caption(layout, layout.images()[0]) == "a, b\r\n"
    with pytest.raises(Exception):
        caption_ops.write_caption(layout, layout.root / "elsewhere.png", "x")


def test_preview_then_apply_then_undo_exact_bytes(ws, layout):
    before = _bytes(layout)
    op = TagOp("add", tags=("ohwx",), front=True)
    pv = caption_ops.preview(layout, op, limit=2)
    assert pv.total == 4 and pv.changed == 4 and len(pv.samples) == 2
    assert pv.samples[0].before == "a, b\r\n" and pv.samples[0].after == "ohwx, a, b\r\n"
    assert _bytes(layout) == before  # preview writes nothing
    assert caption_ops.apply(layout, op) == 4
    assert (layout.root / "5_ohwx" / "3.txt").read_text() == "ohwx"
    assert (layout.root / "5_ohwx" / "1.txt").read_text() == "ohwx, b, c"
    info = caption_ops.undo_info(layout)
    assert info.count == 4 and "ohwx" in info.op
    assert caption_ops.undo(ws, layout).restored == 4
    assert _bytes(layout) == before  # 3.txt gone again, BOM/CRLF back
    assert any(e.original.endswith("3.txt") for e in list_trash(ws))
    with pytest.raises(UndoError):
        caption_ops.undo(ws, layout)


def test_next_operation_replaces_journal_and_selection(ws, layout):
    imgs = layout.images()
    caption_ops.apply(layout, TagOp("remove", tags=("b",)))
    mid = _bytes(layout)
    n = caption_ops.apply(layout, TagOp("replace", mapping=(("c", "see"),)), images=[imgs[1]])
    assert n == 1
    caption_ops.undo(ws, layout)
    assert _bytes(layout) == mid  # only the last operation is undone


def test_noop_writes_nothing(layout):
    assert caption_ops.apply(layout, TagOp("remove", tags=("zzz",))) == 0
    assert caption_ops.undo_info(layout) is None


def test_frequency_and_run(ws, layout):
    assert caption_ops.dataset_tag_frequency(layout) == {"a": 1, "b": 2, "c": 1}
    pv = caption_ops.run(ws, "d", TagOp("sort"), dry_run=True)
    assert pv.changed == 0
    assert caption_ops.run(ws, "d", TagOp("add", tags=("z",))) == 4


def test_filter_images(layout):
    caps = caption_ops.all_captions(layout)
    imgs = layout.images()
    assert caption_ops.filter_images(caps, tag="b") == [imgs[0], imgs[1]]
    assert caption_ops.filter_images(caps, no_caption=True) == [imgs[2], imgs[3]]
    assert caption_ops.filter_images(caps, search="C") == [imgs[1]]
    assert caption_ops.filter_images(caps, search="3.png") == [imgs[3]]
    assert caption_ops.filter_images(caps, tag="b", only=[imgs[1]]) == [imgs[1]]


def test_hand_edited_journal_cannot_write_outside(ws, layout):
    import base64
    import json

    caption_ops.apply(layout, TagOp("add", tags=("x",)))
    path = caption_ops._journals(layout)[-1]
    j = json.loads(path.read_text())
    j["entries"]["../../evil.txt"] = {"before": base64.b64encode(b"pwned").decode()}
    j["entries"]["/tmp/evil.txt"] = {"before": base64.b64encode(b"pwned").decode()}
    path.write_text(json.dumps(j))
    caption_ops.undo(ws, layout)
    assert not (ws.datasets / "evil.txt").exists() and not (ws.root.parent / "evil.txt").exists()


def test_empty_caption_is_never_a_zero_byte_file(layout):
    img = layout.images()[3]
    caption_ops.write_caption(layout, img, "")
    assert (layout.root / "5_ohwx" / "3.txt").read_bytes() == b"\n"
    caption_ops.apply(layout, TagOp("remove", tags=("b", "c")), images=[layout.images()[1]])
    assert (layout.root / "5_ohwx" / "1.txt").read_bytes() == b"\n"


def test_undo_leaves_hand_edits_alone_and_lists_them(ws, layout):
    """The journal records what the operation wrote; undo must not wipe an edit made after it (issue 8)."""
    before = _bytes(layout)
    caption_ops.apply(layout, TagOp("add", tags=("ohwx",), front=True))
    folder = layout.root / "5_ohwx"
    (folder / "1.txt").write_text("hand edited after the operation")
    (folder / "3.txt").write_text("a caption I wrote for the new file")
    res = caption_ops.undo(ws, layout)
    assert sorted(res.skipped) == ["5_ohwx/1.txt", "5_ohwx/3.txt"] and res.restored == 2
    assert (folder / "1.txt").read_text() == "hand edited after the operation"
    assert (folder / "3.txt").read_text() == "a caption I wrote for the new file"
    now = _bytes(layout)
    assert now["0.txt"] == before["0.txt"] and now["2.txt"] == before["2.txt"]


def test_several_levels_of_undo_with_history(ws, layout):
    states = [_bytes(layout)]
    for op in (TagOp("add", tags=("x",)), TagOp("remove", tags=("b",)), TagOp("replace", mapping=(("c", "see"),))):
        caption_ops.apply(layout, op)
        states.append(_bytes(layout))
    history = caption_ops.undo_history(layout)
    assert [h.op for h in history] == ["replace c → see", "remove b", "add x at the end"]  # newest first
    assert [h.count for h in history] == [1, 2, 4] and history[0].at >= history[-1].at
    for expected in reversed(states[:-1]):
        assert caption_ops.undo(ws, layout).skipped == []
        assert _bytes(layout) == expected
    assert caption_ops.undo_history(layout) == []
    with pytest.raises(UndoError):
        caption_ops.undo(ws, layout)


def test_history_is_bounded_and_reads_the_old_single_journal(ws, layout, monkeypatch):
    import json

    monkeypatch.setattr(caption_ops, "UNDO_LEVELS", 3)
    legacy = layout.root / ".nyx" / "undo.json"
    legacy.parent.mkdir(exist_ok=True)
    legacy.write_text(json.dumps({"version": 1, "op": "old op", "at": 1.0, "entries": {}}))
    assert [h.op for h in caption_ops.undo_history(layout)] == ["old op"]
    for tag in ("p", "q", "r"):
        caption_ops.apply(layout, TagOp("add", tags=(tag,)))
    assert [h.op for h in caption_ops.undo_history(layout)] == [
        "add r at the end", "add q at the end", "add p at the end"]  # the oldest dropped
    assert not legacy.exists()


def test_bulk_writes_are_atomic_files_that_keep_permissions(ws, layout):
    import os
    import stat

    folder = layout.root / "5_ohwx"
    os.chmod(folder / "1.txt", 0o600)
    inode = (folder / "1.txt").stat().st_ino
    caption_ops.apply(layout, TagOp("add", tags=("z",)))
    assert stat.S_IMODE((folder / "1.txt").stat().st_mode) == 0o600
    assert (folder / "1.txt").stat().st_ino != inode  # a new file put in place, never rewritten in place
    assert (folder / "3.txt").read_text() == "z"  # created where none existed
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    caption_ops.undo(ws, layout)
    assert stat.S_IMODE((folder / "1.txt").stat().st_mode) == 0o600


def test_replace_existing_falls_back_to_a_plain_rename(tmp_path, monkeypatch):
    from nyx_core import fsutil

    for target_exists in (True, False):
        for have_exchange in (True, False):
            monkeypatch.setattr(fsutil, "_renameat2", None if have_exchange else False)
            tmp, path = tmp_path / ".new.tmp", tmp_path / "cap.txt"
            if target_exists:
                path.write_text("old")
            elif path.exists():
                path.unlink()
            tmp.write_text("new")
            fsutil.replace_existing(str(tmp), str(path))
            assert path.read_text() == "new" and not tmp.exists()


def test_undo_an_older_entry_out_of_order(ws, layout):
    """Any history entry can be undone: only captions still as it left them are restored; the ones a
    newer operation rewrote are skipped and named, and the newer operations stay undoable."""
    folder = layout.root / "5_ohwx"
    imgs = layout.images()
    start = _bytes(layout)
    caption_ops.apply(layout, TagOp("add", tags=("x",)), images=imgs[:2])  # 0.txt, 1.txt
    after_x = _bytes(layout)
    caption_ops.apply(layout, TagOp("add", tags=("y",)), images=imgs[1:3])  # 1.txt (again), 2.txt
    after_y = _bytes(layout)
    caption_ops.apply(layout, TagOp("add", tags=("z",)), images=[imgs[3]])  # creates 3.txt
    oldest = caption_ops.undo_history(layout)[-1]
    assert oldest.op == "add x at the end"

    res = caption_ops.undo(ws, layout, oldest)
    assert res.op == "add x at the end" and res.restored == 1
    assert res.skipped == ["5_ohwx/1.txt"] and res.newer == {"5_ohwx/1.txt": "add y at the end"}
    assert (folder / "0.txt").read_bytes() == start["0.txt"]  # restored, BOM and CRLF included
    assert (folder / "1.txt").read_bytes() == after_y["1.txt"]  # y's work is kept
    assert [h.op for h in caption_ops.undo_history(layout)] == ["add z at the end", "add y at the end"]

    # the middle entry by its journal name; it still restores what it changed (1.txt back to x's bytes)
    middle = caption_ops.undo_history(layout)[1]
    res = caption_ops.undo(ws, layout, middle.journal)
    assert res.restored == 2 and res.skipped == []
    assert (folder / "1.txt").read_bytes() == after_x["1.txt"] and (folder / "2.txt").read_bytes() == start["2.txt"]
    with pytest.raises(UndoError, match="no undo entry"):
        caption_ops.undo(ws, layout, middle.journal)  # it left the history
    assert caption_ops.undo(ws, layout).op == "add z at the end"  # newest first still works
    assert not (folder / "3.txt").exists()


def test_newest_first_undo_is_unchanged_when_ops_touch_the_same_captions(ws, layout):
    """Undoing newest first through operations that rewrote the same captions walks back every
    state exactly, with nothing skipped (the out-of-order rule never fires for the newest entry)."""
    states = [_bytes(layout)]
    for tag in ("p", "q", "r"):
        caption_ops.apply(layout, TagOp("add", tags=(tag,)))
        states.append(_bytes(layout))
    for expected in reversed(states[:-1]):
        res = caption_ops.undo(ws, layout)
        assert res.skipped == [] and res.newer == {}
        assert _bytes(layout) == expected


def test_an_unsealed_older_journal_leaves_newer_work_alone(ws, layout):
    """A tagging job's journal that was never sealed (no after_sha256): undone newest, it restores all
    (as before); undone out of order, it skips what a newer operation rewrote."""
    folder = layout.root / "5_ohwx"
    start = _bytes(layout)
    caption_ops.record_undo(layout, "WD14 tagging (unsealed)", layout.images()[:2])
    (folder / "0.txt").write_text("tagger wrote this")
    (folder / "1.txt").write_text("tagger wrote this too")
    caption_ops.apply(layout, TagOp("add", tags=("n",)), images=[layout.images()[1]])
    newest_after = (folder / "1.txt").read_bytes()
    res = caption_ops.undo(ws, layout, caption_ops.undo_history(layout)[1])
    assert res.skipped == ["5_ohwx/1.txt"] and res.restored == 1
    assert (folder / "0.txt").read_bytes() == start["0.txt"] and (folder / "1.txt").read_bytes() == newest_after
