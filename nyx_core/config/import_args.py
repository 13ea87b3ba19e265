"""sd-scripts arguments (by their ``dest`` names) onto a Nyx config, one concern per function.

Used for a plain sd-scripts ``--config_file`` TOML and, after kohya_ss's own translation
(``import_kohya_ss``), for a kohya_ss GUI JSON. Mistakes other tools make (LyCORIS ``conv_dim``
at the top level, ``weight_decompose``, a top-level ``weight_decay``, no step count) are
converted and said so.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from nyx_core.config.enums import Family, NetworkType, Optimizer, Scheduler
from nyx_core.config.import_core import (
    Builder,
    ValueProblem,
    empty,
    to_bool,
    to_float,
    to_int,
    to_str,
)
from nyx_core.config.model import SamplePrompt
from nyx_core.errors import PathError
from nyx_core.kohya import catalog, paths
from nyx_core.workspace import Workspace

# One mapping for sd-scripts names: dest -> (field, converter) ---------------------------------
SIMPLE: dict[str, tuple[str, Any]] = {
    "seed": ("project.seed", to_int),
    "output_name": ("project.output_name", to_str),
    "training_comment": ("project.comment", to_str),
    "metadata_trigger_phrase": ("project.trigger_word", to_str),
    "v2": ("model.v2", to_bool),
    "v_parameterization": ("model.v_parameterization", to_bool),
    "clip_skip": ("model.clip_skip", to_int),
    "enable_bucket": ("dataset.enable_bucket", to_bool),
    "min_bucket_reso": ("dataset.min_bucket_reso", to_int),
    "max_bucket_reso": ("dataset.max_bucket_reso", to_int),
    "bucket_reso_steps": ("dataset.bucket_reso_steps", to_int),
    "bucket_no_upscale": ("dataset.bucket_no_upscale", to_bool),
    "caption_extension": ("dataset.caption_extension", to_str),
    "caption_extention": ("dataset.caption_extension", to_str),
    "shuffle_caption": ("dataset.shuffle_caption", to_bool),
    "keep_tokens": ("dataset.keep_tokens", to_int),
    "caption_dropout_rate": ("dataset.caption_dropout_rate", to_float),
    "caption_dropout_every_n_epochs": ("dataset.caption_dropout_every_n_epochs", to_int),
    "caption_tag_dropout_rate": ("dataset.caption_tag_dropout_rate", to_float),
    "flip_aug": ("dataset.flip_aug", to_bool),
    "color_aug": ("dataset.color_aug", to_bool),
    "random_crop": ("dataset.random_crop", to_bool),
    "train_batch_size": ("dataset.batch_size", to_int),
    "batch_size": ("dataset.batch_size", to_int),
    "network_dim": ("network.dim", to_int),
    "network_alpha": ("network.alpha", to_float),
    "network_dropout": ("network.dropout", to_float),
    "network_train_unet_only": ("network.train_unet_only", to_bool),
    "learning_rate": ("optimizer.learning_rate", to_float),
    "unet_lr": ("optimizer.unet_lr", to_float),
    "text_encoder_lr": ("optimizer.text_encoder_lr", to_float),
    "lr_scheduler_num_cycles": ("optimizer.num_cycles", to_int),
    "lr_scheduler_power": ("optimizer.power", to_float),
    "gradient_accumulation_steps": ("optimizer.gradient_accumulation_steps", to_int),
    "max_grad_norm": ("optimizer.max_grad_norm", to_float),
    "mixed_precision": ("performance.mixed_precision", to_str),
    "save_precision": ("performance.save_precision", to_str),
    "gradient_checkpointing": ("performance.gradient_checkpointing", to_bool),
    "cache_latents": ("performance.cache_latents", to_bool),
    "cache_latents_to_disk": ("performance.cache_latents_to_disk", to_bool),
    "cache_text_encoder_outputs": ("performance.cache_text_encoder_outputs", to_bool),
    "cache_text_encoder_outputs_to_disk": ("performance.cache_text_encoder_outputs_to_disk", to_bool),
    "fp8_base": ("performance.fp8_base", to_bool),
    "full_bf16": ("performance.full_bf16", to_bool),
    "full_fp16": ("performance.full_fp16", to_bool),
    "blocks_to_swap": ("performance.blocks_to_swap", to_int),
    "max_data_loader_n_workers": ("performance.max_data_loader_n_workers", to_int),
    "persistent_data_loader_workers": ("performance.persistent_data_loader_workers", to_bool),
    "lowram": ("performance.lowram", to_bool),
    "noise_offset": ("advanced.noise_offset", to_float),
    "multires_noise_iterations": ("advanced.multires_noise_iterations", to_int),
    "multires_noise_discount": ("advanced.multires_noise_discount", to_float),
    "ip_noise_gamma": ("advanced.ip_noise_gamma", to_float),
    "min_timestep": ("advanced.min_timestep", to_int),
    "max_timestep": ("advanced.max_timestep", to_int),
    "loss_type": ("advanced.loss_type", to_str),
    "huber_schedule": ("advanced.huber_schedule", to_str),
    "huber_c": ("advanced.huber_c", to_float),
    "debiased_estimation_loss": ("advanced.debiased_estimation_loss", to_bool),
    "zero_terminal_snr": ("advanced.zero_terminal_snr", to_bool),
    "max_token_length": ("advanced.max_token_length", to_int),
    "timestep_sampling": ("advanced.timestep_sampling", to_str),
    "model_prediction_type": ("advanced.model_prediction_type", to_str),
    "guidance_scale": ("advanced.guidance_scale", to_float),
    "discrete_flow_shift": ("advanced.discrete_flow_shift", to_float),
    "sigmoid_scale": ("advanced.sigmoid_scale", to_float),
    "weighting_scheme": ("advanced.weighting_scheme", to_str),
    "apply_t5_attn_mask": ("advanced.apply_t5_attn_mask", to_bool),
    "t5xxl_max_token_length": ("advanced.t5xxl_max_token_length", to_int),
    "training_shift": ("advanced.training_shift", to_float),
    "save_every_n_epochs": ("saving.save_every_n_epochs", to_int),
    "save_every_n_steps": ("saving.save_every_n_steps", to_int),
    "save_last_n_epochs": ("saving.save_last_n_epochs", to_int),
    "save_last_n_steps": ("saving.save_last_n_steps", to_int),
    "save_state": ("saving.save_state", to_bool),
    "save_state_on_train_end": ("saving.save_state_on_train_end", to_bool),
    "save_model_as": ("saving.save_model_as", to_str),
    "sample_every_n_epochs": ("samples.sample_every_n_epochs", to_int),
    "sample_every_n_steps": ("samples.sample_every_n_steps", to_int),
    "sample_at_first": ("samples.sample_at_first", to_bool),
    "sample_sampler": ("samples.sampler", to_str),
    "wandb_run_name": ("logging.wandb_run_name", to_str),
    "log_tracker_name": ("logging.wandb_project", to_str),
    "log_prefix": ("logging.log_prefix", to_str),
}
PATHS = {"pretrained_model_name_or_path": "model.base_model", "vae": "model.vae", "clip_l": "model.clip_l",
         "clip_g": "model.clip_g", "t5xxl": "model.t5xxl", "ae": "model.ae",
         "network_weights": "model.network_weights", "resume": "model.resume_state"}
#: sd-scripts options Nyx decides itself for every run ("" = handled by a function below).
NYX_OWNED = {"dataset_config": "Nyx writes its own dataset file from the dataset you pick",
             "logging_dir": "Nyx logs to the job's tb/ folder (the monitor reads it)",
             "config_file": "Nyx writes its own config file", "output_config": "not needed",
             "wandb_api_key": "secrets are not stored in configs; set WANDB_API_KEY in the environment",
             "huggingface_token": "secrets are not stored in configs; set HF_TOKEN in the environment",
             "tokenizer_cache_dir": "machine-specific; Nyx leaves sd-scripts' own cache",
             "console_log_file": "Nyx captures the log itself", "network_module": "",
             "network_args": "", "optimizer_type": "", "optimizer_args": "", "lr_scheduler": "",
             "lr_warmup_steps": "", "max_train_steps": "", "max_train_epochs": "", "min_snr_gamma": "",
             "sdpa": "", "xformers": "", "mem_eff_attn": "", "log_with": "", "use_8bit_adam": "",
             "use_lion_optimizer": "", "resolution": "", "train_data_dir": "", "output_dir": "",
             "sample_prompts": "", "dataset_repeats": "", "adaptive_noise_scale": ""}
#: LyCORIS structure options other tools write at the top level, where sd-scripts never reads them.
_STRAY_NETWORK = ("conv_dim", "conv_alpha", "algo", "factor", "dora_wd", "weight_decompose", "rank_dropout",
                  "module_dropout")

_OPTIMIZERS = {o.value.lower(): o for o in Optimizer}
_OPTIMIZERS.update({"dadaptation": Optimizer.dadapt_adam, "dadaptadampreprint": Optimizer.dadapt_adam,
                    "came": Optimizer.came, "came_pytorch.came": Optimizer.came, "adamw_8bit": Optimizer.adamw8bit})
_ALGOS = {"locon": NetworkType.locon, "lora": NetworkType.locon, "loha": NetworkType.loha,
          "lokr": NetworkType.lokr, "ia3": NetworkType.ia3, "full": NetworkType.full}


def kv_list(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            return [x for x in shlex.split(value) if x]
        except ValueError:  # an unbalanced quote: split on spaces as sd-scripts' own TOML would not
            return [x for x in value.split() if x]
    if isinstance(value, list):
        return [str(x) for x in value]
    return []


def apply_args(b: Builder, args: dict[str, Any], ws: Workspace, *, script: str) -> None:
    """Every key of ``args`` onto ``b``: a field, an extra option, or a note saying why not."""
    known = catalog.script_args(script)
    handled: set[str] = set()
    handled |= _duration(b, args)
    handled |= _network(b, args, known)
    handled |= _optimizer(b, args, known)
    handled |= _schedule(b, args)
    handled |= _noise(b, args)
    handled |= _attention_and_logging(b, args)
    handled |= _paths(b, args, ws)
    _rest(b, {k: v for k, v in args.items() if k not in handled}, known, script, ws)


def _duration(b: Builder, args: dict[str, Any]) -> set[str]:
    """Exactly one of epochs/steps, as sd-scripts decides: epochs win when both are given, and no
    count at all means its silent 1600 steps."""
    counts: dict[str, int | None] = {}
    for key in ("max_train_epochs", "max_train_steps"):
        raw = args.get(key)
        try:
            counts[key] = to_int(raw) if not empty(raw) else None
        except ValueProblem as exc:
            b.note(key, raw, "unmapped", f"{exc}; not used")
            counts[key] = None
    epochs, steps = counts["max_train_epochs"], counts["max_train_steps"]
    if epochs is not None and epochs > 0:
        b.set("max_train_epochs", "epochs", "dataset.duration", quiet=True)
        b.set("max_train_epochs", epochs, "dataset.max_train_epochs")
        if steps:
            b.note("max_train_steps", steps, "ignored", f"sd-scripts trains {epochs} epochs when both are given "
                   "(epochs win), so Nyx does")
    elif steps is not None and steps > 0:
        b.set("max_train_steps", "steps", "dataset.duration", quiet=True)
        b.set("max_train_steps", steps, "dataset.max_train_steps")
    else:
        b.set("max_train_steps", "steps", "dataset.duration", quiet=True)
        b.set("max_train_steps", 1600, "dataset.max_train_steps", quiet=True)
        b.note("max_train_steps", "(not set)", "converted", "no step or epoch count: sd-scripts silently trains "
               "1600 steps; Nyx writes 1600 explicitly, change it if needed", "dataset.max_train_steps")
    return {"max_train_epochs", "max_train_steps"}


def _network(b: Builder, args: dict[str, Any], known: dict[str, Any]) -> set[str]:
    module = str(args.get("network_module") or "")
    kv: dict[str, str] = {}
    for item in kv_list(args.get("network_args")):
        k, _, v = item.partition("=")
        kv[k.strip()] = v.strip()
    for stray in _STRAY_NETWORK:
        if stray in args and stray not in known and not empty(args[stray]):
            kv.setdefault(stray, str(args[stray]))
            b.note(stray, args[stray], "converted",
                   "sd-scripts does not read this at the top level; Nyx writes it into network_args", "network.type")
    if "weight_decompose" in kv:
        kv.setdefault("dora_wd", kv.pop("weight_decompose"))
    if module == "lycoris.kohya" or "algo" in kv:
        algo = kv.pop("algo", "lora").strip("'\"").lower()
        ntype = _ALGOS.get(algo)
        if ntype is None:
            b.note("network_args", f"algo={algo}", "unmapped", f"Nyx has no LyCORIS {algo!r} network; "
                   "a LoCon is set instead, which trains differently")
            ntype = NetworkType.locon
        dora = kv.get("dora_wd", "False")
        try:
            dora_on = to_bool(dora)
        except ValueProblem:
            dora_on = False
        if dora_on and ntype is NetworkType.locon:
            kv.pop("dora_wd")
            ntype = NetworkType.dora
        elif not dora_on:
            kv.pop("dora_wd", None)
        b.set("network_module", ntype.value, "network.type", quiet=True)
        b.note("network_module", module or "lycoris.kohya", "mapped", "", "network.type")
    elif module and not module.startswith("networks.lora"):
        b.note("network_module", module, "unmapped", "only kohya LoRA and LyCORIS networks are supported; "
               "a plain LoRA is set instead, which trains differently")
    else:
        kv.pop("dora_wd", None)
        if module:
            b.note("network_module", module, "mapped", "", "network.type")
    for key, target, conv in (("conv_dim", "network.conv_dim", to_int), ("conv_alpha", "network.conv_alpha", to_float),
                              ("factor", "network.factor", to_int), ("dropout", "network.dropout", to_float),
                              ("rank_dropout", "network.rank_dropout", to_float),
                              ("module_dropout", "network.module_dropout", to_float)):
        if key in kv:
            b.convert_set(f"network_args {key}", kv.pop(key), conv, target)
    leftover = [f"{k}={v}" for k, v in kv.items()] + b.network_extra
    if leftover:
        b.set("network_args", leftover, "network.extra_args",
              why="LyCORIS / network options Nyx has no field for, passed on unchanged")
    return {"network_module", "network_args", *_STRAY_NETWORK}


def _optimizer(b: Builder, args: dict[str, Any], known: dict[str, Any]) -> set[str]:
    opt = args.get("optimizer_type")
    opt_key = "optimizer_type"
    if args.get("use_8bit_adam"):
        opt, opt_key = "AdamW8bit", "use_8bit_adam"
    if args.get("use_lion_optimizer"):
        opt, opt_key = "Lion", "use_lion_optimizer"
    if not empty(opt):
        found = _OPTIMIZERS.get(str(opt).lower())
        if found is None:
            b.note(opt_key, opt, "unmapped", f"optimizer not offered by Nyx; {b._current('optimizer.optimizer')} "
                   "is set instead")
        else:
            b.set(opt_key, found, "optimizer.optimizer")
    elif "optimizer_type" in args:
        b.set("optimizer_type", Optimizer.adamw, "optimizer.optimizer", why="empty means AdamW in sd-scripts")
    oargs = kv_list(args.get("optimizer_args"))
    if "weight_decay" in args and "weight_decay" not in known and not empty(args["weight_decay"]):
        oargs.append(f"weight_decay={args['weight_decay']}")
        b.note("weight_decay", args["weight_decay"], "converted",
               "sd-scripts does not read a top-level weight_decay; Nyx writes it into optimizer_args",
               "optimizer.weight_decay")
    extra_opt = []
    for item in oargs:
        k, _, v = item.partition("=")
        k = k.strip()
        try:
            if k == "weight_decay":
                if b.set(f"optimizer_args {k}", to_float(v), "optimizer.weight_decay"):
                    continue
            if k == "betas":
                nums = [to_float(x) for x in re.findall(r"[-+0-9.eE]+", v)]
                if len(nums) == 2 and b.set(f"optimizer_args {k}", tuple(nums), "optimizer.betas"):
                    continue
        except ValueProblem:
            pass
        extra_opt.append(item)
    if extra_opt:
        b.set("optimizer_args", extra_opt, "optimizer.extra_args")
    return {"optimizer_type", "use_8bit_adam", "use_lion_optimizer", "optimizer_args", "weight_decay"}


def _schedule(b: Builder, args: dict[str, Any]) -> set[str]:
    if str(args.get("lr_scheduler", "")).startswith("adafactor"):
        b.set("lr_scheduler", Scheduler.constant, "optimizer.scheduler", why="sd-scripts replaces the scheduler with "
              "Adafactor's own whenever Adafactor runs with relative_step (its default); Nyx writes constant and "
              "sd-scripts does the same")
    elif not empty(args.get("lr_scheduler")):
        try:
            b.set("lr_scheduler", Scheduler(str(args["lr_scheduler"])), "optimizer.scheduler")
        except ValueError:
            b.note("lr_scheduler", args["lr_scheduler"], "unmapped",
                   f"scheduler not offered by Nyx; {b._current('optimizer.scheduler')} is set instead")
    warm = args.get("lr_warmup_steps")
    if not empty(warm):
        try:
            w = to_float(warm)
            if w < 0:
                raise ValueProblem(f"{w:g} is negative")
            if w < 1:
                b.set("lr_warmup_steps", "ratio", "optimizer.warmup_mode", quiet=True)
                b.set("lr_warmup_steps", w, "optimizer.warmup_ratio")
            else:
                b.set("lr_warmup_steps", "steps", "optimizer.warmup_mode", quiet=True)
                b.set("lr_warmup_steps", int(w), "optimizer.warmup_steps")
        except ValueProblem as exc:
            b.note("lr_warmup_steps", warm, "unmapped", f"{exc}; no warmup")
    if not empty(args.get("min_snr_gamma")):
        if b.convert_set("min_snr_gamma", args["min_snr_gamma"], to_float, "advanced.min_snr_gamma"):
            b.set("min_snr_gamma", True, "advanced.min_snr_gamma_enabled", quiet=True)
    return {"lr_scheduler", "lr_warmup_steps", "min_snr_gamma"}


def _noise(b: Builder, args: dict[str, Any]) -> set[str]:
    """sd-scripts refuses ``adaptive_noise_scale`` without ``noise_offset`` (ValueError at start)."""
    raw = args.get("adaptive_noise_scale")
    if empty(raw):
        return {"adaptive_noise_scale"}
    offset = args.get("noise_offset")
    try:
        has_offset = not empty(offset) and to_float(offset) != 0
    except ValueProblem:
        has_offset = False
    if not has_offset:
        b.note("adaptive_noise_scale", raw, "unmapped", "sd-scripts refuses an adaptive noise scale without a "
               "noise offset (it stops at start); set a noise offset and add adaptive_noise_scale under "
               "Advanced › Extra sd-scripts options to use it")
        return {"adaptive_noise_scale"}
    try:
        b.extra["adaptive_noise_scale"] = to_float(raw)
        b.note("adaptive_noise_scale", raw, "extra", "Advanced › Extra sd-scripts options")
    except ValueProblem as exc:
        b.note("adaptive_noise_scale", raw, "unmapped", str(exc))
    return {"adaptive_noise_scale"}


def _attention_and_logging(b: Builder, args: dict[str, Any]) -> set[str]:
    if args.get("xformers") is True:
        b.set("xformers", "xformers", "performance.attention")
    elif args.get("sdpa") is True:
        b.set("sdpa", "sdpa", "performance.attention")
    if args.get("mem_eff_attn"):
        b.set("mem_eff_attn", "sdpa", "performance.attention", why="replaced by sdpa attention (same memory saving)")
    lw = str(args.get("log_with") or "")
    if lw in ("wandb", "all"):
        b.set("log_with", True, "logging.wandb")
    elif lw and lw != "tensorboard":
        b.note("log_with", lw, "unmapped", "Nyx logs to TensorBoard (and optionally wandb) only")
    res = args.get("resolution")
    if not empty(res):
        set_resolution(b, "resolution", res)
    return {"xformers", "sdpa", "mem_eff_attn", "log_with", "resolution"}


def _ws_path(ws: Workspace, value: str) -> str | None:
    """The value as a workspace path ('models/x.safetensors'), or None when it is outside."""
    try:
        p = ws.resolve(value)
    except PathError:
        candidate = ws.models / Path(value.replace("\\", "/")).name
        return ws.relative(candidate) if candidate.exists() else None
    return ws.relative(p)


_HUB = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _paths(b: Builder, args: dict[str, Any], ws: Workspace) -> set[str]:
    for key, target in PATHS.items():
        value = args.get(key)
        if empty(value):
            continue
        if not isinstance(value, str):
            b.note(key, value, "unmapped", "a path must be text")
            continue
        is_hub = bool(_HUB.match(value)) and not Path(value).is_absolute()
        rel = str(value) if is_hub else _ws_path(ws, value)
        if rel is None:
            name = Path(value.replace("\\", "/")).name
            b.set(key, name, target, why=f"outside the workspace; set to the file name {name!r}: put that file "
                  "in workspace/models")
        else:
            b.set(key, rel, target)
    out_dir = args.get("output_dir")
    if not empty(out_dir):
        rel = _ws_path(ws, str(out_dir))
        if rel is None:
            b.note("output_dir", out_dir, "ignored", "outside the workspace; Nyx writes to outputs/<name>")
        else:
            b.set("output_dir", rel, "project.output_dir")
    tdd = args.get("train_data_dir")
    if not empty(tdd):
        set_dataset_from_dir(b, ws, "train_data_dir", str(tdd), parent=True)
    sp = args.get("sample_prompts")
    if not empty(sp):
        set_prompts(b, ws, str(sp))
    return {*PATHS, "output_dir", "train_data_dir", "sample_prompts"}


def _rest(b: Builder, args: dict[str, Any], known: dict[str, Any], script: str, ws: Workspace) -> None:
    """Simple fields, then real options kept as extra, then the rest with the reason."""
    for key, value in args.items():
        if key in SIMPLE:
            _simple(b, key, value)
        elif key in NYX_OWNED:
            if NYX_OWNED[key] and not empty(value):
                b.note(key, value, "ignored", NYX_OWNED[key])
        elif key in known and (key in catalog.NYX_ARGS or key in catalog.DATASET_ARGS):
            if not empty(value):
                b.note(key, value, "unmapped", "Nyx writes this option itself from its own settings (the dataset "
                       "you pick, or a field on the Training page); set it there")
        elif key in known:
            if empty(value):
                continue  # the option's "off" value: nothing to keep
            value = _coerce(known[key], value)
            problem = catalog.value_problem(known[key], value)
            if problem:
                b.note(key, value, "unmapped", f"{problem}; sd-scripts would refuse it")
                continue
            escapes = paths.option_problems(ws, {key: value}, script)
            if escapes:
                # Never carried over: pre-flight would refuse it anyway (see kohya/paths.py).
                b.note(key, value, "unmapped", escapes[0][1])
                continue
            b.extra[key] = value
            b.note(key, value, "extra", f"Advanced › Extra sd-scripts options, for {script}")
        else:
            b.note(key, value, "unmapped", f"not an option of {script}; sd-scripts would ignore it")


def _coerce(spec: dict[str, Any], value: Any) -> Any:
    """kohya_ss JSON often stores numbers as text; its GUI turns them into numbers before passing."""
    kind = str(spec.get("value_type", ""))
    if isinstance(value, str) and kind in ("int", "float", "int|float"):
        try:
            return to_int(value) if kind == "int" else to_float(value)
        except ValueProblem:
            return value
    return value


def _simple(b: Builder, key: str, value: Any) -> None:
    target, conv = SIMPLE[key]
    if value is None or (value == "" and conv is not to_str):
        return
    try:
        converted = conv(value)
    except ValueProblem as exc:
        b.note(key, value, "unmapped", f"{exc}; {b._current(target)!r} kept")
        return
    if target == "advanced.min_timestep" and converted == 0 or target == "advanced.max_timestep" and converted == 1000:
        b.note(key, value, "mapped", "", target)
        return
    if target == "model.clip_skip" and converted == 1:
        if b.set(key, 0, target, quiet=True):
            b.note(key, value, "converted", "1 means no skip, which Nyx writes as 0", target)
        return
    if target == "advanced.max_token_length" and converted not in (75, 150, 225):
        b.note(key, value, "unmapped", "max token length is 75, 150 or 225")
        return
    if target == "project.seed" and converted <= 0:
        b.note(key, value, "converted", "0 or no seed means a random seed in kohya_ss/sd-scripts; Nyx needs a "
               f"fixed seed, so {b._current(target)} is used (change it under Project › Seed)", target)
        return
    b.set(key, converted, target)


def set_resolution(b: Builder, key: str, res: Any) -> None:
    try:
        if isinstance(res, (list, tuple)):
            w, h = to_int(res[0]), to_int(res[-1])
        elif isinstance(res, str):
            nums = [to_int(x) for x in res.replace("x", ",").split(",") if x.strip()]
            w, h = (nums[0], nums[-1])
        else:
            w = h = to_int(res)
    except (ValueProblem, IndexError, TypeError):
        b.note(key, res, "unmapped", "resolution must be a number or 'W,H'")
        return
    if b.set(key, w, "dataset.resolution"):
        b.set(key, 0 if h == w else h, "dataset.resolution_height", quiet=True)


def set_dataset_from_dir(b: Builder, ws: Workspace, key: str, value: str, *, parent: bool) -> None:
    """``value`` is a dataset root (parent=True) or a concept folder inside one."""
    try:
        p = ws.resolve(value)
    except PathError:
        b.note(key, value, "unmapped", "outside the workspace; import the images on the Datasets page, then pick "
               "the dataset")
        return
    root = p if parent else p.parent
    if root.parent != ws.datasets:
        b.note(key, value, "unmapped", "not a dataset under workspace/datasets; pick the dataset on the Dataset tab")
        return
    b.set(key, root.name, "dataset.name")


_PROMPT_OPT = re.compile(r"\s--([a-z])\s+")


def parse_prompt_line(line: str) -> SamplePrompt | None:
    """sd-scripts' prompt-file syntax back into a prompt row (unknown options are dropped)."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    parts = _PROMPT_OPT.split(" " + line)
    prompt = parts[0].strip()
    values: dict[str, Any] = {"prompt": prompt}
    keys = {"n": ("negative", str), "w": ("width", int), "h": ("height", int), "d": ("seed", int),
            "l": ("cfg", float), "s": ("steps", int)}
    for flag, raw in zip(parts[1::2], parts[2::2]):
        if flag in keys:
            name, conv = keys[flag]
            try:
                values[name] = conv(raw.strip())
            except (ValueError, OverflowError):
                continue
    try:
        return SamplePrompt(**values)
    except Exception:  # noqa: BLE001 - a row that does not validate keeps its text only
        return SamplePrompt(prompt=prompt)


def set_prompts(b: Builder, ws: Workspace, value: str) -> None:
    text = None
    if "\n" in value or " --" in value or not re.search(r"\.(txt|toml|json)$", value):
        text = value  # kohya_ss GUI stores the prompts themselves
    else:
        try:
            path = ws.resolve(value, must_exist=True)
            text = path.read_text(encoding="utf-8")
        except (PathError, OSError, UnicodeDecodeError):
            b.note("sample_prompts", value, "unmapped", "prompt file not readable in the workspace; "
                   "add the prompts on the Saving & samples tab")
            return
        if path.suffix != ".txt":
            b.note("sample_prompts", value, "unmapped", "only the plain-text prompt format is imported")
            return
    prompts = [p for p in (parse_prompt_line(line) for line in text.splitlines()) if p is not None]
    b.set("sample_prompts", prompts, "samples.prompts")


def guess_family(args: dict[str, Any], ws: Workspace | None = None) -> Family:
    module = str(args.get("network_module", ""))
    if ("lora_flux" in module or args.get("ae") or args.get("flux1_checkbox")
            or ("guidance_scale" in args and args.get("t5xxl") and not args.get("clip_g"))):
        return Family.flux
    if "lora_sd3" in module or args.get("clip_g") or args.get("sd3_checkbox"):
        return Family.sd3
    if args.get("sdxl") is True or args.get("cache_text_encoder_outputs") or "sdxl" in str(
            args.get("pretrained_model_name_or_path", "")).lower():
        return Family.sdxl
    if ws is not None and isinstance(args.get("pretrained_model_name_or_path"), str):
        from nyx_core.config.paths import safe_resolve
        from nyx_core.config.validate import guess_family as from_file

        ref = safe_resolve(ws, str(args["pretrained_model_name_or_path"]))
        if not isinstance(ref, PathError) and ref.exists and ref.path is not None:
            found = from_file(ref.path)
            if isinstance(found, Family):
                return found
    return Family.sd15
