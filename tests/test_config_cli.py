"""`nyx config …` end to end through the real CLI entry point."""
from __future__ import annotations

import json
import subprocess
import sys

from nyx_core.cli import main
from nyx_core.config import load_config
from tests.test_config_support import fake_checkpoint, make_dataset


def run(ws, *argv):
    return main(["--workspace", str(ws.root), "config", *argv])


def test_new_validate_steps_render(ws, capsys):
    make_dataset(ws, "cats")
    fake_checkpoint(ws.models / "base.safetensors", "sdxl")
    assert run(ws, "new", "my-lora", "--family", "sdxl", "--preset", "character", "--dataset", "cats",
               "--base-model", "base.safetensors") == 0
    path = ws.configs / "my-lora.toml"
    cfg = load_config(path)
    assert cfg.model.family.value == "sdxl" and cfg.dataset.name == "cats" and cfg.network.dim == 16
    assert run(ws, "new", "my-lora") == 1  # exists
    capsys.readouterr()

    assert run(ws, "validate", "my-lora") == 0
    assert "0 error(s)" in capsys.readouterr().out

    assert run(ws, "steps", "my-lora", "--json") == 0
    steps = json.loads(capsys.readouterr().out)
    assert steps["total_optimization_steps"] > 0 and steps["buckets"]

    assert run(ws, "render", "configs/my-lora.toml", "--out", "exports/my-lora") == 0
    out = ws.root / "exports" / "my-lora"
    assert {p.name for p in out.iterdir()} >= {"config.toml", "dataset.toml", "argv.json"}


def test_validate_exit_1_lists_every_error(ws, capsys):
    assert run(ws, "new", "bad", "--family", "flux") == 0
    capsys.readouterr()
    assert run(ws, "validate", "bad") == 1
    out = capsys.readouterr().out
    for field in ("model.base_model", "model.clip_l", "model.t5xxl", "model.ae", "dataset.name"):
        assert f"[{field}]: " in out and "error: " in out


def test_import_command(ws, tmp_path, capsys):
    src = tmp_path / "kohya.json"
    src.write_text(json.dumps({"LoRA_type": "Standard", "epoch": 4, "network_dim": 8, "mystery": "x"}))
    assert run(ws, "import", str(src), "--name", "imported") == 0
    out = capsys.readouterr()
    assert "mystery = x → not carried over" in out.out
    assert load_config(ws.configs / "imported.toml").dataset.max_train_epochs == 4


def test_errors_are_one_line(ws, capsys):
    assert run(ws, "validate", "nope") == 1
    err = capsys.readouterr().err
    assert err.startswith("nyx: error:") and err.count("\n") == 1


def test_presets_listing_via_subprocess(ws):
    out = subprocess.run([sys.executable, "-m", "nyx_core", "config", "presets", "--family", "flux"],
                         capture_output=True, text=True, check=True)
    assert "builtin:flux-character-lowvram" in out.stdout and "sd15" not in out.stdout
