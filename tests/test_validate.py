"""Pre-flight: every problem at once, each naming its field."""
from __future__ import annotations

from pathlib import Path

import pytest

from nyx_core.config import validate
from nyx_core.config.model import merge_groups
from nyx_core.config.validate import Problem, errors, estimate_output_bytes, guess_family, safetensors_keys
from nyx_core.settings import Settings
from tests.test_config_support import fake_checkpoint, make_dataset, ready_config


def fields(problems, level=None):
    return {p.field for p in problems if level is None or p.level == level}


def test_clean_config_has_no_errors(ws):
    for fam in ("sd15", "sdxl", "flux", "sd3"):
        problems = validate(ready_config(ws, fam), ws, None)
        assert errors(problems) == [], (fam, problems)


def test_everything_reported_at_once(ws):
    cfg = ready_config(ws, "sdxl", dataset={"shuffle_caption": True, "random_crop": True, "bucket_reso_steps": 48,
                                            "max_train_epochs": 0},
                       optimizer={"learning_rate": 0.5}, performance={"fp8_base": True, "mixed_precision": "no"})
    cfg = merge_groups(cfg, {"model": {"base_model": ""}})
    errs = fields(validate(cfg, ws, None), "error")
    assert {"model.base_model", "dataset.bucket_reso_steps", "dataset.max_train_epochs", "optimizer.learning_rate",
            "performance.cache_text_encoder_outputs", "performance.cache_latents", "performance.fp8_base"} <= errs


def test_problems_are_sorted_errors_first_and_readable(ws):
    cfg = merge_groups(ready_config(ws, "sd15"), {"model": {"base_model": ""}, "dataset": {"keep_tokens": 2}})
    problems = validate(cfg, ws, None)
    levels = [p.level for p in problems]
    assert levels == sorted(levels, key=lambda x: x != "error")
    assert all(isinstance(p, Problem) and p.message and "\n" not in p.message for p in problems)
    assert str(problems[0]).startswith("error: Model › Base model: ")  # the label the page shows


def test_missing_and_wrong_family_base_model(ws):
    cfg = ready_config(ws, "sdxl")
    missing = merge_groups(cfg, {"model": {"base_model": "nope.safetensors"}})
    assert "model.base_model" in fields(validate(missing, ws), "error")
    fake_checkpoint(ws.models / "flux-thing.safetensors", "flux")
    wrong = merge_groups(cfg, {"model": {"base_model": "flux-thing.safetensors"}})
    (p,) = [p for p in validate(wrong, ws) if p.field == "model.base_model"]
    assert p.level == "error" and "flux" in p.message and "sdxl" in p.message
    fake_checkpoint(ws.models / "a-lora.safetensors", "lora")
    lora = merge_groups(cfg, {"model": {"base_model": "a-lora.safetensors"}})
    assert any("is a LoRA" in p.message for p in validate(lora, ws))
    outside = merge_groups(cfg, {"model": {"base_model": "/etc/hostname"}})
    assert "model.base_model" in fields(validate(outside, ws), "error")
    hub = merge_groups(cfg, {"model": {"base_model": "stabilityai/stable-diffusion-xl-base-1.0"}})
    assert "model.base_model" in fields(validate(hub, ws), "warning")


def test_family_guess_from_headers(tmp_path):
    for kind in ("sd15", "sdxl", "flux", "sd3"):
        path = fake_checkpoint(tmp_path / f"{kind}.safetensors", kind)
        assert guess_family(path).value == kind
    assert guess_family(fake_checkpoint(tmp_path / "l.safetensors", "lora")) == "lora"
    assert guess_family(fake_checkpoint(tmp_path / "o.safetensors", "other")) is None
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    assert guess_family(junk) is None
    with pytest.raises(ValueError):
        safetensors_keys(junk)
    diffusers = tmp_path / "pipe"
    diffusers.mkdir()
    (diffusers / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    assert guess_family(diffusers).value == "sdxl"


def test_family_guess_reads_only_the_header(tmp_path):
    path = fake_checkpoint(tmp_path / "m.safetensors", "sdxl")
    with open(path, "ab") as fh:  # a huge tail would be slow to read; the header is enough
        fh.truncate(path.stat().st_size + 200 * 2**20)
    assert guess_family(path).value == "sdxl"


def test_missing_encoders(ws):
    cfg = merge_groups(ready_config(ws, "flux"), {"model": {"clip_l": "", "ae": "gone.safetensors"}})
    errs = fields(validate(cfg, ws), "error")
    assert {"model.clip_l", "model.ae"} <= errs and "model.t5xxl" not in errs
    cfg = merge_groups(ready_config(ws, "sd3"), {"model": {"clip_g": ""}})
    assert "model.clip_g" in fields(validate(cfg, ws), "error")


def test_dataset_problems(ws):
    cfg = ready_config(ws, "sd15")
    assert "dataset.name" in fields(validate(merge_groups(cfg, {"dataset": {"name": ""}}), ws), "error")
    assert "dataset.name" in fields(validate(merge_groups(cfg, {"dataset": {"name": "ghost"}}), ws), "error")
    (ws.datasets / "empty" / "10_thing").mkdir(parents=True)
    assert "dataset.name" in fields(validate(merge_groups(cfg, {"dataset": {"name": "empty"}}), ws), "error")
    (ws.datasets / "nofolders").mkdir()
    assert "dataset.concepts" in fields(validate(merge_groups(cfg, {"dataset": {"name": "nofolders"}}), ws), "error")


def test_uncaptioned_and_trigger_word(ws):
    make_dataset(ws, "raw", caption=None)
    cfg = ready_config(ws, "sd15", dataset={"name": "raw"}, project={"trigger_word": "zxq"})
    problems = validate(cfg, ws)
    assert any(p.field == "dataset.caption_extension" and "3 of 3" in p.message for p in problems)
    assert any(p.field == "project.trigger_word" and "3 of 3" in p.message for p in problems)
    # Without captions sd-scripts uses the class tokens, which contain "ohwx"
    ok = merge_groups(cfg, {"project": {"trigger_word": "ohwx"}})
    assert "project.trigger_word" not in fields(validate(ok, ws))


def test_bucket_smaller_than_batch(ws):
    make_dataset(ws, "odd", {"1_a": [(64, 64), (128, 64), (64, 128)]})
    cfg = ready_config(ws, "sd15", dataset={"name": "odd", "batch_size": 4, "max_bucket_reso": 256})
    assert "dataset.batch_size" in fields(validate(cfg, ws), "warning")


def test_steps_mode_zero(ws):
    cfg = ready_config(ws, "sd15", dataset={"duration": "steps", "max_train_steps": 0})
    assert "dataset.max_train_steps" in fields(validate(cfg, ws), "error")


@pytest.mark.parametrize("opt,lr,level", [
    ("AdamW8bit", 0.0, "error"), ("AdamW8bit", 0.05, "error"), ("AdamW8bit", 5e-3, "warning"),
    ("AdamW8bit", 1e-8, "warning"), ("Prodigy", 1e-4, "warning"),
])
def test_learning_rate_range(ws, opt, lr, level):
    cfg = ready_config(ws, "sd15", optimizer={"optimizer": opt, "learning_rate": lr})
    assert "optimizer.learning_rate" in fields(validate(cfg, ws), level)


def test_sane_learning_rates_pass(ws):
    for opt, lr in (("AdamW", 1e-4), ("Prodigy", 1.0), ("Lion", 3e-5)):
        cfg = ready_config(ws, "sd15", optimizer={"optimizer": opt, "learning_rate": lr})
        assert not [p for p in validate(cfg, ws) if p.field.startswith("optimizer.")]


def test_combinations_sd_scripts_rejects(ws):
    te = ready_config(ws, "sdxl", network={"train_unet_only": False}, optimizer={"text_encoder_lr": 1e-5})
    assert "performance.cache_text_encoder_outputs" in fields(validate(te, ws), "error")
    for clash in ({"shuffle_caption": True}, {"caption_dropout_rate": 0.1}, {"caption_tag_dropout_rate": 0.1}):
        cfg = ready_config(ws, "flux", dataset=clash)
        assert "performance.cache_text_encoder_outputs" in fields(validate(cfg, ws), "error"), clash
    # SD1.5 has no text-encoder cache, so shuffled captions are fine there
    assert "performance.cache_text_encoder_outputs" not in fields(
        validate(ready_config(ws, "sd15", dataset={"shuffle_caption": True}, performance={"cache_text_encoder_outputs": True}), ws))
    for aug in ({"random_crop": True}, {"color_aug": True}):
        assert "performance.cache_latents" in fields(validate(ready_config(ws, "sd15", dataset=aug), ws), "error")
    assert "performance.cache_latents" not in fields(validate(ready_config(
        ws, "sd15", dataset={"random_crop": True}, performance={"cache_latents": False}), ws))
    assert "dataset.bucket_reso_steps" in fields(validate(ready_config(ws, "sd15", dataset={"bucket_reso_steps": 32}), ws), "error")
    assert "dataset.bucket_reso_steps" not in fields(validate(ready_config(ws, "sdxl", dataset={"bucket_reso_steps": 32}), ws))
    assert "performance.fp8_base" in fields(validate(ready_config(ws, "sd15", performance={"fp8_base": True}), ws), "warning")
    assert "performance.full_bf16" in fields(validate(ready_config(
        ws, "sd15", performance={"full_bf16": True, "mixed_precision": "fp16"}), ws), "error")
    assert "performance.gpu_ids" in fields(validate(ready_config(
        ws, "sd15", performance={"num_gpus": 2, "gpu_ids": "0"}), ws), "error")
    assert "advanced.min_timestep" in fields(validate(ready_config(
        ws, "sd15", advanced={"min_timestep": 500, "max_timestep": 400}), ws), "error")
    assert "optimizer.scheduler" in fields(validate(ready_config(
        ws, "sd15", optimizer={"optimizer": "AdamWScheduleFree", "scheduler": "cosine"}), ws), "warning")
    # sd-scripts raises "constant does not require num_warmup_steps": an error, not a warning
    assert "optimizer.warmup_steps" in fields(validate(ready_config(
        ws, "sd15", optimizer={"scheduler": "constant", "warmup_steps": 10}), ws), "error")


def test_samples_and_extra(ws):
    assert "samples.prompts" in fields(validate(ready_config(ws, "sd15", samples={"sample_every_n_epochs": 1}), ws))
    assert "samples.sample_every_n_epochs" in fields(
        validate(ready_config(ws, "sd15", samples={"prompts": [{"prompt": "x"}]}), ws))
    bad = ready_config(ws, "sd15", advanced={"extra": {"conv_dim": 4, "scale_weight_norms": "1"}})
    msgs = [p.message for p in validate(bad, ws) if p.field == "advanced.extra"]
    assert any("conv_dim" in m for m in msgs) and any("scale_weight_norms" in m for m in msgs)
    dup = ready_config(ws, "sd15", optimizer={"weight_decay": 0.1, "extra_args": ["weight_decay=0.2"]})
    assert "optimizer.extra_args" in fields(validate(dup, ws), "error")


def test_disk_space(ws, monkeypatch):
    cfg = ready_config(ws, "sdxl", network={"dim": 64})
    assert estimate_output_bytes(cfg, 100, 10) > 64 * 5 * 2**20
    import nyx_core.system

    monkeypatch.setattr(nyx_core.system, "disk_free", lambda path: 1000)
    assert "project.output_dir" in fields(validate(cfg, ws), "error")
    monkeypatch.setattr(nyx_core.system, "disk_free", lambda path: 10 * 2**40)
    assert "project.output_dir" not in fields(validate(cfg, ws))


def test_sd_scripts_missing_is_a_warning(ws, tmp_path):
    problems = validate(ready_config(ws, "sd15"), ws, Settings(sd_scripts_dir=tmp_path / "nothing"))
    assert "settings.sd_scripts_dir" in fields(problems, "warning")
    root = tmp_path / "sd"
    root.mkdir()
    (root / "train_network.py").write_text("")
    py = tmp_path / "python"
    py.write_text("")
    problems = validate(ready_config(ws, "sd15"), ws, Settings(sd_scripts_dir=root, sd_scripts_python=py))
    assert "settings.sd_scripts_dir" not in fields(problems)


def test_output_dir_outside_workspace(ws):
    cfg = ready_config(ws, "sd15", project={"output_dir": "/tmp/elsewhere"})
    assert "project.output_dir" in fields(validate(cfg, ws), "error")


def test_warns_before_overwriting_an_earlier_lora(ws):
    cfg = ready_config(ws)
    assert not [p for p in validate(cfg, ws, Settings()) if p.field == "project.output_name"]
    out = ws.outputs / cfg.project.name
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{cfg.output_name}.safetensors").write_bytes(b"old")
    warned = [p for p in validate(cfg, ws, Settings()) if p.field == "project.output_name"]
    assert len(warned) == 1 and warned[0].level == "warning" and "overwrite" in warned[0].message
