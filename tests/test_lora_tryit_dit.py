"""Try-it for Flux and SD3 LoRAs: sd-scripts' flux_minimal_inference.py / sd3_minimal_inference.py
(played by nyx_dev/standin_infer.py: the same command line, the same --interactive dialogue, images
named by the second as the real scripts name them) through the real job runner, and the command
line checked against the facts recorded from the pinned scripts (tests/data/inference_args.json)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from nyx_core.errors import NyxError
from nyx_core.jobs import JobManager, JobState
from nyx_core.lora.tryit import TryRequest, gen_argv, plan, submit_try
from nyx_core.lora.tryit_dit import PROMPT_MARK, generations, script_argv
from nyx_core.settings import Settings
from tests.lora_fixtures import make_dit_checkpoint, make_dit_lora, write

pytestmark = pytest.mark.timeout(180)
STANDIN_DIR = Path(__file__).parent / "standins"
FACTS = json.loads((Path(__file__).parent / "data" / "inference_args.json").read_text())
LEFT, TOP = 260, 40  # the grid's label margins


def _settings() -> Settings:
    return Settings(sd_scripts_dir=STANDIN_DIR, sd_scripts_python=Path(sys.executable))


def dit_run(ws, family: str, *, encoders_in_config=None, ckpt_encoders=(), name="fluxrun") -> Path:
    """A finished Flux/SD3 training run: its job folder (output dir, sample prompts, the rendered
    config with the model and encoder paths), epoch files 1 and 2 and the final file."""
    out = ws.outputs / name
    out.mkdir(parents=True)
    for i, stem in enumerate((f"{name}-000001", f"{name}-000002", name)):
        make_dit_lora(out / f"{stem}.safetensors", family, extra_md={"modelspec.trigger_phrase": "nyxcat"}, seed=i)
    models = ws.models
    base = make_dit_checkpoint(models / f"{family.lower()}-base.safetensors", family, encoders=ckpt_encoders)
    names = encoders_in_config if encoders_in_config is not None else (
        ("clip_l", "t5xxl", "ae") if family == "Flux" else ("clip_l", "clip_g", "t5xxl"))
    lines = [f'pretrained_model_name_or_path = "{base}"']
    for enc in names:
        f = write(models / f"{enc}.safetensors", {"w": [0.0]})
        lines.append(f'{enc} = "{f}"')
    job = ws.jobs / f"20261130-000000-{name}"
    (job / "render").mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"name": name, "kind": "train", "spec": {"argv": ["x"],
                                                                                      "output_dir": str(out)}}))
    (job / "render" / "sample_prompts.txt").write_text("a cat on a sofa --w 1024 --d 3\nnyxcat in the snow\n")
    (job / "render" / "config.toml").write_text("[model]\n" + "\n".join(lines) + "\n")
    return out / f"{name}.safetensors"


def _cell(img: Image.Image, row: int, col: int, size: int = 64) -> tuple[int, int, int]:
    return img.getpixel((LEFT + col * size + size // 2, TOP + row * size + size // 2))


def test_flux_grid_one_model_load_every_cell_its_own_file_and_strength(ws):
    lora = dit_run(ws, "Flux")
    jm = JobManager(ws, _settings())
    job = submit_try(jm, TryRequest(lora=str(lora), strengths=[0, 0.5, 1], epochs="2,final", width=64, height=64))
    assert job.spec.kind == "generate"
    done = jm.wait(job.id, 120)
    log = done.log_path.read_text()
    assert done.state == JobState.COMPLETED, (done.status.reason, log[-3000:])
    res = jm.progress(job.id).result
    recipe = json.loads((Path(res["grid"]).parent / "recipe.json").read_text())
    # the run's sample prompts (their options dropped), the trigger word added where missing
    assert recipe["prompts"] == ["nyxcat, a cat on a sofa", "nyxcat in the snow"]
    assert recipe["script"] == "flux_minimal_inference.py" and recipe["steps"] == 20
    assert set(recipe["encoders"]) == {"clip_l", "t5xxl", "ae"} and recipe["guidance"] == 3.5
    assert res["files"] == ["epoch 2", "final"] and res["images"] == 12
    # strength 0 is the same image for both files: 2 prompts × (1 + 2 files × 2 strengths)
    assert res["generated"] == 10
    # the model is loaded once for the whole grid, both epoch files as LoRAs
    running = [line for line in log.splitlines() if line.startswith("running: ")]
    assert len(running) == 1 and "--interactive" in running[0] and running[0].count(".safetensors;1") == 2
    assert "> nyxcat, a cat on a sofa --w 64 --h 64 --d 42 --m 0,0 --s 20\n" in log  # what the script was sent
    img = Image.open(res["grid"])
    assert img.size == (LEFT + 3 * 64, TOP + 4 * 64)
    for row in range(4):  # rows: (epoch 2, p0), (epoch 2, p1), (final, p0), (final, p1)
        file_index = row // 2
        r0, g0, b0 = _cell(img, row, 0)
        assert r0 < 10 and g0 < 10 and b0 > 240  # strength 0: no LoRA on
        for col, strength in ((1, 0.5), (2, 1.0)):
            r, g, _ = _cell(img, row, col)
            assert abs(r - strength * 255) < 3 and abs(g - 40 * (file_index + 1)) < 3, (row, col, r, g)
    assert jm.progress(job.id).task["done"] == 10


def test_sd3_grid_encoder_from_the_checkpoint_and_precision(ws):
    lora = dit_run(ws, "SD3", encoders_in_config=("clip_l", "t5xxl"), ckpt_encoders=("clip_g",), name="sd3run")
    jm = JobManager(ws, _settings())
    job = submit_try(jm, TryRequest(lora=str(lora), prompts=["a red fox"], strengths=[0.25, 1], width=64,
                                    height=64, steps=3, precision="fp16", negative="blurry -- bad", offload=True))
    done = jm.wait(job.id, 120)
    log = done.log_path.read_text()
    assert done.state == JobState.COMPLETED, (done.status.reason, log[-3000:])
    res = jm.progress(job.id).result
    assert res["images"] == 2 and res["files"] == ["final"]
    running = next(line for line in log.splitlines() if line.startswith("running: "))
    assert "sd3_minimal_inference.py" in running and "--fp16" in running and "--offload" in running
    assert "--clip_g" not in running  # the checkpoint carries it: the script loads it from there
    assert "> nyxcat, a red fox --w 64 --h 64 --d 42 --m 0.25 --s 3 --n blurry - bad" in log
    img = Image.open(res["grid"])
    assert abs(_cell(img, 0, 0)[0] - 0.25 * 255) < 3 and _cell(img, 0, 1)[0] > 250


def test_a_crash_mid_grid_fails_the_job_with_the_script_named(ws, monkeypatch):
    lora = dit_run(ws, "Flux")
    jm = JobManager(ws, _settings())
    monkeypatch.setenv("NYX_STANDIN_FAIL_AT", "2")
    job = jm.wait(submit_try(jm, TryRequest(lora=str(lora), prompts=["x"], strengths=[0.5, 1], width=64,
                                            height=64)).id, 120)
    assert job.state == JobState.FAILED
    errors = [e["message"] for e in jm.progress(job.id).errors]
    assert any("flux_minimal_inference.py failed (exit code 1) after 1 of 2 images" in e for e in errors), errors


def test_missing_or_outside_encoders_are_one_line_errors_before_any_job(ws):
    jm = JobManager(ws, _settings())
    lora = dit_run(ws, "Flux", encoders_in_config=("clip_l", "ae"))
    with pytest.raises(NyxError, match=r"needs the T5-XXL text encoder: not in the run's config; give --t5xxl FILE"):
        submit_try(jm, TryRequest(lora=str(lora), prompts=["x"]))
    with pytest.raises(NyxError, match="outside the workspace"):
        submit_try(jm, TryRequest(lora=str(lora), prompts=["x"], t5xxl="/etc/hostname"))
    with pytest.raises(NyxError, match=r"T5-XXL text encoder \(t5xxl\): 'nope.safetensors' not found"):
        submit_try(jm, TryRequest(lora=str(lora), prompts=["x"], t5xxl="nope.safetensors"))
    with pytest.raises(NyxError, match="multiples of 16"):
        submit_try(jm, TryRequest(lora=str(lora), prompts=["x"], t5xxl="clip_l.safetensors", width=72))
    # a bare name is looked up in models/, as on the Training page
    recipe = plan(ws, _settings(), TryRequest(lora=str(lora), prompts=["x"], t5xxl="clip_l.safetensors"))
    assert recipe["encoders"]["t5xxl"] == str(ws.models / "clip_l.safetensors")
    sd3 = dit_run(ws, "SD3", encoders_in_config=("clip_l", "t5xxl"), name="sd3run")
    with pytest.raises(NyxError, match="needs the CLIP-G text encoder: not in the run's config and the checkpoint "
                                       "has none; give --clip-g FILE"):
        submit_try(jm, TryRequest(lora=str(sd3), prompts=["x"]))
    assert not [j for j in jm.list() if getattr(j.spec, "kind", None) == "generate"]  # no job was started


def test_schnell_defaults_to_4_steps_and_lycoris_is_refused_by_name(ws):
    lora = dit_run(ws, "Flux")
    make_dit_checkpoint(ws.models / "schnell.safetensors", "Flux", schnell=True)
    recipe = plan(ws, _settings(), TryRequest(lora=str(lora), prompts=["x"], base="schnell.safetensors"))
    assert recipe["steps"] == 4 and recipe["base"] == str(ws.models / "schnell.safetensors")
    lyco = make_dit_lora(ws.outputs / "lyco.safetensors", "Flux", extra_md={"ss_network_module": "lycoris.kohya"})
    with pytest.raises(NyxError, match="loads only networks.lora_flux and networks.oft_flux files; this one was "
                                       "trained with lycoris.kohya"):
        plan(ws, _settings(), TryRequest(lora=str(lyco), prompts=["x"], base="schnell.safetensors"))


# --- the command line against the pinned scripts' own arguments --------------------------------

def _check_argv(argv: list[str], script: str) -> None:
    """Every option is one of the script's arguments and its value has the argument's shape."""
    args = FACTS["scripts"][script]["arguments"]
    assert Path(argv[1]).name == script
    i = 2
    while i < len(argv):
        flag = argv[i]
        assert flag in args, f"{script} has no {flag}"
        fact = args[flag]
        values = []
        i += 1
        while i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
        if fact["type"] == "bool-flag":
            assert values == [], flag
            continue
        if fact["nargs"] in ("*", "+"):
            assert values or fact["nargs"] == "*", flag
        else:
            assert len(values) == 1, (flag, values)
        for v in values:
            {"int": int, "float": float, "str": str}[fact["type"]](v)
            if fact["choices"]:
                assert v in fact["choices"], (flag, v)
            if flag == "--lora_weights":  # the scripts split "path;multiplier"
                path, mult = v.split(";")
                assert Path(path).is_file() and float(mult) == 1.0
    for name, fact in args.items():
        if fact["required"]:
            assert name in argv, f"{script} requires {name}"


@pytest.mark.parametrize("family,kw", [
    ("Flux", {}), ("Flux", {"precision": "fp32", "offload": True, "negative": "ugly", "guidance": 2.0, "scale": 3.0}),
    ("SD3", {}), ("SD3", {"precision": "fp32", "steps": 9}), ("SD3", {"precision": "bf16", "offload": True})])
def test_every_argument_is_the_scripts_own(ws, tmp_path, family, kw):
    lora = dit_run(ws, family, name=f"r{family.lower()}")
    recipe = plan(ws, _settings(), TryRequest(lora=str(lora), prompts=["a", "b"], strengths=[0, 1], epochs="all",
                                              width=64, height=64, **kw))
    argv = script_argv(recipe, tmp_path)
    _check_argv(argv, recipe["script"])
    assert argv[argv.index("--lora_weights") + 1:].count("--interactive") == 1
    # each line's options are ones the --interactive loop reads, with its value shapes
    letters = set(FACTS["scripts"][recipe["script"]]["interactive_options"])
    lines, _ = generations(recipe)
    for _, line in lines:
        prompt, *opts = line.split("--")
        assert prompt.strip()
        for opt in opts:
            letter, value = opt[0], opt[1:].strip()
            assert letter in letters, (letter, line)
            if letter in "whsd":
                int(value)
            elif letter == "m":
                assert len([float(x) for x in value.split(",")]) == len(recipe["files"]) == 3
            elif letter in "gc":
                float(value)


def test_gen_img_arguments_are_the_scripts_own(ws, tmp_path):
    from tests.lora_fixtures import make_lora

    lora = make_lora(ws.outputs / "sdxl.safetensors", extra_md={"ss_base_model_version": "sdxl_base_v1-0"})
    base = write(ws.models / "b.safetensors", {"w": [0.0]})
    for fam, flag in (("SDXL", "--sdxl"), ("SD2", "--v2"), ("SD1.5", None)):
        recipe = {**plan(ws, _settings(), TryRequest(lora=str(lora), prompts=["a"], base=str(base))), "family": fam}
        argv = gen_argv(recipe, str(lora), tmp_path, tmp_path / "p.txt")
        _check_argv(argv, "gen_img.py")
        assert (flag in argv) if flag else not {"--sdxl", "--v2"} & set(argv)


def test_the_facts_are_those_of_the_pinned_scripts():
    assert FACTS["sd_scripts_commit"] == "48d368fa557731ad0488c07304dfeba8c07910eb"
    flux = FACTS["scripts"]["flux_minimal_inference.py"]
    assert {"--ckpt_path", "--clip_l", "--t5xxl", "--ae", "--lora_weights", "--interactive"} <= set(flux["arguments"])
    assert flux["arguments"]["--ckpt_path"]["required"] and flux["arguments"]["--lora_weights"]["nargs"] == "*"
    assert flux["interactive_options"] == ["c", "d", "g", "h", "m", "n", "s", "w"]
    sd3 = FACTS["scripts"]["sd3_minimal_inference.py"]
    assert {"--clip_g", "--fp16", "--bf16"} <= set(sd3["arguments"]) and "g" not in sd3["interactive_options"]
    # the driver waits for this line before each prompt: a script printing anything else would hang it
    assert flux["interactive_prompt"] == sd3["interactive_prompt"] == PROMPT_MARK


@pytest.mark.skipif(not os.environ.get("NYX_SD_SCRIPTS_CHECKOUT"),
                    reason="set NYX_SD_SCRIPTS_CHECKOUT to an sd-scripts checkout to re-record the facts")
def test_facts_re_recorded_from_a_checkout_are_the_same():
    sys.path.insert(0, str(Path(__file__).parent / "data"))
    from record_inference_args import SCRIPTS, script_facts

    root = Path(os.environ["NYX_SD_SCRIPTS_CHECKOUT"])
    for script in SCRIPTS:
        assert script_facts((root / script).read_text(encoding="utf-8")) == FACTS["scripts"][script], script


def test_the_stand_in_refuses_an_argument_the_real_script_lacks(tmp_path):
    import subprocess

    r = subprocess.run([sys.executable, str(STANDIN_DIR / "flux_minimal_inference.py"), "--ckpt_path", "x",
                        "--network_mul", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unrecognized arguments: --network_mul" in r.stderr


def test_cli_try_flux_with_an_encoder_override(ws, capsys, monkeypatch):
    from tests.test_lora_info import nyx_cli

    lora = dit_run(ws, "Flux", encoders_in_config=("clip_l", "ae"))
    write(ws.models / "t5.safetensors", {"w": [0.0]})
    monkeypatch.setenv("NYX_SD_SCRIPTS", str(STANDIN_DIR))
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    r = nyx_cli(capsys, ws, "lora", "try", ws.relative(lora), "--strength", "0.5,1", "--size", "64x64")
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].endswith("give --t5xxl FILE")
    r = nyx_cli(capsys, ws, "lora", "try", ws.relative(lora), "--strength", "0.5,1", "--size", "64x64",
                "--t5xxl", "t5.safetensors", "--epochs", "all", "--wait")
    assert r.returncode == 0, r.stderr
    grid = Path(r.stdout.strip().splitlines()[-1])
    assert grid.name == "grid.png" and grid.is_file()
    recipe = json.loads((grid.parent / "recipe.json").read_text())
    assert recipe["encoders"]["t5xxl"] == str(ws.models / "t5.safetensors") and len(recipe["files"]) == 3
