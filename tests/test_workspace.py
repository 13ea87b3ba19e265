"""The security core: no user path may escape the workspace. Real folders and symlinks on disk,
and a property-based fuzzer over thousands of hostile paths."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nyx_core.errors import PathError
from nyx_core.workspace import LAYOUT, Workspace


@pytest.fixture
def rigged(tmp_path: Path) -> Workspace:
    """A workspace with an outside secret and symlinks pointing in and out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    ws = Workspace.open(tmp_path / "ws")
    (ws.datasets / "cats").mkdir()
    (ws.datasets / "cats" / "a.png").write_bytes(b"x")
    os.symlink(outside, ws.root / "escape_dir")
    os.symlink(outside / "secret.txt", ws.datasets / "escape_file")
    os.symlink("../../..", ws.datasets / "cats" / "up")
    os.symlink(ws.datasets / "cats", ws.root / "inside_link")
    return ws


def test_open_creates_layout(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "new")
    for name in LAYOUT.values():
        assert (ws.root / name).is_dir()


@pytest.mark.parametrize("good", ["", ".", "datasets", "datasets/cats", "datasets/cats/a.png", "./datasets//cats/",
                                  "inside_link/a.png", "datasets/new_file_not_yet_there.txt"])
def test_accepts_paths_inside(rigged: Workspace, good: str) -> None:
    p = rigged.resolve(good)
    assert p == rigged.root or rigged.root in p.parents


def test_absolute_inside_accepted(rigged: Workspace) -> None:
    assert rigged.resolve(str(rigged.datasets / "cats")) == rigged.datasets / "cats"


@pytest.mark.parametrize(
    "bad, word",
    [
        ("..", "'..'"),
        ("../outside/secret.txt", "'..'"),
        ("datasets/../../outside", "'..'"),
        ("/etc/passwd", "outside the workspace"),
        ("/", "outside the workspace"),
        ("escape_dir/secret.txt", "outside"),
        ("escape_dir", "outside"),
        ("datasets/escape_file", "outside"),
        ("datasets/cats/up/outside", "outside"),
        ("datasets\\..\\..\\x", "separator"),
        ("C:/Windows", "drive"),
        ("a\x00b", "NUL"),
        ("a\nb", "control"),
    ],
)
def test_refuses_hostile(rigged: Workspace, bad: str, word: str) -> None:
    with pytest.raises(PathError, match=word):
        rigged.resolve(bad)


def test_must_exist(rigged: Workspace) -> None:
    with pytest.raises(PathError, match="no such file"):
        rigged.resolve("datasets/nope", must_exist=True)


def test_relative_round_trip(rigged: Workspace) -> None:
    assert rigged.relative(rigged.resolve("datasets/cats")) == "datasets/cats"
    assert rigged.relative(rigged.root) == ""


_pieces = st.sampled_from(
    ["..", ".", "", "/", "\\", "escape_dir", "inside_link", "datasets", "cats", "up", "escape_file", "a.png",
     "%2e%2e", "…", "~", "C:", "\x00", "\n", "..\\", "../", "//", " ", "ä", "secret.txt", str(Path("/tmp"))]
)
hostile = st.one_of(
    st.lists(_pieces, max_size=8).map(lambda xs: "/".join(xs)),
    st.lists(_pieces, max_size=8).map("".join),
    st.text(max_size=40),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=hostile)
def test_fuzz_never_escapes(rigged: Workspace, path: str) -> None:
    """Whatever the input: either a PathError, or a real path inside the root."""
    try:
        resolved = rigged.resolve(path)
    except PathError:
        return
    real = Path(os.path.realpath(resolved))
    assert real == rigged.root or rigged.root in real.parents, (path, real)
    assert "outside" not in real.parts
