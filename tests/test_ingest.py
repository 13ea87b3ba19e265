"""Ingest from uploads, zips and folders: real images, real zips, hostile zips refused."""
from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from nyx_core.datasets.ingest import (
    IngestError,
    IngestLimits,
    ZipRefused,
    check_image,
    hostile_reason,
    ingest_files,
    ingest_folder,
    ingest_path,
    ingest_zip,
)
from nyx_core.datasets.layout import scan_dataset
from nyx_core.datasets.manager import create_dataset


def png_bytes(size=(32, 24), color="red", fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def noisy_png(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, "PNG")
    return buf.getvalue()


def make_zip(path: Path, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def ds(ws):
    create_dataset(ws, "cats", "ohwx cat", 10)
    return ws


def test_check_image_accepts_and_rejects(tmp_path):
    good = tmp_path / "g.png"
    good.write_bytes(png_bytes())
    assert check_image(good) is None
    jpg = tmp_path / "g.jpg"
    jpg.write_bytes(png_bytes(fmt="JPEG"))
    assert check_image(jpg) is None
    data = noisy_png((128, 128))
    trunc = tmp_path / "t.png"
    trunc.write_bytes(data[: len(data) // 2])
    assert "corrupt" in check_image(trunc)
    text = tmp_path / "x.png"
    text.write_text("hello")
    assert check_image(text) == "not an image"
    gif = tmp_path / "a.png"
    Image.new("P", (4, 4)).save(gif, "GIF")
    assert "not supported" in check_image(gif)


def test_ingest_files_with_captions_duplicates_and_corrupt(ds):
    corrupt = noisy_png((128, 128))
    files = [
        ("a.png", io.BytesIO(png_bytes())),
        ("a.txt", io.BytesIO(b"ohwx cat, sitting")),
        ("b.jpg", png_bytes(fmt="JPEG")),
        ("broken.png", corrupt[: len(corrupt) // 2]),
        ("fake.webp", b"not really"),
        ("notes.pdf", b"%PDF"),
    ]
    seen = []
    report = ingest_files(ds, "cats", files, progress=lambda d, t, n: seen.append((d, t)))
    assert sorted(report.taken) == ["10_ohwx cat/a.png", "10_ohwx cat/b.jpg"]
    assert report.captions == 1
    skipped = dict(report.skipped)
    assert "corrupt" in skipped["broken.png"] and skipped["fake.webp"] == "not an image"
    assert "notes.pdf" in skipped
    folder = ds.datasets / "cats" / "10_ohwx cat"
    assert (folder / "a.txt").read_text() == "ohwx cat, sitting"
    assert seen and seen[-1][0] == seen[-1][1]
    # the same names again: suffixed, never overwritten, caption follows the new stem
    report = ingest_files(ds, "cats", [("a.png", png_bytes(color="blue")), ("a.txt", b"second")])
    assert report.taken == ["10_ohwx cat/a_1.png"]
    assert report.renamed == [("a.png", "10_ohwx cat/a_1.png")]
    assert (folder / "a_1.txt").read_text() == "second"
    assert (folder / "a.txt").read_text() == "ohwx cat, sitting"
    assert Image.open(folder / "a.png").getpixel((0, 0)) == (255, 0, 0)
    # no staging leftovers
    assert not list((ds.datasets / "cats").glob(".nyx/ingest-*"))


def test_ingest_zip_concepts_captions_and_subfolders(ds, tmp_path):
    z = make_zip(tmp_path / "set.zip", {
        "wrapper/5_dog/d1.png": png_bytes(),
        "wrapper/5_dog/d1.caption": b"a dog",
        "wrapper/10_ohwx cat/c1.png": png_bytes(),
        "wrapper/3_ohwx cat/c1.png": png_bytes(color="green"),  # same concept, other repeats -> dataset's folder
        "loose.png": png_bytes(),
        "loose.txt": b"loose caption",
        "sub/loose.png": png_bytes(color="blue"),
        "orphan.txt": b"nobody",
        "__MACOSX/._loose.png": b"junk",
        "readme.md": b"hi",
        "wrapper/": b"",
    })
    report = ingest_zip(ds, "cats", z, concept="ohwx cat")
    layout = scan_dataset(ds, "cats")
    assert [(c.name, c.repeats) for c in layout.concepts] == [("ohwx cat", 10), ("dog", 5)]
    assert sorted(report.taken) == ["10_ohwx cat/c1.png", "10_ohwx cat/c1_1.png", "10_ohwx cat/loose.png",
                                    "10_ohwx cat/loose_1.png", "5_dog/d1.png"]
    assert (ds.datasets / "cats" / "5_dog" / "d1.txt").read_text() == "a dog"  # .caption -> dataset's .txt
    assert (ds.datasets / "cats" / "10_ohwx cat" / "loose.txt").read_text() == "loose caption"
    why = {k.split(":", 1)[1]: v for k, v in report.skipped}
    assert why["orphan.txt"] == "caption without a matching image"
    assert why["__MACOSX/._loose.png"] == "macOS metadata"
    assert "readme.md" in why


def test_zip_loose_images_need_a_concept(ws, tmp_path):
    create_dataset(ws, "two", "a", 1)
    from nyx_core.datasets.manager import add_concept

    add_concept(ws, "two", "b", 2)
    z = make_zip(tmp_path / "l.zip", {"x.png": png_bytes()})
    with pytest.raises(IngestError, match="choose the concept"):
        ingest_zip(ws, "two", z)
    assert ingest_zip(ws, "two", z, concept="b").taken == ["2_b/x.png"]


def _symlink_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.png", png_bytes())
        info = zipfile.ZipInfo("link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return path


def _bomb_zip(path: Path) -> Path:
    # 20 MiB of zeros in bzip2 packs to well under 2 KiB: a ratio far beyond 10,000:1.
    make_zip(path, {"ok.png": png_bytes(), "bomb.png": bytes(20 * 2**20)}, compression=zipfile.ZIP_BZIP2)
    info = zipfile.ZipFile(path).getinfo("bomb.png")
    assert info.file_size / info.compress_size > 10_000
    return path


@pytest.mark.parametrize("kind, match", [
    ("dotdot", "climbs out"),
    ("absolute", "absolute"),
    ("drive", "drive letter"),
    ("backslash", "backslash"),
    ("symlink", "symbolic link"),
    ("bomb", "zip bomb"),
])
def test_hostile_zips_refused_nothing_written(ds, tmp_path, kind, match):
    z = tmp_path / f"{kind}.zip"
    if kind == "symlink":
        _symlink_zip(z)
    elif kind == "bomb":
        _bomb_zip(z)
    else:
        name = {"dotdot": "../../evil.png", "absolute": "/tmp/evil.png", "drive": "C:/evil.png",
                "backslash": "..\\evil.png"}[kind]
        make_zip(z, {"ok.png": png_bytes(), name: png_bytes()})
    before = snapshot(tmp_path)
    with pytest.raises(ZipRefused, match=match):
        ingest_zip(ds, "cats", z)
    after = snapshot(tmp_path)
    # nothing new anywhere: not outside, not in the dataset (the empty .nyx state dir aside)
    assert {p for p in after - before if not p.endswith(".nyx")} == set()
    assert scan_dataset(ds, "cats").image_count == 0
    assert not Path("/tmp/evil.png").exists() or kind != "absolute"


def test_hostile_zip_among_uploads_is_skipped_others_kept(ds, tmp_path):
    z = make_zip(tmp_path / "e.zip", {"../evil.png": png_bytes()})
    report = ingest_files(ds, "cats", [("e.zip", z.read_bytes()), ("good.png", png_bytes())])
    assert report.taken == ["10_ohwx cat/good.png"]
    assert "climbs out" in dict(report.skipped)["e.zip"]


def test_zip_caps_entries_and_total(ds, tmp_path):
    z = make_zip(tmp_path / "many.zip", {f"{i}.png": png_bytes() for i in range(5)})
    with pytest.raises(ZipRefused, match="entries"):
        ingest_zip(ds, "cats", z, limits=IngestLimits(max_entries=4))
    with pytest.raises(ZipRefused, match="limit"):
        ingest_zip(ds, "cats", z, limits=IngestLimits(max_total_bytes=100))
    assert scan_dataset(ds, "cats").image_count == 0


def test_not_a_zip(ds, tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK nope")
    with pytest.raises(ZipRefused, match="not a readable zip"):
        ingest_zip(ds, "cats", bad)


def test_failed_commit_leaves_nothing(ds, monkeypatch):
    from nyx_core.datasets import ingest as mod

    real = mod._move_no_clobber
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk on fire")
        return real(src, dst)

    monkeypatch.setattr(mod, "_move_no_clobber", flaky)
    with pytest.raises(OSError):
        ingest_files(ds, "cats", [("a.png", png_bytes()), ("a.txt", b"x"), ("b.png", png_bytes())])
    monkeypatch.setattr(mod, "_move_no_clobber", real)
    root = ds.datasets / "cats"
    assert sorted(p.name for p in (root / "10_ohwx cat").iterdir()) == []
    assert not list(root.glob(".nyx/ingest-*"))


def test_ingest_folder_and_path(ds):
    src = ds.root / "incoming"
    (src / "2_style").mkdir(parents=True)
    (src / "2_style" / "s.png").write_bytes(png_bytes())
    (src / "2_style" / "s.txt").write_text("style")
    (src / "x.png").write_bytes(png_bytes())
    (src / ".DS_Store").write_bytes(b"x")
    os.symlink("/etc/hostname", src / "link.png")
    report = ingest_path(ds, "cats", "incoming")
    assert sorted(report.taken) == ["10_ohwx cat/x.png", "2_style/s.png"]
    assert "symbolic link" in dict(report.skipped)["incoming/link.png"]
    assert (src / "x.png").exists()  # copied, not moved
    with pytest.raises(IngestError, match="overlaps"):
        ingest_folder(ds, "cats", "datasets/cats/10_ohwx cat")


def test_hostile_reason():
    assert hostile_reason("a/b.png") is None
    assert hostile_reason("a/../../b") and hostile_reason("\\x") and hostile_reason("/x") and hostile_reason("D:x")


def test_name_taken_between_listing_and_move_is_not_overwritten(ds, monkeypatch):
    """Another ingest creating the same name after we listed the folder: we take the next name."""
    from nyx_core.datasets import ingest as mod

    folder = ds.datasets / "cats" / "10_ohwx cat"
    real = mod._move_no_clobber

    def racing(src, dst):
        if dst.name == "a.png" and not dst.exists():
            dst.write_bytes(b"someone else's")
        return real(src, dst)

    monkeypatch.setattr(mod, "_move_no_clobber", racing)
    report = ingest_files(ds, "cats", [("a.png", png_bytes())])
    assert report.taken == ["10_ohwx cat/a_1.png"]
    assert (folder / "a.png").read_bytes() == b"someone else's"
