"""Which sd-scripts script and options belong to each model family.

``known_args.json`` is a compact copy of the argument names, types and choices of the four
training scripts at the pinned sd-scripts commit (from ``../shared/kohya/argspec``), plus the
dataset-TOML keys per level. It lets Nyx reject an unknown option even where ``../shared`` is
absent; the argspec test checks it against the full files.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from nyx_core.config.enums import Family, NetworkType

_KNOWN = Path(__file__).with_name("known_args.json")

SCRIPTS: dict[Family, str] = {
    Family.sd15: "train_network.py",
    Family.sdxl: "sdxl_train_network.py",
    Family.flux: "flux_train_network.py",
    Family.sd3: "sd3_train_network.py",
}

LORA_MODULES: dict[Family, str] = {
    Family.sd15: "networks.lora",
    Family.sdxl: "networks.lora",  # sd-scripts' SDXL LoRA is the same module
    Family.flux: "networks.lora_flux",
    Family.sd3: "networks.lora_sd3",
}
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

FAMILY_NAMES: dict[Family, str] = {
    Family.sd15: "SD1.5", Family.sdxl: "SDXL", Family.flux: "Flux", Family.sd3: "SD3.5",
}
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
REQUIRED_ENCODERS: dict[Family, tuple[tuple[str, str], ...]] = {
    Family.sd15: (),
    Family.sdxl: (),
    Family.flux: (("clip_l", "CLIP-L text encoder"), ("t5xxl", "T5-XXL text encoder"), ("ae", "Flux autoencoder (ae)")),
    Family.sd3: (("clip_l", "CLIP-L text encoder"), ("clip_g", "CLIP-G text encoder"), ("t5xxl", "T5-XXL text encoder")),
}

#: sd-scripts needs bucket_reso_steps to be a multiple of this (SD1.5's U-Net downsamples 64x).
BUCKET_STEP_MULTIPLE: dict[Family, int] = {Family.sd15: 64, Family.sdxl: 32, Family.flux: 32, Family.sd3: 32}


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


def dataset_keys(level: str) -> dict[str, str]:
    """key -> type word for a dataset-TOML level: ``general``, ``dataset`` or ``subset`` (DreamBooth)."""
    return known_args()["dataset"][level]


def pinned_commit() -> str:
    return known_args()["sd_scripts_commit"]
