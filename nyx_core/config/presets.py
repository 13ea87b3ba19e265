"""Presets: "recipe" settings (network, optimizer, schedule, dataset options) without any paths.

Built-ins exist per family for character, style and concept LoRAs, each with a low-VRAM
variant. User presets are TOML files in ``workspace/configs/presets/``. Applying a preset never
touches the project name, model/encoder paths, dataset choice, concepts, prompts or output.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from nyx_core.config.enums import Family
from nyx_core.config.families import spec
from nyx_core.config.model import ConfigError, TrainingConfig, merge_groups
from nyx_core.fsutil import atomic_write_text
from nyx_core.workspace import Workspace

#: Fields a preset may never set: they say *what* is trained and *where*, not *how*.
NON_RECIPE: dict[str, set[str]] = {
    "project": {"name", "output_dir", "output_name", "comment", "trigger_word"},
    "model": {"family", "base_model", "vae", "clip_l", "clip_g", "t5xxl", "ae", "network_weights", "resume_state",
              "v2", "v_parameterization", "flux_variant"},
    "dataset": {"name", "concepts"},
    "performance": {"num_gpus", "gpu_ids"},
    "samples": {"prompts"},
    "logging": {"wandb", "wandb_project", "wandb_run_name", "log_prefix"},
}
RECIPE_GROUPS = ("project", "model", "dataset", "network", "optimizer", "performance", "advanced", "saving", "samples")


@dataclass(frozen=True)
class Preset:
    id: str  # "builtin:sdxl-character-lowvram" or "user:<name>"
    name: str
    family: Family | None  # None: any family
    description: str
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return self.id.startswith("builtin:")


def recipe_only(groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for group, values in groups.items():
        if group not in RECIPE_GROUPS or not isinstance(values, dict):
            continue
        kept = {k: v for k, v in values.items() if k not in NON_RECIPE.get(group, set())}
        if kept:
            out[group] = kept
    return out


# Built-ins ----------------------------------------------------------------------------------
def _family_dataset(family: Family) -> dict[str, Any]:
    """The family table's usual resolution and bucket range."""
    return dict(spec(family).defaults["dataset"])



_KIND = {
    "character": ("Character / person", {
        "dataset": {"flip_aug": False, "max_train_epochs": 10, "duration": "epochs"},
        "network": {"type": "lora"},
        "optimizer": {"optimizer": "AdamW8bit", "scheduler": "cosine", "warmup_mode": "ratio", "warmup_ratio": 0.05},
        "saving": {"save_every_n_epochs": 2},
    }),
    "style": ("Art style", {
        "dataset": {"flip_aug": True, "max_train_epochs": 15, "duration": "epochs"},
        "network": {"type": "lora"},
        "optimizer": {"optimizer": "AdamW8bit", "scheduler": "cosine", "warmup_mode": "ratio", "warmup_ratio": 0.05},
        "saving": {"save_every_n_epochs": 3},
    }),
    "concept": ("Object / concept", {
        "dataset": {"flip_aug": True, "max_train_epochs": 12, "duration": "epochs"},
        "network": {"type": "lora"},
        "optimizer": {"optimizer": "AdamW8bit", "scheduler": "constant_with_warmup", "warmup_mode": "steps",
                      "warmup_steps": 50},
        "saving": {"save_every_n_epochs": 2},
    }),
}

_FAMILY = {
    Family.sd15: {
        "character": {"network": {"dim": 32, "alpha": 16.0}, "optimizer": {"learning_rate": 1e-4, "text_encoder_lr": 5e-5},
                      "dataset": {"shuffle_caption": True, "keep_tokens": 1, "batch_size": 2}},
        "style": {"network": {"dim": 32, "alpha": 16.0}, "optimizer": {"learning_rate": 1e-4, "text_encoder_lr": 5e-5},
                  "dataset": {"shuffle_caption": True, "keep_tokens": 1, "caption_dropout_rate": 0.05, "batch_size": 2}},
        "concept": {"network": {"dim": 16, "alpha": 8.0}, "optimizer": {"learning_rate": 1e-4, "text_encoder_lr": 5e-5},
                    "dataset": {"shuffle_caption": True, "keep_tokens": 1, "batch_size": 2}},
        "common": {"dataset": {**_family_dataset(Family.sd15), "enable_bucket": True},
                   "performance": {"mixed_precision": "fp16", "save_precision": "fp16", "cache_latents": True},
                   "model": {"clip_skip": 0}},
        "lowvram": {"dataset": {"batch_size": 1}, "performance": {"gradient_checkpointing": True,
                                                                   "cache_latents_to_disk": True}},
    },
    Family.sdxl: {
        "character": {"network": {"dim": 16, "alpha": 8.0}, "optimizer": {"learning_rate": 1e-4}},
        "style": {"network": {"dim": 32, "alpha": 16.0}, "optimizer": {"learning_rate": 1e-4}},
        "concept": {"network": {"dim": 16, "alpha": 8.0}, "optimizer": {"learning_rate": 1e-4}},
        "common": {"dataset": {**_family_dataset(Family.sdxl), "enable_bucket": True, "batch_size": 2, "shuffle_caption": False},
                   "network": {"train_unet_only": True}, "optimizer": {"text_encoder_lr": 0.0},
                   "performance": {"mixed_precision": "bf16", "save_precision": "bf16", "cache_latents": True,
                                   "cache_text_encoder_outputs": True}},
        "lowvram": {"dataset": {"batch_size": 1}, "performance": {"gradient_checkpointing": True, "fp8_base": True,
                                                                   "cache_latents_to_disk": True,
                                                                   "cache_text_encoder_outputs_to_disk": True}},
    },
    Family.flux: {
        "character": {"network": {"dim": 16, "alpha": 16.0}, "optimizer": {"learning_rate": 1e-4}},
        "style": {"network": {"dim": 32, "alpha": 32.0}, "optimizer": {"learning_rate": 1e-4}},
        "concept": {"network": {"dim": 16, "alpha": 16.0}, "optimizer": {"learning_rate": 1e-4}},
        "common": {"dataset": {**_family_dataset(Family.flux), "enable_bucket": True, "batch_size": 1, "shuffle_caption": False},
                   "network": {"train_unet_only": True}, "optimizer": {"text_encoder_lr": 0.0},
                   "performance": {"mixed_precision": "bf16", "save_precision": "bf16", "fp8_base": True,
                                   "cache_latents": True, "cache_latents_to_disk": True,
                                   "cache_text_encoder_outputs": True, "cache_text_encoder_outputs_to_disk": True},
                   "advanced": {"timestep_sampling": "shift", "discrete_flow_shift": 3.1582,
                                "model_prediction_type": "raw", "guidance_scale": 1.0}},
        "lowvram": {"performance": {"gradient_checkpointing": True, "blocks_to_swap": 18},
                    "optimizer": {"optimizer": "Adafactor",
                                  "extra_args": ["relative_step=False", "scale_parameter=False", "warmup_init=False"]}},
    },
    Family.sd3: {
        "character": {"network": {"dim": 16, "alpha": 16.0}, "optimizer": {"learning_rate": 1e-4}},
        "style": {"network": {"dim": 32, "alpha": 32.0}, "optimizer": {"learning_rate": 1e-4}},
        "concept": {"network": {"dim": 16, "alpha": 16.0}, "optimizer": {"learning_rate": 1e-4}},
        "common": {"dataset": {**_family_dataset(Family.sd3), "enable_bucket": True, "batch_size": 1, "shuffle_caption": False},
                   "network": {"train_unet_only": True}, "optimizer": {"text_encoder_lr": 0.0},
                   "performance": {"mixed_precision": "bf16", "save_precision": "bf16", "cache_latents": True,
                                   "cache_text_encoder_outputs": True, "cache_text_encoder_outputs_to_disk": True},
                   "advanced": {"weighting_scheme": "uniform", "training_shift": 3.0}},
        "lowvram": {"performance": {"gradient_checkpointing": True, "fp8_base": True, "blocks_to_swap": 10,
                                    "cache_latents_to_disk": True}},
    },
}


def _deep_merge(*parts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for group, values in part.items():
            out.setdefault(group, {}).update(values)
    return out


def builtin_presets() -> list[Preset]:
    out = []
    for fam, table in _FAMILY.items():
        for kind, (label, base) in _KIND.items():
            groups = _deep_merge(base, table["common"], table[kind])
            out.append(Preset(f"builtin:{fam.value}-{kind}", f"{label}", fam,
                              f"{label} LoRA for {fam.value}", recipe_only(groups)))
            low = _deep_merge(groups, table["lowvram"])
            out.append(Preset(f"builtin:{fam.value}-{kind}-lowvram", f"{label} (low VRAM)", fam,
                              f"{label} LoRA for {fam.value}, trading speed for memory", recipe_only(low)))
    return out


# User presets -------------------------------------------------------------------------------
_PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")


def presets_dir(ws: Workspace) -> Path:
    return ws.resolve(f"{ws.relative(ws.configs)}/presets")


def _user_path(ws: Workspace, name: str) -> Path:
    name = name.strip()
    if not _PRESET_NAME.match(name):
        raise ConfigError(f"preset name {name!r}: use letters, digits, '.', '_', '-' or spaces (max 64)")
    return ws.resolve(f"{ws.relative(presets_dir(ws))}/{name}.toml")


def save_user_preset(ws: Workspace, name: str, cfg: TrainingConfig, description: str = "", *,
                     any_family: bool = False) -> Preset:
    """Store the recipe part of ``cfg`` as a user preset (overwrites one of the same name)."""
    path = _user_path(ws, name)
    groups = recipe_only(cfg.to_data())
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Nyx Trainer user preset: recipe settings only (no paths, dataset or prompts)."))
    meta = tomlkit.table()
    meta["name"] = name.strip()
    meta["family"] = "" if any_family else cfg.model.family.value
    meta["description"] = description
    doc["preset"] = meta
    for group, values in groups.items():
        doc[group] = values
    atomic_write_text(path, tomlkit.dumps(doc))
    return load_user_preset(ws, name.strip())


def load_user_preset(ws: Workspace, name: str) -> Preset:
    path = _user_path(ws, name)
    if not path.is_file():
        raise ConfigError(f"no user preset named {name!r}")
    try:
        data = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except TOMLKitError as exc:
        raise ConfigError(f"preset {path.name} is not valid TOML ({exc}); fix or delete it") from None
    meta = data.pop("preset", {}) or {}
    fam = meta.get("family") or None
    try:
        family = Family(fam) if fam else None
    except ValueError:
        raise ConfigError(f"preset {path.name}: unknown family {fam!r}") from None
    return Preset(f"user:{path.stem}", str(meta.get("name") or path.stem), family, str(meta.get("description", "")),
                  recipe_only(data))


def list_user_presets(ws: Workspace) -> list[Preset]:
    folder = presets_dir(ws)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.toml"), key=lambda p: p.name.lower()):
        try:
            out.append(load_user_preset(ws, path.stem))
        except ConfigError:
            continue  # a broken file must not hide the others; it shows up when loaded by name
    return out


def delete_user_preset(ws: Workspace, name: str) -> None:
    from nyx_core.trash import move_to_trash  # deletes go to the trash

    path = _user_path(ws, name)
    if not path.is_file():
        raise ConfigError(f"no user preset named {name!r}")
    move_to_trash(ws, path)


def list_presets(ws: Workspace | None = None, family: Family | str | None = None) -> list[Preset]:
    """Built-ins then user presets; with ``family``, only those that fit it."""
    items = builtin_presets() + (list_user_presets(ws) if ws is not None else [])
    if family is None:
        return items
    fam = Family(family)
    return [p for p in items if p.family in (None, fam)]


def get_preset(preset_id: str, ws: Workspace | None = None) -> Preset:
    """By id (``builtin:sdxl-character``, ``user:mine``) or, for convenience, a bare built-in kind
    like ``character`` is not enough (it needs a family): use ``preset_for``."""
    for p in builtin_presets():
        if p.id == preset_id:
            return p
    if preset_id.startswith("user:") and ws is not None:
        return load_user_preset(ws, preset_id.removeprefix("user:"))
    raise ConfigError(f"unknown preset {preset_id!r}; see `nyx config presets`")


def preset_for(family: Family | str, kind: str, *, low_vram: bool = False, ws: Workspace | None = None) -> Preset:
    """``kind`` is a built-in kind (character/style/concept), a built-in id, or ``user:<name>``."""
    if ":" in kind:
        return get_preset(kind, ws)
    suffix = "-lowvram" if low_vram or kind.endswith("-lowvram") else ""
    return get_preset(f"builtin:{Family(family).value}-{kind.removesuffix('-lowvram')}{suffix}", ws)


def apply_preset(cfg: TrainingConfig, preset: Preset) -> TrainingConfig:
    """A copy of ``cfg`` with the preset's recipe fields; paths, dataset and prompts stay."""
    if preset.family is not None and preset.family is not cfg.model.family:
        raise ConfigError(f"preset {preset.name!r} is for {preset.family.value}, this config is "
                          f"{cfg.model.family.value}; pick a {cfg.model.family.value} preset")
    return merge_groups(cfg, recipe_only(preset.groups))
