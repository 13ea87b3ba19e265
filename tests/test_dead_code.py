"""The library ships no test double and no dead code (issue 8, "Facts in one place")."""
from __future__ import annotations

import importlib
import tomllib

import pytest

from tests.conftest import REPO_ROOT


def test_the_stand_in_is_a_dev_module_outside_the_shipped_packages():
    assert not (REPO_ROOT / "nyx_core" / "jobs" / "standin.py").exists()
    assert importlib.import_module("nyx_dev.standin").make_fake_sd_scripts
    shipped = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert not any(p.startswith("nyx_dev") for p in shipped["include"])
    for path in (REPO_ROOT / "nyx_core").rglob("*.py"):
        assert "nyx_dev" not in path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize("module, name", [
    ("nyx_core.jobs.tbevents", "read_scalars"),
    ("nyx_core.kohya.catalog", "pinned_commit"),
])
def test_removed_dead_functions(module, name):
    assert not hasattr(importlib.import_module(module), name)


def test_removed_dead_methods():
    from nyx_core.datasets.ingest import IngestReport
    from nyx_core.jobs.queue import JobQueue

    assert not hasattr(JobQueue, "pop_first") and not hasattr(IngestReport, "merge")


def test_validation_filters_only_step_warnings_that_exist():
    """validate.py skipped a 'default_steps' warning that steps.py never emits."""
    src = (REPO_ROOT / "nyx_core" / "config" / "validate.py").read_text()
    assert '"default_steps"' not in src
    assert '"epochs_override_steps"' in (REPO_ROOT / "nyx_core" / "steps.py").read_text()
