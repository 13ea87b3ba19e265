"""`nyx train start|ls|status|stop` as a user runs them: real subprocesses, fake sd-scripts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nyx_dev.standin import make_fake_sd_scripts

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env(ws, tmp_path):
    from nyx_core.config import new_config, save_config

    d = ws.datasets / "ds" / "10_subject"
    d.mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (64, 64), (i * 90, 0, 0)).save(d / f"{i}.png")
        (d / f"{i}.txt").write_text("subject")
    (ws.models / "base.safetensors").write_bytes(b"\0" * 64)
    save_config(new_config("cli run", dataset={"name": "ds", "max_train_epochs": 2},
                           model={"base_model": "base.safetensors"}), ws.configs / "quick.toml")
    save_config(new_config("cli long", dataset={"name": "ds", "duration": "steps", "max_train_steps": 500},
                           model={"base_model": "base.safetensors"}), ws.configs / "long.toml")
    env = dict(os.environ, NYX_WORKSPACE=str(ws.root), NYX_SD_SCRIPTS=str(make_fake_sd_scripts(tmp_path / "sd")),
               NYX_SD_SCRIPTS_PYTHON=sys.executable, NYX_LAUNCHER="python", NYX_STANDIN_STEP_TIME="0.05")
    return env


def nyx(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nyx_core", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=100)


def test_train_cli_start_wait_ls_status_stop(cli_env):
    r = nyx(cli_env, "train", "start", "configs/quick.toml", "--wait")
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.split()[0]
    assert "completed" in r.stdout.splitlines()[-1]

    r = nyx(cli_env, "train", "ls", "--json")
    [row] = json.loads(r.stdout)
    assert row["id"] == job_id and row["state"] == "completed"

    r = nyx(cli_env, "train", "status", job_id[:17], "--json")
    data = json.loads(r.stdout)
    assert data["progress"]["step"] == data["progress"]["total"] == 8

    r = nyx(cli_env, "train", "start", "configs/long.toml")
    long_id = r.stdout.split()[0]
    r = nyx(cli_env, "train", "stop", long_id)
    assert r.returncode == 0 and r.stdout.split()[-1] == "stopped", r.stdout + r.stderr

    r = nyx(cli_env, "train", "ls")
    assert "stopped" in r.stdout and "completed" in r.stdout


def test_train_cli_errors_are_one_line(cli_env):
    r = nyx(cli_env, "train", "status", "nope")
    assert r.returncode == 1 and r.stderr.startswith("nyx: error: no such job")
    r = nyx(cli_env, "train", "start", "configs/missing.toml")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
