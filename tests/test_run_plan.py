"""One run plan computed once, one model-family table, and config/ never importing the renderer."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from nyx_core.buckets import min_reso_steps_for
from nyx_core.config import steps_for, validate
from nyx_core.config.families import FAMILIES
from nyx_core.config.plan import plan
from nyx_core.kohya import catalog
from nyx_core.kohya.render import render
from nyx_core.settings import Settings
from tests.test_config_support import ready_config

ROOT = Path(__file__).resolve().parent.parent


def test_validate_and_render_read_the_dataset_once(ws, monkeypatch):
    import nyx_core.datasets.layout as layout

    cfg = ready_config(ws, "sdxl")
    calls = []
    real = layout.scan_dataset
    monkeypatch.setattr(layout, "scan_dataset", lambda *a, **k: calls.append(a) or real(*a, **k))
    run_plan = plan(cfg, ws)
    assert not [p for p in validate(run_plan, ws) if p.level == "error"]
    rendered = render(cfg, ws=ws, settings=Settings(), render_dir=ws.jobs / "r", logging_dir=ws.jobs / "tb",
                      plan=run_plan)
    assert len(calls) == 1
    assert run_plan.steps.total_optimization_steps == steps_for(cfg, ws).total_optimization_steps
    assert [s["image_dir"] for s in rendered.dataset["datasets"][0]["subsets"]] == [
        str(c.image_dir) for c in run_plan.concepts]


def test_a_plan_keeps_problems_instead_of_raising(ws):
    cfg = ready_config(ws)
    cfg.dataset.name = "nope"
    p = plan(cfg, ws)
    assert p.dataset_problem and p.steps is None
    with pytest.raises(Exception, match="dataset.name"):
        p.require_concepts()
    assert any(x.field == "dataset.name" and x.level == "error" for x in validate(p, ws))


def test_config_package_never_imports_the_renderer():
    for path in sorted((ROOT / "nyx_core" / "config").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module != "nyx_core.kohya.render", path.name
                assert not (node.module == "nyx_core.kohya" and any(a.name == "render" for a in node.names)), path.name


@pytest.mark.parametrize("module", ["nyx_core.kohya.netargs", "nyx_core.kohya.render", "nyx_core.kohya.catalog",
                                    "nyx_core.config.validate", "nyx_core.config.plan", "nyx_core.config.families",
                                    "nyx_core.config.importers"])
def test_every_module_imports_first_in_a_fresh_interpreter(module):
    out = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_one_family_table_feeds_every_view():
    import importlib

    from nyx_core.config.enums import FAMILY_LABELS
    from nyx_core.config.model import FAMILY_DEFAULTS

    for fam, spec in FAMILIES.items():
        assert catalog.script_for(fam) == spec.script and catalog.BUCKET_STEP_MULTIPLE[fam] == spec.bucket_multiple
        assert catalog.REQUIRED_ENCODERS[fam] == spec.encoders and FAMILY_LABELS[fam] == spec.label
        assert FAMILY_DEFAULTS[fam] is spec.defaults
        assert min_reso_steps_for(fam.value) == spec.bucket_multiple
        assert spec.defaults["dataset"]["resolution"] == spec.resolution
    assert FAMILIES[next(iter(FAMILIES))].script == "train_network.py"
    # no page keeps its own copy
    for page in ("pages/calculator.py", "nyx_ui/models_view.py", "nyx_ui/config_form.py"):
        text = (ROOT / page).read_text(encoding="utf-8")
        assert "FAMILIES" in text and '"SD1.5": (512' not in text and '"sd15": "SD 1.5' not in text
    assert importlib.import_module("nyx_core.config.presets")


def test_the_training_page_reads_the_dataset_once_per_rerun(ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import nyx_core.datasets.layout as layout
    from nyx_core.config import save_config

    save_config(ready_config(ws, "sd15"), ws.configs / "one.toml")
    import traceback

    calls = []
    real = layout.scan_dataset

    def counting(*a, **k):  # noqa: ANN202
        # scans made for the step count, pre-flight and the preview (the form's own dataset
        # pickers list folders separately)
        if not any("nyx_ui/config_form.py" in f.filename or "list_datasets" == f.name
                   for f in traceback.extract_stack()):
            calls.append(a)
        return real(*a, **k)

    monkeypatch.setattr(layout, "scan_dataset", counting)
    at = AppTest.from_file(str(ROOT / "pages" / "training.py"), default_timeout=60).run()
    assert not at.exception
    assert "Training steps" in [m.label for m in at.metric]
    assert len(calls) == 1
