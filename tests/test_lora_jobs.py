"""The LoRA tools as jobs through the real runner: resize/merge/bake programs and the try-it grid
(sd-scripts' gen_img.py played by tests/standins/gen_img.py, same command line), and the CLI."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nyx_core.errors import NyxError
from nyx_core.jobs import JobManager, JobState
from nyx_core.lora import st
from nyx_core.lora.jobs import merge_recipe, resize_recipe, submit_tool
from nyx_core.lora.tryit import TryRequest, prompt_lines, run_files, submit_try
from nyx_core.settings import Settings
from tests.lora_fixtures import make_lora

pytestmark = pytest.mark.timeout(120)
STANDIN_DIR = Path(__file__).parent / "standins"


def _settings() -> Settings:
    return Settings(sd_scripts_dir=STANDIN_DIR, sd_scripts_python=Path(sys.executable))


def test_resize_and_merge_jobs_complete_with_a_result(ws):
    src = make_lora(ws.outputs / "a.safetensors", rank=6)
    jm = JobManager(ws, _settings())
    job = submit_tool(jm, resize_recipe(src, ws.outputs / "a-r2.safetensors", rank=2, precision="fp16"), "resize a")
    merged = submit_tool(jm, merge_recipe([(src, 1.0), (src, 0.5)], ws.outputs / "m.safetensors", rank=None), "merge")
    for j in (job, merged):
        assert j.spec.kind == "lora" and j.spec.gpu_set == "none"
        done = jm.wait(j.id, 90)
        assert done.state == JobState.COMPLETED, (done.status.reason, done.log_path.read_text()[-2000:])
    state = jm.progress(job.id)
    assert state.result["old_rank"] == 6 and {m["new_rank"] for m in state.result["modules"]} == {2}
    assert state.task["done"] == state.task["total"] == 4 and state.task["unit"] == "modules"
    assert st.read_header(ws.outputs / "a-r2.safetensors").metadata["ss_network_dim"] == "2"
    assert jm.progress(merged.id).result["rank"] == 12


def test_a_refused_resize_job_fails_with_the_reason(ws):
    loha = ws.outputs / "h.safetensors"
    from tests.lora_fixtures import write

    write(loha, {"lora_unet_a.hada_w1_a": np.zeros((2, 4))})
    jm = JobManager(ws, _settings())
    job = jm.wait(submit_tool(jm, resize_recipe(loha, ws.outputs / "o.safetensors", rank=2), "r").id, 90)
    assert job.state == JobState.FAILED
    assert any("LoHa file" in str(e) for e in jm.progress(job.id).errors)
    log = job.log_path.read_text()
    assert "LoHa file" in log and "Traceback" not in log


def test_epoch_files_of_a_run(tmp_path):
    for name in ("run-000001", "run-000002", "run", "other-000001", "run-old"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
    lora = tmp_path / "run.safetensors"
    assert [l for l, _ in run_files(lora, "")] == ["final"]
    assert [(l, p.name) for l, p in run_files(lora, "all")] == [
        ("epoch 1", "run-000001.safetensors"), ("epoch 2", "run-000002.safetensors"), ("final", "run.safetensors")]
    assert [l for l, _ in run_files(tmp_path / "run-000002.safetensors", "1,final")] == ["epoch 1", "final"]
    with pytest.raises(NyxError, match="no epoch 7 file for run .epochs saved: 1, 2."):
        run_files(lora, "7")


def test_prompt_lines_carry_strength_seed_and_file_name():
    recipe = {"prompts": ["nyx, a photo --x"], "strengths": [0, 0.5], "seed": 7, "width": 64, "height": 96,
              "steps": 4, "scale": 7.0, "negative": "blurry"}
    lines = prompt_lines(recipe)
    assert lines[1] == ("p00_s01.png",
                        "nyx, a photo -x --n blurry --am 0.5 --d 7 --w 64 --h 96 --s 4 --l 7 --f p00_s01.png")


def _run_with_prompts(ws) -> Path:
    """A finished training run's job folder: output dir, sample prompts, base model; epoch files."""
    out = ws.outputs / "myrun"
    out.mkdir()
    for name in ("myrun-000001", "myrun"):
        make_lora(out / f"{name}.safetensors", extra_md={"modelspec.trigger_phrase": "nyxperson"})
    job = ws.jobs / "20261130-000000-myrun"
    (job / "render").mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"name": "myrun", "kind": "train", "spec": {
        "argv": ["x"], "output_dir": str(out)}}))
    (job / "render" / "sample_prompts.txt").write_text(
        "a portrait --w 512 --h 512 --d 1\n# comment\nnyxperson on a bike\n")
    base = ws.models / "base.safetensors"
    base.write_bytes(b"0")
    (job / "render" / "config.toml").write_text(f'[model]\npretrained_model_name_or_path = "{base}"\n')
    return out / "myrun.safetensors"


def test_try_job_renders_a_labelled_grid_with_its_recipe(ws):
    lora = _run_with_prompts(ws)
    jm = JobManager(ws, _settings())
    job = submit_try(jm, TryRequest(lora=str(lora), strengths=[0, 1], epochs="all", width=64, height=64, steps=2))
    assert job.spec.kind == "generate"
    done = jm.wait(job.id, 90)
    assert done.state == JobState.COMPLETED, (done.status.reason, done.log_path.read_text()[-3000:])
    res = jm.progress(job.id).result
    grid = Path(res["grid"])
    recipe = json.loads((grid.parent / "recipe.json").read_text())
    # the run's sample prompts (options dropped), the trigger word added where missing
    assert recipe["prompts"] == ["nyxperson, a portrait", "nyxperson on a bike"]
    assert recipe["base"] == str(ws.models / "base.safetensors")
    assert res["files"] == ["epoch 1", "final"] and res["images"] == 8
    img = Image.open(grid)
    assert img.size == (260 + 2 * 64, 40 + 4 * 64)
    # column 0 is strength 0 (blue), column 1 strength 1 (red), in every row
    for row in range(4):
        y = 40 + row * 64 + 32
        assert img.getpixel((260 + 32, y))[2] > 200 and img.getpixel((260 + 64 + 32, y))[0] > 200
    assert jm.progress(job.id).task["done"] == 8


def test_try_job_failure_names_the_script(ws, monkeypatch):
    lora = _run_with_prompts(ws)
    jm = JobManager(ws, _settings())
    monkeypatch.setenv("NYX_STANDIN_FAIL", "1")
    job = jm.wait(submit_try(jm, TryRequest(lora=str(lora), strengths=[1], width=64, height=64)).id, 90)
    assert job.state == JobState.FAILED
    assert "gen_img.py failed on myrun.safetensors (exit code 3)" in job.log_path.read_text()


def test_try_refuses_without_prompt_or_base(ws):
    lora = make_lora(ws.outputs / "lonely.safetensors", extra_md={"ss_tag_frequency": "{}"})
    jm = JobManager(ws, _settings())
    with pytest.raises(NyxError, match="give the base model"):
        submit_try(jm, TryRequest(lora=str(lora), prompts=["x"]))
    with pytest.raises(NyxError, match="give a prompt"):
        submit_try(jm, TryRequest(lora=str(lora), base=str(lora)))
    with pytest.raises(NyxError, match="outside the workspace"):
        submit_try(jm, TryRequest(lora=str(lora), prompts=["x"], base="/etc/hostname"))
    with pytest.raises(NyxError, match="multiples of 8"):
        submit_try(jm, TryRequest(lora=str(lora), prompts=["x"], base=str(lora), width=100))


def test_cli_resize_merge_bake_try(ws, capsys, monkeypatch):
    from tests.test_lora_info import nyx_cli

    make_lora(ws.outputs / "a.safetensors", rank=6)
    r = nyx_cli(capsys, ws, "lora", "resize", "outputs/a.safetensors", "outputs/b.safetensors", "--rank", "8",
                "--dynamic", "sv_fro", "--param", "0.9", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["options"]["dynamic"] == "sv_fro"
    assert st.read_header(ws.outputs / "b.safetensors").metadata["ss_network_dim"] == "Dynamic"
    r = nyx_cli(capsys, ws, "lora", "resize", "outputs/a.safetensors", "outputs/a.safetensors", "--rank", "2")
    assert r.returncode == 1 and "new file" in r.stderr
    r = nyx_cli(capsys, ws, "lora", "merge", "outputs/m.safetensors", "outputs/a.safetensors:0.5",
                "outputs/b.safetensors", "--rank", "4")
    assert r.returncode == 0 and "svd of 2 LoRAs" in r.stdout and "rank 4" in r.stdout
    r = nyx_cli(capsys, ws, "lora", "bake", "outputs/a.safetensors", "outputs/b.safetensors:1", "outputs/c.safetensors")
    assert r.returncode == 1 and "not a full model" in r.stderr
    lora = _run_with_prompts(ws)
    monkeypatch.setenv("NYX_SD_SCRIPTS", str(STANDIN_DIR))
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    r = nyx_cli(capsys, ws, "lora", "try", ws.relative(lora), "--strength", "0.5,1", "--size", "64x64", "--wait")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].endswith("grid.png")
