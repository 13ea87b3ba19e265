"""Pre-flight: every problem a config has, at once, before sd-scripts is started.

Each ``Problem`` names the config field ("group.field") and says what to do. Errors block the
Start button; warnings are shown. The combinations checked here are the ones sd-scripts itself
rejects (with an assert after minutes of model loading) or silently mis-trains.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nyx_core.config.enums import (
    ADAPTIVE_LR_OPTIMIZERS,
    SCHEDULE_FREE_OPTIMIZERS,
    Attention,
    DurationMode,
    Family,
    MixedPrecision,
    NetworkType,
    Scheduler,
    WarmupMode,
)
from nyx_core.config.model import ConfigError, TrainingConfig
from nyx_core.config.paths import ModelRef, safe_resolve
from nyx_core.errors import PathError
from nyx_core.kohya import catalog
from nyx_core.workspace import Workspace

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    level: Level
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.field}: {self.message}"


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]


# Model family from a checkpoint's tensor names ------------------------------------------------
MAX_HEADER = 100 * 2**20


def safetensors_keys(path: Path) -> list[str]:
    """Tensor names from a .safetensors header (8-byte length + JSON); no weights are read."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise ValueError("file too short for a safetensors header")
        (n,) = struct.unpack("<Q", raw)
        if n <= 1 or n > MAX_HEADER:
            raise ValueError("not a safetensors file (bad header length)")
        header = json.loads(fh.read(n))
    if not isinstance(header, dict):
        raise ValueError("not a safetensors file (header is not a table)")
    return [k for k in header if k != "__metadata__"]


def guess_family_from_keys(keys: list[str]) -> Family | Literal["lora"] | None:
    joined = "\n".join(keys)
    if "lora_unet_" in joined or "lora_te" in joined or ".lora_down." in joined or "lora_A" in joined:
        return "lora"
    if "double_blocks." in joined or "single_transformer_blocks." in joined:
        return Family.flux
    if "joint_blocks." in joined:
        return Family.sd3
    if "conditioner.embedders.1" in joined or "add_embedding." in joined or "diffusion_model.label_emb" in joined:
        return Family.sdxl
    if "cond_stage_model." in joined or "diffusion_model.input_blocks" in joined or "down_blocks.0.attentions" in joined:
        return Family.sd15
    return None


_DIFFUSERS_CLASSES = {
    "StableDiffusionPipeline": Family.sd15,
    "StableDiffusionXLPipeline": Family.sdxl,
    "FluxPipeline": Family.flux,
    "StableDiffusion3Pipeline": Family.sd3,
}


def guess_family(path: Path) -> Family | Literal["lora"] | None:
    """Best guess of a local checkpoint's family; None when unknown (not an error by itself)."""
    try:
        if path.is_dir():
            index = path / "model_index.json"
            if index.is_file():
                return _DIFFUSERS_CLASSES.get(json.loads(index.read_text(encoding="utf-8")).get("_class_name"))
            return None
        if path.suffix.lower() in (".safetensors", ".sft"):
            return guess_family_from_keys(safetensors_keys(path))
    except (OSError, ValueError):
        return None
    return None


# The checks ---------------------------------------------------------------------------------
class _Collector:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, field: str, message: str) -> None:
        self.items.append(Problem("error", field, message))

    def warn(self, field: str, message: str) -> None:
        self.items.append(Problem("warning", field, message))


def validate(cfg: TrainingConfig, ws: Workspace, settings=None) -> list[Problem]:  # noqa: ANN001
    """All problems of ``cfg`` (errors first), never stopping at the first one."""
    out = _Collector()
    _check_model(cfg, ws, out)
    report_ok = _check_dataset(cfg, ws, out)
    _check_duration(cfg, out)
    if report_ok:
        _check_steps(cfg, ws, out)
    _check_network(cfg, out)
    _check_optimizer(cfg, out)
    _check_combos(cfg, out)
    _check_samples(cfg, out)
    _check_extra(cfg, out)
    _check_paths(cfg, ws, out)
    _check_outputs(cfg, ws, out)
    if settings is not None:
        found, why = settings.sd_scripts_status()
        if not found:
            out.warn("settings.sd_scripts_dir", f"sd-scripts is not set up: {why}; training cannot start until it is")
    return sorted(out.items, key=lambda p: p.level != "error")


def _ref(ws: Workspace, value: str, field: str, out: _Collector, *, allow_hub: bool = False) -> ModelRef | None:
    ref = safe_resolve(ws, value, allow_hub=allow_hub)
    if isinstance(ref, PathError):
        out.error(field, f"{ref}; use a file inside the workspace (put models in workspace/models)")
        return None
    if not ref.exists:
        out.error(field, f"{value!r} was not found in workspace/models or the workspace; upload it or fix the name")
        return None
    return ref


def _check_model(cfg: TrainingConfig, ws: Workspace, out: _Collector) -> None:
    m, fam = cfg.model, cfg.model.family
    if not m.base_model.strip():
        out.error("model.base_model", "no base model chosen; pick a checkpoint from workspace/models")
    else:
        ref = _ref(ws, m.base_model, "model.base_model", out, allow_hub=True)
        if ref is not None and ref.is_hub_id:
            out.warn("model.base_model", f"{m.base_model!r} is not a local file: sd-scripts will try to download it "
                     "from the Hugging Face Hub at start (needs internet; a local file is faster)")
        elif ref is not None and ref.path is not None:
            guess = guess_family(ref.path)
            if guess == "lora":
                out.error("model.base_model", f"{ref.path.name} is a LoRA, not a base model; pick a full checkpoint "
                          "(to continue a LoRA, set model.network_weights)")
            elif guess is not None and guess is not fam:
                out.error("model.base_model", f"{ref.path.name} looks like a {guess.value} model but the family is "
                          f"{fam.value}; change model.family or pick a {fam.value} checkpoint")
    for name, what in catalog.REQUIRED_ENCODERS[fam]:
        value = getattr(m, name).strip()
        if not value:
            out.error(f"model.{name}", f"{catalog.FAMILY_NAMES[fam]} needs the {what}; choose its file from workspace/models")
        else:
            _ref(ws, value, f"model.{name}", out)
    for name in ("vae",):
        if getattr(m, name).strip() and catalog.applies(f"model.{name}", fam):
            _ref(ws, getattr(m, name), f"model.{name}", out)
    if m.network_weights.strip():
        _ref(ws, m.network_weights, "model.network_weights", out)
    if m.resume_state.strip():
        ref = _ref(ws, m.resume_state, "model.resume_state", out)
        if ref is not None and ref.path is not None and not ref.path.is_dir():
            out.error("model.resume_state", "resume needs a saved-state folder (…-state), not a file")
    if m.v2 and m.clip_skip and fam is Family.sd15:
        out.warn("model.clip_skip", "SD2 (v2) with clip_skip gives unexpected results in sd-scripts; set clip skip to 0")


def _layout(cfg: TrainingConfig, ws: Workspace):  # noqa: ANN202
    from nyx_core.datasets.layout import scan_dataset

    return scan_dataset(ws, cfg.dataset.name.strip())


def _check_dataset(cfg: TrainingConfig, ws: Workspace, out: _Collector) -> bool:
    """Dataset problems; True when the dataset can be counted."""
    from nyx_core.kohya.render import dataset_subsets

    if not cfg.dataset.name.strip():
        out.error("dataset.name", "no dataset chosen; pick one on the Dataset tab (create it on the Datasets page)")
        return False
    try:
        layout = _layout(cfg, ws)
        subsets, ext = dataset_subsets(cfg, ws)
    except Exception as exc:  # DatasetError, PathError, ConfigError: one line each
        out.error("dataset.name", str(exc).removeprefix("dataset.name: "))
        return False
    known = {c.folder.name for c in layout.concepts}
    for o in cfg.dataset.concepts:
        if o.folder not in known:
            out.warn("dataset.concepts", f"concept folder {o.folder!r} is not in dataset {layout.name!r} any more; "
                     "its settings are ignored (remove it)")
    if layout.stray:
        names = ", ".join(p.name for p in layout.stray[:5])
        out.warn("dataset.name", f"folders not named <repeats>_<concept> are ignored by sd-scripts: {names}")
    if layout.loose_images:
        out.warn("dataset.name", f"{len(layout.loose_images)} image(s) lie directly in the dataset folder and are "
                 "ignored; move them into a concept folder")
    if not subsets:
        out.error("dataset.concepts", f"dataset {layout.name!r} has no enabled concept folder; add one "
                  "(e.g. 10_ohwx person) or enable one")
        return False
    images = [img for s in subsets if not s.is_reg for img in s.images]
    if not images:
        out.error("dataset.name", f"dataset {layout.name!r} has no images in its enabled concept folders; add images")
        return False
    uncaptioned = [img for img in images if not img.with_name(img.stem + ext).is_file()]
    if uncaptioned:
        out.warn("dataset.caption_extension",
                 f"{len(uncaptioned)} of {len(images)} images have no {ext} caption (e.g. {uncaptioned[0].name}); "
                 "sd-scripts trains them with the folder's class tokens only. Caption them or check the extension")
    trigger = cfg.project.trigger_word.strip() or (layout.trigger_word or "").strip()
    if trigger:
        missing = 0
        for s in subsets:
            if s.is_reg:
                continue
            for img in s.images:
                cap = img.with_name(img.stem + ext)
                try:
                    # sd-scripts falls back to the class tokens for an image without a caption
                    text = cap.read_text(encoding="utf-8", errors="replace") if cap.is_file() else s.class_tokens
                except OSError:
                    text = s.class_tokens
                if trigger.lower() not in text.lower():
                    missing += 1
        if missing:
            out.warn("project.trigger_word", f"the trigger word {trigger!r} is missing from {missing} of "
                     f"{len(images)} captions; add it (Datasets page, bulk edit) so the LoRA learns it")
    d = cfg.dataset
    if d.enable_bucket:
        need = catalog.BUCKET_STEP_MULTIPLE[cfg.model.family]
        if d.bucket_reso_steps % need:
            out.error("dataset.bucket_reso_steps", f"must be a multiple of {need} for {catalog.FAMILY_NAMES[cfg.model.family]} "
                      f"(sd-scripts rejects {d.bucket_reso_steps}); use {max(need, d.bucket_reso_steps // need * need)}")
        if d.min_bucket_reso > d.resolution or d.max_bucket_reso < max(d.resolution, d.resolution_height):
            out.warn("dataset.max_bucket_reso", "the training resolution lies outside min/max bucket resolution; "
                     "sd-scripts will adjust them")
    if d.keep_tokens and not d.shuffle_caption and not d.caption_dropout_rate and not d.caption_tag_dropout_rate:
        out.warn("dataset.keep_tokens", "keep tokens only matters with shuffled captions or tag dropout; "
                 "turn on shuffle caption or set keep tokens to 0")
    return True


def _check_duration(cfg: TrainingConfig, out: _Collector) -> None:
    d = cfg.dataset
    if d.duration is DurationMode.epochs and d.max_train_epochs <= 0:
        out.error("dataset.max_train_epochs", "epochs is 0; set how many epochs to train (or switch to steps)")
    if d.duration is DurationMode.steps and d.max_train_steps <= 0:
        out.error("dataset.max_train_steps", "steps is 0; set how many steps to train (or switch to epochs)")


_STEP_WARNING_FIELDS = {
    "bucket_below_batch": "dataset.batch_size",
    "bucket_reso_adjusted": "dataset.min_bucket_reso",
    "no_images": "dataset.name",
    "below_one_epoch": "dataset.max_train_steps",
}


def _check_steps(cfg: TrainingConfig, ws: Workspace, out: _Collector) -> None:
    from nyx_core.config.stepsglue import steps_for

    try:
        report = steps_for(cfg, ws)
    except Exception as exc:  # ConfigError, or StepsError for an unreadable image: one line each
        out.error("dataset.name", str(exc))
        return
    for w in report.warnings:
        code = getattr(w, "code", "")
        if code in ("epochs_override_steps", "default_steps"):
            continue  # Nyx always writes exactly one of them
        out.warn(_STEP_WARNING_FIELDS.get(code, "dataset"), str(w))
    if report.total_optimization_steps <= 0 and not errors_in(out, "dataset."):
        out.error("dataset.name", "this config trains 0 steps; add images or raise epochs/steps")


def errors_in(out: _Collector, prefix: str) -> bool:
    return any(p.level == "error" and p.field.startswith(prefix) for p in out.items)


def _check_network(cfg: TrainingConfig, out: _Collector) -> None:
    from nyx_core.kohya.render import network_args

    n = cfg.network
    if n.alpha > n.dim * 2 and n.type in (NetworkType.lora, NetworkType.locon, NetworkType.dora):
        out.warn("network.alpha", f"alpha {n.alpha:g} is more than twice the dim {n.dim}: the effective LR is "
                 "multiplied by alpha/dim; usually alpha <= dim")
    if n.conv_dim and n.type is NetworkType.lora and cfg.model.family in (Family.flux, Family.sd3):
        out.warn("network.conv_dim", "Flux/SD3 have no convolution layers in the trained transformer; conv dim is not written")
    if n.type is not NetworkType.lora and cfg.model.family in (Family.flux, Family.sd3):
        out.warn("network.type", "LyCORIS on Flux/SD3 needs a recent lycoris-lora in sd-scripts' venv; "
                 "plain LoRA is the tested path")
    try:
        network_args(cfg)
    except ConfigError as exc:
        out.error("network.extra_args", str(exc).removeprefix("network.extra_args: "))


def _check_optimizer(cfg: TrainingConfig, out: _Collector) -> None:
    from nyx_core.kohya.render import optimizer_args

    o = cfg.optimizer
    lr_field = "optimizer.learning_rate"
    if o.optimizer in ADAPTIVE_LR_OPTIMIZERS:
        for name, value in (("learning_rate", o.learning_rate), ("unet_lr", o.unet_lr)):
            if value is not None and 0 < value < 0.1:
                out.warn(f"optimizer.{name}", f"{o.optimizer.value} sets its own step size; its LR is a multiplier, "
                         f"usually 1.0 (got {value:g})")
    else:
        effective = o.unet_lr if o.unet_lr is not None else o.learning_rate
        if effective <= 0:
            out.error(lr_field, "the learning rate is 0, so nothing would be learned; set e.g. 1e-4")
        elif effective > 1e-2:
            out.error(lr_field, f"learning rate {effective:g} is far too high for a LoRA (it will diverge); use 1e-4 to 5e-4")
        elif effective > 2e-3:
            out.warn(lr_field, f"learning rate {effective:g} is unusually high; 1e-4 to 5e-4 is typical")
        elif effective < 1e-6:
            out.warn(lr_field, f"learning rate {effective:g} is so low that little will be learned; 1e-4 is typical")
        if o.text_encoder_lr and o.text_encoder_lr > 1e-3:
            out.warn("optimizer.text_encoder_lr", f"text encoder LR {o.text_encoder_lr:g} is high; "
                     "text encoders overfit fast, use about half the U-Net LR")
    if o.optimizer in SCHEDULE_FREE_OPTIMIZERS and o.scheduler is not Scheduler.constant:
        out.warn("optimizer.scheduler", f"{o.optimizer.value} is schedule-free; use the constant scheduler")
    has_warmup = (o.warmup_mode is WarmupMode.steps and o.warmup_steps > 0) or (
        o.warmup_mode is WarmupMode.ratio and o.warmup_ratio > 0)
    if has_warmup and o.scheduler is Scheduler.constant:
        out.warn("optimizer.scheduler", "warmup is ignored by the constant scheduler; use constant_with_warmup")
    try:
        optimizer_args(cfg)
    except ConfigError as exc:
        out.error("optimizer.extra_args", str(exc).removeprefix("optimizer.extra_args: "))


def _check_combos(cfg: TrainingConfig, out: _Collector) -> None:
    fam, d, p, n, o, a = (cfg.model.family, cfg.dataset, cfg.performance, cfg.network, cfg.optimizer, cfg.advanced)
    te_cache = (p.cache_text_encoder_outputs or p.cache_text_encoder_outputs_to_disk) and catalog.applies(
        "performance.cache_text_encoder_outputs", fam)
    if te_cache:
        clashes = [name for name, on in (("shuffle caption", d.shuffle_caption),
                                          ("caption dropout", d.caption_dropout_rate > 0),
                                          ("caption tag dropout", d.caption_tag_dropout_rate > 0),
                                          ("caption dropout every N epochs", d.caption_dropout_every_n_epochs > 0)) if on]
        if clashes:
            out.error("performance.cache_text_encoder_outputs",
                      f"caching text encoder outputs cannot be combined with {', '.join(clashes)} (sd-scripts rejects it); "
                      "turn one of them off")
        if not (n.train_unet_only or o.text_encoder_lr == 0):
            out.error("performance.cache_text_encoder_outputs",
                      "cached text encoder outputs need a frozen text encoder; turn on 'train U-Net only' "
                      "(or set the text encoder LR to 0), or turn caching off")
    if (p.cache_latents or p.cache_latents_to_disk) and (d.random_crop or d.color_aug):
        which = " and ".join(x for x, on in (("random crop", d.random_crop), ("color aug", d.color_aug)) if on)
        out.error("performance.cache_latents", f"cached latents cannot be used with {which} (sd-scripts rejects it); "
                  "turn caching off or the augmentation off")
    if p.fp8_base and p.mixed_precision is MixedPrecision.no:
        out.error("performance.fp8_base", "fp8 base needs mixed precision fp16 or bf16")
    elif p.fp8_base and fam is Family.sd15:
        out.warn("performance.fp8_base", "fp8 base is meant for SDXL/Flux/SD3; on SD1.5 it saves little memory "
                 "and costs quality; turn it off")
    if p.full_bf16 and p.mixed_precision is not MixedPrecision.bf16:
        out.error("performance.full_bf16", "full bf16 needs mixed precision bf16")
    if p.full_fp16 and p.mixed_precision is not MixedPrecision.fp16:
        out.error("performance.full_fp16", "full fp16 needs mixed precision fp16")
    if p.full_bf16 and p.full_fp16:
        out.error("performance.full_fp16", "choose full bf16 or full fp16, not both")
    if p.mixed_precision is MixedPrecision.fp16 and fam in (Family.flux, Family.sd3):
        out.warn("performance.mixed_precision", f"{catalog.FAMILY_NAMES[fam]} is trained in bf16; fp16 overflows")
    if p.gpu_ids:
        count = len(p.gpu_ids.split(","))
        if count != p.num_gpus:
            out.error("performance.gpu_ids", f"{count} GPU id(s) listed but number of GPUs is {p.num_gpus}; make them match")
    if p.attention is Attention.xformers:
        out.warn("performance.attention", "xformers must be installed in sd-scripts' venv; sdpa needs nothing extra")
    if p.blocks_to_swap and fam in (Family.flux, Family.sd3):
        limit = 35 if fam is Family.flux else 36
        if p.blocks_to_swap > limit:
            out.error("performance.blocks_to_swap", f"at most {limit} blocks can be swapped for {catalog.FAMILY_NAMES[fam]}")
    if a.min_timestep is not None and a.max_timestep is not None and a.min_timestep >= a.max_timestep:
        out.error("advanced.min_timestep", "min timestep must be below max timestep")
    if a.zero_terminal_snr and not cfg.model.v_parameterization and catalog.applies("advanced.zero_terminal_snr", fam):
        out.warn("advanced.zero_terminal_snr", "zero terminal SNR without v-parameterization trains unexpectedly; "
                 "turn on v-parameterization or turn this off")


def _check_samples(cfg: TrainingConfig, out: _Collector) -> None:
    s = cfg.samples
    prompts = [p for p in s.prompts if p.prompt.strip()]
    scheduled = s.sample_every_n_epochs or s.sample_every_n_steps or s.sample_at_first
    if scheduled and not prompts:
        out.warn("samples.prompts", "sampling is on but there are no prompts; add a prompt or turn sampling off")
    if prompts and not scheduled:
        out.warn("samples.sample_every_n_epochs", "there are sample prompts but no schedule; set 'sample every N epochs'")
    for i, p in enumerate(prompts):
        for dim in (p.width, p.height):
            if dim is not None and dim % 8:
                out.error(f"samples.prompts[{i}]", f"sample size {dim} must be a multiple of 8")


def _check_extra(cfg: TrainingConfig, out: _Collector) -> None:
    known = catalog.script_args(catalog.script_for(cfg.model.family))
    for key, value in cfg.advanced.extra.items():
        spec = known.get(key)
        if spec is None:
            out.error("advanced.extra", f"{key!r} is not an option of {catalog.script_for(cfg.model.family)}; "
                      "check the spelling or remove it")
            continue
        problem = catalog.value_problem(spec, value)
        if problem:
            out.error("advanced.extra", f"{key}: {problem}")


def _check_paths(cfg: TrainingConfig, ws: Workspace, out: _Collector) -> None:
    """Every path-typed sd-scripts option in ``advanced.extra`` stays in the workspace."""
    from nyx_core.kohya import paths

    for key, why in paths.option_problems(ws, cfg.advanced.extra, catalog.script_for(cfg.model.family)):
        out.error("advanced.extra", f"{key}: {why}")


# Disk space --------------------------------------------------------------------------------
#: Rough LoRA size per unit of rank at fp16/bf16, measured from real files (SD1.5 dim 4 = 4.8 MB).
_MB_PER_DIM = {Family.sd15: 1.2, Family.sdxl: 5.7, Family.flux: 10.0, Family.sd3: 6.0}


def estimate_output_bytes(cfg: TrainingConfig, images: int, epochs: int) -> int:
    fam = cfg.model.family
    per_file = _MB_PER_DIM[fam] * cfg.network.dim * (2 if cfg.performance.save_precision.value == "float" else 1) * 2**20
    if cfg.network.conv_dim:
        per_file *= 1.3
    saves = 1
    if cfg.saving.save_every_n_epochs and epochs:
        saves += epochs // cfg.saving.save_every_n_epochs
    if cfg.saving.save_last_n_epochs:
        saves = min(saves, cfg.saving.save_last_n_epochs + 1)
    total = per_file * saves
    if cfg.saving.save_state or cfg.saving.save_state_on_train_end:
        total += per_file * 3 * (saves if cfg.saving.save_state else 1)
    if cfg.performance.cache_latents_to_disk:
        side = max(cfg.dataset.resolution, cfg.dataset.resolution_height) // 8
        channels = 16 if fam in (Family.flux, Family.sd3) else 4
        total += images * side * side * channels * 4
    if cfg.performance.cache_text_encoder_outputs_to_disk and fam in (Family.flux, Family.sd3):
        total += images * 4 * 2**20
    return int(total)


def _check_outputs(cfg: TrainingConfig, ws: Workspace, out: _Collector) -> None:
    from nyx_core.system import disk_free

    rel = cfg.project.output_dir.strip() or f"{ws.relative(ws.outputs)}/{cfg.project.name}"
    try:
        out_dir = ws.resolve(rel)
    except PathError as exc:
        out.error("project.output_dir", f"{exc}; pick a folder inside the workspace")
        return
    earlier = out_dir / f"{cfg.output_name}.safetensors"
    if earlier.is_file():
        # sd-scripts overwrites without asking; say so while the old LoRA can still be kept.
        out.warn("project.output_name", f"{ws.relative(earlier)} already exists (an earlier run?) and this run "
                 "will overwrite it and its epoch files; change the output name, or move the old LoRA to keep it")
    images = 0
    try:
        layout = _layout(cfg, ws) if cfg.dataset.name.strip() else None
        images = layout.image_count if layout else 0
    except Exception:
        pass
    epochs = cfg.dataset.max_train_epochs if cfg.dataset.duration is DurationMode.epochs else 10
    need = estimate_output_bytes(cfg, images, epochs)
    free = disk_free(ws.root)
    from nyx_core.fsutil import human_size

    if free < need:
        out.error("project.output_dir", f"about {human_size(need)} is needed for checkpoints and caches but only "
                  f"{human_size(free)} is free; free space (Files page, empty the trash) or save less often")
    elif free < need * 2 + 2 * 2**30:
        out.warn("project.output_dir", f"disk is nearly full: {human_size(free)} free, this run needs about "
                 f"{human_size(need)}")
