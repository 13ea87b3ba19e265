"""Pre-flight: every problem a config has, at once, before sd-scripts is started.

Each ``Problem`` names the config field ("group.field") and says what to do. Errors block the
Start button; warnings are shown. The combinations checked here are the ones sd-scripts itself
rejects (with an assert after minutes of model loading) or silently mis-trains.
"""
from __future__ import annotations

import json
import math
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
    Optimizer,
    Scheduler,
    WarmupMode,
)
from nyx_core.config.families import spec
from nyx_core.config.labels import where
from nyx_core.config.model import ConfigError, TrainingConfig
from nyx_core.config.paths import ModelRef, safe_resolve
from nyx_core.config.plan import RunPlan, plan
from nyx_core.errors import PathError
from nyx_core.kohya import catalog
from nyx_core.kohya import netargs
from nyx_core.workspace import Workspace

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    level: Level
    field: str
    message: str

    @property
    def label(self) -> str:
        """The field as the page names it ("Dataset › Min bucket resolution")."""
        return where(self.field)

    def __str__(self) -> str:
        return f"{self.level}: {self.label}: {self.message}"


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


def validate(cfg: TrainingConfig | RunPlan, ws: Workspace, settings=None) -> list[Problem]:  # noqa: ANN001
    """All problems of a config (errors first), never stopping at the first one. Pass the
    config's ``RunPlan`` when you have one: the dataset is then not read again."""
    run = cfg if isinstance(cfg, RunPlan) else plan(cfg, ws)
    cfg = run.config
    out = _Collector()
    _check_model(cfg, ws, out)
    if cfg.dataset.enable_bucket:
        _check_buckets(cfg, out)
    report_ok = _check_dataset(run, out)
    _check_duration(cfg, out)
    if report_ok:
        _check_steps(run, out)
    _check_network(cfg, out)
    _check_optimizer(cfg, out)
    _check_combos(cfg, out)
    _check_samples(cfg, out)
    _check_extra(cfg, out)
    _check_paths(cfg, ws, out)
    _check_outputs(run, out)
    if settings is not None:
        found, why = settings.sd_scripts_status()
        if not found:
            out.warn("settings.sd_scripts_dir", f"sd-scripts is not set up: {why}; training cannot start until it is")
        _check_gpu_precision(cfg, out)
    return sorted(out.items, key=lambda p: p.level != "error")


def _check_gpu_precision(cfg: TrainingConfig, out: _Collector) -> None:
    """fp16/bf16 on GPUs that cannot: the same rule `nyx doctor` reports (sd-scripts would fail
    after minutes of model loading, or train garbage)."""
    from nyx_core.doctor import precision_problems

    p = cfg.performance
    for message in precision_problems(p.mixed_precision.value, p.gpu_ids, p.num_gpus):
        out.error("performance.mixed_precision", message)


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
                          "(to continue a LoRA, set Model › Continue from LoRA)")
            elif guess is not None and guess is not fam:
                out.error("model.base_model", f"{ref.path.name} looks like a {guess.value} model but the family is "
                          f"{fam.value}; change Model › Model family or pick a {fam.value} checkpoint")
    for name, what in spec(fam).encoders:
        value = getattr(m, name).strip()
        if not value:
            out.error(f"model.{name}", f"{spec(fam).short} needs the {what}; choose its file from workspace/models")
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


def _check_dataset(run: RunPlan, out: _Collector) -> bool:
    """Dataset problems; True when the dataset can be counted."""
    cfg = run.config
    if run.dataset_problem or run.layout is None:
        out.error("dataset.name", run.dataset_problem or "the dataset cannot be read")
        return False
    layout, subsets, ext = run.layout, run.concepts, run.caption_ext
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
    if d.keep_tokens and not d.shuffle_caption and not d.caption_dropout_rate and not d.caption_tag_dropout_rate:
        out.warn("dataset.keep_tokens", "keep tokens only matters with shuffled captions or tag dropout; "
                 "turn on shuffle caption or set keep tokens to 0")
    return True


def _check_buckets(cfg: TrainingConfig, out: _Collector) -> None:
    """sd-scripts' own bucket checks: the step multiple each script asserts, and min/max bucket
    resolution (after it rounds them to the step) around the training resolution."""
    d, fam = cfg.dataset, cfg.model.family
    step = d.bucket_reso_steps
    need = spec(fam).bucket_multiple
    if step % need:
        out.error("dataset.bucket_reso_steps", f"must be a multiple of {need} for {spec(fam).short} "
                  f"(sd-scripts refuses {step} at start); use {max(need, step // need * need)}")
    width, height = d.resolution, d.resolution_height or d.resolution
    low = d.min_bucket_reso - d.min_bucket_reso % step
    high = d.max_bucket_reso + (-d.max_bucket_reso) % step
    if min(width, height) < low:
        out.error("dataset.min_bucket_reso", f"{d.min_bucket_reso} (rounded to {low}) is above the training "
                  f"resolution's smaller side {min(width, height)}; sd-scripts refuses this at start. Lower it to "
                  f"at most {min(width, height)}")
    if max(width, height) > high:
        out.error("dataset.max_bucket_reso", f"{d.max_bucket_reso} (rounded to {high}) is below the training "
                  f"resolution's larger side {max(width, height)}; sd-scripts refuses this at start. Raise it to "
                  f"at least {max(width, height)}")
    off = [v for v in {width, height} if v % step]
    if off:
        out.warn("dataset.resolution", f"{' x '.join(str(v) for v in (width, height))} is not a multiple of the bucket "
                 f"step {step}: sd-scripts makes buckets whose sides are multiples of {step} with at most "
                 f"{width * height} pixels, so no image trains at exactly this size")


def _check_duration(cfg: TrainingConfig, out: _Collector) -> None:
    d = cfg.dataset
    if d.duration is DurationMode.epochs and d.max_train_epochs <= 0:
        out.error("dataset.max_train_epochs", "epochs is 0; set how many epochs to train (or switch to steps)")
    if d.duration is DurationMode.steps and d.max_train_steps <= 0:
        out.error("dataset.max_train_steps", "steps is 0; set how many steps to train (or switch to epochs)")
    if d.duration is DurationMode.epochs and d.max_train_steps > 0:
        out.warn("dataset.max_train_steps", f"'Train for' is epochs, so {d.max_train_epochs} epoch(s) are trained and "
                 f"the steps value {d.max_train_steps} is not used (switch 'Train for' to steps to use it)")


_STEP_WARNING_FIELDS = {
    "bucket_below_batch": "dataset.batch_size",
    "bucket_reso_adjusted": "dataset.min_bucket_reso",
    "no_images": "dataset.name",
    "below_one_epoch": "dataset.max_train_steps",
}


def _check_steps(run: RunPlan, out: _Collector) -> None:
    report = run.steps
    if report is None:
        if not errors_in(out, "dataset.min_bucket_reso") and not errors_in(out, "dataset.max_bucket_reso"):
            why = run.steps_problem or "the steps cannot be counted"
            out.error("dataset.bucket_no_upscale" if "bucket_no_upscale" in why else "dataset.name", why)
        return
    for w in report.warnings:
        code = getattr(w, "code", "")
        if code == "epochs_override_steps":
            continue  # Nyx always writes exactly one of epochs/steps
        out.warn(_STEP_WARNING_FIELDS.get(code, "dataset"), str(w))
    if report.total_optimization_steps <= 0 and not errors_in(out, "dataset."):
        out.error("dataset.name", "this config trains 0 steps; add images or raise epochs/steps")


def errors_in(out: _Collector, prefix: str) -> bool:
    return any(p.level == "error" and p.field.startswith(prefix) for p in out.items)


def _check_network(cfg: TrainingConfig, out: _Collector) -> None:
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
        netargs.network_args(cfg)
    except ConfigError as exc:
        out.error("network.extra_args", str(exc).removeprefix("network.extra_args: "))


def _check_optimizer(cfg: TrainingConfig, out: _Collector) -> None:
    o = cfg.optimizer
    lr_field = "optimizer.learning_rate"
    if o.optimizer in ADAPTIVE_LR_OPTIMIZERS:
        for name, value in (("learning_rate", o.learning_rate), ("unet_lr", o.unet_lr)):
            if value is not None and 0 < value < 0.1:
                out.warn(f"optimizer.{name}", f"{o.optimizer.value} sets its own step size; its LR is a multiplier, "
                         f"usually 1.0 (got {value:g})")
    elif adafactor_relative_step(cfg):
        pass  # Adafactor with relative_step computes its own step size; sd-scripts drops the LR
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
    if has_warmup and (o.scheduler is Scheduler.constant or adafactor_relative_step(cfg)
                       or "lr_scheduler_type" in cfg.advanced.extra):
        which = ("Adafactor's own relative-step schedule (relative_step is on unless its optimizer "
                 "arguments say relative_step=False)" if adafactor_relative_step(cfg) else "the constant scheduler")
        if "lr_scheduler_type" in cfg.advanced.extra:
            which = "a custom scheduler (lr_scheduler_type)"
        field = "optimizer.warmup_steps" if o.warmup_mode is WarmupMode.steps else "optimizer.warmup_ratio"
        out.error(field, f"sd-scripts refuses warmup with {which} (\"does not require num_warmup_steps\"); "
                  "set warmup to 0 or use constant_with_warmup")
    try:
        netargs.optimizer_args(cfg)
    except ConfigError as exc:
        out.error("optimizer.extra_args", str(exc).removeprefix("optimizer.extra_args: "))


def adafactor_relative_step(cfg: TrainingConfig) -> bool:
    """sd-scripts turns Adafactor's relative_step on unless optimizer_args say False (or warmup_init
    forces it back on); then the learning rate is not used and its own scheduler runs."""
    if cfg.optimizer.optimizer is not Optimizer.adafactor:
        return False
    kv = {}
    for item in cfg.optimizer.extra_args:
        k, _, v = item.partition("=")
        kv[k.strip()] = v.strip().lower()
    return kv.get("relative_step", "true") != "false" or kv.get("warmup_init", "false") == "true"


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
        out.warn("performance.mixed_precision", f"{spec(fam).short} is trained in bf16; fp16 overflows")
    if p.gpu_ids:
        count = len(p.gpu_ids.split(","))
        if count != p.num_gpus:
            out.error("performance.gpu_ids", f"{count} GPU id(s) listed but number of GPUs is {p.num_gpus}; make them match")
    if p.attention is Attention.xformers:
        out.warn("performance.attention", "xformers must be installed in sd-scripts' venv; sdpa needs nothing extra")
    limit = spec(fam).max_blocks_to_swap
    if p.blocks_to_swap and limit and p.blocks_to_swap > limit:
        out.error("performance.blocks_to_swap", f"at most {limit} blocks can be swapped for {spec(fam).short}")
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
    for problem in catalog.extra_problems(cfg.advanced.extra, cfg.model.family, cfg.model):
        out.error("advanced.extra", problem)
    _check_start_refusals(cfg, out)


def _on(extra: dict, key: str) -> bool:
    value = extra.get(key)
    return value not in (None, False, 0, 0.0, "")


def _check_start_refusals(cfg: TrainingConfig, out: _Collector) -> None:
    """sd-scripts' start-up refusals that involve options only reachable through ``advanced.extra``
    (verify_training_args, the scripts' assert_extra_args, the optimizer and scheduler set-up)."""
    x, a, m, p, o = cfg.advanced.extra, cfg.advanced, cfg.model, cfg.performance, cfg.optimizer
    fam = cfg.model.family
    if _on(x, "adaptive_noise_scale") and not a.noise_offset:
        out.error("advanced.noise_offset", "adaptive noise scale needs a noise offset: sd-scripts refuses "
                  "adaptive_noise_scale without noise_offset; set a noise offset or remove adaptive_noise_scale")
    if _on(x, "scale_v_pred_loss_like_noise_pred") and not m.v_parameterization:
        out.error("model.v_parameterization", "scale_v_pred_loss_like_noise_pred works only with v-prediction: "
                  "sd-scripts refuses it otherwise; turn on v-prediction or remove it from the extra options")
    if _on(x, "v_pred_like_loss") and m.v_parameterization:
        out.error("model.v_parameterization", "sd-scripts refuses v_pred_like_loss together with v-prediction; "
                  "remove one of them")
    if _on(x, "fused_backward_pass"):
        if o.optimizer is not Optimizer.adafactor:
            out.error("optimizer.optimizer", "fused_backward_pass works only with the Adafactor optimizer "
                      "(sd-scripts refuses it otherwise)")
        if o.gradient_accumulation_steps > 1:
            out.error("optimizer.gradient_accumulation_steps", "fused_backward_pass does not work with gradient "
                      "accumulation above 1 (sd-scripts refuses it)")
    if _on(x, "cpu_offload_checkpointing") and p.blocks_to_swap and fam in (Family.flux, Family.sd3):
        out.error("performance.blocks_to_swap", "blocks to swap cannot be combined with cpu_offload_checkpointing "
                  "(sd-scripts refuses it); use one of them")
    if fam is Family.flux and x.get("model_type") == "chroma" and not a.apply_t5_attn_mask:
        out.error("advanced.apply_t5_attn_mask", "Chroma needs the T5 attention mask (sd-scripts refuses it "
                  "without); turn it on")
    if _on(x, "fp8_base_unet") and p.mixed_precision is MixedPrecision.no:
        out.error("performance.mixed_precision", "fp8_base_unet needs mixed precision fp16 or bf16")
    te_cache = (p.cache_text_encoder_outputs or p.cache_text_encoder_outputs_to_disk) and catalog.applies(
        "performance.cache_text_encoder_outputs", fam)
    if te_cache and _on(x, "token_warmup_step"):
        out.error("performance.cache_text_encoder_outputs", "caching text encoder outputs cannot be combined "
                  "with token_warmup_step (sd-scripts refuses it)")
    if te_cache and fam is Family.flux and any(e.replace(" ", "").lower() == "train_t5xxl=true"
                                              for e in cfg.network.extra_args):
        out.error("performance.cache_text_encoder_outputs", "T5-XXL is trained (train_t5xxl=True), so its "
                  "outputs cannot be cached (sd-scripts refuses it); turn caching off")


def _check_paths(cfg: TrainingConfig, ws: Workspace, out: _Collector) -> None:
    """Every path-typed sd-scripts option in ``advanced.extra`` stays in the workspace."""
    from nyx_core.kohya import paths

    for key, why in paths.option_problems(ws, cfg.advanced.extra, catalog.script_for(cfg.model.family)):
        out.error("advanced.extra", f"{key}: {why}")


# Disk space --------------------------------------------------------------------------------
def network_file_bytes(cfg: TrainingConfig) -> float:
    """Rough size of one saved network file. A LoRA grows with dim; a LoKr stores two Kronecker
    factors per layer, and with a dim at least half its second factor's side (the "full-rank"
    trick, e.g. dim 100000) that factor is stored whole: its size follows the layer widths and
    the factor, never the dim."""
    fam, n = spec(cfg.model.family), cfg.network
    per_dim = fam.mb_per_dim * (2 if cfg.performance.save_precision.value == "float" else 1) * 2**20
    width = fam.layer_width
    if n.type is NetworkType.lokr:
        factor = n.factor if n.factor > 0 else max(int(math.sqrt(width)), 1)
        side = width / factor
        full = n.dim >= side / 2
        if full:
            size = per_dim * (width / 2) / factor**2  # sum(out*in)/factor^2, from sum(in+out) = per_dim/2
        else:
            size = per_dim * n.dim / factor
        if n.conv_dim and fam.unet and n.conv_dim >= side / 2:
            # full-rank 3x3 conv factors: measured 44.4 MB next to the 24.9 MB linear ones (SD1.5)
            size *= 2.8
            return size
    elif n.type is NetworkType.loha:
        size = per_dim * n.dim * 2
    elif n.type is NetworkType.ia3:
        size = per_dim / 8
    elif n.type is NetworkType.full:
        size = per_dim * width / 2
    else:
        size = per_dim * n.dim
    if n.conv_dim:
        size *= 1.3
    return size


def estimate_output_bytes(cfg: TrainingConfig, images: int, epochs: int) -> int:
    fam = cfg.model.family
    per_file = network_file_bytes(cfg)
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
        channels = spec(fam).latent_channels
        total += images * side * side * channels * 4
    if cfg.performance.cache_text_encoder_outputs_to_disk and fam in (Family.flux, Family.sd3):
        total += images * 4 * 2**20
    return int(total)


def _check_outputs(run: RunPlan, out: _Collector) -> None:
    from nyx_core.fsutil import human_size
    from nyx_core.system import disk_free

    cfg, ws, out_dir = run.config, run.ws, run.output_dir
    if out_dir is None:
        out.error("project.output_dir", run.output_problem or "the output folder is outside the workspace")
        return
    earlier = out_dir / f"{cfg.output_name}.safetensors"
    if earlier.is_file():
        # sd-scripts overwrites without asking; say so while the old LoRA can still be kept.
        out.warn("project.output_name", f"{ws.relative(earlier)} already exists (an earlier run?) and this run "
                 "will overwrite it and its epoch files; change the output name, or move the old LoRA to keep it")
    images = run.layout.image_count if run.layout is not None else 0
    need = estimate_output_bytes(cfg, images, run.epochs_for_estimate)
    free = disk_free(ws.root)

    if free < need:
        out.error("project.output_dir", f"about {human_size(need)} is needed for checkpoints and caches but only "
                  f"{human_size(free)} is free; free space (Files page, empty the trash) or save less often")
    elif free < need * 2 + 2 * 2**30:
        out.warn("project.output_dir", f"disk is nearly full: {human_size(free)} free, this run needs about "
                 f"{human_size(need)}")


# Schema and pre-flight together ------------------------------------------------------------------
def _drop(data: dict, loc: tuple) -> bool:
    """Remove the value at ``loc`` from nested ``data`` (so the rest can still be checked)."""
    node = data
    for part in loc[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    last = loc[-1] if loc else None
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        del node[last]
        return True
    return False


def check_data(data: dict, ws: Workspace, settings=None) -> tuple[TrainingConfig | None, list[Problem]]:  # noqa: ANN001
    """Schema problems (wrong types, unknown keys, inf/NaN, unsupported version) AND pre-flight
    problems of a config's raw data, all at once: each bad value is reported and left out, and the
    rest is checked as usual. Returns the config when the data is valid as it stands."""
    import copy

    from pydantic import ValidationError

    from nyx_core.config.model import error_field, plain_error

    work = copy.deepcopy(data) if isinstance(data, dict) else {}
    schema: list[Problem] = []
    for _ in range(50):  # each round drops the values pydantic refused; nested defaults end it quickly
        try:
            cfg = TrainingConfig.model_validate(work)
        except ValidationError as exc:
            dropped = False
            for err in exc.errors():
                schema.append(Problem("error", error_field(err), plain_error(err)))
                dropped = _drop(work, tuple(err["loc"])) or dropped
            if not dropped:  # a whole-config rule (e.g. min > max bucket): checked field by field below
                break
            continue
        problems = validate(cfg, ws, settings)
        unique = list(dict.fromkeys(schema + problems))
        return (cfg if not schema else None), sorted(unique, key=lambda p: p.level != "error")
    return None, list(dict.fromkeys(schema))


def check_text(text: str, ws: Workspace, settings=None, *, source: str = "config") -> tuple[  # noqa: ANN001
        TrainingConfig | None, list[Problem]]:
    """``check_data`` for a TOML file's text; a TOML syntax error is one problem."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        data = tomlkit.parse(text).unwrap()
    except (TOMLKitError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        return None, [Problem("error", "(file)", f"{source} is not valid TOML: {first}")]
    return check_data(data, ws, settings)
