"""Every rendered key, type and choice checked against the real sd-scripts argument specification
(``../shared/kohya/argspec``) and dataset schema, over a large matrix of configs. Skips where
``../shared`` is absent (the ``kohya_facts`` fixture)."""
from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

import pytest

from nyx_core.config.enums import Family, NetworkType, Optimizer, Scheduler
from nyx_core.config.model import merge_groups
from nyx_core.kohya import catalog
from nyx_core.kohya.render import render
from nyx_core.settings import Settings
from tests.test_config_support import fake_checkpoint, ready_config


@pytest.fixture(scope="module")
def argspecs(kohya_facts: Path) -> dict[str, dict[str, dict]]:
    out = {}
    for script in catalog.SCRIPTS.values():
        data = json.loads((kohya_facts / "argspec" / script.replace(".py", ".json")).read_text())
        out[script] = {a["dest"]: a for a in data["arguments"]}
    return out


@pytest.fixture(scope="module")
def schema(kohya_facts: Path) -> dict:
    return json.loads((kohya_facts / "dataset_schema.json").read_text())


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def arg_problems(script: str, flat: dict, spec: dict[str, dict]) -> list[str]:
    bad = []
    for key, value in flat.items():
        a = spec.get(key)
        if a is None:
            bad.append(f"{key} is not a dest of {script}")
            continue
        t, vt = a["type"], a["value_type"]
        if t == "bool-flag":
            ok = isinstance(value, bool)
        elif vt.startswith("["):
            inner = vt.strip("[]")
            ok = isinstance(value, list) and all(
                isinstance(x, str) if inner == "str" else _is_num(x) for x in value)
        elif t == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif t in ("float", "int_or_float"):
            ok = _is_num(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            bad.append(f"{key}={value!r} has the wrong type for {t}/{vt}")
        if a["choices"] is not None and value not in a["choices"]:
            bad.append(f"{key}={value!r} not in {a['choices']}")
    if ("max_train_steps" in flat) == ("max_train_epochs" in flat):
        bad.append("not exactly one of max_train_steps / max_train_epochs")
    for item in flat.get("network_args", []) + flat.get("optimizer_args", []):
        if not (isinstance(item, str) and "=" in item and not item.startswith("=")):
            bad.append(f"{item!r} is not a k=v string")
    for required in ("caption_extension",):
        pass
    return bad


def _accepts(word: str, v) -> bool:
    if word == "bool":
        return isinstance(v, bool)
    if word == "int":
        return isinstance(v, int)
    if word == "float":
        return isinstance(v, float)
    if word == "float|int":
        return isinstance(v, (int, float))
    if word == "str":
        return isinstance(v, str)
    if word == "[int,int]|int":
        return isinstance(v, int) or (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v))
    if word == "[float,float]":
        return isinstance(v, list) and len(v) == 2 and all(isinstance(x, float) for x in v)
    if word == "dict":
        return isinstance(v, dict)
    raise AssertionError(word)


def dataset_problems(data: dict, schema: dict) -> list[str]:
    bad = [f"top-level key {k}" for k in data if k not in schema["top_level_keys"]]
    levels = [("general", data.get("general", {}), schema["general"])]
    for i, ds in enumerate(data["datasets"]):
        levels.append((f"datasets[{i}]", {k: v for k, v in ds.items() if k != "subsets"}, schema["dreambooth"]["dataset"]))
        for j, sub in enumerate(ds["subsets"]):
            levels.append((f"datasets[{i}].subsets[{j}]", sub, schema["dreambooth"]["subset"]))
            if "image_dir" not in sub:
                bad.append(f"subset {j} has no image_dir")
    for where, table, level in levels:
        for key, value in table.items():
            if key not in level:
                bad.append(f"{where}.{key} is not accepted at this level")
            elif not _accepts(level[key]["type"], value):
                bad.append(f"{where}.{key}={value!r} is not a {level[key]['type']}")
    if data.get("general", {}).get("caption_extension") is None:
        bad.append("caption_extension not written (sd-scripts' default is .caption)")
    return bad


def _check(run, spec, schema) -> list[str]:
    # Parse what was written, so the check sees TOML literals (1 vs 1.0) exactly as sd-scripts will.
    flat = {k: v for t in tomllib.loads(run.config_toml).values() for k, v in t.items()}
    return arg_problems(run.script, flat, spec[run.script]) + dataset_problems(tomllib.loads(run.dataset_toml), schema)


def test_bundled_catalog_matches_the_facts(argspecs, schema):
    for script, spec in argspecs.items():
        bundled = catalog.script_args(script)
        assert set(bundled) == set(spec) - {"help"}
        for dest, a in bundled.items():
            assert a["type"] == spec[dest]["type"] and a.get("choices") == spec[dest]["choices"], dest
    assert {k: v["type"] for k, v in catalog.dataset_keys("general").items()} == {
        k: v["type"] for k, v in schema["general"].items()}
    for variant in ("dreambooth", "fine_tuning", "controlnet"):
        for level in ("dataset", "subset"):
            assert catalog.dataset_keys(level, variant) == {
                k: {"type": v["type"], "required": v["required"]} for k, v in schema[variant][level].items()}


def test_enum_choices_match_the_facts(argspecs):
    from nyx_core.config.enums import MixedPrecision, Sampler, SavePrecision, TimestepSampling, WeightingScheme

    sd15 = argspecs["train_network.py"]
    assert {s.value for s in Sampler} == set(sd15["sample_sampler"]["choices"])
    assert {m.value for m in MixedPrecision} == set(sd15["mixed_precision"]["choices"])
    assert {p.value for p in SavePrecision} == set(sd15["save_precision"]["choices"]) - {None}
    flux = argspecs["flux_train_network.py"]
    assert {t.value for t in TimestepSampling} == set(flux["timestep_sampling"]["choices"])
    assert {w.value for w in WeightingScheme} == set(flux["weighting_scheme"]["choices"])


@pytest.mark.parametrize("family", [f.value for f in Family])
def test_matrix_family_network_optimizer_scheduler(ws, argspecs, schema, family):
    base = ready_config(ws, family)
    settings = Settings(sd_scripts_dir=Path("/opt/sd-scripts"))
    failures: list[str] = []
    count = 0
    for net, opt, sched in itertools.product(NetworkType, Optimizer, Scheduler):
        cfg = base.model_copy(deep=True)
        cfg.network.type = net
        cfg.network.conv_dim = 4 if net in (NetworkType.locon, NetworkType.loha, NetworkType.lokr) else 0
        cfg.network.dropout = 0.1 if net is NetworkType.lora else 0.0
        cfg.optimizer.optimizer = opt
        cfg.optimizer.scheduler = sched
        cfg.optimizer.warmup_steps = 10
        run = render(cfg, ws=ws, settings=settings, render_dir=ws.jobs / "r", logging_dir=ws.jobs / "tb")
        count += 1
        failures += [f"{net}/{opt}/{sched}: {p}" for p in _check(run, argspecs, schema)]
    assert count == len(NetworkType) * len(Optimizer) * len(Scheduler)
    assert not failures, "\n".join(failures[:30])


TOGGLES: list[dict] = [
    {"samples": {"sample_every_n_epochs": 1, "sample_every_n_steps": 50, "sample_at_first": True,
                 "prompts": [{"prompt": "ohwx cat", "negative": "x", "width": 512, "height": 768, "seed": 1,
                              "cfg": 7.0, "steps": 20}]}},
    {"performance": {"cache_latents": True, "cache_latents_to_disk": True, "cache_text_encoder_outputs": True,
                     "cache_text_encoder_outputs_to_disk": True}, "network": {"train_unet_only": True}},
    {"performance": {"cache_latents": False, "cache_text_encoder_outputs": False}},
    {"performance": {"fp8_base": True, "blocks_to_swap": 18, "attention": "xformers", "lowram": True}},
    {"performance": {"num_gpus": 4, "gpu_ids": "0,1,2,3", "max_data_loader_n_workers": 0}},
    {"performance": {"mixed_precision": "bf16", "full_bf16": True, "save_precision": "float"}},
    {"performance": {"mixed_precision": "fp16", "full_fp16": True, "attention": "none",
                     "gradient_checkpointing": False}},
    {"dataset": {"duration": "steps", "max_train_steps": 500, "resolution_height": 96, "enable_bucket": False}},
    {"dataset": {"shuffle_caption": True, "keep_tokens": 1, "caption_dropout_rate": 0.05,
                 "caption_dropout_every_n_epochs": 2, "caption_tag_dropout_rate": 0.1, "flip_aug": True,
                 "color_aug": True, "random_crop": True, "bucket_no_upscale": True}},
    {"advanced": {"noise_offset": 0.05, "multires_noise_iterations": 6, "multires_noise_discount": 0.3,
                  "min_snr_gamma_enabled": True, "ip_noise_gamma": 0.1, "min_timestep": 10, "max_timestep": 900,
                  "loss_type": "huber", "debiased_estimation_loss": True, "zero_terminal_snr": True,
                  "max_token_length": 225, "apply_t5_attn_mask": True, "t5xxl_max_token_length": 512,
                  "timestep_sampling": "sigmoid", "weighting_scheme": "logit_normal"}},
    {"model": {"v2": True, "v_parameterization": True, "clip_skip": 2}},
    {"optimizer": {"weight_decay": 0.01, "betas": (0.9, 0.99), "extra_args": ["eps=1e-8"], "unet_lr": 2e-4,
                   "text_encoder_lr": 1e-5, "warmup_mode": "ratio", "warmup_ratio": 0.1,
                   "gradient_accumulation_steps": 4, "max_grad_norm": 0.0}},
    {"optimizer": {"text_encoder_lr": 0.0}},
    {"network": {"type": "lora", "conv_dim": 8, "conv_alpha": 1.0, "rank_dropout": 0.1, "module_dropout": 0.1,
                 "extra_args": ["train_norm=False"]}},
    {"network": {"type": "locon", "dropout": 0.1, "rank_dropout": 0.1, "module_dropout": 0.1}},
    {"saving": {"save_every_n_epochs": 2, "save_every_n_steps": 100, "save_last_n_epochs": 3,
                "save_last_n_steps": 300, "save_state": True, "save_state_on_train_end": True}},
    {"logging": {"wandb": True, "wandb_project": "nyx", "wandb_run_name": "r1", "log_prefix": "p"}},
    {"project": {"comment": "a note", "trigger_word": "ohwx"}},
    {"advanced": {"extra": {"scale_weight_norms": 1.0, "max_data_loader_n_workers": 1}}},
]


@pytest.mark.parametrize("family", [f.value for f in Family])
def test_toggles(ws, argspecs, schema, family):
    base = ready_config(ws, family)
    fake_checkpoint(ws.models / "vae.safetensors", "other")
    fake_checkpoint(ws.models / "prev-lora.safetensors", "lora")
    (ws.outputs / "prev-state").mkdir()
    settings = Settings()
    failures = []
    variants = TOGGLES + [
        {"model": {"vae": "vae.safetensors", "network_weights": "prev-lora.safetensors",
                   "resume_state": "outputs/prev-state"}},
    ]
    for i, groups in enumerate(variants):
        if "extra" in groups.get("advanced", {}) and "max_data_loader_n_workers" in groups["advanced"]["extra"]:
            groups = {"advanced": {"extra": {"scale_weight_norms": 1.0}}}
        cfg = merge_groups(base, groups)
        run = render(cfg, ws=ws, settings=settings, render_dir=ws.jobs / "r", logging_dir=ws.jobs / "tb")
        failures += [f"toggle {i}: {p}" for p in _check(run, argspecs, schema)]
    assert not failures, "\n".join(failures)


def test_validation_examples_as_vectors(schema):
    """Nyx's own dataset-TOML check agrees with sd-scripts' validator on every recorded example."""
    for name, example in schema["validation_examples"].items():
        masked = "True, True, True, True" in example.get("sanitizer", "")
        got = catalog.check_dataset_config(example["config"], masked_loss=masked)
        if example["result"] == "ok":
            assert got == [], name
        else:
            assert got, name
            expected = example["result"].removeprefix("MultipleInvalid: ")
            if "@ data" in expected:
                assert expected in got, (name, got)


def test_checker_catches_what_competing_tools_write(argspecs):
    """The mistakes issue 4 names: LyCORIS conv_dim at top level, weight_decompose, top-level
    weight_decay, no step count."""
    wrong = {"conv_dim": 4, "weight_decompose": True, "weight_decay": 0.01, "learning_rate": 1e-4}
    problems = arg_problems("train_network.py", wrong, argspecs["train_network.py"])
    assert any("conv_dim" in p for p in problems)
    assert any("weight_decompose" in p for p in problems)
    assert any("weight_decay" in p for p in problems)
    assert any("exactly one" in p for p in problems)
    assert len(catalog.check_training_args("train_network.py", wrong)) == len(problems)
