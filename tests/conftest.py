"""Fixtures every test can use: an isolated workspace and the shared sd-scripts facts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nyx_core.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_KOHYA = REPO_ROOT.parent / "shared" / "kohya"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A fresh workspace in tmp_path, also exported as NYX_WORKSPACE for pages and subprocesses."""
    root = tmp_path / "workspace"
    monkeypatch.setenv("NYX_WORKSPACE", str(root))
    for var in ("NYX_PASSWORD", "HF_TOKEN", "CIVITAI_TOKEN", "NYX_SD_SCRIPTS", "NYX_SD_SCRIPTS_PYTHON"):
        monkeypatch.delenv(var, raising=False)
    return Workspace.open(root)


@pytest.fixture(scope="session")
def kohya_facts() -> Path:
    """../shared/kohya (read-only facts from real sd-scripts). Skips where absent, e.g. some CI."""
    if not SHARED_KOHYA.is_dir():
        pytest.skip("../shared/kohya is absent")
    return SHARED_KOHYA


def load_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))
