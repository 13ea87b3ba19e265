"""The runner on the REAL sd-scripts (SD1.5 LoRA on the CPU, random weights): progress, real
TensorBoard events, completion evidence, and a stop that leaves no process of accelerate's group.

Skips unless NYX_REAL_SDSCRIPTS_WORK names a work folder prepared by
``../shared/tools/real_sdscripts_cpu.sh setup fixtures`` (venv, sd-scripts, model, tokenizer, data).
Slow (minutes, ~7 GiB RAM): not for CI.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from nyx_core.jobs import JobManager, JobSpec, JobState, follow
from nyx_core.jobs import control
from nyx_core.jobs.store import read_status
from nyx_core.settings import Settings

WORK = Path(os.environ.get("NYX_REAL_SDSCRIPTS_WORK", "/nonexistent"))
pytestmark = [
    pytest.mark.real_sdscripts,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not (WORK / "venv" / "bin" / "python").exists() or not (WORK / "config" / "demo.toml").exists(),
                       reason="set NYX_REAL_SDSCRIPTS_WORK to a prepared real_sdscripts_cpu.sh work folder"),
]


def real_spec(tmp: Path, name: str, steps: int) -> JobSpec:
    sd = WORK / "sd-scripts"
    text = (WORK / "config" / "demo.toml").read_text()
    text = re.sub(r'output_dir = ".*"', f'output_dir = "{tmp / "out"}"', text)
    text = re.sub(r'logging_dir = ".*"', f'logging_dir = "{tmp / "tb"}"', text)
    text = re.sub(r'output_name = ".*"', f'output_name = "{name}"', text)
    text = re.sub(r"max_train_steps = \d+", f"max_train_steps = {steps}\nsave_every_n_steps = 2", text)
    cfg = tmp / f"{name}.toml"
    cfg.write_text(text)
    env = {
        "HF_HOME": str(WORK / "hf_home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "DIFFUSERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2",
        "PYTHONPATH": f"{sd}:{WORK / 'shim'}",
    }
    argv = [str(WORK / "venv" / "bin" / "python"), "-m", "accelerate.commands.launch", "--num_cpu_threads_per_process",
            "2", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            str(sd / "train_network.py"), "--config_file", str(cfg)]
    return JobSpec(argv=argv, env=env, cwd=str(sd), expected_output=str(tmp / "out" / f"{name}.safetensors"),
                   output_dir=str(tmp / "out"), tb_dir=str(tmp / "tb"), stop_grace_s=(30.0, 10.0))


def test_real_run_completes_with_tb_metrics(ws, tmp_path):
    jm = JobManager(ws, Settings())
    job = jm.wait(jm.submit(real_spec(tmp_path, "real", 4), "real").id, 800)
    assert job.state == JobState.COMPLETED, (job.status.reason, job.status.error_lines)
    st = follow(job.dir)
    assert (st.step, st.total) == (4, 4)
    assert st.loss_values and st.lr_values  # per-step loss/lr from sd-scripts' own TensorBoard files
    assert any(c.endswith("real.safetensors") for c in st.checkpoints)
    assert st.summary.get("total") == 4


def test_real_run_stops_and_leaves_no_process(ws, tmp_path):
    jm = JobManager(ws, Settings())
    job = jm.submit(real_spec(tmp_path, "realstop", 400), "realstop")
    deadline = time.monotonic() + 600
    while follow(job.dir).step < 1:
        assert time.monotonic() < deadline and not jm.get(job.id).state.final, jm.get(job.id).status.reason
        time.sleep(1)
    pgid = read_status(job.dir).child_pgid
    jm.stop(job.id)
    job = jm.wait(job.id, 120)
    assert job.state == JobState.STOPPED
    assert control.group_members(pgid) == []
