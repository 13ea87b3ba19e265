"""Render a Nyx ``TrainingConfig`` into what sd-scripts runs: ``config.toml`` (``--config_file``),
``dataset.toml`` (``--dataset_config``), the sample prompt file, and the launch command.

Every key written is a real ``dest`` of the family's script (see ``catalog.known_args``), with
the Python type sd-scripts expects: TOML values skip argparse's conversion, so a wrong type or a
misspelt key would otherwise be accepted silently. Exactly one of ``max_train_epochs`` /
``max_train_steps`` is always written (sd-scripts silently falls back to 1600 steps otherwise).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nyx_core.config.enums import (
    Attention,
    DurationMode,
    Family,
    NetworkType,
    Scheduler,
    WarmupMode,
)
from nyx_core.config.model import ConfigError, SamplePrompt, TrainingConfig
from nyx_core.config.paths import resolve_model_ref
from nyx_core.config.plan import ConceptPlan, RunPlan
from nyx_core.config.plan import plan as make_plan
from nyx_core.fsutil import atomic_write_text
from nyx_core.kohya import catalog, paths
from nyx_core.kohya.netargs import network_args, optimizer_args  # noqa: F401 - re-exported for callers
from nyx_core.kohya.naming import final_lora
from nyx_core.settings import Settings
from nyx_core.workspace import Workspace


@dataclass
class RenderedRun:
    script: str
    config_toml: str
    dataset_toml: str
    sample_prompts: str | None
    argv: list[str]
    output_dir: Path
    output_name: str
    expected_output: Path = field(default=Path())
    #: The flat key -> value mapping behind config_toml (for tests and the page's preview).
    args: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.expected_output == Path():
            self.expected_output = final_lora(self.output_dir, self.output_name)

    def write(self, render_dir: Path) -> None:
        render_dir = Path(render_dir)
        render_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(render_dir / "config.toml", self.config_toml)
        atomic_write_text(render_dir / "dataset.toml", self.dataset_toml)
        if self.sample_prompts is not None:
            atomic_write_text(render_dir / "sample_prompts.txt", self.sample_prompts)
        atomic_write_text(render_dir / "argv.json", json.dumps(self.argv, indent=2) + "\n")


# Dataset ----------------------------------------------------------------------------------
#: The old name of a concept folder's plan (``nyx_core.config.plan.ConceptPlan``).
SubsetPlan = ConceptPlan


def dataset_subsets(cfg: TrainingConfig, ws: Workspace) -> tuple[list[ConceptPlan], str]:
    """The enabled concept folders of the config's dataset, with overrides applied, and the
    effective caption extension. Raises ``ConfigError`` when there is no dataset to read."""
    p = make_plan(cfg, ws, steps=False)
    if p.dataset_problem:
        raise ConfigError(f"dataset.name: {p.dataset_problem}")
    return p.concepts, p.caption_ext


def dataset_data(cfg: TrainingConfig, subsets: list[SubsetPlan], caption_ext: str) -> dict[str, Any]:
    d = cfg.dataset
    general: dict[str, Any] = {
        "caption_extension": caption_ext,  # sd-scripts' own default is ".caption": always written
        "shuffle_caption": d.shuffle_caption,
        "keep_tokens": int(d.keep_tokens),
        "caption_dropout_rate": float(d.caption_dropout_rate),
        "caption_dropout_every_n_epochs": int(d.caption_dropout_every_n_epochs),
        "caption_tag_dropout_rate": float(d.caption_tag_dropout_rate),
        "flip_aug": d.flip_aug,
        "color_aug": d.color_aug,
        "random_crop": d.random_crop,
    }
    height = d.resolution_height or d.resolution
    resolution: int | list[int] = d.resolution if height == d.resolution else [d.resolution, height]
    dataset: dict[str, Any] = {
        "resolution": resolution,
        "batch_size": int(d.batch_size),
        "enable_bucket": d.enable_bucket,
    }
    if d.enable_bucket:
        dataset.update(
            min_bucket_reso=int(d.min_bucket_reso),
            max_bucket_reso=int(d.max_bucket_reso),
            bucket_reso_steps=int(d.bucket_reso_steps),
            bucket_no_upscale=d.bucket_no_upscale,
        )
    subs = []
    for s in subsets:
        sub: dict[str, Any] = {"image_dir": str(s.image_dir), "num_repeats": int(s.num_repeats)}
        if s.class_tokens:
            sub["class_tokens"] = s.class_tokens
        if s.is_reg:
            sub["is_reg"] = True
        subs.append(sub)
    dataset["subsets"] = subs
    return {"general": general, "datasets": [dataset]}


def dumps_dataset(data: dict[str, Any]) -> str:
    lines = ["# Written by Nyx Trainer for sd-scripts' --dataset_config. Do not edit: re-render.", "", "[general]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in data["general"].items()]
    for ds in data["datasets"]:
        lines += ["", "[[datasets]]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in ds.items() if k != "subsets"]
        for sub in ds["subsets"]:
            lines += ["", "  [[datasets.subsets]]"]
            lines += [f"  {k} = {toml_value(v)}" for k, v in sub.items()]
    return "\n".join(lines) + "\n"


def toml_value(v: Any) -> str:
    """A TOML literal for a generated file (tomlkit is needlessly slow here; nothing to preserve).
    Floats always carry a '.' or an exponent so sd-scripts' float-only keys stay floats."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ConfigError(f"cannot write the number {v!r}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


# Sample prompts ---------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(text.split())


def prompt_line(p: SamplePrompt, *, default_size: int) -> str:
    """sd-scripts' prompt-file syntax: ``prompt --n neg --w W --h H --d seed --l cfg --s steps``."""
    parts = [_one_line(p.prompt)]
    if p.negative.strip():
        parts.append(f"--n {_one_line(p.negative)}")
    parts.append(f"--w {p.width or default_size}")
    parts.append(f"--h {p.height or default_size}")
    if p.seed is not None:
        parts.append(f"--d {p.seed}")
    if p.cfg is not None:
        parts.append(f"--l {p.cfg:g}")
    if p.steps is not None:
        parts.append(f"--s {p.steps}")
    return " ".join(parts)


def sample_prompts_text(cfg: TrainingConfig) -> str | None:
    s = cfg.samples
    prompts = [p for p in s.prompts if p.prompt.strip()]
    if not prompts or not (s.sample_every_n_epochs or s.sample_every_n_steps or s.sample_at_first):
        return None
    return "\n".join(prompt_line(p, default_size=cfg.dataset.resolution) for p in prompts) + "\n"


# Training arguments -----------------------------------------------------------------------
def _path_arg(ws: Workspace, value: str, field: str, *, allow_hub: bool = False) -> str:
    ref = resolve_model_ref(ws, value, allow_hub=allow_hub)
    if not ref.exists:
        raise ConfigError(f"{field}: {value!r} not found (looked in models/ and the workspace); "
                          "put the file in workspace/models or fix the path")
    return ref.value


def _model_table(cfg: TrainingConfig, ws: Workspace) -> dict[str, Any]:
    """The base model, encoders, continue-from LoRA and resume state (paths resolved in the workspace)."""
    m = cfg.model
    app = lambda f: catalog.applies(f, cfg.model.family)  # noqa: E731
    model: dict[str, Any] = {}
    if not m.base_model.strip():
        raise ConfigError("model.base_model is empty; choose a base model file from workspace/models")
    model["pretrained_model_name_or_path"] = _path_arg(ws, m.base_model, "model.base_model", allow_hub=True)
    for enc in ("vae", "clip_l", "clip_g", "t5xxl", "ae"):
        value = getattr(m, enc).strip()
        if value and app(f"model.{enc}"):
            model[enc] = _path_arg(ws, value, f"model.{enc}")
    if m.v2 and app("model.v2"):
        model["v2"] = True
    if m.v_parameterization and app("model.v_parameterization"):
        model["v_parameterization"] = True
    if m.clip_skip and app("model.clip_skip"):
        model["clip_skip"] = int(m.clip_skip)
    if m.network_weights.strip():
        model["network_weights"] = _path_arg(ws, m.network_weights, "model.network_weights")
    if m.resume_state.strip():
        model["resume"] = _path_arg(ws, m.resume_state, "model.resume_state")
    return model


def _dataset_table(cfg: TrainingConfig, dataset_config: Path) -> dict[str, Any]:
    """Which dataset file, and the caches sd-scripts keeps of it."""
    p = cfg.performance
    a = cfg.advanced
    app = lambda f: catalog.applies(f, cfg.model.family)  # noqa: E731
    dataset: dict[str, Any] = {"dataset_config": str(dataset_config)}
    if p.cache_latents or p.cache_latents_to_disk:
        dataset["cache_latents"] = True
    if p.cache_latents_to_disk:
        dataset["cache_latents_to_disk"] = True
    if app("performance.cache_text_encoder_outputs"):
        if p.cache_text_encoder_outputs or p.cache_text_encoder_outputs_to_disk:
            dataset["cache_text_encoder_outputs"] = True
        if p.cache_text_encoder_outputs_to_disk:
            dataset["cache_text_encoder_outputs_to_disk"] = True
    if a.max_token_length != 75 and app("advanced.max_token_length"):
        dataset["max_token_length"] = int(a.max_token_length)
    if a.t5xxl_max_token_length and app("advanced.t5xxl_max_token_length"):
        dataset["t5xxl_max_token_length"] = int(a.t5xxl_max_token_length)
    if a.apply_t5_attn_mask and app("advanced.apply_t5_attn_mask"):
        dataset["apply_t5_attn_mask"] = True
    return dataset


def _network_table(cfg: TrainingConfig) -> dict[str, Any]:
    """The network module, its size and k=v arguments, what trains, metadata."""
    fam = cfg.model.family
    n = cfg.network
    o = cfg.optimizer
    network: dict[str, Any] = {
        "network_module": catalog.network_module(fam, n.type),
        "network_dim": int(n.dim),
        "network_alpha": float(n.alpha),
    }
    if n.dropout and n.type is NetworkType.lora:
        network["network_dropout"] = float(n.dropout)
    nargs = network_args(cfg)
    if nargs:
        network["network_args"] = nargs
    unet_only = n.train_unet_only or o.text_encoder_lr == 0
    if unet_only:
        network["network_train_unet_only"] = True
    if cfg.project.comment.strip():
        network["training_comment"] = cfg.project.comment.strip()
    trigger = cfg.project.trigger_word.strip()
    if trigger:
        network["metadata_trigger_phrase"] = trigger
    return network


def _optimizer_table(cfg: TrainingConfig) -> dict[str, Any]:
    """Optimizer, learning rates and schedule."""
    o = cfg.optimizer
    unet_only = cfg.network.train_unet_only or cfg.optimizer.text_encoder_lr == 0
    optimizer: dict[str, Any] = {
        "optimizer_type": o.optimizer.value,
        "learning_rate": float(o.learning_rate),
        "lr_scheduler": o.scheduler.value,
        "gradient_accumulation_steps": int(o.gradient_accumulation_steps),
        "max_grad_norm": float(o.max_grad_norm),
    }
    if o.unet_lr is not None:
        optimizer["unet_lr"] = float(o.unet_lr)
    if o.text_encoder_lr is not None and not unet_only:
        optimizer["text_encoder_lr"] = [float(o.text_encoder_lr)]  # nargs="*" in sd-scripts
    oargs = optimizer_args(cfg)
    if oargs:
        optimizer["optimizer_args"] = oargs
    if o.warmup_mode is WarmupMode.ratio and o.warmup_ratio > 0:
        optimizer["lr_warmup_steps"] = float(o.warmup_ratio)  # a float < 1 is a ratio of the total steps
    elif o.warmup_mode is WarmupMode.steps and o.warmup_steps > 0:
        optimizer["lr_warmup_steps"] = int(o.warmup_steps)
    if o.scheduler is Scheduler.cosine_with_restarts:
        optimizer["lr_scheduler_num_cycles"] = int(o.num_cycles)
    if o.scheduler is Scheduler.polynomial:
        optimizer["lr_scheduler_power"] = float(o.power)
    return optimizer


def _training_table(cfg: TrainingConfig, output_dir: Path) -> dict[str, Any]:
    """Output, precision, duration (exactly one of epochs/steps), memory savers and saving."""
    d = cfg.dataset
    p = cfg.performance
    s = cfg.saving
    app = lambda f: catalog.applies(f, cfg.model.family)  # noqa: E731
    training: dict[str, Any] = {
        "output_dir": str(output_dir),
        "output_name": cfg.output_name,
        "save_model_as": s.save_model_as.value,
        "save_precision": p.save_precision.value,
        "mixed_precision": p.mixed_precision.value,
        "seed": int(cfg.project.seed),
        "train_batch_size": int(d.batch_size),
        "max_data_loader_n_workers": int(p.max_data_loader_n_workers),
    }
    if d.duration is DurationMode.epochs:
        if d.max_train_epochs <= 0:
            raise ConfigError("dataset.max_train_epochs is 0; set the number of epochs (or switch to steps)")
        training["max_train_epochs"] = int(d.max_train_epochs)
    else:
        if d.max_train_steps <= 0:
            raise ConfigError("dataset.max_train_steps is 0; set the number of steps (or switch to epochs)")
        training["max_train_steps"] = int(d.max_train_steps)
    if p.persistent_data_loader_workers and p.max_data_loader_n_workers > 0:
        training["persistent_data_loader_workers"] = True
    if p.gradient_checkpointing:
        training["gradient_checkpointing"] = True
    if p.attention is Attention.sdpa:
        training["sdpa"] = True
    elif p.attention is Attention.xformers:
        training["xformers"] = True
    for flag in ("fp8_base", "full_bf16", "full_fp16", "lowram"):
        if getattr(p, flag):
            training[flag] = True
    if p.blocks_to_swap and app("performance.blocks_to_swap"):
        training["blocks_to_swap"] = int(p.blocks_to_swap)
    if s.save_every_n_epochs:
        training["save_every_n_epochs"] = int(s.save_every_n_epochs)
    if s.save_every_n_steps:
        training["save_every_n_steps"] = int(s.save_every_n_steps)
    if s.save_last_n_epochs:
        training["save_last_n_epochs"] = int(s.save_last_n_epochs)
    if s.save_last_n_steps:
        training["save_last_n_steps"] = int(s.save_last_n_steps)
    if s.save_state:
        training["save_state"] = True
    if s.save_state_on_train_end:
        training["save_state_on_train_end"] = True
    return training


def _advanced_table(cfg: TrainingConfig) -> dict[str, Any]:
    """Noise, loss and timestep options, per family."""
    fam = cfg.model.family
    a = cfg.advanced
    app = lambda f: catalog.applies(f, cfg.model.family)  # noqa: E731
    adv: dict[str, Any] = {}
    if a.noise_offset:
        adv["noise_offset"] = float(a.noise_offset)
    if a.multires_noise_iterations:
        adv["multires_noise_iterations"] = int(a.multires_noise_iterations)
        adv["multires_noise_discount"] = float(a.multires_noise_discount)
    if a.min_snr_gamma_enabled and app("advanced.min_snr_gamma"):
        adv["min_snr_gamma"] = float(a.min_snr_gamma)
    if a.ip_noise_gamma:
        adv["ip_noise_gamma"] = float(a.ip_noise_gamma)
    if a.min_timestep is not None:
        adv["min_timestep"] = int(a.min_timestep)
    if a.max_timestep is not None:
        adv["max_timestep"] = int(a.max_timestep)
    if a.loss_type.value != "l2":
        adv["loss_type"] = a.loss_type.value
        adv["huber_schedule"] = a.huber_schedule.value
        adv["huber_c"] = float(a.huber_c)
    if a.debiased_estimation_loss and app("advanced.debiased_estimation_loss"):
        adv["debiased_estimation_loss"] = True
    if a.zero_terminal_snr and app("advanced.zero_terminal_snr"):
        adv["zero_terminal_snr"] = True
    if fam is Family.flux:
        adv["timestep_sampling"] = a.timestep_sampling.value
        adv["model_prediction_type"] = a.model_prediction_type.value
        adv["guidance_scale"] = float(a.guidance_scale)
        adv["discrete_flow_shift"] = float(a.discrete_flow_shift)
        if a.timestep_sampling.value == "sigmoid":
            adv["sigmoid_scale"] = float(a.sigmoid_scale)
    if fam in (Family.flux, Family.sd3):
        adv["weighting_scheme"] = a.weighting_scheme.value
    if fam is Family.sd3:
        adv["training_shift"] = float(a.training_shift)
    return adv


def _sample_table(cfg: TrainingConfig, sample_prompts: Path | None) -> dict[str, Any]:
    """Sample images (only with a prompt file)."""
    sm = cfg.samples
    sample: dict[str, Any] = {}
    if sample_prompts is not None:
        sample["sample_prompts"] = str(sample_prompts)
        sample["sample_sampler"] = sm.sampler.value
        if sm.sample_every_n_epochs:
            sample["sample_every_n_epochs"] = int(sm.sample_every_n_epochs)
        if sm.sample_every_n_steps:
            sample["sample_every_n_steps"] = int(sm.sample_every_n_steps)
        if sm.sample_at_first:
            sample["sample_at_first"] = True
    return sample


def _logging_table(cfg: TrainingConfig, logging_dir: Path) -> dict[str, Any]:
    """TensorBoard always; wandb when chosen (the key comes from the environment)."""
    lg = cfg.logging
    logging: dict[str, Any] = {"logging_dir": str(logging_dir), "log_with": "all" if lg.wandb else "tensorboard"}
    if lg.wandb:
        logging["log_tracker_name"] = lg.wandb_project.strip() or cfg.project.name
        if lg.wandb_run_name.strip():
            logging["wandb_run_name"] = lg.wandb_run_name.strip()
    if lg.log_prefix.strip():
        logging["log_prefix"] = lg.log_prefix.strip()
    return logging


def training_args(
    cfg: TrainingConfig,
    *,
    ws: Workspace,
    dataset_config: Path,
    sample_prompts: Path | None,
    logging_dir: Path,
    output_dir: Path,
) -> dict[str, dict[str, Any]]:
    """sd-scripts arguments grouped into TOML tables (sd-scripts flattens the tables)."""
    a, fam = cfg.advanced, cfg.model.family
    tables = {
        "model_arguments": _model_table(cfg, ws),
        "dataset_arguments": _dataset_table(cfg, dataset_config),
        "network_arguments": _network_table(cfg),
        "optimizer_arguments": _optimizer_table(cfg),
        "training_arguments": _training_table(cfg, output_dir),
        "advanced_arguments": _advanced_table(cfg),
        "sample_arguments": _sample_table(cfg, sample_prompts),
        "logging_arguments": _logging_table(cfg, logging_dir),
    }
    if a.extra:
        problem = catalog.extra_problems(a.extra, fam, cfg.model)
        if problem:
            raise ConfigError(f"advanced.extra: {problem[0]}")
        tables["extra_arguments"] = paths.confine_args(ws, dict(a.extra), catalog.script_for(fam))
    return {k: v for k, v in tables.items() if v}


def dumps_args(tables: dict[str, dict[str, Any]], *, title: str) -> str:
    lines = [f"# Written by Nyx Trainer from config {json.dumps(title)} for sd-scripts' --config_file.",
             "# Do not edit: change the Nyx config and render again."]
    for name, values in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def flat_args(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for values in tables.values():
        out.update(values)
    return out


def launch_argv(cfg: TrainingConfig, settings: Settings, config_file: Path) -> list[str]:
    script = str(Path(settings.sd_scripts_dir) / catalog.script_for(cfg.model.family))
    python = str(settings.python_for_sd_scripts)
    if getattr(settings, "launcher", "accelerate") == "python":
        return [python, script, "--config_file", str(config_file)]
    p = cfg.performance
    argv = [python, "-m", "accelerate.commands.launch", "--num_processes", str(p.num_gpus), "--num_machines", "1"]
    if p.num_gpus > 1:
        argv.append("--multi_gpu")
    if p.gpu_ids:
        argv += ["--gpu_ids", p.gpu_ids]
    argv += ["--mixed_precision", p.mixed_precision.value, "--dynamo_backend", "no"]
    return argv + [script, "--config_file", str(config_file)]


def _confine_rendered(ws: Workspace, tables: dict[str, dict[str, Any]], script: str, *, render_dir: Path,
                      logging_dir: Path, output_dir: Path) -> None:
    own = {str(render_dir / "dataset.toml"), str(render_dir / "sample_prompts.txt"), str(logging_dir), str(output_dir)}
    for name, values in tables.items():
        trusted = [k for k, v in values.items() if isinstance(v, str) and v in own]
        tables[name] = paths.confine_args(ws, values, script, trusted=trusted,
                                          where="advanced.extra" if name == "extra_arguments" else name)


def render(
    cfg: TrainingConfig,
    *,
    ws: Workspace,
    settings: Settings,
    render_dir: Path,
    logging_dir: Path,
    output_dir: Path | None = None,
    plan: RunPlan | None = None,
) -> RenderedRun:
    """Everything sd-scripts needs for ``cfg``; nothing is written (call ``.write(render_dir)``).

    ``plan`` is the config's ``RunPlan`` when the caller already has one (the dataset is then not
    scanned again). Raises ``ConfigError`` (one line, naming the field) when the config cannot be
    rendered: no dataset, no base model, a missing file, zero epochs/steps, an unknown extra option.
    """
    render_dir = Path(render_dir)
    if plan is None or plan.config is not cfg:
        plan = make_plan(cfg, ws, output_dir=output_dir, steps=False)
    if output_dir is None:
        if plan.output_dir is None:
            raise ConfigError(f"project.output_dir: {plan.output_problem}")
        output_dir = plan.output_dir
    ds = dataset_data(cfg, plan.require_concepts(), plan.caption_ext)
    prompts = sample_prompts_text(cfg)
    tables = training_args(
        cfg, ws=ws,
        dataset_config=render_dir / "dataset.toml",
        sample_prompts=(render_dir / "sample_prompts.txt") if prompts is not None else None,
        logging_dir=Path(logging_dir),
        output_dir=Path(output_dir),
    )
    script = catalog.script_for(cfg.model.family)
    # Never write a path outside the workspace, whatever table it ended up in; the job's own
    # folders (given by the caller) are Nyx's.
    _confine_rendered(ws, tables, script, render_dir=render_dir, logging_dir=Path(logging_dir),
                      output_dir=Path(output_dir))
    paths.confine_dataset(ws, ds)
    # A guard against Nyx's own bugs: sd-scripts would accept a wrong key or type silently.
    bad = catalog.check_training_args(script, flat_args(tables)) + catalog.check_dataset_config(ds)
    if bad:
        raise ConfigError(f"internal: rendered options sd-scripts would misread ({'; '.join(bad)}); please report this")
    return RenderedRun(
        script=script,
        config_toml=dumps_args(tables, title=cfg.project.name),
        dataset_toml=dumps_dataset(ds),
        sample_prompts=prompts,
        argv=launch_argv(cfg, settings, render_dir / "config.toml"),
        output_dir=Path(output_dir),
        output_name=cfg.output_name,
        expected_output=final_lora(Path(output_dir), cfg.output_name, cfg.saving.save_model_as),
        args=flat_args(tables),
        dataset=ds,
    )


def export_rendered(cfg: TrainingConfig, *, ws: Workspace, settings: Settings, folder: Path) -> RenderedRun:
    """Render into ``folder`` (workspace path) with TensorBoard logs in ``folder/tb``."""
    run = render(cfg, ws=ws, settings=settings, render_dir=folder, logging_dir=folder / "tb")
    run.write(folder)
    return run
