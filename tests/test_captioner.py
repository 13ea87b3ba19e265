"""The natural-language captioner job on a tiny randomly initialised BLIP (built here from a config,
no download), run in a Python that has torch + transformers (sd-scripts' venv): job path,
options (prefix/suffix/beams/max length/batch), append and skip modes, undo, and no torch in
the submitting process.

Opt-in, like the real sd-scripts tests (it needs sd-scripts' venv and ~60 s of CPU here):
``NYX_TEST_TORCH_PYTHON=/tmp/kohya-cpu/venv/bin/python python -m pytest tests/test_captioner.py``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nyx_core.datasets import caption_ops
from nyx_core.datasets.layout import scan_dataset
from nyx_core.datasets.manager import create_dataset
from nyx_core.jobs import JobManager, JobState
from nyx_core.settings import Settings
from nyx_core.tagging import jobs as tjobs
from nyx_core.tagging.options import CaptionOptions, TaggingError
from tests.tagging_fixtures import make_images

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[1]
TORCH_PY = Path(os.environ.get("NYX_TEST_TORCH_PYTHON", "") or "/nonexistent")


@pytest.fixture(scope="module")
def blip(tmp_path_factory) -> Path:
    if not TORCH_PY.is_file():
        pytest.skip("set NYX_TEST_TORCH_PYTHON to a Python with torch + transformers (sd-scripts' venv)")
    out = tmp_path_factory.mktemp("blip") / "tiny-blip"
    r = subprocess.run([str(TORCH_PY), str(REPO / "tests" / "captioner_fixtures.py"), str(out)],
                       capture_output=True, text=True, timeout=200)
    if r.returncode != 0 and ("No module named 'torch'" in r.stderr or "No module named 'transformers'" in r.stderr):
        pytest.skip(f"{TORCH_PY} lacks torch/transformers")
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def test_caption_job_options_modes_and_undo(ws, blip):
    shutil.copytree(blip, ws.models / "captioners" / "tiny-blip")
    create_dataset(ws, "ds", "ohwx", 3)
    make_images(ws.datasets / "ds" / "3_ohwx", 5)
    layout = scan_dataset(ws, "ds")
    first = layout.images()[0]
    caption_ops.write_caption(layout, first, "handmade")
    before = {p.name: caption_ops.read_caption(layout, p) for p in layout.images()}
    jm = JobManager(ws, Settings())
    opts = CaptionOptions(prefix="ohwx", suffix="film grain", max_length=10, beams=2, batch=2, mode="append",
                          device="cpu")
    job = tjobs.submit_caption(ws, "ds", "tiny-blip", opts, python=str(TORCH_PY))
    assert job.spec.kind == "caption" and job.spec.argv[0] == str(TORCH_PY) and job.spec.gpu_set == "none"
    job = jm.wait(job.id, 200)
    assert job.state == JobState.COMPLETED, job.log_path.read_text()[-3000:]
    st = jm.progress(job.id)
    assert st.task["done"] == 5 and st.result["written"] == 5
    caps = {p.name: caption_ops.read_caption(layout, p) for p in layout.images()}
    assert caps[first.name].startswith("handmade, ohwx, ") and caps[first.name].endswith(", film grain")
    others = [c for n, c in caps.items() if n != first.name]
    assert all(c.startswith("ohwx, ") and c.endswith(", film grain") and len(c) > len("ohwx, , film grain") for c in others)
    assert tjobs.review(job).changed == 5

    # skip: everything is captioned now, so the job finishes without loading torch or the model
    job2 = jm.wait(tjobs.submit_caption(ws, "ds", "tiny-blip", CaptionOptions(mode="skip"), python=str(TORCH_PY)).id, 120)
    assert job2.state == JobState.COMPLETED and jm.progress(job2.id).result["skipped"] == 5
    assert "captioner tiny-blip" not in job2.log_path.read_text()

    # the first run is still the last entry of the undo history (skip journalled nothing)
    assert caption_ops.undo_info(layout).op == tjobs.review(job).journal_op
    caption_ops.undo(ws, layout)
    assert {p.name: caption_ops.read_caption(layout, p) for p in layout.images()} == before
    assert "torch" not in sys.modules and "transformers" not in sys.modules


def test_caption_options_are_checked_before_a_job(ws):
    create_dataset(ws, "ds", "ohwx", 3)
    make_images(ws.datasets / "ds" / "3_ohwx", 1)
    with pytest.raises(TaggingError, match="beams"):
        tjobs.submit_caption(ws, "ds", "blip-large", CaptionOptions(beams=0), python=sys.executable)
    with pytest.raises(TaggingError, match="neither a known model"):
        tjobs.submit_caption(ws, "ds", "nope", CaptionOptions(), python=sys.executable)
    assert not JobManager(ws, Settings()).list()
