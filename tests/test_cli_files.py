"""`nyx files …` as a real subprocess against a real workspace."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT


def nyx(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nyx_core", "files", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=60)


def test_ls_rm_trash_restore(ws) -> None:
    (ws.datasets / "set").mkdir()
    (ws.datasets / "set" / "a.png").write_bytes(b"\x89PNG fake")
    (ws.datasets / "notes.txt").write_text("hi")
    out = nyx("ls", "datasets", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["name"], r["is_dir"], r["kind"]) for r in rows] == [("set", True, "folder"),
                                                                  ("notes.txt", False, "text")]
    plain = nyx("ls", "datasets")
    assert "set/" in plain.stdout and "notes.txt" in plain.stdout

    rm = nyx("rm", "datasets/set/a.png")
    assert rm.returncode == 0, rm.stderr
    trash_id = rm.stdout.split("\t")[0]
    assert not (ws.datasets / "set" / "a.png").exists()
    listed = json.loads(nyx("trash", "--json").stdout)
    assert listed[0]["id"] == trash_id and listed[0]["original"] == "datasets/set/a.png"
    assert trash_id in nyx("trash").stdout

    res = nyx("restore", trash_id)
    assert res.returncode == 0 and res.stdout.strip() == "datasets/set/a.png"
    assert (ws.datasets / "set" / "a.png").read_bytes() == b"\x89PNG fake"

    # By original path, and a clash with --no-rename fails cleanly.
    nyx("rm", "datasets/notes.txt")
    (ws.datasets / "notes.txt").write_text("new")
    clash = nyx("restore", "datasets/notes.txt", "--no-rename")
    assert clash.returncode == 1 and len(clash.stderr.strip().splitlines()) == 1
    ok = nyx("restore", "datasets/notes.txt")
    assert ok.stdout.strip() == "datasets/notes (restored).txt"
    assert (ws.datasets / "notes (restored).txt").read_text() == "hi"

    nyx("rm", "datasets/set")
    assert "removed 1 item" in nyx("trash", "--empty").stdout
    assert "empty" in nyx("trash").stdout


def test_errors_are_one_line_exit_1(ws) -> None:
    for args in (("ls", "../etc"), ("ls", "missing"), ("rm", "missing.txt"), ("rm", "datasets"),
                 ("restore", "nope"), ("rm", "")):
        out = nyx(*args)
        assert out.returncode == 1, (args, out)
        assert out.stderr.startswith("nyx: error:") and len(out.stderr.strip().splitlines()) == 1, out.stderr
