"""`nyx dataset …` as a real subprocess against a real workspace."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def nyx(ws, *args, cwd=None):
    env = {**os.environ, "NYX_WORKSPACE": str(ws.root)}
    return subprocess.run([sys.executable, "-m", "nyx_core", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO, timeout=120)


def _png(color="red", size=(512, 512)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_cli_end_to_end(ws, tmp_path):
    r = nyx(ws, "dataset", "create", "cats", "--concept", "ohwx cat", "--repeats", "5", "--trigger", "ohwx")
    assert r.returncode == 0, r.stderr
    assert (ws.datasets / "cats" / "5_ohwx cat").is_dir()
    z = tmp_path / "in.zip"  # outside the workspace: zips may come from anywhere
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.png", _png())
        zf.writestr("a.txt", "ohwx cat, sitting")
        zf.writestr("b.png", _png("blue"))
        zf.writestr("2_dog/d.png", _png("green"))
    r = nyx(ws, "dataset", "import", str(z), "--name", "cats", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert sorted(rep["taken"]) == ["2_dog/d.png", "5_ohwx cat/a.png", "5_ohwx cat/b.png"]

    r = nyx(ws, "dataset", "ls", "--json")
    ls = json.loads(r.stdout)
    assert ls[0]["name"] == "cats" and ls[0]["image_count"] == 3 and ls[0]["captioned_count"] == 1

    r = nyx(ws, "dataset", "check", "cats", "--resolution", "512", "--json")
    assert r.returncode == 0, r.stdout  # warnings only
    kinds = {p["kind"] for p in json.loads(r.stdout)["problems"]}
    assert "missing_caption" in kinds
    (ws.datasets / "cats" / "5_ohwx cat" / "bad.png").write_bytes(b"junk")
    r = nyx(ws, "dataset", "check", "cats")
    assert r.returncode == 1 and "ERROR" in r.stdout and "bad.png" in r.stdout
    (ws.datasets / "cats" / "5_ohwx cat" / "bad.png").unlink()

    cap = ws.datasets / "cats" / "5_ohwx cat" / "a.txt"
    before = cap.read_bytes()
    r = nyx(ws, "dataset", "tags", "cats", "--add", "ohwx", "--front", "--dry-run")
    assert r.returncode == 0 and "would add ohwx" in r.stdout and "3 of 3" in r.stdout
    assert cap.read_bytes() == before
    r = nyx(ws, "dataset", "tags", "cats", "--replace", "sitting=standing")
    assert "1 caption(s) changed" in r.stdout
    assert cap.read_text() == "ohwx cat, standing"
    r = nyx(ws, "dataset", "undo", "cats")
    assert r.returncode == 0 and cap.read_bytes() == before
    r = nyx(ws, "dataset", "tags", "cats", "--json")
    assert {"tag": "sitting", "count": 1} in json.loads(r.stdout)
    r = nyx(ws, "dataset", "undo", "cats")
    assert r.returncode == 1 and "nothing to undo" in r.stderr

    r = nyx(ws, "dataset", "tags", "cats", "--regex", "(a+)+=x")
    assert r.returncode == 1 and "nyx: error:" in r.stderr


def test_cli_errors_are_one_line(ws, tmp_path):
    r = nyx(ws, "dataset", "check", "nope")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no dataset named" in r.stderr
    r = nyx(ws, "dataset", "create", "../x", "--concept", "c")
    assert r.returncode == 1
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(zipfile.ZipInfo("../evil.png"), _png())
    r = nyx(ws, "dataset", "import", str(bad), "--name", "n", "--concept", "c")
    assert r.returncode == 1 and "climbs out" in r.stderr
    assert not (tmp_path / "evil.png").exists() and not (ws.datasets / "evil.png").exists()


def test_cli_manage_and_tools(ws):
    assert nyx(ws, "dataset", "create", "d", "--concept", "c", "--repeats", "2").returncode == 0
    folder = ws.datasets / "d" / "2_c"
    Image.new("RGB", (600, 300), "red").save(folder / "a.png")
    (folder / "a.txt").write_text("x")
    r = nyx(ws, "dataset", "downscale", "d", "--max-side", "300")
    assert r.returncode == 0 and "1 image(s) changed" in r.stdout
    r = nyx(ws, "dataset", "convert", "d", "--format", "webp", "--quality", "80")
    assert r.returncode == 0 and "2_c/a.png -> 2_c/a.webp" in r.stdout
    with Image.open(folder / "a.webp") as im:
        assert im.size == (300, 150)
    assert nyx(ws, "dataset", "repeats", "d", "c", "4").returncode == 0
    assert nyx(ws, "dataset", "rename", "d", "e").returncode == 0
    assert (ws.datasets / "e" / "4_c" / "a.webp").exists() and (ws.datasets / "e" / "4_c" / "a.txt").exists()
    r = nyx(ws, "dataset", "rm", "e")
    assert r.returncode == 0 and "trash" in r.stdout and not (ws.datasets / "e").exists()


def _two_captioned(ws, name: str, repeats: int):
    """Dataset NAME with concept "c": a.png and b.png, each captioned "cat"; returns the concept folder."""
    from nyx_core.datasets.manager import create_dataset

    create_dataset(ws, name, "c", repeats)
    folder = ws.datasets / name / f"{repeats}_c"
    for stem in ("a", "b"):
        Image.new("RGB", (8, 8)).save(folder / f"{stem}.png")
        (folder / f"{stem}.txt").write_text("cat")
    return folder


def test_undo_lists_history_and_skipped(ws):
    folder = _two_captioned(ws, "u", 1)
    assert nyx(ws, "dataset", "tags", "u", "--add", "one").returncode == 0
    assert nyx(ws, "dataset", "tags", "u", "--add", "two").returncode == 0
    r = nyx(ws, "dataset", "undo", "u", "--list")
    assert r.returncode == 0 and r.stdout.index("add two") < r.stdout.index("add one")
    (folder / "b.txt").write_text("mine now")
    r = nyx(ws, "dataset", "undo", "u")
    assert r.returncode == 0 and "1 caption(s) restored" in r.stdout and "1_c/b.txt" in r.stdout
    assert (folder / "a.txt").read_text() == "cat, one" and (folder / "b.txt").read_text() == "mine now"


def test_exclude_include_and_list(ws):
    folder = _two_captioned(ws, "x", 2)
    r = nyx(ws, "dataset", "exclude", "x", "a.png", "2_c/b.png")
    assert r.returncode == 0, r.stderr
    assert "excluded 2_c/a.png with a.txt" in r.stdout and "2 image(s) out of training" in r.stdout
    assert not any(folder.iterdir())
    r = nyx(ws, "dataset", "ls")
    assert "x: 0 images, 2 excluded" in r.stdout
    assert json.loads(nyx(ws, "dataset", "ls", "--json").stdout)[0]["excluded_count"] == 2
    r = nyx(ws, "dataset", "excluded", "x")
    assert r.stdout.splitlines() == ["2_c/a.png", "2_c/b.png"]
    # a clash is one line, exit 1, nothing moved
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    r = nyx(ws, "dataset", "include", "x", "a.png")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "a.png already exists in 2_c" in r.stderr
    (folder / "a.png").unlink()
    # the concept folder is gone: the listing says so, include asks for --concept, then takes it
    folder.rename(ws.datasets / "x" / "1_other")
    assert "2_c/a.png  (its concept is gone: include with --concept)" in nyx(ws, "dataset", "excluded", "x").stdout
    r = nyx(ws, "dataset", "include", "x", "a.png")
    assert r.returncode == 1 and "gone; say which concept to put it back into: other" in r.stderr
    r = nyx(ws, "dataset", "include", "x", "2_c/a.png", "b.png", "--concept", "other")
    assert r.returncode == 0 and "included 1_other/a.png" in r.stdout and "included 1_other/b.png" in r.stdout
    assert (ws.datasets / "x" / "1_other" / "b.txt").read_text() == "cat"
    r = nyx(ws, "dataset", "exclude", "x", "nope.png")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "nope.png is not an image of dataset 'x'" in r.stderr


def test_undo_an_older_entry_by_number(ws):
    folder = _two_captioned(ws, "u", 1)
    assert nyx(ws, "dataset", "tags", "u", "--add", "one").returncode == 0
    (folder / "b.txt").write_text("cat, one, mine")  # a hand edit after "one"
    assert nyx(ws, "dataset", "tags", "u", "--add", "two", "--front").returncode == 0
    lines = nyx(ws, "dataset", "undo", "u", "--list").stdout.splitlines()
    assert lines[0].startswith(" 1 ") and "add two" in lines[0] and lines[1].startswith(" 2 ") and "add one" in lines[1]
    r = nyx(ws, "dataset", "undo", "u", "--entry", "2")
    assert r.returncode == 0, r.stderr
    assert "undid 'add one at the end': 0 caption(s) restored" in r.stdout
    assert "1_c/a.txt  (rewritten by a newer operation: add two at the front)" in r.stdout
    r = nyx(ws, "dataset", "undo", "u", "--entry", "2")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "has 1 entry" in r.stderr
    r = nyx(ws, "dataset", "undo", "u", "--entry", "1")
    assert r.returncode == 0 and "2 caption(s) restored" in r.stdout
    assert (folder / "a.txt").read_text() == "cat, one" and (folder / "b.txt").read_text() == "cat, one, mine"
