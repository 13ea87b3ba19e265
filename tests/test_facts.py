"""Facts stated once and true: the Python minimum, reads that create nothing, no hidden deprecations."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _minimum() -> tuple[int, int]:
    spec = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    m = re.fullmatch(r">=\s*3\.(\d+)", spec)
    assert m, f"requires-python should be a plain minimum, not {spec!r}"
    return 3, int(m.group(1))


def test_python_minimum_is_the_truth():
    """The CLI imports tomllib (3.11) and the pinned packages need 3.11: the minimum says so, and
    every source file parses with the minimum's grammar (CI runs the suite on that minimum)."""
    assert _minimum() == (3, 11)
    assert sys.version_info[:2] >= _minimum()
    for folder in ("nyx_core", "nyx_ui", "pages", "nyx_dev", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=_minimum())
    ast.parse((REPO / "app.py").read_text(encoding="utf-8"), feature_version=_minimum())


def test_nyx_info_creates_no_folders(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NYX_WORKSPACE"}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-m", "nyx_core", "info"], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "not created yet" in out.stdout
    assert list(tmp_path.iterdir()) == []  # a read: no ./workspace appeared


def test_no_blanket_deprecation_filter_and_no_deprecated_rmtree():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "ignore::DeprecationWarning" not in cfg.get("filterwarnings", [])
    for path in (REPO / "nyx_core").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "onerror=" in line and "rmtree" in line:
                # allowed only behind the 3.11 branch
                assert "sys.version_info" in path.read_text(encoding="utf-8"), path
