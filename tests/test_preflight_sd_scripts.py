"""Pre-flight refuses what sd-scripts refuses at start, and nothing it runs (issue 9)."""
from __future__ import annotations

import typing

import pytest

from nyx_core.config import validate
from nyx_core.config.io import dumps_config
from nyx_core.config.model import GROUPS, TrainingConfig, config_from_data
from nyx_core.config.presets import apply_preset, list_presets
from nyx_core.config.validate import estimate_output_bytes
from nyx_core.kohya.render import render
from nyx_core.settings import Settings
from nyx_core.config.model import ConfigError
from tests.sdscripts_checks import startup_refusals
from tests.test_config_support import ready_config


def errors(problems, field=None):
    return [p for p in problems if p.level == "error" and (field is None or p.field == field)]


def warnings(problems, field=None):
    return [p for p in problems if p.level == "warning" and (field is None or p.field == field)]


def test_flux_bucket_step_must_be_a_multiple_of_64(ws):
    cfg = ready_config(ws, "flux", dataset={"bucket_reso_steps": 32})
    assert errors(validate(cfg, ws), "dataset.bucket_reso_steps")
    assert not errors(validate(ready_config(ws, "sd3", dataset={"bucket_reso_steps": 32}), ws),
                      "dataset.bucket_reso_steps")


def test_adaptive_noise_scale_needs_noise_offset(ws):
    cfg = ready_config(ws, advanced={"extra": {"adaptive_noise_scale": 0.01}})
    assert errors(validate(cfg, ws), "advanced.noise_offset")
    ok = ready_config(ws, advanced={"noise_offset": 0.05, "extra": {"adaptive_noise_scale": 0.01}})
    assert not errors(validate(ok, ws))


def test_v_prediction_options(ws):
    assert errors(validate(ready_config(ws, advanced={"extra": {"scale_v_pred_loss_like_noise_pred": True}}), ws),
                  "model.v_parameterization")
    assert not errors(validate(ready_config(ws, model={"v_parameterization": True},
                                            advanced={"extra": {"scale_v_pred_loss_like_noise_pred": True}}), ws))
    assert errors(validate(ready_config(ws, model={"v_parameterization": True},
                                        advanced={"extra": {"v_pred_like_loss": 0.1}}), ws))


@pytest.mark.parametrize("key,value", [("learning_rate", 1e-3), ("noise_offset", 0.1), ("max_train_steps", 5),
                                       ("shuffle_caption", True), ("resolution", "512"), ("learningrate", 1e-3)])
def test_extras_that_nyx_sets_or_sd_scripts_does_not_know_are_refused(ws, key, value):
    cfg = ready_config(ws, advanced={"extra": {key: value}})
    problems = errors(validate(cfg, ws), "advanced.extra")
    assert problems and key in problems[0].message
    with pytest.raises(ConfigError):  # and Start would refuse it the same way
        render(cfg, ws=ws, settings=Settings(), render_dir=ws.jobs / "r", logging_dir=ws.jobs / "tb")


def test_lokr_full_rank_trick_is_not_terabytes(ws):
    cfg = ready_config(ws, "sdxl", network={"type": "lokr", "dim": 100000, "factor": 8},
                       saving={"save_every_n_epochs": 1})
    assert estimate_output_bytes(cfg, 10, 10) < 2 * 2**30
    assert not [p for p in validate(cfg, ws) if p.field == "project.output_dir" and p.level == "error"]
    lora = ready_config(ws, "sdxl", network={"type": "lora", "dim": 100000})
    assert estimate_output_bytes(lora, 10, 1) > estimate_output_bytes(cfg, 10, 1)


def test_adafactor_relative_step_ignores_the_learning_rate(ws):
    cfg = ready_config(ws, optimizer={"optimizer": "Adafactor", "learning_rate": 1.0, "scheduler": "constant"})
    assert not errors(validate(cfg, ws), "optimizer.learning_rate")
    fixed = ready_config(ws, optimizer={"optimizer": "Adafactor", "learning_rate": 1.0, "scheduler": "constant",
                                        "extra_args": ["relative_step=False", "scale_parameter=False"]})
    assert errors(validate(fixed, ws), "optimizer.learning_rate")
    warm = ready_config(ws, optimizer={"optimizer": "Adafactor", "scheduler": "cosine", "warmup_steps": 10})
    assert errors(validate(warm, ws), "optimizer.warmup_steps")  # "adafactor does not require num_warmup_steps"


def _float_fields(model: type, prefix: str) -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        args = typing.get_args(ann)
        if ann is float or float in args:
            out.append(f"{prefix}{name}")
        elif isinstance(ann, type) and hasattr(ann, "model_fields"):
            out += _float_fields(ann, f"{prefix}{name}.")
    return out


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_inf_and_nan_are_refused_in_every_float_field(bad):
    fields = _float_fields(TrainingConfig, "")
    assert len(fields) >= 20
    for path in fields:
        group, name = path.split(".")
        with pytest.raises(ConfigError, match="finite"):
            config_from_data({group: {name: bad}})
    with pytest.raises(ConfigError, match="finite"):
        config_from_data({"samples": {"prompts": [{"prompt": "x", "cfg": bad}]}})
    with pytest.raises(ConfigError, match="finite"):
        config_from_data({"optimizer": {"betas": [0.9, bad]}})


def test_inf_in_an_extra_option_is_refused(ws):
    assert errors(validate(ready_config(ws, advanced={"extra": {"scale_weight_norms": float("inf")}}), ws),
                  "advanced.extra")


def test_schema_and_preflight_problems_are_listed_together_with_labels(ws):
    from nyx_core.config.validate import check_text

    cfg = ready_config(ws)
    text = dumps_config(cfg).replace("batch_size = 1", 'batch_size = "two"')
    text = text.replace("[network]", "[network]\nconv_dimm = 4")
    text = text.replace('base_model = "base-sd15.safetensors"', 'base_model = "missing.safetensors"')
    _cfg, problems = check_text(text, ws)
    fields = {p.field for p in problems}
    assert {"dataset.batch_size", "network.conv_dimm", "model.base_model"} <= fields
    lines = [str(p) for p in problems]
    assert all("\n" not in line and "Input should" not in line for line in lines)
    assert any(line.startswith("error: Dataset › Batch size: must be a whole number") for line in lines)
    assert any("Model › Base model" in line for line in lines)


def test_min_and_max_bucket_problems_name_those_fields(ws):
    low = validate(ready_config(ws, dataset={"resolution": 64, "min_bucket_reso": 128, "max_bucket_reso": 256}), ws)
    assert errors(low, "dataset.min_bucket_reso") and "refuses" in errors(low, "dataset.min_bucket_reso")[0].message
    high = validate(ready_config(ws, dataset={"resolution": 512, "min_bucket_reso": 64, "max_bucket_reso": 256}), ws)
    assert errors(high, "dataset.max_bucket_reso")
    assert not [p for p in low + high if "will adjust" in p.message]


def test_bucket_bounds_are_rounded_as_sd_scripts_rounds_them(ws):
    # min 100 is rounded down to 64 and max 100 up to 128 before sd-scripts compares: 96 fits
    ok = validate(ready_config(ws, dataset={"resolution": 96, "min_bucket_reso": 100, "max_bucket_reso": 100}), ws)
    assert not errors(ok, "dataset.min_bucket_reso") and not errors(ok, "dataset.max_bucket_reso")
    assert warnings(ok, "dataset.resolution")  # 96 is not a multiple of the bucket step 64


def test_epochs_with_steps_also_set_says_which_wins(ws):
    cfg = ready_config(ws, dataset={"duration": "epochs", "max_train_epochs": 3, "max_train_steps": 500})
    note = warnings(validate(cfg, ws), "dataset.max_train_steps")
    assert note and "3 epoch(s) are trained" in note[0].message


def test_unsupported_version_is_refused():
    with pytest.raises(ConfigError, match="version 2 is not supported.*version 1"):
        config_from_data({"version": 2})


def test_every_group_is_checked_by_the_inf_test():
    assert {p.split(".")[0] for p in _float_fields(TrainingConfig, "")} >= {"network", "optimizer", "advanced",
                                                                             "dataset"}
    assert set(GROUPS) >= {"dataset", "advanced"}


@pytest.mark.parametrize("family", ["sd15", "sdxl", "flux", "sd3"])
def test_every_built_in_preset_passes_sd_scripts_start_up_checks(ws, family):
    presets = [p for p in list_presets(ws, family) if p.builtin]
    assert presets
    for preset in presets:
        cfg = apply_preset(ready_config(ws, family), preset)
        assert not errors(validate(cfg, ws)), preset.id
        run = render(cfg, ws=ws, settings=Settings(), render_dir=ws.jobs / "r", logging_dir=ws.jobs / "tb")
        assert startup_refusals(run.script, run.args, run.dataset) == [], preset.id


def test_the_re_expressed_checks_catch_what_they_claim():
    ds = {"general": {"shuffle_caption": True}, "datasets": [{"resolution": 1024, "enable_bucket": True,
                                                             "bucket_reso_steps": 32, "min_bucket_reso": 256,
                                                             "max_bucket_reso": 2048}]}
    args = {"max_train_steps": 10, "cache_text_encoder_outputs": True, "adaptive_noise_scale": 0.1,
            "lr_scheduler": "constant", "lr_warmup_steps": 5}
    found = startup_refusals("flux_train_network.py", args, ds)
    assert len(found) == 4  # bucket step (64 first), TE cache + shuffle, adaptive noise, constant + warmup


def test_dont_upscale_with_a_too_thin_image_is_named_on_that_field(ws):
    # Measured with real sd-scripts: a 128x64 image at resolution 64 with "don't upscale" gets a
    # 0-px bucket side and train_network.py stops with ZeroDivisionError in select_bucket.
    from tests.test_config_support import make_dataset

    make_dataset(ws, "thin", {"2_x": [(64, 64), (128, 64)]})
    cfg = ready_config(ws, dataset={"name": "thin", "bucket_no_upscale": True})
    found = errors(validate(cfg, ws), "dataset.bucket_no_upscale")
    assert found and "too thin" in found[0].message and str(found[0]).startswith("error: Dataset › Don't upscale")


def test_lokr_size_estimate_matches_a_real_sd_scripts_file():
    # Measured: real sd-scripts (pinned commit, CPU) trained the kohya_ss preset "sd15 - LoKr v1.1"
    # (LoKr factor 6, dim and conv dim 100000) into a 73,165,524-byte fp16 file.
    from nyx_core.config.model import new_config
    from nyx_core.config.validate import network_file_bytes

    cfg = new_config("x", "sd15", network={"type": "lokr", "dim": 100000, "factor": 6, "conv_dim": 100000},
                     performance={"save_precision": "fp16"})
    assert network_file_bytes(cfg) == pytest.approx(73_165_524, rel=0.1)
