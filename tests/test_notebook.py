"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel against the stand-in
trainer (a fake sd-scripts folder), so it never rots."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        out.append(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", "")))
    return "".join(out)


@pytest.mark.timeout(180)
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nyx_dev.standin import make_fake_sd_scripts
    from tests.test_config_support import fake_checkpoint

    ws = tmp_path / "workspace"
    fake_checkpoint(ws / "models" / "sd15.safetensors", "sd15")
    for var in ("NYX_PASSWORD", "HF_TOKEN", "CIVITAI_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    # the kernel inherits these: this checkout's nyx_core, and sd-scripts = the stand-in
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("NYX_WORKSPACE", str(ws))
    monkeypatch.setenv("NYX_SD_SCRIPTS", str(make_fake_sd_scripts(tmp_path / "sd-scripts")))
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    monkeypatch.setenv("NYX_LAUNCHER", "python")
    monkeypatch.setenv("NYX_STANDIN_STEP_TIME", "0.05")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "workspace: " + str(ws) in _text(code[0])
    assert "optimisation steps" in _text(code[3])
    assert "finished: completed" in _text(code[4])
    assert "loss points, last" in _text(code[5]) and "0 loss points" not in _text(code[5])
    assert "looks like: lora" in _text(code[6])
    # 6. Try it: the grid job (gen_img.py played by the stand-in) completes and the grid is shown
    assert "try: completed" in _text(code[7]) and "grid.png" in _text(code[7])
    assert any("image/png" in o.get("data", {}) for o in code[7].get("outputs", []))
    # only the library's public names: no test helpers, no stand-in, no private modules
    source = "\n".join(c.source for c in code)
    assert "nyx_dev" not in source and "tests" not in source and "._" not in source
