"""The Nyx training config: one typed model, grouped the way the Training page shows it.

Nyx's own TOML mirrors this model (one table per group). What sd-scripts gets is produced by
``nyx_core.kohya.render`` from it; nothing here knows sd-scripts' key names. Paths are kept as
the user typed them (workspace-relative, absolute inside the workspace, or a Hub id for the base
model) and resolved at render/validate time, so a config survives moving the workspace.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nyx_core.errors import NyxError

from nyx_core.config.families import FAMILIES

from nyx_core.config.enums import (
    Attention,
    DurationMode,
    Family,
    FluxVariant,
    HuberSchedule,
    LossType,
    MixedPrecision,
    ModelPrediction,
    NetworkType,
    Optimizer,
    Sampler,
    SaveModelAs,
    SavePrecision,
    Scheduler,
    TimestepSampling,
    WarmupMode,
    WeightingScheme,
)


class _Group(BaseModel):
    # Unknown keys in a hand-edited file are an error, not silently ignored (the whole point of
    # issue 4); assignment is validated so the page cannot store a wrong type.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False, allow_inf_nan=False)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")


class ProjectConfig(_Group):
    name: str = "my-lora"
    #: Where the LoRA is written; empty = ``outputs/<name>``. Workspace-relative.
    output_dir: str = ""
    #: File name stem of the LoRA; empty = the project name.
    output_name: str = ""
    seed: int = Field(42, ge=0)
    #: Stored as ``training_comment`` in the LoRA's metadata.
    comment: str = ""
    trigger_word: str = ""

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        v = v.strip()
        if not _NAME.match(v):
            raise ValueError("use letters, digits, '.', '_', '-' or spaces (1-100 characters, no '/')")
        return v


class ModelConfig(_Group):
    family: Family = Family.sd15
    flux_variant: FluxVariant = FluxVariant.dev
    #: A file in workspace/models (name or relative path), an absolute path in the workspace, or a Hub id.
    base_model: str = ""
    vae: str = ""
    clip_l: str = ""  # Flux, SD3
    clip_g: str = ""  # SD3
    t5xxl: str = ""  # Flux, SD3
    ae: str = ""  # Flux's autoencoder
    v2: bool = False  # SD2.x base (sd15 family only)
    v_parameterization: bool = False
    clip_skip: int = Field(0, ge=0, le=12)  # 0 = not written
    #: Continue training an existing LoRA (its weights are the starting point).
    network_weights: str = ""
    #: Resume from a saved training state folder (optimizer, step counter).
    resume_state: str = ""


class ConceptConfig(_Group):
    """Per-concept overrides; the folders themselves come from the dataset (``<repeats>_<name>``)."""

    folder: str
    repeats: int | None = Field(None, ge=1)
    class_tokens: str | None = None
    enabled: bool = True
    is_reg: bool = False


class DatasetConfig(_Group):
    name: str = ""  # a folder under workspace/datasets
    concepts: list[ConceptConfig] = Field(default_factory=list)
    resolution: int = Field(512, ge=64, le=4096)
    #: Non-square training resolution; 0 = square ``resolution``.
    resolution_height: int = Field(0, ge=0, le=4096)
    enable_bucket: bool = True
    min_bucket_reso: int = Field(256, ge=64)
    max_bucket_reso: int = Field(1024, ge=64)
    bucket_reso_steps: int = Field(64, ge=8)
    bucket_no_upscale: bool = False
    #: Empty = the dataset's own setting (.nyx-dataset.toml), else ".txt". Always written to sd-scripts.
    caption_extension: str = ""
    shuffle_caption: bool = False
    keep_tokens: int = Field(0, ge=0)
    caption_dropout_rate: float = Field(0.0, ge=0.0, le=1.0)
    caption_dropout_every_n_epochs: int = Field(0, ge=0)
    caption_tag_dropout_rate: float = Field(0.0, ge=0.0, le=1.0)
    flip_aug: bool = False
    color_aug: bool = False
    random_crop: bool = False
    batch_size: int = Field(1, ge=1, le=256)
    #: Exactly one of epochs / steps is written to sd-scripts, chosen by this switch.
    duration: DurationMode = DurationMode.epochs
    max_train_epochs: int = Field(10, ge=0)
    max_train_steps: int = Field(0, ge=0)

    @field_validator("caption_extension")
    @classmethod
    def _dot(cls, v: str) -> str:
        v = v.strip()
        if v and not v.startswith("."):
            v = "." + v
        return v


def _key_value_list(items: list[str], what: str) -> list[str]:
    """sd-scripts splits each ``network_args`` / ``optimizer_args`` entry at '='; refuse ones it can't."""
    for item in items:
        if "=" not in item or item.startswith("="):
            raise ValueError(f"{what} {item!r} must look like key=value")
    return items


class NetworkConfig(_Group):
    type: NetworkType = NetworkType.lora
    dim: int = Field(16, ge=1, le=100000)
    alpha: float = Field(8.0, gt=0)
    #: Convolution layers (LoCon/LoHa/LoKr, or kohya LoRA's conv extension); 0 = off.
    conv_dim: int = Field(0, ge=0)
    conv_alpha: float = Field(0.0, ge=0)
    #: LoKr decomposition factor; -1 lets LyCORIS choose.
    factor: int = -1
    dropout: float = Field(0.0, ge=0.0, le=1.0)
    rank_dropout: float = Field(0.0, ge=0.0, le=1.0)
    module_dropout: float = Field(0.0, ge=0.0, le=1.0)
    train_unet_only: bool = False
    #: Extra ``k=v`` network arguments, written after Nyx's own (an escape hatch).
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("extra_args")
    @classmethod
    def _kv(cls, v: list[str]) -> list[str]:
        return _key_value_list(v, "network argument")


class OptimizerConfig(_Group):
    optimizer: Optimizer = Optimizer.adamw8bit
    learning_rate: float = Field(1e-4, ge=0)
    #: None = use learning_rate.
    unet_lr: float | None = Field(None, ge=0)
    #: None = use learning_rate; 0 = do not train the text encoder(s).
    text_encoder_lr: float | None = Field(None, ge=0)
    weight_decay: float | None = Field(None, ge=0)
    betas: tuple[float, float] | None = None
    #: Extra ``k=v`` optimizer arguments (e.g. ``decouple=True`` for Prodigy).
    extra_args: list[str] = Field(default_factory=list)
    scheduler: Scheduler = Scheduler.constant
    warmup_mode: WarmupMode = WarmupMode.steps
    warmup_steps: int = Field(0, ge=0)
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    num_cycles: int = Field(1, ge=1)  # cosine_with_restarts
    power: float = Field(1.0, gt=0)  # polynomial
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, ge=0)

    @field_validator("extra_args")
    @classmethod
    def _kv(cls, v: list[str]) -> list[str]:
        return _key_value_list(v, "optimizer argument")


class PerformanceConfig(_Group):
    mixed_precision: MixedPrecision = MixedPrecision.bf16
    save_precision: SavePrecision = SavePrecision.fp16
    gradient_checkpointing: bool = True
    cache_latents: bool = True
    cache_latents_to_disk: bool = False
    cache_text_encoder_outputs: bool = False  # SDXL, Flux, SD3
    cache_text_encoder_outputs_to_disk: bool = False
    attention: Attention = Attention.sdpa
    fp8_base: bool = False
    full_bf16: bool = False
    full_fp16: bool = False
    blocks_to_swap: int = Field(0, ge=0, le=60)  # Flux / SD3
    num_gpus: int = Field(1, ge=1, le=64)
    #: Comma-separated GPU ids for accelerate ("0,1"); empty = all / the first N.
    gpu_ids: str = ""
    max_data_loader_n_workers: int = Field(2, ge=0, le=64)
    persistent_data_loader_workers: bool = True
    lowram: bool = False

    @field_validator("gpu_ids")
    @classmethod
    def _ids(cls, v: str) -> str:
        v = v.replace(" ", "")
        if v and not re.fullmatch(r"\d+(,\d+)*", v):
            raise ValueError("GPU ids are numbers separated by commas, e.g. 0,1")
        return v


class AdvancedConfig(_Group):
    noise_offset: float = Field(0.0, ge=0.0, le=1.0)
    multires_noise_iterations: int = Field(0, ge=0)
    multires_noise_discount: float = Field(0.3, ge=0.0, le=1.0)
    min_snr_gamma_enabled: bool = False
    min_snr_gamma: float = Field(5.0, gt=0)
    ip_noise_gamma: float = Field(0.0, ge=0.0)
    min_timestep: int | None = Field(None, ge=0, le=1000)
    max_timestep: int | None = Field(None, ge=1, le=1000)
    loss_type: LossType = LossType.l2
    huber_schedule: HuberSchedule = HuberSchedule.snr
    huber_c: float = Field(0.1, gt=0)
    debiased_estimation_loss: bool = False
    zero_terminal_snr: bool = False
    max_token_length: int = 75  # 75 = not written; 150 / 225 (SD1.5 / SDXL)
    # Flux
    timestep_sampling: TimestepSampling = TimestepSampling.sigmoid
    model_prediction_type: ModelPrediction = ModelPrediction.raw
    guidance_scale: float = Field(1.0, ge=0.0)
    discrete_flow_shift: float = Field(3.1582, gt=0)
    sigmoid_scale: float = Field(1.0, gt=0)
    # Flux / SD3
    weighting_scheme: WeightingScheme = WeightingScheme.uniform
    apply_t5_attn_mask: bool = False
    t5xxl_max_token_length: int = 0  # 0 = the script's own default
    # SD3
    training_shift: float = Field(1.0, gt=0)
    #: Other sd-scripts options by their real name (``dest``); checked against the script's
    #: argument list before rendering, so a typo is reported rather than ignored.
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("max_token_length")
    @classmethod
    def _tok(cls, v: int) -> int:
        if v not in (75, 150, 225):
            raise ValueError("max token length is 75, 150 or 225")
        return v


class SavingConfig(_Group):
    save_every_n_epochs: int = Field(1, ge=0)  # 0 = only at the end
    save_every_n_steps: int = Field(0, ge=0)
    save_last_n_epochs: int = Field(0, ge=0)  # 0 = keep all
    save_last_n_steps: int = Field(0, ge=0)
    save_state: bool = False
    save_state_on_train_end: bool = False
    save_model_as: SaveModelAs = SaveModelAs.safetensors


class SamplePrompt(_Group):
    prompt: str
    negative: str = ""
    width: int | None = Field(None, ge=64, le=4096)
    height: int | None = Field(None, ge=64, le=4096)
    seed: int | None = Field(None, ge=0)
    cfg: float | None = Field(None, ge=0)
    steps: int | None = Field(None, ge=1, le=1000)


class SamplesConfig(_Group):
    sample_every_n_epochs: int = Field(0, ge=0)
    sample_every_n_steps: int = Field(0, ge=0)
    sample_at_first: bool = False
    sampler: Sampler = Sampler.euler_a
    prompts: list[SamplePrompt] = Field(default_factory=list)


class LoggingConfig(_Group):
    wandb: bool = False
    #: wandb project (sd-scripts' ``log_tracker_name``); empty = the project name.
    wandb_project: str = ""
    wandb_run_name: str = ""
    log_prefix: str = ""


GROUPS = (
    "project", "model", "dataset", "network", "optimizer", "performance", "advanced", "saving",
    "samples", "logging",
)


#: Config file versions this Nyx reads.
SUPPORTED_VERSIONS = (1,)


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    version: int = 1
    project: ProjectConfig = Field(default_factory=ProjectConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    advanced: AdvancedConfig = Field(default_factory=AdvancedConfig)
    saving: SavingConfig = Field(default_factory=SavingConfig)
    samples: SamplesConfig = Field(default_factory=SamplesConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v not in SUPPORTED_VERSIONS:
            raise ValueError(f"version {v} is not supported; this Nyx reads version "
                             f"{', '.join(str(x) for x in SUPPORTED_VERSIONS)}")
        return v

    @model_validator(mode="after")
    def _bucket_order(self) -> "TrainingConfig":
        d = self.dataset
        if d.min_bucket_reso > d.max_bucket_reso:
            raise ValueError("dataset.min_bucket_reso must not be larger than dataset.max_bucket_reso")
        return self

    # Convenience -----------------------------------------------------------------------
    @property
    def family(self) -> Family:
        return self.model.family

    @property
    def output_name(self) -> str:
        return self.project.output_name or self.project.name.replace(" ", "_")

    def to_data(self) -> dict[str, Any]:
        """Plain JSON/TOML-able data (enums as values, no Nones) in the file's group order."""
        return _drop_none(self.model_dump(mode="json"))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


#: What a fresh config of each family starts from (the "recipe" presets refine it further); a
#: view of the family table.
FAMILY_DEFAULTS: dict[Family, dict[str, dict[str, Any]]] = {f: s.defaults for f, s in FAMILIES.items()}


def merge_groups(cfg: TrainingConfig, groups: dict[str, dict[str, Any]]) -> TrainingConfig:
    """A copy of ``cfg`` with the given group fields replaced (validated as a whole)."""
    data = cfg.model_dump(mode="json")
    for group, values in groups.items():
        data.setdefault(group, {}).update(values)
    return TrainingConfig.model_validate(data)


def new_config(name: str, family: Family | str = Family.sd15, **groups: dict[str, Any]) -> TrainingConfig:
    """A fresh config for ``family`` with that family's defaults, then ``groups`` on top."""
    try:
        fam = Family(family)
        cfg = TrainingConfig(project=ProjectConfig(name=name), model=ModelConfig(family=fam))
    except ValueError as exc:  # pydantic's ValidationError is one: make it one line naming the field
        raise ConfigError(describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)) from None
    cfg = merge_groups(cfg, FAMILY_DEFAULTS[fam])
    if groups:
        cfg = merge_groups(cfg, groups)
    return cfg


class ConfigError(NyxError):
    """A config file or value was refused; the message names the field and what to do."""


def error_field(err: dict[str, Any]) -> str:
    """pydantic's location as a config field id: ``("samples", "prompts", 0, "width")`` ->
    ``samples.prompts[0].width``."""
    out = ""
    for part in err.get("loc", ()):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def plain_error(err: dict[str, Any]) -> str:
    """One pydantic error in the words the page uses (no "Input should be ..." jargon)."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    words = {
        "extra_forbidden": "unknown option (remove it or check its spelling)",
        "finite_number": "must be a finite number (not inf or NaN)",
        "int_parsing": "must be a whole number", "int_type": "must be a whole number",
        "int_from_float": "must be a whole number", "float_parsing": "must be a number",
        "float_type": "must be a number", "bool_parsing": "must be true or false", "bool_type": "must be true or false",
        "string_type": "must be text", "missing": "is required", "list_type": "must be a list",
        "dict_type": "must be a table", "model_type": "must be a table", "tuple_type": "must be a pair of numbers",
        "too_short": "has too few entries", "too_long": "has too many entries",
    }
    if kind in words:
        return words[kind]
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than") and ctx:
        bound = next(iter(ctx.values()))
        return {"greater_than_equal": f"must be at least {bound}", "greater_than": f"must be more than {bound}",
                "less_than_equal": f"must be at most {bound}", "less_than": f"must be less than {bound}"}[kind]
    if kind == "enum" and "expected" in ctx:
        return f"must be one of {ctx['expected']}"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def describe_validation_error(exc: ValidationError, *, source: str = "") -> str:
    """pydantic's multi-line report as one line per problem: ``group.field: what``."""
    parts = [f"{error_field(err)}: {plain_error(err)}" for err in exc.errors()]
    prefix = f"{source}: " if source else ""
    return prefix + "; ".join(parts)


def config_from_data(data: dict[str, Any], *, source: str = "") -> TrainingConfig:
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=source)) from None
