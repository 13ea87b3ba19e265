"""The whole chain on the REAL sd-scripts: a Nyx dataset → a Nyx config → render → the job runner →
sd-scripts' train_network.py → a completed job with a LoRA, per-step loss from sd-scripts' own
TensorBoard events, and the step count Nyx predicted. Nothing is patched between Nyx and sd-scripts.

Skips unless NYX_REAL_SDSCRIPTS_WORK names a folder prepared by
``../shared/tools/real_sdscripts_cpu.sh setup fixtures`` (venv, sd-scripts, random SD1.5 model,
offline tokenizer). About a minute and 7 GiB of RAM: not for CI.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from nyx_core.config import new_config, steps_for, validate
from nyx_core.datasets.ingest import ingest_zip
from nyx_core.datasets.manager import create_dataset
from nyx_core.jobs import JobManager, JobState, follow
from nyx_core.settings import Settings

WORK = Path(os.environ.get("NYX_REAL_SDSCRIPTS_WORK", "/nonexistent"))
pytestmark = [
    pytest.mark.real_sdscripts,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not (WORK / "venv" / "bin" / "python").exists() or not (WORK / "models" / "sd15-random").is_dir(),
                       reason="set NYX_REAL_SDSCRIPTS_WORK to a prepared real_sdscripts_cpu.sh work folder"),
]


def test_dataset_to_lora_on_real_sd_scripts(ws, tmp_path, monkeypatch):
    sd = WORK / "sd-scripts"
    # sd-scripts' own offline set-up: the runner passes the environment through to it.
    for k, v in {"HF_HOME": str(WORK / "hf_home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                 "DIFFUSERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2",
                 "PYTHONPATH": f"{sd}:{WORK / 'shim'}"}.items():
        monkeypatch.setenv(k, v)
    settings = Settings(sd_scripts_dir=sd, sd_scripts_python=WORK / "venv" / "bin" / "python")

    # A dataset of five small images of three shapes, uploaded as a zip.
    archive = tmp_path / "sq.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, size in enumerate([(64, 64), (64, 96), (96, 64), (64, 64), (80, 64)]):
            img = tmp_path / f"r{i}.png"
            Image.new("RGB", size, (40 * i, 90, 200 - 30 * i)).save(img)
            zf.write(img, img.name)
            zf.writestr(f"r{i}.txt", "ohwx, red square")
    create_dataset(ws, "sq", "ohwx", repeats=2)
    assert len(ingest_zip(ws, "sq", archive).taken) == 5
    # The model sits in the workspace like a user's would (hard links: no 4 GB copy).
    os.system(f"cp -al '{WORK / 'models' / 'sd15-random'}' '{ws.models / 'sd15-random'}'")
    # Every path option sd-scripts gets stays in the workspace, the tokenizer cache too.
    os.system(f"cp -a '{WORK / 'tokcache'}' '{ws.models / 'tokcache'}'")

    cfg = new_config(
        "real", "sd15",
        model={"base_model": "models/sd15-random"},
        dataset={"name": "sq", "resolution": 64, "min_bucket_reso": 64, "max_bucket_reso": 128,
                 "duration": "epochs", "max_train_epochs": 2, "batch_size": 2},
        network={"dim": 4, "alpha": 1.0},
        performance={"mixed_precision": "no", "max_data_loader_n_workers": 0,
                     "persistent_data_loader_workers": False, "gradient_checkpointing": False},
        advanced={"extra": {"tokenizer_cache_dir": "models/tokcache"}},
    )
    problems = validate(cfg, ws, settings)
    assert not [p for p in problems if p.level == "error"], problems
    predicted = steps_for(cfg, ws)

    jm = JobManager(ws, settings)
    job = jm.wait(jm.start_training(cfg).id, 800)
    assert job.state == JobState.COMPLETED, (job.status.reason, job.status.error_lines)
    st = follow(job.dir)
    assert st.summary.get("total") == predicted.total_optimization_steps
    assert (st.step, st.total) == (predicted.total_optimization_steps,) * 2
    assert st.loss_values and st.lr_values
    assert job.expected_output is not None and job.expected_output.stat().st_size > 1_000_000
