"""Real sd-scripts accepts and trains a config rendered by Nyx (SD1.5, CPU, random weights).

Skips unless SD_SCRIPTS_SRC is set (a checkout or git mirror of kohya-ss/sd-scripts) and
../shared/tools/real_sdscripts_cpu.sh exists. Slow (minutes; ~7 GiB RAM): not for CI.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nyx_core.config import steps_for
from nyx_core.kohya.render import export_rendered
from nyx_core.settings import Settings
from tests.test_config_support import make_dataset, ready_config

DRIVER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "real_sdscripts_cpu.sh"


@pytest.mark.skipif(not os.environ.get("SD_SCRIPTS_SRC") or not DRIVER.is_file(),
                    reason="needs SD_SCRIPTS_SRC and ../shared/tools/real_sdscripts_cpu.sh")
@pytest.mark.timeout(1800)
@pytest.mark.real_sdscripts
def test_real_sd_scripts_trains_rendered_config(ws, tmp_path):
    make_dataset(ws, "shapes", {"2_nyx shape": [(64, 64), (64, 64), (128, 64), (64, 128), (96, 64)]})
    cfg = ready_config(ws, "sd15", dataset={
        "name": "shapes", "resolution": 64, "min_bucket_reso": 64, "max_bucket_reso": 128, "batch_size": 2,
        "shuffle_caption": True, "keep_tokens": 1, "flip_aug": True, "max_train_epochs": 2},
        network={"dim": 8, "alpha": 4.0, "conv_dim": 4, "conv_alpha": 1.0},
        optimizer={"optimizer": "AdamW8bit", "weight_decay": 0.01, "scheduler": "cosine_with_restarts",
                   "num_cycles": 2, "warmup_mode": "ratio", "warmup_ratio": 0.1})
    folder = ws.root / "render"
    export_rendered(cfg, ws=ws, settings=Settings(), folder=folder)
    env = dict(os.environ, KEEP_STEPS="1", RUN_NAME="nyx_pytest_sd15",
               KOHYA_WORK=os.environ.get("KOHYA_WORK", str(tmp_path / "kohya")))
    proc = subprocess.run(["bash", str(DRIVER), "run", str(folder / "config.toml"), str(folder / "dataset.toml")],
                          capture_output=True, text=True, env=env, timeout=1700)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["lora"] and report["exit_code"] == 0
    expected = steps_for(cfg, ws)
    assert report["total_optimization_steps"] == expected.total_optimization_steps
    assert report["num_epochs"] == expected.num_epochs
    assert report["metadata"]["ss_network_module"] == "networks.lora"
