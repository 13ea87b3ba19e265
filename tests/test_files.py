"""The file manager on real files: listing, search, operations, clashes, uploads, zips, text."""
from __future__ import annotations

import io
import os
import zipfile

import pytest

from nyx_core.errors import NyxError, PathError
from nyx_core.files import (ClashError, FileManager, FileOpError, NotTextError, TextValidationError,
                            check_name)
from nyx_core.trash import list_trash, restore


@pytest.fixture
def fm(ws) -> FileManager:
    return FileManager(ws)


def _write(path, data: bytes | str = b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


# Browse ---------------------------------------------------------------------------------
def test_list_dir_entries_kinds_and_sorting(ws, fm) -> None:
    _write(ws.datasets / "b.png", b"12345")
    _write(ws.datasets / "A.toml", "x = 1")
    _write(ws.datasets / "c.safetensors", b"1")
    (ws.datasets / "sub").mkdir()
    os.utime(ws.datasets / "b.png", (1000, 1000))
    entries = fm.list_dir("datasets")
    assert [e.name for e in entries] == ["sub", "A.toml", "b.png", "c.safetensors"]
    by = {e.name: e for e in entries}
    assert by["b.png"].kind == "image" and by["b.png"].size == 5 and by["b.png"].path == "datasets/b.png"
    assert by["A.toml"].kind == "config" and by["c.safetensors"].kind == "model"
    assert by["sub"].is_dir and by["sub"].kind == "folder"
    assert by["b.png"].mtime == 1000
    assert [e.name for e in fm.list_dir("datasets", "size", descending=True)][0] == "sub"
    assert [e.name for e in fm.list_dir("datasets", "size", descending=True)][1] == "b.png"
    assert [e.name for e in fm.list_dir("datasets", "mtime")][1] == "b.png"


def test_root_hides_trash_and_cache(ws, fm) -> None:
    names = {e.name for e in fm.list_dir("")}
    assert ".trash" not in names and ".cache" not in names and "datasets" in names
    assert ".trash" in {e.name for e in fm.list_dir("", include_internal=True)}


def test_list_refuses_escape_and_files(ws, fm, tmp_path) -> None:
    with pytest.raises(PathError):
        fm.list_dir("../")
    _write(ws.root / "f.txt")
    with pytest.raises(FileOpError):
        fm.list_dir("f.txt")
    (ws.root / "out").symlink_to(tmp_path)
    with pytest.raises(PathError):
        fm.list_dir("out")


def test_search_recursive_capped_skips_trash(ws, fm) -> None:
    for i in range(30):
        _write(ws.datasets / f"set{i % 3}" / f"cat_{i}.png")
    _write(ws.root / "notes" / "Cat.txt")
    _write(ws.cache / "cat_cached.jpg")
    fm.delete(["datasets/set0/cat_0.png"])
    res = fm.search("cat")
    assert not res.truncated and len(res.hits) == 30
    assert all(".trash" not in h.path and ".cache" not in h.path for h in res.hits)
    hit = next(h for h in res.hits if h.name == "Cat.txt")
    assert hit.folder == "notes" and hit.path == "notes/Cat.txt"
    capped = fm.search("cat", limit=5)
    assert capped.truncated and len(capped.hits) == 5
    assert {h.name for h in fm.search("set1", root="datasets").hits} == {"set1"}
    assert [h.name for h in fm.search("cat_1?.png", root="datasets/set1").hits] == \
        ["cat_10.png", "cat_13.png", "cat_16.png", "cat_19.png"]
    assert fm.search("").hits == []


# Change ---------------------------------------------------------------------------------
def test_mkdir_rename_and_names(ws, fm) -> None:
    d = fm.mkdir("datasets", "new set")
    assert d.is_dir()
    with pytest.raises(ClashError):
        fm.mkdir("datasets", "new set")
    for bad in ("a/b", "..", ".", "", "a\\b", "a\x00b", "x" * 300):
        with pytest.raises(FileOpError):
            check_name(bad)
    _write(d / "img.png", b"data")
    new = fm.rename("datasets/new set/img.png", "photo.png")
    assert new.read_bytes() == b"data" and not (d / "img.png").exists()
    _write(d / "other.png")
    with pytest.raises(ClashError):
        fm.rename("datasets/new set/other.png", "photo.png")
    with pytest.raises(FileOpError):
        fm.rename("datasets/new set/other.png", "../escape.png")
    for protected in ("", "datasets", ".trash"):
        with pytest.raises(FileOpError):
            fm.rename(protected, "zzz")


def test_move_and_copy_files_and_folders(ws, fm) -> None:
    _write(ws.root / "src" / "deep" / "a.txt", "A")
    _write(ws.root / "src" / "b.txt", "B")
    fm.mkdir("", "dst")
    copied = fm.copy(["src"], "dst")
    assert (ws.root / "dst" / "src" / "deep" / "a.txt").read_text() == "A"
    assert copied == [ws.root / "dst" / "src"] and (ws.root / "src" / "b.txt").exists()
    # Copy into the same folder keeps both.
    again = fm.copy(["src/b.txt"], "src")
    assert again[0].name == "b (copy).txt" and again[0].read_text() == "B"
    with pytest.raises(ClashError):
        fm.copy(["src/b.txt"], "dst/src")
    moved = fm.move(["src/b.txt", "src/deep"], "dst")
    assert {p.name for p in moved} == {"b.txt", "deep"} and not (ws.root / "src" / "deep").exists()
    with pytest.raises(FileOpError, match="inside itself"):
        fm.move(["dst"], "dst/src")
    with pytest.raises(FileOpError):
        fm.move(["datasets"], "dst")
    with pytest.raises(FileOpError):
        fm.copy(["src"], ".trash")


def test_move_clash_policies(ws, fm) -> None:
    _write(ws.root / "a" / "f.txt", "new")
    _write(ws.root / "b" / "f.txt", "old")
    with pytest.raises(ClashError):
        fm.move(["a/f.txt"], "b")
    assert fm.move(["a/f.txt"], "b", on_clash="skip") == []
    assert fm.move(["a/f.txt"], "b", on_clash="keep_both")[0].name == "f (1).txt"
    _write(ws.root / "a" / "f.txt", "newer")
    fm.move(["a/f.txt"], "b", on_clash="replace")
    assert (ws.root / "b" / "f.txt").read_text() == "newer"
    assert [e.original for e in list_trash(ws)] == ["b/f.txt"]  # the replaced one is restorable


def test_delete_goes_to_trash_and_restores(ws, fm) -> None:
    _write(ws.root / "d" / "x.bin", os.urandom(1000))
    before = (ws.root / "d" / "x.bin").read_bytes()
    entries = fm.delete(["d"])
    assert not (ws.root / "d").exists() and entries[0].original == "d"
    restore(ws, entries[0].id)
    assert (ws.root / "d" / "x.bin").read_bytes() == before
    for protected in ("", "models", ".trash", f".trash/{entries[0].id}"):
        with pytest.raises(NyxError):
            fm.delete([protected])


def test_symlink_rename_acts_on_link(ws, fm, tmp_path) -> None:
    _write(ws.root / "real.txt", "r")
    (ws.root / "ln").symlink_to(ws.root / "real.txt")
    fm.rename("ln", "ln2")
    assert (ws.root / "ln2").is_symlink() and (ws.root / "real.txt").exists()
    (ws.root / "bad").symlink_to(tmp_path)
    with pytest.raises(PathError):
        fm.delete(["bad/x"])


# Upload / download ------------------------------------------------------------------------
class _Chunky(io.BytesIO):
    """Records each read size: an upload must be read in chunks, not all at once."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, n=-1):  # noqa: ANN001
        self.reads.append(n)
        return super().read(n)


def test_upload_streams_in_chunks_and_clashes(ws, fm) -> None:
    data = os.urandom(300_000)  # not an image: images are checked like an import (test_hostile_input)
    src = _Chunky(data)
    out = fm.save_upload("datasets", "blob.bin", src, chunk=64 * 1024)
    assert out.read_bytes() == data and all(0 < n <= 64 * 1024 for n in src.reads)
    with pytest.raises(ClashError) as err:
        fm.save_upload("datasets", "blob.bin", io.BytesIO(b"other"))
    assert err.value.name == "blob.bin" and err.value.folder == "datasets"
    assert fm.save_upload("datasets", "blob.bin", io.BytesIO(b"other"), on_clash="skip") is None
    both = fm.save_upload("datasets", "blob.bin", io.BytesIO(b"other"), on_clash="keep_both")
    assert both.name == "blob (1).bin" and both.read_bytes() == b"other"
    fm.save_upload("datasets", "blob.bin", io.BytesIO(b"replaced"), on_clash="replace")
    assert out.read_bytes() == b"replaced" and list_trash(ws)[0].original == "datasets/blob.bin"
    assert not [p for p in ws.datasets.iterdir() if p.name.endswith(".part")]
    # A path-ish name keeps its last part only; a hostile one cannot escape.
    assert fm.save_upload("datasets", "..\\..\\evil.txt", io.BytesIO(b"e")).parent == ws.datasets
    with pytest.raises(PathError):
        fm.save_upload("../", "x.txt", io.BytesIO(b"e"))


def test_failed_upload_leaves_nothing(ws, fm) -> None:
    class Broken(io.BytesIO):
        def read(self, n=-1):  # noqa: ANN001
            raise OSError("connection reset")

    with pytest.raises(OSError):
        fm.save_upload("datasets", "x.png", Broken())
    assert list(ws.datasets.iterdir()) == []


def test_zip_folder_contents_streamed(ws, fm, tmp_path) -> None:
    big = os.urandom(3 * 1024 * 1024)
    _write(ws.outputs / "run1" / "lora.safetensors", big)
    _write(ws.outputs / "run1" / "logs" / "log.txt", "hello\n" * 1000)
    (ws.outputs / "run1" / "empty").mkdir()
    (ws.outputs / "run1" / "leak").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "secret.txt").write_text("secret")
    chunks = list(fm.iter_zip("outputs/run1", chunk=256 * 1024))
    assert len(chunks) > 5 and max(len(c) for c in chunks) < 1024 * 1024
    zpath = tmp_path / "out.zip"
    zpath.write_bytes(b"".join(chunks))
    with zipfile.ZipFile(zpath) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert names == {"run1/lora.safetensors", "run1/logs/log.txt", "run1/empty/"}
        assert zf.read("run1/lora.safetensors") == big
        assert zf.read("run1/logs/log.txt") == b"hello\n" * 1000
    f = fm.zip_to_file("outputs/run1")
    assert f.parent == ws.cache / "downloads" and zipfile.ZipFile(f).read("run1/lora.safetensors") == big
    # two sessions zipping a folder of the same name never share (and overwrite) one file
    assert fm.zip_to_file("outputs/run1") != f and f.is_file()
    with pytest.raises(FileOpError):
        fm.open_file("outputs/run1")
    assert fm.open_file("outputs/run1/logs/log.txt").is_file()


# Text -----------------------------------------------------------------------------------
def test_read_text_refuses_binary_and_huge(ws, fm) -> None:
    _write(ws.root / "a.txt", "héllo\r\nworld")
    assert fm.read_text("a.txt") == "héllo\r\nworld"
    _write(ws.root / "b.txt", b"abc\x00def")
    with pytest.raises(NotTextError, match="binary"):
        fm.read_text("b.txt")
    _write(ws.root / "c.txt", b"a" * (2 * 1024 * 1024 + 1))
    with pytest.raises(NotTextError, match="MB"):
        fm.read_text("c.txt")
    _write(ws.root / "d.txt", b"\xff\xfe\xfa")
    with pytest.raises(NotTextError):
        fm.read_text("d.txt")


@pytest.mark.parametrize("name,good,bad,line", [
    ("c.toml", 'a = 1\n[b]\nc = "x"\n', 'a = 1\n[b]\nc = = "x"\n', 3),
    ("c.json", '{"a": [1, 2]}', '{\n  "a": 1,\n  "b": \n}', 4),
    ("c.yaml", "a: 1\nb: [1, 2]\n", "a: 1\nb: [1, 2\nc: 3\n", 3),
    ("c.yml", "a: 1\n", "a: 1\n  b: 2\n", 2),
])
def test_save_text_validates_before_saving(ws, fm, name, good, bad, line) -> None:
    fm.save_text(f"configs/{name}", good)
    assert (ws.configs / name).read_text() == good
    with pytest.raises(TextValidationError) as err:
        fm.save_text(f"configs/{name}", bad)
    assert err.value.line == line and f"line {line}" in str(err.value) and "Not saved" in str(err.value)
    assert (ws.configs / name).read_text() == good  # the invalid text was NOT saved


def test_save_text_plain_and_refusals(ws, fm) -> None:
    fm.save_text("notes.txt", "anything = = goes")
    assert (ws.root / "notes.txt").read_text() == "anything = = goes"
    with pytest.raises(FileOpError):
        fm.save_text("datasets", "x")
    with pytest.raises(FileOpError):
        fm.save_text("nope/x.txt", "x")
    with pytest.raises(PathError):
        fm.save_text("../x.txt", "x")


def test_hostile_names_never_escape(tmp_path_factory) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from nyx_core.workspace import Workspace

    ws = Workspace.open(tmp_path_factory.mktemp("fuzz") / "ws")
    fm = FileManager(ws)
    (ws.root / "box").mkdir()
    outside = ws.root.parent
    before = set(outside.iterdir())
    alphabet = st.sampled_from(list("ab./\\\x00\n ~:*") + ["..", "%2e%2e", "/etc", "C:"])

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(alphabet, min_size=1, max_size=8).map("".join))
    def check(name: str) -> None:
        for op in (lambda: fm.mkdir("box", name), lambda: fm.save_upload("box", name, io.BytesIO(b"z"),
                                                                          on_clash="keep_both")):
            try:
                made = op()
            except (FileOpError, PathError):
                continue
            assert made.parent == ws.root / "box", (name, made)
        for p in list((ws.root / "box").iterdir()):
            fm.delete([f"box/{p.name}"])

    check()
    assert set(outside.iterdir()) == before
