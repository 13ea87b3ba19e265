"""One table of model-family facts, read by every part of Nyx that needs one.

Pages (labels, pickers, the calculator), presets, importers, pre-flight, rendering and the
output-size estimate all read a ``FamilySpec`` here; nothing keeps its own copy. Facts about
sd-scripts (script name, bucket multiple, default options) are those of the pinned commit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nyx_core.config.enums import Family


@dataclass(frozen=True)
class FamilySpec:
    family: Family
    #: What the page shows ("SD 1.5 / 2.x").
    label: str
    #: Short name inside messages ("SD1.5").
    short: str
    #: sd-scripts' LoRA training script for the family.
    script: str
    #: kohya's own LoRA module (LyCORIS networks use ``lycoris.kohya`` for every family).
    lora_module: str
    #: bucket_reso_steps must be a multiple of this (the script's start-up assert).
    bucket_multiple: int
    #: Files besides the base model: (config field, what it is).
    encoders: tuple[tuple[str, str], ...]
    #: The usual training resolution and bucket range.
    resolution: int
    min_bucket: int
    max_bucket: int
    #: What a fresh Nyx config of this family starts from (group -> field -> value).
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: sd-scripts' own defaults that differ per family (an import starts from these).
    sd_scripts_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Rough LoRA file size per unit of dim at fp16 (measured: SD1.5 dim 4 = 4.8 MB).
    mb_per_dim: float = 1.0
    #: sum(in*out) / sum(in+out)*2 over the layers a LoRA targets: a full-rank LoKr's stored
    #: factor scales with it. SD1.5's is measured (a real LoKr, factor 6, "full-rank" dim: 24.9 MB of
    #: linear factors at fp16); the others are scaled from it by parameter count.
    layer_width: int = 1500
    #: Latent channels of the family's autoencoder (the latent-cache size).
    latent_channels: int = 4
    #: Most blocks sd-scripts can swap to the CPU (0: not offered).
    max_blocks_to_swap: int = 0
    #: Trains a U-Net (SD1.5/SDXL) rather than a transformer (Flux/SD3).
    unet: bool = True


def _dataset(res: int, lo: int, hi: int) -> dict[str, Any]:
    return {"resolution": res, "min_bucket_reso": lo, "max_bucket_reso": hi, "bucket_reso_steps": 64}


FAMILIES: dict[Family, FamilySpec] = {
    Family.sd15: FamilySpec(
        Family.sd15, "SD 1.5 / 2.x", "SD1.5", "train_network.py", "networks.lora", 64, (),
        512, 256, 1024,
        defaults={"dataset": _dataset(512, 256, 1024), "network": {"dim": 16, "alpha": 8.0},
                  "optimizer": {"learning_rate": 1e-4, "text_encoder_lr": 5e-5},
                  "performance": {"mixed_precision": "fp16", "save_precision": "fp16"}},
        mb_per_dim=1.2, layer_width=1500),
    Family.sdxl: FamilySpec(
        Family.sdxl, "SDXL", "SDXL", "sdxl_train_network.py", "networks.lora", 32, (),
        1024, 512, 2048,
        defaults={"dataset": _dataset(1024, 512, 2048), "network": {"dim": 16, "alpha": 8.0, "train_unet_only": True},
                  "optimizer": {"learning_rate": 1e-4, "text_encoder_lr": 0.0},
                  "performance": {"mixed_precision": "bf16", "save_precision": "bf16",
                                  "cache_text_encoder_outputs": True}},
        mb_per_dim=5.7, layer_width=1000),
    Family.flux: FamilySpec(
        # flux_train_network.py runs train_network.py's 64 check before its own 32 one.
        Family.flux, "Flux.1 (dev / schnell)", "Flux", "flux_train_network.py", "networks.lora_flux", 64,
        (("clip_l", "CLIP-L text encoder"), ("t5xxl", "T5-XXL text encoder"), ("ae", "Flux autoencoder (ae)")),
        1024, 512, 2048,
        defaults={"dataset": _dataset(1024, 512, 2048), "network": {"dim": 16, "alpha": 16.0, "train_unet_only": True},
                  "optimizer": {"learning_rate": 1e-4, "text_encoder_lr": 0.0},
                  "performance": {"mixed_precision": "bf16", "save_precision": "bf16", "fp8_base": True,
                                  "cache_text_encoder_outputs": True, "cache_text_encoder_outputs_to_disk": True,
                                  "cache_latents_to_disk": True},
                  "advanced": {"timestep_sampling": "shift", "model_prediction_type": "raw", "guidance_scale": 1.0,
                               "discrete_flow_shift": 3.1582},
                  "samples": {"sampler": "euler"}},
        sd_scripts_defaults={"advanced": {"timestep_sampling": "sigma", "model_prediction_type": "sigma_scaled",
                                          "guidance_scale": 3.5, "discrete_flow_shift": 3.0,
                                          "weighting_scheme": "uniform"}},
        mb_per_dim=10.0, layer_width=2500, latent_channels=16, max_blocks_to_swap=35, unet=False),
    Family.sd3: FamilySpec(
        Family.sd3, "SD 3.5", "SD3.5", "sd3_train_network.py", "networks.lora_sd3", 32,
        (("clip_l", "CLIP-L text encoder"), ("clip_g", "CLIP-G text encoder"), ("t5xxl", "T5-XXL text encoder")),
        1024, 512, 2048,
        defaults={"dataset": _dataset(1024, 512, 2048), "network": {"dim": 16, "alpha": 16.0, "train_unet_only": True},
                  "optimizer": {"learning_rate": 1e-4, "text_encoder_lr": 0.0},
                  "performance": {"mixed_precision": "bf16", "save_precision": "bf16",
                                  "cache_text_encoder_outputs": True, "cache_text_encoder_outputs_to_disk": True},
                  "advanced": {"weighting_scheme": "uniform", "training_shift": 3.0},
                  "samples": {"sampler": "euler"}},
        sd_scripts_defaults={"advanced": {"weighting_scheme": "uniform", "training_shift": 1.0}},
        mb_per_dim=6.0, layer_width=2800, latent_channels=16, max_blocks_to_swap=36, unet=False),
}


def spec(family: Family | str) -> FamilySpec:
    return FAMILIES[Family(family)]


def by_short_name() -> dict[str, FamilySpec]:
    """``{"SD1.5": spec, ...}`` for pickers that show short names."""
    return {s.short: s for s in FAMILIES.values()}
