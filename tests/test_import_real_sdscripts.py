"""Real sd-scripts starts and trains kohya_ss presets as Nyx imports them (SD1.5, CPU, random
weights): a LyCORIS LoKr preset whose switches go into network_args and whose adaptive noise scale
sd-scripts would refuse, and a plain LoRA preset.

Opt-in like tests/test_render_real_sdscripts.py: skips unless SD_SCRIPTS_SRC is set and
../shared/tools/real_sdscripts_cpu.sh exists (KOHYA_WORK may name a prepared work folder). Slow.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nyx_core.config import validate
from nyx_core.config.importers import import_kohya_gui
from nyx_core.config.model import merge_groups
from nyx_core.kohya.render import export_rendered
from nyx_core.settings import Settings
from tests.test_config_support import fake_checkpoint, make_dataset

DRIVER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "real_sdscripts_cpu.sh"
PRESETS = json.loads((Path(__file__).parent / "fixtures" / "kohya_ss_presets.json").read_text(encoding="utf-8"))


@pytest.mark.skipif(not os.environ.get("SD_SCRIPTS_SRC") or not DRIVER.is_file(),
                    reason="needs SD_SCRIPTS_SRC and ../shared/tools/real_sdscripts_cpu.sh")
@pytest.mark.timeout(3600)
@pytest.mark.real_sdscripts
@pytest.mark.parametrize("name", ["lora/sd15 - LoKr v1.1.json", "lora/sd15 - EDG_LoraOptiSettings.json"])
def test_real_sd_scripts_trains_an_imported_kohya_ss_preset(ws, tmp_path, name):
    # square images: with the preset's "don't upscale" a 128x64 image at resolution 64 would get a
    # 0-px bucket side (sd-scripts' ZeroDivisionError, which Nyx's pre-flight reports)
    make_dataset(ws, "shapes", {"2_nyx shape": [(64, 64), (64, 64), (96, 96), (128, 128)]})
    fake_checkpoint(ws.models / "base.safetensors", "sd15")
    result = import_kohya_gui(ws, json.dumps(PRESETS[name]), name="imported")
    # Only what a 2-step CPU run needs changes: the files, tiny sizes, two steps, no 8-bit/xformers.
    cfg = merge_groups(result.config, {
        "model": {"base_model": "base.safetensors", "network_weights": ""},
        "dataset": {"name": "shapes", "resolution": 64, "min_bucket_reso": 64, "max_bucket_reso": 128,
                    "bucket_reso_steps": 64, "batch_size": 1, "duration": "steps", "max_train_steps": 2},
        "performance": {"attention": "sdpa", "mixed_precision": "no", "cache_latents_to_disk": False},
        "saving": {"save_every_n_steps": 0, "save_every_n_epochs": 0},
        "samples": {"prompts": [], "sample_every_n_epochs": 0, "sample_every_n_steps": 0}})
    assert not [p for p in validate(cfg, ws) if p.level == "error"]
    folder = ws.root / "render"
    run = export_rendered(cfg, ws=ws, settings=Settings(), folder=folder)
    env = dict(os.environ, KEEP_STEPS="1", RUN_NAME="nyx_import_" + Path(name).stem.replace(" ", "_"),
               KOHYA_WORK=os.environ.get("KOHYA_WORK", str(tmp_path / "kohya")))
    proc = subprocess.run(["bash", str(DRIVER), "run", str(folder / "config.toml"), str(folder / "dataset.toml")],
                          capture_output=True, text=True, env=env, timeout=3500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["lora"] and report["exit_code"] == 0 and report["total_optimization_steps"] == 2
    assert report["metadata"]["ss_network_module"] == run.args["network_module"]
    if "LoKr" in name:
        assert "use_cp=True" in run.args["network_args"] and "adaptive_noise_scale" not in run.args
