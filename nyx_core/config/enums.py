"""Every closed set of choices a training config can take, one Enum each.

Values are what Nyx writes to its own TOML; where sd-scripts has a spelling of its own the
renderer maps it (see ``nyx_core.kohya.render``), so the file stays readable.
"""
from __future__ import annotations

from enum import Enum


class _StrEnum(str, Enum):
    def __str__(self) -> str:  # f-strings and tomlkit show the value, not "Family.sd15"
        return self.value


class Family(_StrEnum):
    sd15 = "sd15"  # SD1.x and SD2.x (v2 / v-prediction flags)
    sdxl = "sdxl"
    flux = "flux"
    sd3 = "sd3"  # SD3 / SD3.5




class FluxVariant(_StrEnum):
    dev = "dev"
    schnell = "schnell"


class NetworkType(_StrEnum):
    lora = "lora"  # kohya's own networks.lora* module
    locon = "locon"  # LyCORIS from here on (lycoris.kohya, algo=...)
    loha = "loha"
    lokr = "lokr"
    dora = "dora"  # LyCORIS algo=lora + dora_wd=True
    ia3 = "ia3"
    full = "full"


NETWORK_LABELS = {
    NetworkType.lora: "LoRA",
    NetworkType.locon: "LoCon (LyCORIS)",
    NetworkType.loha: "LoHa (LyCORIS)",
    NetworkType.lokr: "LoKr (LyCORIS)",
    NetworkType.dora: "DoRA (LyCORIS)",
    NetworkType.ia3: "IA3 (LyCORIS)",
    NetworkType.full: "Full / native fine-tune (LyCORIS)",
}


class Optimizer(_StrEnum):
    """The value is sd-scripts' ``optimizer_type`` spelling (it lower-cases built-in names)."""

    adamw = "AdamW"
    adamw8bit = "AdamW8bit"
    lion = "Lion"
    lion8bit = "Lion8bit"
    adafactor = "Adafactor"
    prodigy = "Prodigy"
    dadapt_adam = "DAdaptAdam"
    # Not built into sd-scripts: loaded as "module.Class" from pytorch-optimizer (an sd-scripts requirement).
    came = "pytorch_optimizer.CAME"
    adamw_schedulefree = "AdamWScheduleFree"
    radam_schedulefree = "RAdamScheduleFree"


#: Optimizers that set their own step size; a usual LR (1e-4) would be wrong for them.
ADAPTIVE_LR_OPTIMIZERS = {Optimizer.prodigy, Optimizer.dadapt_adam}
SCHEDULE_FREE_OPTIMIZERS = {Optimizer.adamw_schedulefree, Optimizer.radam_schedulefree}


class Scheduler(_StrEnum):
    constant = "constant"
    constant_with_warmup = "constant_with_warmup"
    cosine = "cosine"
    cosine_with_restarts = "cosine_with_restarts"
    linear = "linear"
    polynomial = "polynomial"


class WarmupMode(_StrEnum):
    steps = "steps"
    ratio = "ratio"


class DurationMode(_StrEnum):
    epochs = "epochs"
    steps = "steps"


class MixedPrecision(_StrEnum):
    no = "no"
    fp16 = "fp16"
    bf16 = "bf16"


class SavePrecision(_StrEnum):
    float = "float"
    fp16 = "fp16"
    bf16 = "bf16"


class Attention(_StrEnum):
    sdpa = "sdpa"
    xformers = "xformers"
    none = "none"  # sd-scripts' default attention; slow, only for debugging


class Sampler(_StrEnum):
    """sd-scripts' ``sample_sampler`` choices (same list in all four scripts)."""

    ddim = "ddim"
    pndm = "pndm"
    lms = "lms"
    euler = "euler"
    euler_a = "euler_a"
    heun = "heun"
    dpm_2 = "dpm_2"
    dpm_2_a = "dpm_2_a"
    dpmsolver = "dpmsolver"
    dpmsolver_pp = "dpmsolver++"
    dpmsingle = "dpmsingle"
    k_lms = "k_lms"
    k_euler = "k_euler"
    k_euler_a = "k_euler_a"
    k_dpm_2 = "k_dpm_2"
    k_dpm_2_a = "k_dpm_2_a"


class LossType(_StrEnum):
    l2 = "l2"
    l1 = "l1"
    huber = "huber"
    smooth_l1 = "smooth_l1"


class HuberSchedule(_StrEnum):
    snr = "snr"
    constant = "constant"
    exponential = "exponential"


class TimestepSampling(_StrEnum):  # Flux
    sigma = "sigma"
    uniform = "uniform"
    sigmoid = "sigmoid"
    shift = "shift"
    flux_shift = "flux_shift"


class ModelPrediction(_StrEnum):  # Flux
    raw = "raw"
    additive = "additive"
    sigma_scaled = "sigma_scaled"


class WeightingScheme(_StrEnum):  # Flux / SD3
    uniform = "uniform"
    logit_normal = "logit_normal"
    mode = "mode"
    cosmap = "cosmap"
    sigma_sqrt = "sigma_sqrt"
    none = "none"


class SaveModelAs(_StrEnum):
    safetensors = "safetensors"
    ckpt = "ckpt"
    pt = "pt"


def __getattr__(name: str):  # noqa: ANN202 - module attribute hook
    # FAMILY_LABELS lives in the family table (families.py imports this module, so it is looked
    # up on first use rather than imported here).
    if name == "FAMILY_LABELS":
        from nyx_core.config.families import FAMILIES

        return {f: s.label for f, s in FAMILIES.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
