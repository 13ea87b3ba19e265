"""Hostile and damaged input (issue 14): caption and image bombs, names that are not UTF-8, names
over 255 bytes, symlink loops, empty names, a kill in the middle of "convert", and staging left
by a killed import. Memory is measured in a child process (its own peak RSS), never guessed."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from nyx_core.datasets import image_tools
from nyx_core.datasets.ingest import MAX_PIXELS, clean_stale_staging, ingest_files, ingest_zip
from nyx_core.datasets.layout import scan_dataset
from nyx_core.datasets.manager import create_dataset
from nyx_core.errors import NyxError
from nyx_core.files.manager import FileManager
from nyx_core.thumbnails import ThumbnailError, thumbnail
from tests.conftest import REPO_ROOT

BAD = b"\x83e\x83X\x83g"  # Shift-JIS "test": not UTF-8


def _png_bomb(path: Path, side: int) -> None:
    """A valid side x side greyscale PNG written in streamed chunks (a few hundred KB on disk,
    side² bytes once decoded) without ever holding the image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)))
        idat = bytearray()
        for _ in range(side):
            idat += comp.compress(row)
        idat += comp.flush()
        fh.write(chunk(b"IDAT", bytes(idat)) + chunk(b"IEND", b""))


def _peak_mb(code: str, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``code`` in a fresh Python and return its own peak RSS in MB."""
    # VmHWM (this process image's peak), not ru_maxrss: that one keeps the forking parent's peak
    # across exec, so a big test process would be counted as the child's.
    wrapper = ("import atexit, sys\n"
               "def _hwm():\n"
               "    kb = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
               "    sys.stderr.write(f'PEAK_KB={kb}\\n')\n"
               "atexit.register(_hwm)\n"
               + code)
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=120)
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KB=")]
    assert peak, proc.stderr[-2000:]
    return int(peak[-1].split("=")[1]) / 1024, proc


# Caption bomb ---------------------------------------------------------------------------------------
def test_caption_bomb_zip_is_streamed_and_capped(ws, tmp_path) -> None:
    bomb = tmp_path / "captions.zip"
    big, ok = b"a" * 200_000, b"tag, " * 10_000
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(1000):  # 1000 x 200 KB: 200 MB held in memory by the old importer
            zf.writestr(f"10_cat/{i}.txt", big)
        for i in range(100):  # under the cap: each streamed to the staging folder
            zf.writestr(f"10_cat/ok{i}.txt", ok)
        buf = io.BytesIO()
        Image.new("RGB", (64, 64)).save(buf, "PNG")
        zf.writestr("10_cat/ok0.png", buf.getvalue())
    assert bomb.stat().st_size < 2_000_000
    create_dataset(ws, "cats", "cat")
    peak, proc = _peak_mb(
        "from nyx_core.cli import main; raise SystemExit(main(sys.argv[1:]))",
        "--workspace", str(ws.root), "dataset", "import", str(bomb), "--name", "cats")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert peak < 150, f"import peaked at {peak:.0f} MB"
    concept = scan_dataset(ws, "cats").concepts[0].folder
    assert (concept / "ok0.txt").read_text().startswith("tag, ")
    assert not list(concept.glob("[0-9]*.txt"))  # the oversized ones were skipped, not kept


# Image bomb ---------------------------------------------------------------------------------------
def test_image_bomb_is_refused_by_ingest_files_and_thumbnails_in_bounded_memory(ws, tmp_path) -> None:
    bomb = tmp_path / "big.png"
    _png_bomb(bomb, 13_000)  # 169 MP: under the old 200 MP cap
    assert 13_000 ** 2 > MAX_PIXELS and bomb.stat().st_size < 1_000_000
    create_dataset(ws, "d", "c")
    report = ingest_files(ws, "d", [("big.png", bomb)])
    assert report.taken == [] and "too large" in report.skipped[0][1]
    with pytest.raises(NyxError, match="too large"):
        FileManager(ws).save_upload("", "big.png", open(bomb, "rb"))
    assert not (ws.root / "big.png").exists()
    planted = ws.root / "planted.png"
    os.link(bomb, planted)  # put there from a shell
    peak, proc = _peak_mb(
        "from pathlib import Path\nfrom nyx_core.workspace import Workspace\n"
        "from nyx_core.thumbnails import thumbnail, ThumbnailError\n"
        "ws = Workspace.open(sys.argv[1])\n"
        "try:\n    thumbnail(ws, Path(sys.argv[2]), 256)\nexcept ThumbnailError as e:\n    print('refused', e)\n",
        str(ws.root), str(planted))
    assert "refused" in proc.stdout and "too large" in proc.stdout
    assert peak < 150, f"thumbnail peaked at {peak:.0f} MB"
    with pytest.raises(ThumbnailError):
        thumbnail(ws, planted)


def test_large_allowed_image_thumbnail_stays_bounded(ws, tmp_path) -> None:
    img = tmp_path / "photo.png"
    _png_bomb(img, 5_000)  # 25 MP, allowed
    peak, proc = _peak_mb(
        "from pathlib import Path\nfrom nyx_core.workspace import Workspace\nfrom nyx_core.thumbnails import thumbnail\n"
        "print(thumbnail(Workspace.open(sys.argv[1]), Path(sys.argv[2]), 256))\n", str(ws.root), str(img))
    assert proc.returncode == 0, proc.stderr[-500:]
    assert peak < 200, f"thumbnail of a 25 MP PNG peaked at {peak:.0f} MB"


# Names that are not UTF-8 ----------------------------------------------------------------------------
@pytest.fixture
def bad_names(ws):
    root = bytes(ws.datasets)
    concept = os.path.join(root, b"cats", b"10_" + BAD)
    os.makedirs(concept)
    Image.new("RGB", (64, 64)).save(os.fsdecode(os.path.join(concept, BAD + b".png")))
    with open(os.path.join(concept, BAD + b".txt"), "w") as fh:
        fh.write("ohwx")
    os.makedirs(os.path.join(root, b"ds" + BAD, b"3_x"))
    with open(os.path.join(bytes(ws.root), BAD + b".txt"), "w") as fh:
        fh.write("x")
    return ws


def _nyx_strict(argv: list[str]) -> tuple[int, str, str]:
    """`nyx` in-process with a strict UTF-8 terminal (what crashed: UnicodeEncodeError on print)."""
    import contextlib

    from nyx_core.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    out.flush(), err.flush()
    return code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode()


def test_cli_lists_names_that_are_not_utf8_escaped(bad_names) -> None:
    for argv in (["files", "ls"], ["dataset", "ls"], ["dataset", "check", "cats"], ["files", "ls", "datasets/cats"]):
        code, out, err = _nyx_strict(argv)
        assert code in (0, 1) and "Traceback" not in err, (argv, err)
        if argv != ["dataset", "check", "cats"]:
            assert "\\x83e\\x83X\\x83g" in out, (argv, out)
    # the escaped name goes back in: delete it by what the listing showed
    code, _, err = _nyx_strict(["files", "rm", "\\x83e\\x83X\\x83g.txt"])
    assert code == 0, err
    assert not os.path.exists(os.path.join(bytes(bad_names.root), BAD + b".txt"))


def test_pages_show_names_that_are_not_utf8_escaped(bad_names) -> None:
    for page in ("files", "datasets"):
        at = AppTest.from_file(str(REPO_ROOT / "pages" / f"{page}.py"), default_timeout=60).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "datasets.py"), default_timeout=60).run()
    assert any("\\x83" in o for o in at.selectbox[0].options)  # the not-UTF-8 dataset is listed escaped
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]


# One line instead of a traceback ------------------------------------------------------------------
def test_empty_first_concept_is_refused_and_creates_nothing(ws) -> None:
    with pytest.raises(NyxError, match="concept name is empty"):
        create_dataset(ws, "x", "")
    assert not (ws.datasets / "x").exists()
    code, _, err = _nyx_strict(["dataset", "create", "y", "--concept", ""])
    assert code == 1 and err.count("\n") == 1 and "empty" in err
    assert not (ws.datasets / "y").exists()


def test_zip_entries_over_255_bytes_are_skipped_not_fatal(ws) -> None:
    create_dataset(ws, "d", "c")
    buf = io.BytesIO()
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, "PNG")
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a" * 300 + ".png", png.getvalue())
        zf.writestr("ok.png", png.getvalue())
    buf.seek(0)
    report = ingest_zip(ws, "d", buf)
    assert [Path(p).name for p in report.taken] == ["ok.png"]
    assert "longer than" in report.skipped[0][1]


def test_symlink_loops_are_one_line_everywhere(ws) -> None:
    os.symlink("loop2", ws.root / "loop1")
    os.symlink("loop1", ws.root / "loop2")
    (ws.root / "folder").mkdir()
    os.symlink("../loop1", ws.root / "folder" / "inner")
    fm = FileManager(ws)
    with pytest.raises(NyxError, match="loop"):
        fm.list_dir("loop1")
    assert b"".join(fm.iter_zip("folder"))  # the folder zip skips the looping link
    fm.delete(["loop1"])  # the link itself can go to the trash
    assert not os.path.lexists(ws.root / "loop1")


# Convert: a kill at the worst moment never loses an image --------------------------------------------
class _Killed(BaseException):
    pass


@pytest.mark.parametrize("fmt,kill_at", [("webp", "move_to_trash"), ("webp", "replace"), ("png", "replace")])
def test_a_kill_during_convert_never_loses_an_image(ws, monkeypatch, fmt, kill_at) -> None:
    create_dataset(ws, "d", "c")
    folder = scan_dataset(ws, "d").concepts[0].folder
    Image.new("RGB", (200, 150), "red").save(folder / "a.png")
    (folder / "a.txt").write_text("ohwx")
    if kill_at == "move_to_trash":
        import nyx_core.trash as trash_mod

        monkeypatch.setattr(trash_mod, "move_to_trash", lambda *a, **k: (_ for _ in ()).throw(_Killed()))
    else:
        monkeypatch.setattr(image_tools.os, "replace", lambda *a, **k: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        if fmt == "png":
            image_tools.downscale_images(ws, "d", 100)
        else:
            image_tools.convert_images(ws, "d", fmt)
    images = scan_dataset(ws, "d").concepts[0].images
    assert images, "the image is missing from the dataset"
    for img in images:
        with Image.open(img) as im:
            im.load()


# Stale staging from a killed import ----------------------------------------------------------------
def test_stale_staging_is_cleaned_on_the_next_import(ws) -> None:
    create_dataset(ws, "d", "c")
    state = scan_dataset(ws, "d").root / ".nyx"
    dead = state / "ingest-999999999-abcd1234"
    legacy = state / "ingest-0badcafe"
    live = state / f"ingest-{os.getppid()}-feedbeef"  # a running process's staging stays
    for d in (dead, legacy, live):
        d.mkdir(parents=True)
        (d / "000001.png").write_bytes(b"x" * 1000)
    old = time.time() - 7 * 3600
    os.utime(legacy, (old, old))
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, "PNG")
    ingest_files(ws, "d", [("x.png", png.getvalue())])
    assert not dead.exists() and not legacy.exists() and live.exists()
    assert clean_stale_staging(state) == []
