"""Importing sd-scripts TOML pairs and kohya_ss GUI JSON: nothing dropped silently."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nyx_core.config import ConfigError, validate
from nyx_core.config.enums import Family, NetworkType, Optimizer
from nyx_core.config.importers import import_file, import_kohya_gui, import_sd_scripts, parse_prompt_line
from nyx_core.kohya.render import render
from nyx_core.settings import Settings
from tests.test_config_support import fake_checkpoint, make_dataset


def _by_key(result):
    return {n.key: n for n in result.notes}


def test_competitor_mistakes_are_converted_and_reported(ws):
    text = """
[model]
pretrained_model_name_or_path = "models/base.safetensors"
[network]
network_module = "lycoris.kohya"
network_dim = 16
network_alpha = 8
conv_dim = 8
conv_alpha = 4
weight_decompose = true
[optimizer]
optimizer_type = "AdamW"
learning_rate = 1e-4
weight_decay = 0.05
"""
    r = import_sd_scripts(ws, text, name="imp", family="sd15")
    cfg = r.config
    assert cfg.network.type is NetworkType.dora
    assert cfg.network.conv_dim == 8 and cfg.network.conv_alpha == 4.0
    assert cfg.optimizer.weight_decay == 0.05
    assert cfg.dataset.duration.value == "steps" and cfg.dataset.max_train_steps == 1600
    notes = _by_key(r)
    for key in ("conv_dim", "conv_alpha", "weight_decompose", "weight_decay", "max_train_steps"):
        assert notes[key].status == "converted", key


def test_gpu_style_config_from_the_facts(ws, kohya_facts):
    files = json.loads((kohya_facts / "logs" / "tool_like_40steps_epochs.json").read_text())["config_files"]
    cfg_text = files["/workspace/nyx-fixture/toolcfg/gpu_style.toml"]
    ds_text = files["/workspace/nyx-fixture/toolcfg/dataset_bucket.toml"]
    r = import_sd_scripts(ws, cfg_text, ds_text, name="tool")
    c = r.config
    assert c.model.family is Family.sd15 and c.model.clip_skip == 2
    assert (c.network.dim, c.network.alpha) == (8, 4.0)
    assert c.optimizer.optimizer is Optimizer.adamw8bit and c.optimizer.scheduler.value == "cosine_with_restarts"
    assert c.optimizer.text_encoder_lr == 5e-5 and c.optimizer.warmup_steps == 2
    assert c.dataset.max_train_epochs == 10 and c.dataset.batch_size == 2
    assert c.dataset.shuffle_caption and c.dataset.keep_tokens == 1 and c.dataset.flip_aug
    assert c.dataset.bucket_no_upscale and c.dataset.caption_extension == ".txt"
    assert c.performance.attention.value == "xformers" and c.saving.save_every_n_epochs == 1
    notes = _by_key(r)
    assert notes["output_dir"].status == "ignored"
    assert notes["dataset_config"].status == "ignored"
    assert notes["image_dir"].status == "unmapped"  # /workspace/nyx-fixture is not this workspace
    assert notes["pretrained_model_name_or_path"].status == "converted"


def test_locon_run_from_the_facts_roundtrips(ws, kohya_facts):
    files = json.loads((kohya_facts / "logs" / "sd15_locon_lycoris.json").read_text())["config_files"]
    text = next(v for k, v in files.items() if k.endswith("sd15_locon_lycoris.toml"))
    r = import_sd_scripts(ws, text, name="locon")
    assert r.config.network.type is NetworkType.locon
    assert (r.config.network.conv_dim, r.config.network.conv_alpha) == (4, 1.0)
    assert r.config.dataset.max_train_steps == 4


def test_dataset_inside_workspace_becomes_dataset_and_overrides(ws):
    make_dataset(ws, "cats", {"10_ohwx cat": [(64, 64)], "1_cat": [(64, 64)]})
    fake_checkpoint(ws.models / "base.safetensors", "sd15")
    root = ws.datasets / "cats"
    ds = f"""
[general]
caption_extension = ".txt"
shuffle_caption = true
[[datasets]]
resolution = [768, 512]
batch_size = 2
enable_bucket = true
  [[datasets.subsets]]
  image_dir = "{root / '10_ohwx cat'}"
  num_repeats = 4
  class_tokens = "ohwx"
  [[datasets.subsets]]
  image_dir = "{root / '1_cat'}"
  is_reg = true
  caption_ext = ".txt"
"""
    cfg_text = f'pretrained_model_name_or_path = "{ws.models / "base.safetensors"}"\nmax_train_epochs = 3\nbogus_key = 1\n'
    r = import_sd_scripts(ws, cfg_text, ds, name="cats")
    c = r.config
    assert c.dataset.name == "cats" and c.model.base_model == "models/base.safetensors"
    assert (c.dataset.resolution, c.dataset.resolution_height, c.dataset.batch_size) == (768, 512, 2)
    assert [o.model_dump(exclude_defaults=True) for o in c.dataset.concepts] == [
        {"folder": "10_ohwx cat", "repeats": 4, "class_tokens": "ohwx"}, {"folder": "1_cat", "is_reg": True}]
    notes = _by_key(r)
    assert notes["bogus_key"].status == "unmapped"
    assert notes["caption_ext"].status == "unmapped"
    assert any(n.key == "dataset_config" and "caption_ext" in n.value for n in r.notes)
    # The imported config is immediately usable
    assert not [p for p in validate(c, ws) if p.level == "error"]
    run = render(c, ws=ws, settings=Settings(), render_dir=ws.jobs / "r", logging_dir=ws.jobs / "tb")
    assert run.args["max_train_epochs"] == 3


def test_real_options_without_a_field_are_kept_as_extra(ws):
    r = import_sd_scripts(ws, "max_train_steps = 10\nscale_weight_norms = 1.0\nno_half_vae = true\n", name="x",
                          family="sdxl")
    assert r.config.advanced.extra == {"scale_weight_norms": 1.0, "no_half_vae": True}
    assert {n.key for n in r.notes if n.status == "extra"} == {"scale_weight_norms", "no_half_vae"}


GUI = {
    "LoRA_type": "LyCORIS/LoKr", "sdxl": True, "pretrained_model_name_or_path": "C:\\models\\sdxl.safetensors",
    "network_dim": "32", "network_alpha": 16, "conv_dim": 8, "conv_alpha": 8, "factor": 4, "epoch": 12,
    "max_train_epochs": "", "max_train_steps": 0, "optimizer": "Prodigy", "optimizer_args": "decouple=True weight_decay=0.01 betas=0.9,0.99",
    "learning_rate": 1.0, "unet_lr": 1.0, "text_encoder_lr": 0, "lr_scheduler": "cosine", "lr_warmup": 10,
    "max_resolution": "1024,1024", "train_batch_size": 2, "xformers": "sdpa", "mixed_precision": "bf16",
    "save_precision": "fp16", "cache_latents": True, "cache_latents_to_disk": True,
    "sdxl_cache_text_encoder_outputs": True, "noise_offset_type": "Multires", "noise_offset": 0.05,
    "multires_noise_iterations": 6, "multires_noise_discount": 0.3, "min_snr_gamma": 5, "clip_skip": "1",
    "seed": "1234", "keep_tokens": "0", "caption_extension": ".txt", "sample_every_n_epochs": 1,
    "sample_prompts": "ohwx cat --n blurry --w 1024 --h 1024 --s 20 --l 5\nsecond prompt --d 3",
    "sample_sampler": "euler_a", "additional_parameters": "--foo 1", "use_cp": True, "train_data_dir": "",
    "wandb_api_key": "secret", "totally_unknown_gui_key": "x", "lr_scheduler_num_cycles": "",
}


def test_kohya_gui_json(ws):
    r = import_kohya_gui(ws, json.dumps(GUI), name="gui")
    c = r.config
    assert c.model.family is Family.sdxl and c.model.base_model == "sdxl.safetensors"
    assert c.network.type is NetworkType.lokr and (c.network.dim, c.network.alpha) == (32, 16.0)
    assert (c.network.conv_dim, c.network.factor) == (8, 4)
    assert c.dataset.duration.value == "epochs" and c.dataset.max_train_epochs == 12
    assert c.optimizer.optimizer is Optimizer.prodigy and c.optimizer.extra_args == ["decouple=True"]
    assert c.optimizer.weight_decay == 0.01 and c.optimizer.betas == (0.9, 0.99)
    assert c.optimizer.warmup_mode.value == "ratio" and c.optimizer.warmup_ratio == pytest.approx(0.1)
    # kohya_ss: text-encoder LR 0 with a U-Net LR = U-Net only, and no text_encoder_lr passed
    assert c.network.train_unet_only and c.optimizer.text_encoder_lr is None and c.model.clip_skip == 0
    assert c.performance.attention.value == "sdpa" and c.performance.cache_text_encoder_outputs
    assert c.advanced.noise_offset == 0 and c.advanced.multires_noise_iterations == 6
    assert c.advanced.min_snr_gamma_enabled and c.advanced.min_snr_gamma == 5.0
    assert c.project.seed == 1234 and c.dataset.resolution == 1024
    assert [p.prompt for p in c.samples.prompts] == ["ohwx cat", "second prompt"]
    assert c.samples.prompts[0].negative == "blurry" and c.samples.prompts[0].cfg == 5.0
    notes = _by_key(r)
    # kohya_ss appends them to the command line: read as options; --foo is not one
    assert notes["additional_parameters"].status == "converted" and notes["foo"].status == "unmapped"
    assert notes["totally_unknown_gui_key"].status == "unmapped"
    assert notes["wandb_api_key"].status == "ignored" and "secret" not in json.dumps(c.to_data())
    assert notes["use_cp"].status == "converted" and "use_cp=True" in c.network.extra_args
    assert notes["pretrained_model_name_or_path"].status == "converted"


def test_kohya_gui_flux(ws):
    data = {"LoRA_type": "Flux1", "flux1_checkbox": True, "ae": "/x/ae.sft", "clip_l": "/x/clip_l.safetensors",
            "t5xxl": "/x/t5.safetensors", "flux1_cache_text_encoder_outputs": True,
            "flux1_cache_text_encoder_outputs_to_disk": True, "fp8_base": True, "blocks_to_swap": 10,
            "timestep_sampling": "sigmoid", "guidance_scale": 1.0, "model_prediction_type": "raw",
            "discrete_flow_shift": 3.0, "max_train_steps": 500, "epoch": 0}
    r = import_kohya_gui(ws, json.dumps(data), name="f")
    c = r.config
    assert c.model.family is Family.flux and c.model.ae == "ae.sft" and c.model.t5xxl == "t5.safetensors"
    assert c.performance.blocks_to_swap == 10 and c.performance.cache_text_encoder_outputs_to_disk
    assert c.advanced.timestep_sampling.value == "sigmoid" and c.dataset.max_train_steps == 500


def test_import_file_dispatch_and_errors(ws, tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"LoRA_type": "Standard", "epoch": 3}))
    assert import_file(ws, tmp_path / "a.json", name="a").source == "kohya_ss"
    (tmp_path / "b.toml").write_text("max_train_epochs = 2\n")
    assert import_file(ws, tmp_path / "b.toml", name="b").config.dataset.max_train_epochs == 2
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="JSON"):
        import_file(ws, tmp_path / "bad.json", name="c")
    (tmp_path / "bad.toml").write_text("[[[")
    with pytest.raises(ConfigError, match="TOML"):
        import_file(ws, tmp_path / "bad.toml", name="c")


def test_bad_values_reported_not_fatal(ws):
    r = import_sd_scripts(ws, 'max_train_epochs = 2\nnetwork_dim = "lots"\nmixed_precision = "fp32"\n', name="x")
    notes = _by_key(r)
    assert notes["network_dim"].status == "unmapped" and notes["mixed_precision"].status == "unmapped"
    assert r.config.network.dim == 4  # sd-scripts' own default, not a Nyx preset's


def test_parse_prompt_line():
    p = parse_prompt_line("a cat, sitting --n lowres, bad --w 512 --h 768 --d 5 --l 7.5 --s 30")
    assert (p.prompt, p.negative, p.width, p.height, p.seed, p.cfg, p.steps) == (
        "a cat, sitting", "lowres, bad", 512, 768, 5, 7.5, 30)
    assert parse_prompt_line("# comment") is None and parse_prompt_line("  ") is None
