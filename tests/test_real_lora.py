"""Opt-in: the try-it job with the REAL sd-scripts gen_img.py on the random-weight SD1.5 that
../shared/tools/real_sdscripts_cpu.sh builds.

    NYX_REAL_GEN_IMG=/tmp/kohya-cpu python -m pytest -q tests/test_real_lora.py

The folder is the script's KOHYA_WORK (sd-scripts/, venv/, models/sd15-random, tokcache/, shim/).
sd-scripts runs under ``flock /tmp/kohya-run.lock`` (one heavy process at a time on a shared box).
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from PIL import Image

from nyx_core.jobs import JobManager, JobState
from nyx_core.lora.tryit import TryRequest, submit_try
from nyx_core.settings import Settings
from tests.lora_fixtures import DIM4

WORK = os.environ.get("NYX_REAL_GEN_IMG")
pytestmark = [pytest.mark.skipif(not WORK, reason="set NYX_REAL_GEN_IMG to a prepared KOHYA_WORK folder"),
              pytest.mark.timeout(1800)]


def test_real_gen_img_renders_the_strength_grid(ws, tmp_path):
    work = Path(WORK)
    sd, model = work / "sd-scripts", work / "models" / "sd15-random"
    if not (sd / "gen_img.py").is_file() or not model.is_dir() or not DIM4.is_file():
        pytest.skip("sd-scripts, the random SD1.5 or the shared LoRA is missing")
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nexec flock /tmp/kohya-run.lock {work / 'venv' / 'bin' / 'python'} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    out = ws.outputs / "realrun"
    out.mkdir()
    lora = out / "dim4.safetensors"
    lora.write_bytes(DIM4.read_bytes())
    # the base model comes from the run that wrote the LoRA (a user's --base must be in the workspace)
    run = ws.jobs / "20261130-000000-realrun"
    (run / "render").mkdir(parents=True)
    (run / "job.json").write_text(json.dumps({"name": "realrun", "kind": "train",
                                             "spec": {"argv": ["x"], "output_dir": str(out)}}))
    (run / "render" / "config.toml").write_text(f'[model]\npretrained_model_name_or_path = "{model}"\n')
    jm = JobManager(ws, Settings(sd_scripts_dir=sd, sd_scripts_python=wrapper))
    env = {"HF_HOME": str(work / "hf_home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": f"{sd}:{work / 'shim'}"}
    req = TryRequest(lora=str(lora), prompts=["nyx, solid colour"], strengths=[0.0, 1.0],
                     steps=2, width=64, height=64, sampler="euler_a",
                     extra_args=["--tokenizer_cache_dir", str(work / "tokcache")], env=env)
    job = jm.wait(submit_try(jm, req).id, 1700)
    log = job.log_path.read_text(errors="replace")
    assert job.state == JobState.COMPLETED, (job.status.reason, log[-4000:])
    res = jm.progress(job.id).result
    assert res["images"] == 2
    cells = sorted(Path(res["outdir"]).glob("f00/p00_s0*.png"))
    assert [c.name for c in cells] == ["p00_s00.png", "p00_s01.png"]
    a, b = (Image.open(c).convert("RGB") for c in cells)
    assert a.size == b.size == (64, 64)
    assert a.tobytes() != b.tobytes()  # strength 0 and 1 differ: the LoRA was applied
    assert "network mul: [1.0]" in log or "--am" in log
