"""Import configs from other tools into a Nyx ``TrainingConfig``, reporting everything not taken.

Two sources: a plain sd-scripts ``--config_file`` TOML (optionally with its ``--dataset_config``
TOML), and a kohya_ss GUI JSON config. Every key ends in exactly one place: a Nyx field, the
``advanced.extra`` table (a real sd-scripts option Nyx has no field for), or the report as
ignored/unmapped with the reason. Nothing is dropped silently; mistakes other tools make
(LyCORIS ``conv_dim`` at the top level, ``weight_decompose``, a top-level ``weight_decay``, no
step count) are converted and said so.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import tomlkit
from tomlkit.exceptions import TOMLKitError

from nyx_core.config.enums import Family, NetworkType, Optimizer, Scheduler
from nyx_core.config.model import ConfigError, SamplePrompt, TrainingConfig, new_config
from nyx_core.errors import PathError
from nyx_core.kohya import catalog, paths
from nyx_core.workspace import Workspace

Status = str  # "converted" | "extra" | "ignored" | "unmapped"


@dataclass
class ImportNote:
    key: str
    value: str
    status: Status
    message: str

    def __str__(self) -> str:
        return f"{self.status}: {self.key} = {self.value}: {self.message}"


@dataclass
class ImportResult:
    config: TrainingConfig
    notes: list[ImportNote] = field(default_factory=list)
    source: str = ""

    @property
    def unknown(self) -> list[ImportNote]:
        """Keys that did not make it into the config (ignored or unmapped)."""
        return [n for n in self.notes if n.status in ("ignored", "unmapped")]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _empty(value: Any) -> bool:
    return value is None or value == "" or value is False or value == [] or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


class _Builder:
    """Applies values one field at a time, so one bad value is reported, not fatal."""

    def __init__(self, cfg: TrainingConfig) -> None:
        self.cfg = cfg
        self.notes: list[ImportNote] = []
        self.extra: dict[str, Any] = {}

    def note(self, key: str, value: Any, status: Status, message: str) -> None:
        self.notes.append(ImportNote(key, _short(value), status, message))

    def set(self, key: str, value: Any, target: str) -> bool:
        group, name = target.split(".")
        try:
            setattr(getattr(self.cfg, group), name, value)
            return True
        except Exception as exc:  # pydantic ValidationError: report its first line
            msg = str(exc).splitlines()
            why = msg[2].strip() if len(msg) > 2 else (msg[0] if msg else "invalid")
            self.note(key, value, "unmapped", f"not a valid value for {target} ({why})")
            return False


# Value parsing (GUI JSON stores many numbers as text) ----------------------------------------
def _int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("a flag is not a number")
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        return int(float(v.strip()))
    if isinstance(v, int):
        return v
    raise ValueError(f"not a whole number: {v!r}")


def _float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("a flag is not a number")
    if isinstance(v, list) and len(v) == 1:  # text_encoder_lr is nargs="*"
        v = v[0]
    return float(v.strip() if isinstance(v, str) else v)


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        if v.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if v.strip().lower() in ("false", "0", "no", "off", ""):
            return False
        raise ValueError(f"not a true/false value: {v!r}")
    return bool(v)


def _str(v: Any) -> str:
    return "" if v is None else str(v)


# One mapping for sd-scripts names: dest -> (field, converter) ---------------------------------
_SIMPLE: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "seed": ("project.seed", _int),
    "output_name": ("project.output_name", _str),
    "training_comment": ("project.comment", _str),
    "metadata_trigger_phrase": ("project.trigger_word", _str),
    "v2": ("model.v2", _bool),
    "v_parameterization": ("model.v_parameterization", _bool),
    "clip_skip": ("model.clip_skip", _int),
    "enable_bucket": ("dataset.enable_bucket", _bool),
    "min_bucket_reso": ("dataset.min_bucket_reso", _int),
    "max_bucket_reso": ("dataset.max_bucket_reso", _int),
    "bucket_reso_steps": ("dataset.bucket_reso_steps", _int),
    "bucket_no_upscale": ("dataset.bucket_no_upscale", _bool),
    "caption_extension": ("dataset.caption_extension", _str),
    "caption_extention": ("dataset.caption_extension", _str),
    "shuffle_caption": ("dataset.shuffle_caption", _bool),
    "keep_tokens": ("dataset.keep_tokens", _int),
    "caption_dropout_rate": ("dataset.caption_dropout_rate", _float),
    "caption_dropout_every_n_epochs": ("dataset.caption_dropout_every_n_epochs", _int),
    "caption_tag_dropout_rate": ("dataset.caption_tag_dropout_rate", _float),
    "flip_aug": ("dataset.flip_aug", _bool),
    "color_aug": ("dataset.color_aug", _bool),
    "random_crop": ("dataset.random_crop", _bool),
    "train_batch_size": ("dataset.batch_size", _int),
    "batch_size": ("dataset.batch_size", _int),
    "network_dim": ("network.dim", _int),
    "network_alpha": ("network.alpha", _float),
    "network_dropout": ("network.dropout", _float),
    "network_train_unet_only": ("network.train_unet_only", _bool),
    "learning_rate": ("optimizer.learning_rate", _float),
    "unet_lr": ("optimizer.unet_lr", _float),
    "text_encoder_lr": ("optimizer.text_encoder_lr", _float),
    "lr_scheduler_num_cycles": ("optimizer.num_cycles", _int),
    "lr_scheduler_power": ("optimizer.power", _float),
    "gradient_accumulation_steps": ("optimizer.gradient_accumulation_steps", _int),
    "max_grad_norm": ("optimizer.max_grad_norm", _float),
    "mixed_precision": ("performance.mixed_precision", _str),
    "save_precision": ("performance.save_precision", _str),
    "gradient_checkpointing": ("performance.gradient_checkpointing", _bool),
    "cache_latents": ("performance.cache_latents", _bool),
    "cache_latents_to_disk": ("performance.cache_latents_to_disk", _bool),
    "cache_text_encoder_outputs": ("performance.cache_text_encoder_outputs", _bool),
    "cache_text_encoder_outputs_to_disk": ("performance.cache_text_encoder_outputs_to_disk", _bool),
    "fp8_base": ("performance.fp8_base", _bool),
    "full_bf16": ("performance.full_bf16", _bool),
    "full_fp16": ("performance.full_fp16", _bool),
    "blocks_to_swap": ("performance.blocks_to_swap", _int),
    "max_data_loader_n_workers": ("performance.max_data_loader_n_workers", _int),
    "persistent_data_loader_workers": ("performance.persistent_data_loader_workers", _bool),
    "lowram": ("performance.lowram", _bool),
    "noise_offset": ("advanced.noise_offset", _float),
    "multires_noise_iterations": ("advanced.multires_noise_iterations", _int),
    "multires_noise_discount": ("advanced.multires_noise_discount", _float),
    "ip_noise_gamma": ("advanced.ip_noise_gamma", _float),
    "min_timestep": ("advanced.min_timestep", _int),
    "max_timestep": ("advanced.max_timestep", _int),
    "loss_type": ("advanced.loss_type", _str),
    "huber_schedule": ("advanced.huber_schedule", _str),
    "huber_c": ("advanced.huber_c", _float),
    "debiased_estimation_loss": ("advanced.debiased_estimation_loss", _bool),
    "zero_terminal_snr": ("advanced.zero_terminal_snr", _bool),
    "max_token_length": ("advanced.max_token_length", _int),
    "timestep_sampling": ("advanced.timestep_sampling", _str),
    "model_prediction_type": ("advanced.model_prediction_type", _str),
    "guidance_scale": ("advanced.guidance_scale", _float),
    "discrete_flow_shift": ("advanced.discrete_flow_shift", _float),
    "sigmoid_scale": ("advanced.sigmoid_scale", _float),
    "weighting_scheme": ("advanced.weighting_scheme", _str),
    "apply_t5_attn_mask": ("advanced.apply_t5_attn_mask", _bool),
    "t5xxl_max_token_length": ("advanced.t5xxl_max_token_length", _int),
    "training_shift": ("advanced.training_shift", _float),
    "save_every_n_epochs": ("saving.save_every_n_epochs", _int),
    "save_every_n_steps": ("saving.save_every_n_steps", _int),
    "save_last_n_epochs": ("saving.save_last_n_epochs", _int),
    "save_last_n_steps": ("saving.save_last_n_steps", _int),
    "save_state": ("saving.save_state", _bool),
    "save_state_on_train_end": ("saving.save_state_on_train_end", _bool),
    "save_model_as": ("saving.save_model_as", _str),
    "sample_every_n_epochs": ("samples.sample_every_n_epochs", _int),
    "sample_every_n_steps": ("samples.sample_every_n_steps", _int),
    "sample_at_first": ("samples.sample_at_first", _bool),
    "sample_sampler": ("samples.sampler", _str),
    "wandb_run_name": ("logging.wandb_run_name", _str),
    "log_tracker_name": ("logging.wandb_project", _str),
    "log_prefix": ("logging.log_prefix", _str),
}
_PATHS = {"pretrained_model_name_or_path": "model.base_model", "vae": "model.vae", "clip_l": "model.clip_l",
          "clip_g": "model.clip_g", "t5xxl": "model.t5xxl", "ae": "model.ae",
          "network_weights": "model.network_weights", "resume": "model.resume_state"}
#: sd-scripts options Nyx decides itself for every run.
_NYX_OWNED = {"dataset_config": "Nyx writes its own dataset file from the dataset you pick",
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
              "sample_prompts": "", "dataset_repeats": ""}

_OPTIMIZERS = {o.value.lower(): o for o in Optimizer}
_OPTIMIZERS.update({"dadaptation": Optimizer.dadapt_adam, "dadaptadampreprint": Optimizer.dadapt_adam,
                    "came": Optimizer.came, "came_pytorch.came": Optimizer.came, "adamw_8bit": Optimizer.adamw8bit})
_ALGOS = {"locon": NetworkType.locon, "lora": NetworkType.locon, "loha": NetworkType.loha,
          "lokr": NetworkType.lokr, "ia3": NetworkType.ia3, "full": NetworkType.full}


def _kv_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [x for x in shlex.split(value) if x]
    if isinstance(value, list):
        return [str(x) for x in value]
    return []


def guess_family(args: dict[str, Any], ws: Workspace | None = None) -> Family:
    module = str(args.get("network_module", ""))
    if ("lora_flux" in module or args.get("ae") or args.get("flux1_checkbox")
            or ("guidance_scale" in args and args.get("t5xxl") and not args.get("clip_g"))):
        return Family.flux
    if "lora_sd3" in module or args.get("clip_g") or args.get("sd3_checkbox"):
        return Family.sd3
    if args.get("sdxl") is True or args.get("cache_text_encoder_outputs") or "sdxl" in str(args.get("pretrained_model_name_or_path", "")).lower():
        return Family.sdxl
    if ws is not None and args.get("pretrained_model_name_or_path"):
        from nyx_core.config.paths import safe_resolve
        from nyx_core.config.validate import guess_family as from_file

        ref = safe_resolve(ws, str(args["pretrained_model_name_or_path"]))
        if not isinstance(ref, PathError) and ref.exists and ref.path is not None:
            found = from_file(ref.path)
            if isinstance(found, Family):
                return found
    return Family.sd15


def _ws_path(ws: Workspace, value: str) -> str | None:
    """The value as a workspace path ('models/x.safetensors'), or None when it is outside."""
    try:
        p = ws.resolve(value)
    except PathError:
        candidate = ws.models / Path(value.replace("\\", "/")).name
        return ws.relative(candidate) if candidate.exists() else None
    return ws.relative(p)


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
            except ValueError:
                continue
    try:
        return SamplePrompt(**values)
    except Exception:
        return SamplePrompt(prompt=prompt)


def _apply_args(b: _Builder, args: dict[str, Any], ws: Workspace, *, script: str) -> None:
    known = catalog.script_args(script)
    # Duration: exactly one, like render; sd-scripts lets epochs win when both are given.
    epochs, steps = args.get("max_train_epochs"), args.get("max_train_steps")
    try:
        epochs = _int(epochs) if not _empty(epochs) else None
        steps = _int(steps) if not _empty(steps) else None
    except ValueError:
        b.note("max_train_epochs", args.get("max_train_epochs"), "unmapped", "not a number")
        epochs = steps = None
    if epochs:
        b.set("max_train_epochs", "epochs", "dataset.duration")
        b.set("max_train_epochs", epochs, "dataset.max_train_epochs")
        if steps:
            b.note("max_train_steps", steps, "converted", f"both given: sd-scripts trains {epochs} epochs, so Nyx does")
    elif steps:
        b.set("max_train_steps", "steps", "dataset.duration")
        b.set("max_train_steps", steps, "dataset.max_train_steps")
    else:
        b.set("max_train_steps", "steps", "dataset.duration")
        b.set("max_train_steps", 1600, "dataset.max_train_steps")
        b.note("max_train_steps", "(missing)", "converted",
               "no step count: sd-scripts silently trains 1600 steps; Nyx writes 1600 explicitly, change it if needed")

    # Network structure
    module = str(args.get("network_module") or "")
    nargs = _kv_list(args.get("network_args"))
    kv = {}
    for item in nargs:
        k, _, v = item.partition("=")
        kv[k.strip()] = v.strip()
    for stray in ("conv_dim", "conv_alpha", "algo", "factor", "dora_wd", "weight_decompose", "rank_dropout",
                  "module_dropout"):
        if stray in args and stray not in known:
            kv.setdefault(stray, str(args[stray]))
            b.note(stray, args[stray], "converted",
                   "sd-scripts does not read this at the top level; Nyx writes it into network_args")
    if "weight_decompose" in kv:
        kv.setdefault("dora_wd", kv.pop("weight_decompose"))
    if module == "lycoris.kohya" or "algo" in kv:
        algo = kv.pop("algo", "lora").lower()
        ntype = _ALGOS.get(algo)
        if ntype is None:
            b.note("network_args", f"algo={algo}", "unmapped", "this LyCORIS algorithm is not supported by Nyx; LoCon used")
            ntype = NetworkType.locon
        if _bool(kv.pop("dora_wd", "False")):
            ntype = NetworkType.dora
        b.set("network_module", ntype.value, "network.type")
    elif module and not module.startswith("networks.lora"):
        b.note("network_module", module, "unmapped", "only kohya LoRA and LyCORIS networks are supported; LoRA used")
    else:
        kv.pop("dora_wd", None)
    for key, target, conv in (("conv_dim", "network.conv_dim", _int), ("conv_alpha", "network.conv_alpha", _float),
                              ("factor", "network.factor", _int), ("dropout", "network.dropout", _float),
                              ("rank_dropout", "network.rank_dropout", _float),
                              ("module_dropout", "network.module_dropout", _float)):
        if key in kv:
            raw = kv.pop(key)
            try:
                b.set(key, conv(raw), target)
            except ValueError:
                b.note(key, raw, "unmapped", "not a number")
    leftover = [f"{k}={v}" for k, v in kv.items()]
    if leftover:
        b.set("network_args", leftover, "network.extra_args")

    # Optimizer
    opt = args.get("optimizer_type")
    if args.get("use_8bit_adam"):
        opt = "AdamW8bit"
    if args.get("use_lion_optimizer"):
        opt = "Lion"
    if not _empty(opt):
        found = _OPTIMIZERS.get(str(opt).lower())
        if found is None:
            b.note("optimizer_type", opt, "unmapped", "optimizer not offered by Nyx; the config keeps its default")
        else:
            b.set("optimizer_type", found, "optimizer.optimizer")
    elif "optimizer_type" in args:
        b.set("optimizer_type", Optimizer.adamw, "optimizer.optimizer")  # "" means AdamW in sd-scripts
    oargs = _kv_list(args.get("optimizer_args"))
    if "weight_decay" in args and "weight_decay" not in known:
        oargs.append(f"weight_decay={args['weight_decay']}")
        b.note("weight_decay", args["weight_decay"], "converted",
               "sd-scripts does not read a top-level weight_decay; Nyx writes it into optimizer_args")
    extra_opt = []
    for item in oargs:
        k, _, v = item.partition("=")
        k = k.strip()
        try:
            if k == "weight_decay":
                b.set(k, float(v), "optimizer.weight_decay")
                continue
            if k == "betas":
                nums = [float(x) for x in re.findall(r"[-+0-9.eE]+", v)]
                if len(nums) == 2:
                    b.set(k, tuple(nums), "optimizer.betas")
                    continue
        except ValueError:
            pass
        extra_opt.append(item)
    if extra_opt:
        b.set("optimizer_args", extra_opt, "optimizer.extra_args")
    if not _empty(args.get("lr_scheduler")):
        try:
            b.set("lr_scheduler", Scheduler(str(args["lr_scheduler"])), "optimizer.scheduler")
        except ValueError:
            b.note("lr_scheduler", args["lr_scheduler"], "unmapped", "scheduler not offered by Nyx; constant kept")
    warm = args.get("lr_warmup_steps")
    if not _empty(warm):
        try:
            w = float(warm)
            if w < 1:
                b.set("lr_warmup_steps", "ratio", "optimizer.warmup_mode")
                b.set("lr_warmup_steps", w, "optimizer.warmup_ratio")
            else:
                b.set("lr_warmup_steps", "steps", "optimizer.warmup_mode")
                b.set("lr_warmup_steps", int(w), "optimizer.warmup_steps")
        except (TypeError, ValueError):
            b.note("lr_warmup_steps", warm, "unmapped", "not a number")
    if not _empty(args.get("min_snr_gamma")):
        b.set("min_snr_gamma", True, "advanced.min_snr_gamma_enabled")
        b.set("min_snr_gamma", _float(args["min_snr_gamma"]), "advanced.min_snr_gamma")
    if args.get("xformers") is True:
        b.set("xformers", "xformers", "performance.attention")
    elif args.get("sdpa") is True:
        b.set("sdpa", "sdpa", "performance.attention")
    if args.get("mem_eff_attn"):
        b.note("mem_eff_attn", True, "converted", "replaced by sdpa attention")
        b.set("mem_eff_attn", "sdpa", "performance.attention")
    lw = str(args.get("log_with") or "")
    if lw in ("wandb", "all"):
        b.set("log_with", True, "logging.wandb")

    # Resolution "512" / "768,512" / 512 / [768, 512]
    res = args.get("resolution")
    if not _empty(res):
        _set_resolution(b, "resolution", res)

    # Paths
    for key, target in _PATHS.items():
        value = args.get(key)
        if _empty(value):
            continue
        rel = _ws_path(ws, str(value)) if not re.match(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", str(value)) or Path(str(value)).is_absolute() else str(value)
        if rel is None:
            b.set(key, Path(str(value).replace("\\", "/")).name, target)
            b.note(key, value, "converted", f"outside the workspace; {target} set to the file name "
                   f"{Path(str(value).replace(chr(92), '/')).name!r}: put that file in workspace/models")
        else:
            b.set(key, rel, target)
    out_dir = args.get("output_dir")
    if not _empty(out_dir):
        rel = _ws_path(ws, str(out_dir))
        if rel is None:
            b.note("output_dir", out_dir, "ignored", "outside the workspace; Nyx writes to outputs/<name>")
        else:
            b.set("output_dir", rel, "project.output_dir")
    tdd = args.get("train_data_dir")
    if not _empty(tdd):
        _set_dataset_from_dir(b, ws, "train_data_dir", str(tdd), parent=True)
    sp = args.get("sample_prompts")
    if not _empty(sp):
        _set_prompts(b, ws, str(sp))

    # Everything else: simple fields, then real options kept as extra, then unmapped.
    for key, value in args.items():
        if key in _SIMPLE:
            target, conv = _SIMPLE[key]
            if value is None or (value == "" and conv is not _str):
                continue
            try:
                converted = conv(value)
            except (TypeError, ValueError):
                b.note(key, value, "unmapped", f"not a valid value for {target}")
                continue
            if target == "advanced.min_timestep" and converted == 0 or target == "advanced.max_timestep" and converted == 1000:
                continue
            if target == "model.clip_skip" and converted == 1:
                converted = 0  # kohya_ss writes 1 for "no skip"
            if target == "advanced.max_token_length" and converted not in (75, 150, 225):
                b.note(key, value, "unmapped", "max token length is 75, 150 or 225")
                continue
            b.set(key, converted, target)
        elif key in _PATHS or key in ("conv_dim", "conv_alpha", "algo", "factor", "dora_wd", "weight_decompose",
                                      "rank_dropout", "module_dropout", "weight_decay") and key not in known:
            continue
        elif key in _NYX_OWNED:
            if _NYX_OWNED[key] and not _empty(value):
                b.note(key, value, "ignored", _NYX_OWNED[key])
        elif key in known:
            if _empty(value):
                continue  # the option's "off" value: nothing to keep
            escapes = paths.option_problems(ws, {key: value}, script)
            if escapes:
                # Never carried over: pre-flight would refuse it anyway (see kohya/paths.py).
                b.note(key, value, "unmapped", escapes[0][1])
                continue
            b.extra[key] = value
            b.note(key, value, "extra", f"kept as an sd-scripts option in advanced.extra ({script})")
        else:
            b.note(key, value, "unmapped", f"not an option of {script}; sd-scripts would ignore it")


def _set_resolution(b: _Builder, key: str, res: Any) -> None:
    try:
        if isinstance(res, (list, tuple)):
            w, h = int(res[0]), int(res[1])
        elif isinstance(res, str):
            nums = [int(float(x)) for x in res.replace("x", ",").split(",") if x.strip()]
            w, h = (nums[0], nums[-1])
        else:
            w = h = int(res)
    except (ValueError, IndexError, TypeError):
        b.note(key, res, "unmapped", "resolution must be a number or 'W,H'")
        return
    b.set(key, w, "dataset.resolution")
    b.set(key, 0 if h == w else h, "dataset.resolution_height")


def _set_dataset_from_dir(b: _Builder, ws: Workspace, key: str, value: str, *, parent: bool) -> None:
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


def _set_prompts(b: _Builder, ws: Workspace, value: str) -> None:
    text = None
    if "\n" in value or " --" in value or not re.search(r"\.(txt|toml|json)$", value):
        text = value  # kohya_ss GUI stores the prompts themselves
    else:
        try:
            path = ws.resolve(value, must_exist=True)
            text = path.read_text(encoding="utf-8")
        except (PathError, OSError):
            b.note("sample_prompts", value, "unmapped", "prompt file not readable in the workspace; "
                   "add the prompts on the Saving & samples tab")
            return
        if path.suffix != ".txt":
            b.note("sample_prompts", value, "unmapped", "only the plain-text prompt format is imported")
            return
    prompts = [p for p in (parse_prompt_line(line) for line in text.splitlines()) if p is not None]
    b.set("sample_prompts", prompts, "samples.prompts")


def _apply_dataset_toml(b: _Builder, ws: Workspace, data: dict[str, Any]) -> None:
    for problem in catalog.check_dataset_config(data):
        b.note("dataset_config", problem, "unmapped", "sd-scripts' validator would reject this")
    general = dict(data.get("general") or {})
    datasets = data.get("datasets") or []
    if len(datasets) > 1:
        b.note("datasets", f"{len(datasets)} datasets", "unmapped", "Nyx trains one dataset; only the first is used")
    ds = dict(datasets[0]) if datasets else {}
    subsets = ds.pop("subsets", []) or []
    level: dict[str, Any] = {**general, **ds}
    for key, value in level.items():
        if key == "resolution":
            _set_resolution(b, key, value)
        elif key == "num_repeats":
            b.note(key, value, "converted", "repeats come from each concept folder's name (or its override)")
        elif key == "class_tokens":
            b.note(key, value, "converted", "class tokens come from each concept (set per concept)")
        elif key in _SIMPLE and _SIMPLE[key][0].startswith("dataset."):
            target, conv = _SIMPLE[key]
            try:
                b.set(key, conv(value), target)
            except (TypeError, ValueError):
                b.note(key, value, "unmapped", f"not a valid value for {target}")
        else:
            b.note(key, value, "unmapped", "dataset option Nyx has no field for")
    concepts = []
    chosen: str | None = None
    for sub in subsets:
        for key, value in sub.items():
            if key in ("image_dir", "num_repeats", "class_tokens", "is_reg"):
                continue
            if key in _SIMPLE and _SIMPLE[key][0].startswith("dataset."):
                b.note(key, value, "converted", "a per-concept value; Nyx applies it to the whole dataset")
                target, conv = _SIMPLE[key]
                try:
                    b.set(key, conv(value), target)
                except (TypeError, ValueError):
                    pass
            else:
                b.note(key, value, "unmapped", "subset option Nyx has no field for")
        image_dir = str(sub.get("image_dir", ""))
        try:
            folder = ws.resolve(image_dir)
        except PathError:
            b.note("image_dir", image_dir, "unmapped", f"outside the workspace (repeats {sub.get('num_repeats', 1)}); "
                   "import the images on the Datasets page, then pick the dataset")
            continue
        if folder.parent.parent != ws.datasets:
            b.note("image_dir", image_dir, "unmapped", "not a concept folder under workspace/datasets/<dataset>/")
            continue
        if chosen and folder.parent.name != chosen:
            b.note("image_dir", image_dir, "unmapped", f"in another dataset than {chosen!r}; Nyx trains one dataset")
            continue
        chosen = folder.parent.name
        from nyx_core.datasets.layout import parse_concept_folder

        parsed = parse_concept_folder(folder.name)
        override: dict[str, Any] = {"folder": folder.name}
        if "num_repeats" in sub and (parsed is None or parsed[0] != sub["num_repeats"]):
            override["repeats"] = int(sub["num_repeats"])
        if "class_tokens" in sub and (parsed is None or parsed[1] != sub["class_tokens"]):
            override["class_tokens"] = str(sub["class_tokens"])
        if sub.get("is_reg"):
            override["is_reg"] = True
        if len(override) > 1:
            concepts.append(override)
    if chosen:
        b.set("image_dir", chosen, "dataset.name")
    if concepts:
        b.set("subsets", concepts, "dataset.concepts")


def _finish(b: _Builder, source: str) -> ImportResult:
    if b.extra:
        b.set("extra", dict(b.extra), "advanced.extra")
    return ImportResult(b.cfg, b.notes, source)


def _flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """sd-scripts flattens every table into one namespace; a later table wins."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            flat.update(_flatten(value))
        else:
            flat[key] = value
    return flat


def import_sd_scripts(ws: Workspace, config_text: str, dataset_text: str | None = None, *, name: str,
                      family: Family | str | None = None) -> ImportResult:
    try:
        args = _flatten(tomlkit.parse(config_text).unwrap())
    except TOMLKitError as exc:
        raise ConfigError(f"the sd-scripts config is not valid TOML: {exc}") from None
    fam = Family(family) if family else guess_family(args, ws)
    b = _Builder(new_config(name, fam))
    _apply_args(b, args, ws, script=catalog.script_for(fam))
    if dataset_text is None and not _empty(args.get("dataset_config")):
        try:
            dataset_text = ws.resolve(str(args["dataset_config"]), must_exist=True).read_text(encoding="utf-8")
        except (PathError, OSError):
            b.note("dataset_config", args["dataset_config"], "unmapped",
                   "dataset file not readable in the workspace; pass it with --dataset-config")
    if dataset_text is not None:
        try:
            data = tomlkit.parse(dataset_text).unwrap()
        except TOMLKitError as exc:
            raise ConfigError(f"the dataset config is not valid TOML: {exc}") from None
        _apply_dataset_toml(b, ws, data)
    return _finish(b, "sd-scripts")


# kohya_ss GUI JSON ----------------------------------------------------------------------------
_GUI_LORA_TYPES = {
    "standard": ("networks.lora", None), "flux1": ("networks.lora_flux", None),
    "kohya locon": ("networks.lora", "conv"), "locon": ("lycoris.kohya", "locon"),
    "lycoris/locon": ("lycoris.kohya", "locon"), "lycoris/loha": ("lycoris.kohya", "loha"),
    "lycoris/lokr": ("lycoris.kohya", "lokr"), "lycoris/ia3": ("lycoris.kohya", "ia3"),
    "lycoris/native fine-tuning": ("lycoris.kohya", "full"),
}
#: GUI keys with no sd-scripts meaning of their own (UI state, or folded into others above).
_GUI_UI_ONLY = {"model_list", "LyCORIS_preset", "unit", "save_as_bool", "train_on_input", "use_cp", "use_tucker",
                "use_scalar", "rank_dropout_scale", "constrain", "rescaled", "decompose_both", "bypass_mode",
                "train_norm", "num_cpu_threads_per_process", "num_machines", "main_process_port", "multi_gpu",
                "dynamo_backend", "dynamo_mode", "dynamo_use_dynamic", "dynamo_use_fullgraph",
                "extra_accelerate_launch_args", "lowvram", "train_blocks", "split_mode",
                "sdxl_cache_text_encoder_outputs", "flux1_cache_text_encoder_outputs",
                "flux1_cache_text_encoder_outputs_to_disk", "sd3_cache_text_encoder_outputs",
                "sd3_cache_text_encoder_outputs_to_disk", "sdxl", "flux1_checkbox", "sd3_checkbox",
                "LoRA_type", "epoch", "max_resolution", "lr_warmup", "optimizer", "noise_offset_type",
                "use_wandb", "sdxl_no_half_vae", "stop_text_encoder_training", "additional_parameters",
                "lora_network_weights", "dora_wd", "reg_data_dir", "gpu_ids", "num_processes", "conv_dims",
                "conv_alphas", "block_dims", "block_alphas", "conv_block_dims", "conv_block_alphas",
                "down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold", "lr_scheduler_args",
                "lr_scheduler_type", "loraplus_lr_ratio", "loraplus_unet_lr_ratio",
                "loraplus_text_encoder_lr_ratio", "no_token_padding", "save_last_n_steps_state", "xformers",
                "network_alpha", "conv_dim", "conv_alpha", "factor", "rank_dropout", "module_dropout"}


def gui_to_args(data: dict[str, Any], b: _Builder) -> dict[str, Any]:
    """kohya_ss GUI keys -> sd-scripts names (plus what only the GUI knows, noted on ``b``)."""
    args: dict[str, Any] = {k: v for k, v in data.items() if k not in _GUI_UI_ONLY}
    lora_type = str(data.get("LoRA_type", "Standard"))
    module, algo = _GUI_LORA_TYPES.get(lora_type.lower(), (None, None))
    if module is None:
        b.note("LoRA_type", lora_type, "unmapped", "network type not supported by Nyx; LoRA used")
        module = "networks.lora"
    if module == "networks.lora" and b.cfg.model.family is Family.flux:
        module = "networks.lora_flux"
    args["network_module"] = module
    nargs: list[str] = []
    if algo and algo != "conv":
        nargs.append(f"algo={algo}")
        if algo in ("locon", "loha", "lokr") and not _empty(data.get("conv_dim")):
            nargs += [f"conv_dim={data['conv_dim']}", f"conv_alpha={data.get('conv_alpha', data['conv_dim'])}"]
        if algo == "lokr" and not _empty(data.get("factor")):
            nargs.append(f"factor={data['factor']}")
        if data.get("dora_wd") is True:
            nargs.append("dora_wd=True")
    elif algo == "conv" and not _empty(data.get("conv_dim")):
        nargs += [f"conv_dim={data['conv_dim']}", f"conv_alpha={data.get('conv_alpha', data['conv_dim'])}"]
    for key in ("rank_dropout", "module_dropout"):
        if not _empty(data.get(key)):
            nargs.append(f"{key}={data[key]}")
    if nargs:
        args["network_args"] = nargs
    if not _empty(data.get("network_alpha")):
        args["network_alpha"] = data["network_alpha"]
    if not _empty(data.get("optimizer")):
        args["optimizer_type"] = data["optimizer"]
    if not _empty(data.get("max_resolution")):
        args["resolution"] = data["max_resolution"]
    if _empty(data.get("max_train_epochs")) and not _empty(data.get("epoch")):
        args["max_train_epochs"] = data["epoch"]
    if not _empty(data.get("lr_warmup")):
        try:
            args["lr_warmup_steps"] = float(data["lr_warmup"]) / 100.0  # the GUI's percent of all steps
        except (TypeError, ValueError):
            b.note("lr_warmup", data["lr_warmup"], "unmapped", "not a number")
    xf = data.get("xformers")
    if xf is True or xf == "xformers":
        args["xformers"] = True
    elif xf == "sdpa":
        args["sdpa"] = True
    ntype = str(data.get("noise_offset_type", "Original"))
    if ntype == "Multires":
        args.pop("noise_offset", None)
    else:
        args.pop("multires_noise_iterations", None)
        args.pop("multires_noise_discount", None)
    if data.get("use_wandb") or str(data.get("log_with", "")) in ("wandb", "all"):
        args["log_with"] = "wandb"
    fam = b.cfg.model.family
    for key, applies in (("sdxl_cache_text_encoder_outputs", fam is Family.sdxl),
                         ("flux1_cache_text_encoder_outputs", fam is Family.flux),
                         ("sd3_cache_text_encoder_outputs", fam is Family.sd3)):
        if applies and key in data:
            args["cache_text_encoder_outputs"] = bool(data[key])
    for key, applies in (("flux1_cache_text_encoder_outputs_to_disk", fam is Family.flux),
                         ("sd3_cache_text_encoder_outputs_to_disk", fam is Family.sd3)):
        if applies and key in data:
            args["cache_text_encoder_outputs_to_disk"] = bool(data[key])
    if data.get("sdxl_no_half_vae") and fam is Family.sdxl:
        args["no_half_vae"] = True
    if not _empty(data.get("lora_network_weights")) and _empty(data.get("network_weights")):
        args["network_weights"] = data["lora_network_weights"]
    if not _empty(data.get("num_processes")) and str(data["num_processes"]) not in ("1", "1.0"):
        b.set("num_processes", _int(data["num_processes"]), "performance.num_gpus")
    if not _empty(data.get("gpu_ids")):
        b.set("gpu_ids", str(data["gpu_ids"]), "performance.gpu_ids")
    for key, why in (("additional_parameters", "extra command-line text is not imported; add real options in "
                      "advanced.extra"), ("reg_data_dir", "regularisation folders: add them as concepts marked "
                      "'regularisation'"), ("stop_text_encoder_training", "not supported by sd-scripts' LoRA "
                      "scripts"), ("lr_scheduler_args", "not imported"), ("loraplus_lr_ratio", "LoRA+ is not "
                      "offered by Nyx"), ("block_dims", "block-wise dims are not offered by Nyx"),
                     ("block_alphas", "block-wise alphas are not offered by Nyx"),
                     ("down_lr_weight", "block LR weights are not offered by Nyx")):
        if not _empty(data.get(key)):
            b.note(key, data[key], "unmapped", why)
    ui_only = sorted(k for k in _GUI_UI_ONLY if k in data and not _empty(data[k]))
    handled = {"LoRA_type", "epoch", "max_resolution", "lr_warmup", "optimizer", "noise_offset_type", "use_wandb",
               "sdxl", "flux1_checkbox", "sd3_checkbox", "xformers", "network_alpha", "conv_dim", "conv_alpha",
               "factor", "rank_dropout", "module_dropout", "dora_wd", "sdxl_cache_text_encoder_outputs",
               "flux1_cache_text_encoder_outputs", "flux1_cache_text_encoder_outputs_to_disk",
               "sd3_cache_text_encoder_outputs", "sd3_cache_text_encoder_outputs_to_disk", "sdxl_no_half_vae",
               "lora_network_weights", "num_processes", "gpu_ids", "additional_parameters", "reg_data_dir",
               "stop_text_encoder_training", "lr_scheduler_args", "loraplus_lr_ratio", "block_dims",
               "block_alphas", "down_lr_weight"}
    for key in ui_only:
        if key not in handled:
            b.note(key, data[key], "ignored", "kohya_ss GUI setting with no sd-scripts training effect in Nyx")
    return args


def import_kohya_gui(ws: Workspace, json_text: str, *, name: str, family: Family | str | None = None) -> ImportResult:
    try:
        data = json.loads(json_text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the kohya_ss config is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError("the kohya_ss config must be a JSON object")
    if family:
        fam = Family(family)
    elif data.get("flux1_checkbox") or str(data.get("LoRA_type", "")).lower().startswith("flux"):
        fam = Family.flux
    elif data.get("sd3_checkbox"):
        fam = Family.sd3
    elif data.get("sdxl"):
        fam = Family.sdxl
    else:
        fam = Family.sd15
    b = _Builder(new_config(name, fam))
    args = gui_to_args(data, b)
    _apply_args(b, args, ws, script=catalog.script_for(fam))
    return _finish(b, "kohya_ss")


def import_file(ws: Workspace, path: Path, *, name: str, dataset_config: Path | None = None,
                family: Family | str | None = None) -> ImportResult:
    """By extension: ``.json`` = kohya_ss GUI config, ``.toml`` = sd-scripts config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no file at {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        if dataset_config is not None:
            raise ConfigError("--dataset-config goes with an sd-scripts .toml config, not a kohya_ss .json")
        return import_kohya_gui(ws, text, name=name, family=family)
    ds_text = Path(dataset_config).read_text(encoding="utf-8") if dataset_config else None
    return import_sd_scripts(ws, text, ds_text, name=name, family=family)
