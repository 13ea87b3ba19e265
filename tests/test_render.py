"""Rendering a config into sd-scripts' files and launch command."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from nyx_core.config import ConfigError
from nyx_core.config.model import merge_groups
from nyx_core.kohya.render import RenderedRun, export_rendered, prompt_line, render
from nyx_core.config.model import SamplePrompt
from nyx_core.settings import Settings
from tests.test_config_support import make_dataset, ready_config


def _render(ws, cfg, settings=None):
    return render(cfg, ws=ws, settings=settings or Settings(sd_scripts_dir=Path("/opt/sd-scripts")),
                  render_dir=ws.jobs / "j1" / "render", logging_dir=ws.jobs / "j1" / "tb")


def test_sd15_render_files_and_argv(ws):
    cfg = ready_config(ws, "sd15", samples={"sample_every_n_epochs": 1,
                                            "prompts": [{"prompt": "ohwx cat", "negative": "blurry", "seed": 1}]})
    run = _render(ws, cfg)
    assert isinstance(run, RenderedRun)
    assert run.script == "train_network.py"
    args = tomllib.loads(run.config_toml)
    flat = {k: v for t in args.values() for k, v in t.items()}
    assert flat["pretrained_model_name_or_path"] == str(ws.models / "base-sd15.safetensors")
    assert flat["network_module"] == "networks.lora"
    assert flat["dataset_config"] == str(ws.jobs / "j1" / "render" / "dataset.toml")
    assert flat["sample_prompts"] == str(ws.jobs / "j1" / "render" / "sample_prompts.txt")
    assert flat["logging_dir"] == str(ws.jobs / "j1" / "tb") and flat["log_with"] == "tensorboard"
    assert flat["output_dir"] == str(ws.outputs / "test-lora") and flat["output_name"] == "test-lora"
    assert flat["max_train_epochs"] == 10 and "max_train_steps" not in flat
    assert isinstance(flat["network_alpha"], float) and isinstance(flat["network_dim"], int)
    assert flat["text_encoder_lr"] == [5e-5]
    assert run.expected_output == ws.outputs / "test-lora" / "test-lora.safetensors"
    ds = tomllib.loads(run.dataset_toml)
    assert ds["general"]["caption_extension"] == ".txt"
    (sub,) = ds["datasets"][0]["subsets"]
    assert sub == {"image_dir": str(ws.datasets / "cats" / "10_ohwx cat"), "num_repeats": 10, "class_tokens": "ohwx cat"}
    assert run.sample_prompts == "ohwx cat --n blurry --w 64 --h 64 --d 1\n"
    assert run.argv == ["/opt/sd-scripts/venv/bin/python", "-m", "accelerate.commands.launch", "--num_processes", "1",
                        "--num_machines", "1", "--mixed_precision", "fp16", "--dynamo_backend", "no",
                        "/opt/sd-scripts/train_network.py", "--config_file", str(ws.jobs / "j1" / "render" / "config.toml")]


def test_float_keys_are_float_literals_in_dataset_toml(ws):
    run = _render(ws, ready_config(ws, "sdxl"))
    assert "caption_dropout_rate = 0.0" in run.dataset_toml
    assert "caption_tag_dropout_rate = 0.0" in run.dataset_toml


def test_steps_mode_writes_only_steps(ws):
    cfg = ready_config(ws, "sd15", dataset={"duration": "steps", "max_train_steps": 300, "max_train_epochs": 5})
    flat = _render(ws, cfg).args
    assert flat["max_train_steps"] == 300 and "max_train_epochs" not in flat


def test_zero_duration_refused(ws):
    cfg = ready_config(ws, "sd15", dataset={"max_train_epochs": 0})
    with pytest.raises(ConfigError, match="max_train_epochs"):
        _render(ws, cfg)


@pytest.mark.parametrize("net,expected", [
    ("locon", ["algo=locon", "conv_dim=4", "conv_alpha=2"]),
    ("loha", ["algo=loha", "conv_dim=4", "conv_alpha=2"]),
    ("lokr", ["algo=lokr", "conv_dim=4", "conv_alpha=2", "factor=8"]),
    ("dora", ["algo=lora", "conv_dim=4", "conv_alpha=2", "dora_wd=True"]),
    ("ia3", ["algo=ia3"]),
    ("full", ["algo=full"]),
])
def test_lycoris_options_go_into_network_args(ws, net, expected):
    cfg = ready_config(ws, "sd15", network={"type": net, "conv_dim": 4, "conv_alpha": 2.0, "factor": 8})
    flat = _render(ws, cfg).args
    assert flat["network_module"] == "lycoris.kohya"
    assert flat["network_args"] == expected
    assert "conv_dim" not in flat and "dora_wd" not in flat and "weight_decompose" not in flat


def test_plain_lora_modules_per_family(ws):
    want = {"sd15": "networks.lora", "sdxl": "networks.lora", "flux": "networks.lora_flux", "sd3": "networks.lora_sd3"}
    for fam, module in want.items():
        assert _render(ws, ready_config(ws, fam)).args["network_module"] == module


def test_flux_and_sd3_encoders_written(ws):
    flux = _render(ws, ready_config(ws, "flux", performance={"blocks_to_swap": 18})).args
    for key in ("clip_l", "t5xxl", "ae"):
        assert flux[key] == str(ws.models / f"{key}.safetensors")
    assert flux["blocks_to_swap"] == 18 and flux["network_train_unet_only"] is True
    sd3 = _render(ws, ready_config(ws, "sd3")).args
    for key in ("clip_l", "clip_g", "t5xxl"):
        assert sd3[key] == str(ws.models / f"{key}.safetensors")
    assert "ae" not in sd3


def test_text_encoder_lr_zero_means_unet_only(ws):
    flat = _render(ws, ready_config(ws, "sd15", optimizer={"text_encoder_lr": 0.0})).args
    assert flat["network_train_unet_only"] is True and "text_encoder_lr" not in flat


def test_optimizer_args_and_warmup(ws):
    cfg = ready_config(ws, "sd15", optimizer={
        "optimizer": "AdamW", "weight_decay": 0.01, "betas": (0.9, 0.99), "extra_args": ["eps=1e-08"],
        "scheduler": "cosine_with_restarts", "num_cycles": 3, "warmup_mode": "ratio", "warmup_ratio": 0.05})
    flat = _render(ws, cfg).args
    assert flat["optimizer_args"] == ["weight_decay=0.01", "betas=0.9,0.99", "eps=1e-08"]
    assert "weight_decay" not in flat
    assert flat["lr_scheduler_num_cycles"] == 3 and flat["lr_warmup_steps"] == 0.05
    cfg = merge_groups(cfg, {"optimizer": {"warmup_mode": "steps", "warmup_steps": 20, "scheduler": "polynomial",
                                           "power": 2.0}})
    flat = _render(ws, cfg).args
    assert flat["lr_warmup_steps"] == 20 and flat["lr_scheduler_power"] == 2.0


def test_duplicate_extra_network_arg_refused(ws):
    cfg = ready_config(ws, "sd15", network={"type": "locon", "conv_dim": 4, "extra_args": ["conv_dim=8"]})
    with pytest.raises(ConfigError, match="conv_dim"):
        _render(ws, cfg)


def test_advanced_extra_checked_against_the_script(ws):
    ok = ready_config(ws, "sd15", advanced={"extra": {"scale_weight_norms": 1.0}})
    assert _render(ws, ok).args["scale_weight_norms"] == 1.0
    bad = ready_config(ws, "sd15", advanced={"extra": {"scale_weight_norm": 1.0}})
    with pytest.raises(ConfigError, match="not an option"):
        _render(ws, bad)
    clash = ready_config(ws, "sd15", advanced={"extra": {"learning_rate": 1.0}})
    with pytest.raises(ConfigError, match="set by Nyx"):
        _render(ws, clash)


def test_multi_gpu_and_python_launcher(ws):
    cfg = ready_config(ws, "sdxl", performance={"num_gpus": 2, "gpu_ids": "0,1"})
    argv = _render(ws, cfg).argv
    assert argv[argv.index("--num_processes") + 1] == "2" and "--multi_gpu" in argv
    assert argv[argv.index("--gpu_ids") + 1] == "0,1"
    s = Settings(sd_scripts_dir=Path("/opt/sd"), launcher="python")
    argv = _render(ws, cfg, s).argv
    assert argv == ["/opt/sd/venv/bin/python", "/opt/sd/sdxl_train_network.py", "--config_file",
                    str(ws.jobs / "j1" / "render" / "config.toml")]


def test_concept_overrides(ws):
    make_dataset(ws, "two", {"10_ohwx cat": [(64, 64)], "5_dog": [(64, 64)], "1_reg": [(64, 64)]})
    cfg = ready_config(ws, "sd15", dataset={"name": "two", "concepts": [
        {"folder": "5_dog", "enabled": False},
        {"folder": "10_ohwx cat", "repeats": 3, "class_tokens": "cat"},
        {"folder": "1_reg", "is_reg": True}]})
    subs = _render(ws, cfg).dataset["datasets"][0]["subsets"]
    assert [(Path(s["image_dir"]).name, s["num_repeats"], s.get("class_tokens"), s.get("is_reg", False)) for s in subs] == [
        ("10_ohwx cat", 3, "cat", False), ("1_reg", 1, "reg", True)]


def test_missing_dataset_or_model_refused(ws):
    cfg = ready_config(ws, "sd15")
    with pytest.raises(ConfigError, match="dataset"):
        _render(ws, merge_groups(cfg, {"dataset": {"name": "nope"}}))
    with pytest.raises(ConfigError, match="model.base_model"):
        _render(ws, merge_groups(cfg, {"model": {"base_model": "missing.safetensors"}}))
    with pytest.raises(Exception, match="outside the workspace"):
        _render(ws, merge_groups(cfg, {"model": {"base_model": "/etc/passwd"}}))


def test_hub_id_passes_through(ws):
    cfg = ready_config(ws, "sdxl", model={"base_model": "stabilityai/stable-diffusion-xl-base-1.0"})
    assert _render(ws, cfg).args["pretrained_model_name_or_path"] == "stabilityai/stable-diffusion-xl-base-1.0"


def test_write_and_export(ws):
    cfg = ready_config(ws, "sd15", samples={"sample_every_n_epochs": 1, "prompts": [{"prompt": "x"}]})
    folder = ws.root / "exports" / "run1"
    run = export_rendered(cfg, ws=ws, settings=Settings(), folder=folder)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["argv.json", "config.toml", "dataset.toml", "sample_prompts.txt"]
    assert json.loads((folder / "argv.json").read_text()) == run.argv
    assert tomllib.loads((folder / "config.toml").read_text())["logging_arguments"]["logging_dir"] == str(folder / "tb")


def test_prompt_line_format():
    p = SamplePrompt(prompt="a cat\non a mat", negative="blurry, lowres", width=768, height=512, seed=7, cfg=4.5,
                     steps=28)
    assert prompt_line(p, default_size=1024) == "a cat on a mat --n blurry, lowres --w 768 --h 512 --d 7 --l 4.5 --s 28"
    assert prompt_line(SamplePrompt(prompt="x"), default_size=1024) == "x --w 1024 --h 1024"


def test_samples_not_written_without_schedule(ws):
    cfg = ready_config(ws, "sd15", samples={"prompts": [{"prompt": "x"}]})
    run = _render(ws, cfg)
    assert run.sample_prompts is None and "sample_prompts" not in run.args
