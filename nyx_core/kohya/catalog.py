"""Which sd-scripts script and options belong to each model family.

``known_args.json`` is a compact copy of the argument names, types and choices of the four
training scripts at the pinned sd-scripts commit (from ``../shared/kohya/argspec``), plus the
dataset-TOML keys per level. It lets Nyx reject an unknown option even where ``../shared`` is
absent; the argspec test checks it against the full files.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from nyx_core.config.enums import Family, NetworkType
from nyx_core.config.families import FAMILIES

_KNOWN = Path(__file__).with_name("known_args.json")

#: Views of the family table (``nyx_core.config.families``), kept for callers.
SCRIPTS: dict[Family, str] = {f: s.script for f, s in FAMILIES.items()}
LORA_MODULES: dict[Family, str] = {f: s.lora_module for f, s in FAMILIES.items()}
LYCORIS_MODULE = "lycoris.kohya"

#: LyCORIS ``algo=`` per network type (DoRA is LoRA with weight decomposition).
LYCORIS_ALGO: dict[NetworkType, str] = {
    NetworkType.locon: "locon",
    NetworkType.loha: "loha",
    NetworkType.lokr: "lokr",
    NetworkType.dora: "lora",
    NetworkType.ia3: "ia3",
    NetworkType.full: "full",
}

ALL = frozenset(Family)

FAMILY_NAMES: dict[Family, str] = {f: s.short for f, s in FAMILIES.items()}
_UNET = frozenset({Family.sd15, Family.sdxl})
_DIT = frozenset({Family.flux, Family.sd3})

#: Config fields ("group.field") that only some families use; everything else applies to all.
#: The page hides a field whose family set excludes the chosen family, and the renderer never
#: writes it.
FIELD_FAMILIES: dict[str, frozenset[Family]] = {
    "model.flux_variant": frozenset({Family.flux}),
    "model.vae": frozenset({Family.sd15, Family.sdxl, Family.sd3}),
    "model.clip_l": _DIT,
    "model.clip_g": frozenset({Family.sd3}),
    "model.t5xxl": _DIT,
    "model.ae": frozenset({Family.flux}),
    "model.v2": frozenset({Family.sd15}),
    "model.v_parameterization": _UNET,
    "model.clip_skip": _UNET,
    "performance.cache_text_encoder_outputs": frozenset({Family.sdxl, Family.flux, Family.sd3}),
    "performance.cache_text_encoder_outputs_to_disk": frozenset({Family.sdxl, Family.flux, Family.sd3}),
    "performance.blocks_to_swap": _DIT,
    "advanced.max_token_length": _UNET,
    "advanced.zero_terminal_snr": _UNET,
    "advanced.min_snr_gamma_enabled": _UNET,
    "advanced.min_snr_gamma": _UNET,
    "advanced.debiased_estimation_loss": _UNET,
    "advanced.timestep_sampling": frozenset({Family.flux}),
    "advanced.model_prediction_type": frozenset({Family.flux}),
    "advanced.guidance_scale": frozenset({Family.flux}),
    "advanced.discrete_flow_shift": frozenset({Family.flux}),
    "advanced.sigmoid_scale": frozenset({Family.flux}),
    "advanced.weighting_scheme": _DIT,
    "advanced.apply_t5_attn_mask": _DIT,
    "advanced.t5xxl_max_token_length": _DIT,
    "advanced.training_shift": frozenset({Family.sd3}),
}

#: Encoders each family needs besides the base model: (field, what it is).
REQUIRED_ENCODERS: dict[Family, tuple[tuple[str, str], ...]] = {f: s.encoders for f, s in FAMILIES.items()}

#: sd-scripts needs bucket_reso_steps to be a multiple of this (see FamilySpec.bucket_multiple).
BUCKET_STEP_MULTIPLE: dict[Family, int] = {f: s.bucket_multiple for f, s in FAMILIES.items()}


def applies(field: str, family: Family | str) -> bool:
    return Family(family) in FIELD_FAMILIES.get(field, ALL)


def script_for(family: Family | str) -> str:
    return SCRIPTS[Family(family)]


def network_module(family: Family | str, network: NetworkType | str) -> str:
    return LORA_MODULES[Family(family)] if NetworkType(network) is NetworkType.lora else LYCORIS_MODULE


@lru_cache(maxsize=1)
def known_args() -> dict[str, Any]:
    return json.loads(_KNOWN.read_text(encoding="utf-8"))


def script_args(script: str) -> dict[str, dict[str, Any]]:
    """dest -> {type, value_type, choices?} for one training script."""
    return known_args()["scripts"][script]


def dataset_keys(level: str, variant: str = "dreambooth") -> dict[str, dict[str, Any]]:
    """key -> {type, required} for a dataset-TOML level: ``general``, ``dataset`` or ``subset``."""
    data = known_args()["dataset"]
    return data["general"] if level == "general" else data[variant][level]


def _type_ok(word: str, v: Any) -> bool:
    # voluptuous checks with isinstance: bool is an int, but an int is not a float.
    if word == "bool":
        return isinstance(v, bool)
    if word == "int":
        return isinstance(v, int)
    if word == "float":
        return isinstance(v, float)
    if word in ("float|int", "int|float"):
        return isinstance(v, (int, float))
    if word == "null|int":
        return v is None or isinstance(v, int)
    if word == "str":
        return isinstance(v, str)
    if word == "dict":
        return isinstance(v, dict)
    if word == "[int,int]|int":
        return isinstance(v, int) or (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v))
    if word == "[float,float]":
        return isinstance(v, list) and len(v) == 2 and all(isinstance(x, float) for x in v)
    return True


def _expected(word: str) -> str:
    return {"[int,int]|int": "int", "float|int": "float", "[float,float]": "list"}.get(word, word)


def check_dataset_config(data: dict[str, Any], *, masked_loss: bool = False) -> list[str]:
    """What sd-scripts' dataset-config validator would reject in ``data`` (a parsed dataset TOML),
    worded like voluptuous (``extra keys not allowed @ data['datasets'][0]...``); [] when valid."""
    problems: list[str] = []

    def check(table: Any, schema: dict[str, dict[str, Any]], where: str, skip: tuple[str, ...] = ()) -> None:
        if not isinstance(table, dict):
            problems.append(f"expected a dictionary @ data{where}")
            return
        for key, value in table.items():
            if key in skip:
                continue
            spec = schema.get(key)
            if spec is None:
                problems.append(f"extra keys not allowed @ data{where}['{key}']")
            elif not _type_ok(spec["type"], value):
                problems.append(f"expected {_expected(spec['type'])} for dictionary value @ data{where}['{key}']")
        for key, spec in schema.items():
            if spec.get("required") and key not in table and key not in skip:
                problems.append(f"required key not provided @ data{where}['{key}']")

    if not isinstance(data, dict):
        return ["expected a dictionary @ data"]
    for key in data:
        if key not in ("general", "datasets"):
            problems.append(f"extra keys not allowed @ data['{key}']")
    if "general" in data:
        check(data["general"], dataset_keys("general"), "['general']")
    datasets = data.get("datasets", [])
    if not isinstance(datasets, list):
        return problems + ["expected list for dictionary value @ data['datasets']"]
    for i, ds in enumerate(datasets):
        subsets = ds.get("subsets", []) if isinstance(ds, dict) else []
        subsets = subsets if isinstance(subsets, list) else []
        if masked_loss and subsets and all(isinstance(s, dict) and "conditioning_data_dir" in s for s in subsets):
            variant = "controlnet"
        elif subsets and all(isinstance(s, dict) and "metadata_file" in s for s in subsets):
            variant = "fine_tuning"
        elif not any(isinstance(s, dict) and "metadata_file" in s for s in subsets):
            variant = "dreambooth"
        else:
            problems.append(f"DreamBooth and fine-tuning subsets cannot share one dataset @ data['datasets'][{i}]")
            continue
        check(ds, dataset_keys("dataset", variant), f"['datasets'][{i}]", skip=("subsets",))
        for j, sub in enumerate(subsets):
            check(sub, dataset_keys("subset", variant), f"['datasets'][{i}]['subsets'][{j}]")
    return problems


def value_problem(spec: dict, value: object) -> str | None:
    """Why ``value`` is the wrong Python type/choice for an sd-scripts argument, or None."""
    t = spec.get("type")
    vt = spec.get("value_type", "")
    if vt.startswith("["):
        if not isinstance(value, list):
            return "must be a list"
        items = value
        inner = vt.strip("[]")
    else:
        items = [value]
        inner = vt
    for v in items:
        if t == "bool-flag" or inner == "bool":
            if not isinstance(v, bool):
                return "must be true or false"
        elif inner == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                return "must be a whole number"
        elif inner in ("float", "int|float"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return "must be a number"
            if isinstance(v, float) and not math.isfinite(v):
                return "must be a finite number (not inf or NaN)"
        elif inner in ("str", "str(path)"):
            if not isinstance(v, str):
                return "must be text"
    choices = spec.get("choices")
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(str(c) for c in choices if c is not None)}"
    return None


def check_training_args(script: str, args: dict[str, Any]) -> list[str]:
    """Keys that are not an argument of ``script``, or values of the wrong type/choice."""
    known = script_args(script)
    problems = []
    for key, value in args.items():
        spec = known.get(key)
        if spec is None:
            problems.append(f"{key}: not an option of {script}")
            continue
        why = value_problem(spec, value)
        if why:
            problems.append(f"{key}: {why}")
    if ("max_train_steps" in args) == ("max_train_epochs" in args):
        problems.append("exactly one of max_train_steps / max_train_epochs must be written")
    for item in args.get("network_args", []) + args.get("optimizer_args", []):
        if not isinstance(item, str) or "=" not in item:
            problems.append(f"{item!r}: network/optimizer arguments must be 'key=value' strings")
    return problems


#: Every sd-scripts option Nyx writes itself (``render.training_args``), for any family: an ``advanced.extra`` entry
#: may not set one of these (it would be overridden by, or silently fight, a Nyx field).
NYX_ARGS = frozenset({
    "pretrained_model_name_or_path", "vae", "clip_l", "clip_g", "t5xxl", "ae", "v2", "v_parameterization",
    "clip_skip", "network_weights", "resume", "dataset_config", "cache_latents", "cache_latents_to_disk",
    "cache_text_encoder_outputs", "cache_text_encoder_outputs_to_disk", "max_token_length",
    "t5xxl_max_token_length", "apply_t5_attn_mask", "network_module", "network_dim", "network_alpha",
    "network_dropout", "network_args", "network_train_unet_only", "training_comment", "metadata_trigger_phrase",
    "optimizer_type", "learning_rate", "lr_scheduler", "gradient_accumulation_steps", "max_grad_norm", "unet_lr",
    "text_encoder_lr", "optimizer_args", "lr_warmup_steps", "lr_scheduler_num_cycles", "lr_scheduler_power",
    "output_dir", "output_name", "save_model_as", "save_precision", "mixed_precision", "seed", "train_batch_size",
    "max_data_loader_n_workers", "max_train_epochs", "max_train_steps", "persistent_data_loader_workers",
    "gradient_checkpointing", "sdpa", "xformers", "mem_eff_attn", "fp8_base", "full_bf16", "full_fp16", "lowram",
    "blocks_to_swap", "save_every_n_epochs", "save_every_n_steps", "save_last_n_epochs", "save_last_n_steps",
    "save_state", "save_state_on_train_end", "noise_offset", "multires_noise_iterations", "multires_noise_discount",
    "min_snr_gamma", "ip_noise_gamma", "min_timestep", "max_timestep", "loss_type", "huber_schedule", "huber_c",
    "debiased_estimation_loss", "zero_terminal_snr", "timestep_sampling", "model_prediction_type",
    "guidance_scale", "discrete_flow_shift", "sigmoid_scale", "weighting_scheme", "training_shift",
    "sample_prompts", "sample_sampler", "sample_every_n_epochs", "sample_every_n_steps", "sample_at_first",
    "logging_dir", "log_with", "log_tracker_name", "wandb_run_name", "log_prefix", "config_file",
})
#: Dataset options: Nyx writes them in dataset.toml, where they override (or make sd-scripts
#: ignore) the same option given as a training argument.
DATASET_ARGS = frozenset({
    "train_data_dir", "reg_data_dir", "in_json", "resolution", "enable_bucket", "min_bucket_reso",
    "max_bucket_reso", "bucket_reso_steps", "bucket_no_upscale", "caption_extension", "caption_extention",
    "shuffle_caption", "keep_tokens", "caption_dropout_rate", "caption_dropout_every_n_epochs",
    "caption_tag_dropout_rate", "flip_aug", "color_aug", "random_crop", "dataset_repeats",
})


#: Model files Nyx writes only when their field is set: with the field empty an extra may give one
#: (e.g. a Hub id for the VAE).
OPTIONAL_MODEL_ARGS = {"vae": "vae", "clip_l": "clip_l", "clip_g": "clip_g", "t5xxl": "t5xxl", "ae": "ae",
                       "network_weights": "network_weights", "resume": "resume_state"}


def extra_problems(extra: dict[str, Any], family: Family | str, model: Any = None) -> list[str]:
    """Why entries of ``advanced.extra`` would not reach sd-scripts as meant: not an option of the
    script, the wrong type, or an option Nyx already writes from a field (which would override it).
    ``model`` (the config's model group) frees the model-file options whose field is empty."""
    script = script_for(family)
    known = script_args(script)
    free = {arg for arg, field in OPTIONAL_MODEL_ARGS.items()
            if model is not None and not str(getattr(model, field, "") or "").strip()}
    out = []
    for key, value in extra.items():
        spec = known.get(key)
        if spec is None:
            out.append(f"{key!r} is not an option of {script}; check its spelling or remove it")
        elif key in NYX_ARGS and key not in free:
            out.append(f"{key!r} is set by Nyx from a config field; change it there (an extra may not override it)")
        elif key in DATASET_ARGS:
            out.append(f"{key!r} is a dataset option: Nyx writes it in the dataset file, where it wins; set it on "
                       "the Dataset tab")
        else:
            why = value_problem(spec, value)
            if why:
                out.append(f"{key}: {why}")
    return out
