"""A kohya_ss GUI JSON config, turned into the sd-scripts arguments its GUI would pass.

kohya_ss does not hand its JSON to sd-scripts as is: it decides the step count, which parts
train (from the learning rates), the LyCORIS ``network_args``, the warmup and the noise options
itself. This module re-expresses those decisions (read from kohya_ss's ``lora_gui.py`` /
``common_gui.py``; no code of theirs is copied) so that an imported config trains what the
source would have trained, and notes each key it does not carry and why.
"""
from __future__ import annotations

import json
import math
from typing import Any

from nyx_core.config.enums import Family
from nyx_core.config.import_args import kv_list
from nyx_core.config.import_core import Builder, ValueProblem, empty, to_bool, to_float, to_int
from nyx_core.config.model import ConfigError
from nyx_core.errors import PathError
from nyx_core.workspace import Workspace

#: LoRA_type -> (network module, LyCORIS algo or "conv" for kohya's LoCon, or None).
LORA_TYPES: dict[str, tuple[str, str | None]] = {
    "standard": ("networks.lora", None), "flux1": ("networks.lora_flux", None),
    "kohya locon": ("networks.lora", "conv"), "locon": ("lycoris.kohya", "locon"),
    "lycoris/locon": ("lycoris.kohya", "locon"), "lycoris/loha": ("lycoris.kohya", "loha"),
    "lycoris/lokr": ("lycoris.kohya", "lokr"), "lycoris/ia3": ("lycoris.kohya", "ia3"),
    "lycoris/native fine-tuning": ("lycoris.kohya", "full"),
}
#: LyCORIS switches kohya_ss passes per algorithm (all off by default in LyCORIS, so only an "on"
#: value changes training and is carried).
LYCORIS_SWITCHES: dict[str, tuple[str, ...]] = {
    "locon": ("use_tucker", "bypass_mode", "use_scalar", "rank_dropout_scale", "train_norm"),
    "loha": ("use_tucker", "bypass_mode", "use_scalar", "rank_dropout_scale", "train_norm"),
    "lokr": ("use_tucker", "bypass_mode", "use_scalar", "rank_dropout_scale", "train_norm", "use_cp",
             "decompose_both"),
    "ia3": ("train_on_input",),
    "full": ("rank_dropout_scale", "train_norm"),
}
#: kohya LoRA (networks.lora) options kohya_ss passes in network_args when set.
KOHYA_LORA_ARGS = ("down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold", "block_dims",
                   "block_alphas", "conv_block_dims", "conv_block_alphas")
FLUX_LORA_ARGS = ("img_attn_dim", "img_mlp_dim", "img_mod_dim", "single_dim", "txt_attn_dim", "txt_mlp_dim",
                  "txt_mod_dim", "single_mod_dim", "in_dims", "train_double_block_indices",
                  "train_single_block_indices")
LORAPLUS = ("loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio")
#: Keys only the GUI reads (or that this module folds into other arguments).
GUI_ONLY = {
    "model_list", "LyCORIS_preset", "unit", "save_as_bool", "train_on_input", "use_cp", "use_tucker", "use_scalar",
    "rank_dropout_scale", "constrain", "rescaled", "decompose_both", "bypass_mode", "train_norm",
    "num_cpu_threads_per_process", "num_machines", "main_process_port", "multi_gpu", "dynamo_backend",
    "dynamo_mode", "dynamo_use_dynamic", "dynamo_use_fullgraph", "extra_accelerate_launch_args", "lowvram",
    "train_blocks", "split_mode", "split_qkv", "train_t5xxl", "sdxl_cache_text_encoder_outputs",
    "flux1_cache_text_encoder_outputs", "flux1_cache_text_encoder_outputs_to_disk",
    "sd3_cache_text_encoder_outputs", "sd3_cache_text_encoder_outputs_to_disk", "sdxl", "sdxl_checkbox",
    "flux1_checkbox", "sd3_checkbox", "LoRA_type", "epoch", "max_resolution", "lr_warmup", "optimizer",
    "noise_offset_type", "use_wandb", "sdxl_no_half_vae", "stop_text_encoder_training", "additional_parameters",
    "lora_network_weights", "dora_wd", "reg_data_dir", "gpu_ids", "num_processes", "conv_dims", "conv_alphas",
    "network_alpha", "conv_dim", "conv_alpha", "factor", "rank_dropout", "module_dropout", "xformers",
    "no_token_padding", "save_last_n_steps_state", "lr_scheduler_args", "network_train_unet_only",
    "network_train_text_encoder_only", "t5xxl_lr", "dim_from_weights", "text_encoder_lr", "unet_lr",
    "noise_offset_random_strength", "adaptive_noise_scale", "noise_offset", "multires_noise_iterations",
    "multires_noise_discount", "seed", "lr_scheduler_num_cycles", "lr_warmup_steps", "max_train_steps",
    "max_train_epochs", "train_lora_ggpo", "ggpo_beta", "ggpo_sigma", "enable_all_linear",
    *KOHYA_LORA_ARGS, *FLUX_LORA_ARGS, *LORAPLUS,
}
#: Keys of kohya_ss's fine-tuning and DreamBooth tabs (full-model training).
FULL_MODEL_KEYS = {"train_text_encoder", "dataset_repeats", "create_buckets", "create_caption", "full_path",
                   "use_latent_files", "learning_rate_te", "learning_rate_te1", "learning_rate_te2",
                   "caption_metadata_filename", "latent_metadata_filename", "image_folder", "block_lr",
                   "weighted_captions_ft", "train_dir"}


def gui_family(data: dict[str, Any]) -> Family:
    """The script kohya_ss would start: its model checkboxes, in the order its GUI checks them."""
    def on(key: str) -> bool:
        try:
            return to_bool(data.get(key, False))
        except ValueProblem:
            return False

    if on("sdxl") or on("sdxl_checkbox"):
        return Family.sdxl
    if on("flux1_checkbox") or str(data.get("LoRA_type", "")).lower().startswith("flux"):
        return Family.flux
    if on("sd3_checkbox"):
        return Family.sd3
    return Family.sd15


def gui_kind(data: dict[str, Any]) -> str:
    """"lora", "finetune" or "dreambooth": which kohya_ss tab saved the file."""
    if "LoRA_type" in data or "network_dim" in data or "network_alpha" in data:
        return "lora"
    if {"train_text_encoder", "dataset_repeats", "create_buckets", "use_latent_files"} & set(data):
        return "finetune"
    return "dreambooth"


def gui_to_args(data: dict[str, Any], b: Builder, ws: Workspace) -> dict[str, Any]:
    """kohya_ss GUI keys -> the sd-scripts arguments its GUI passes (decisions noted on ``b``)."""
    args: dict[str, Any] = {k: v for k, v in data.items() if k not in GUI_ONLY and k not in FULL_MODEL_KEYS}
    fam = b.cfg.model.family
    _kind_note(b, data)
    _command_line(b, data, args)
    _network(b, data, args, fam)
    _learning_rates(b, data, args)
    _duration(b, data, args, ws)
    _warmup_and_cycles(b, data, args)
    _noise(b, data, args)
    _switches(b, data, args, fam)
    _leftovers(b, data)
    return args


def _num(b: Builder, data: dict[str, Any], key: str, conv=to_float, default: Any = 0) -> Any:  # noqa: ANN001
    raw = data.get(key)
    if raw is None or raw == "":
        return default
    try:
        return conv(raw)
    except ValueProblem as exc:
        b.note(key, raw, "unmapped", f"{exc}; treated as {default!r}")
        return default


def parse_command_line(text: str) -> dict[str, Any]:
    """``--key value --flag --many a b`` (kohya_ss's "additional parameters") as sd-scripts reads
    them: a flag alone is True, one value is that value, several are a list."""
    import shlex

    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    out: dict[str, Any] = {}
    key: str | None = None
    values: list[str] = []

    def flush() -> None:
        if key:
            out[key] = True if not values else values[0] if len(values) == 1 else list(values)

    for tok in tokens:
        if tok.startswith("--") and len(tok) > 2:
            flush()
            key, values = tok[2:].replace("-", "_"), []
        elif key:
            values.append(tok)
    flush()
    return out


def _command_line(b: Builder, data: dict[str, Any], args: dict[str, Any]) -> None:
    """kohya_ss appends "additional parameters" to the command line, where they override the
    config file: they are imported as the options they are."""
    text = data.get("additional_parameters")
    if empty(text) or not isinstance(text, str):
        return
    parsed = parse_command_line(text)
    for key, value in parsed.items():
        args[key] = value
    b.note("additional_parameters", text, "converted", f"read as the sd-scripts options {', '.join(parsed) or '(none)'}"
           " (each is reported below)", "advanced.extra")


def _kind_note(b: Builder, data: dict[str, Any]) -> None:
    kind = gui_kind(data)
    if kind == "lora":
        return
    what = "fine-tuning" if kind == "finetune" else "DreamBooth"
    lr = data.get("learning_rate")
    b.note("(kohya_ss tab)", what, "converted", f"this is a kohya_ss {what} (full-model) config, but Nyx trains "
           f"LoRAs: its settings were applied to a LoRA. Its learning rate {lr} was chosen for full-model training "
           "and is usually far too low for a LoRA; check the Network and Optimizer tabs", "network.type")
    for key in sorted(FULL_MODEL_KEYS & set(data)):
        if not empty(data[key]):
            b.note(key, data[key], "ignored", f"a {what} setting with no LoRA counterpart")


def _network(b: Builder, data: dict[str, Any], args: dict[str, Any], fam: Family) -> None:
    if gui_kind(data) != "lora":
        return
    lora_type = str(data.get("LoRA_type", "Standard"))
    module, algo = LORA_TYPES.get(lora_type.lower(), (None, None))
    if module is None:
        b.note("LoRA_type", lora_type, "unmapped", f"Nyx has no {lora_type!r} network; a plain LoRA is set "
               "instead, which trains differently")
        module, algo = "networks.lora", None
    else:
        b.note("LoRA_type", lora_type, "mapped", "", "network.type")
    if module == "networks.lora" and fam is Family.flux:
        module = "networks.lora_flux"
    if module == "networks.lora" and fam is Family.sd3:
        module = "networks.lora_sd3"
    args["network_module"] = module
    nargs: list[str] = []

    def carry(key: str, value: Any, why: str) -> None:
        nargs.append(f"{key}={value}")
        b.note(key, value, "converted", why, "network.extra_args")

    if algo and algo != "conv":
        nargs.append(f"algo={algo}")
        if algo in ("locon", "loha", "lokr") and not empty(data.get("conv_dim")):
            nargs += [f"conv_dim={data['conv_dim']}", f"conv_alpha={data.get('conv_alpha', data['conv_dim'])}"]
        if algo == "lokr" and not empty(data.get("factor")):
            nargs.append(f"factor={data['factor']}")
        if algo in ("locon", "loha", "lokr") and _on(data.get("dora_wd")):
            nargs.append("dora_wd=True")
        preset = str(data.get("LyCORIS_preset") or "full")
        if preset != "full":
            carry("LyCORIS_preset", preset, f"passed to LyCORIS as preset={preset}, as kohya_ss does")
        for switch in LYCORIS_SWITCHES.get(algo, ()):
            if _on(data.get(switch)):
                carry(switch, True, f"passed to LyCORIS as {switch}=True in the network arguments, as kohya_ss does")
    elif algo == "conv" and not empty(data.get("conv_dim")):
        nargs += [f"conv_dim={data['conv_dim']}", f"conv_alpha={data.get('conv_alpha', data['conv_dim'])}"]
    if module == "networks.lora":
        for key in KOHYA_LORA_ARGS:
            if not empty(data.get(key)):
                carry(key, str(data[key]).replace(" ", ""), "passed to kohya's LoRA as a network argument")
    if module == "networks.lora_flux":
        for key in FLUX_LORA_ARGS:
            if not empty(data.get(key)):
                carry(key, str(data[key]).replace(" ", ""), "passed to kohya's Flux LoRA as a network argument")
        for key in ("split_qkv", "train_t5xxl"):
            if _on(data.get(key)):
                carry(key, True, "passed to kohya's Flux LoRA as a network argument")
    for key in LORAPLUS:
        if not empty(data.get(key)):
            carry(key, data[key], "LoRA+ ratio, passed as a network argument as kohya_ss does")
    for key in ("rank_dropout", "module_dropout"):
        if not empty(data.get(key)):
            nargs.append(f"{key}={data[key]}")
    if nargs:
        args["network_args"] = nargs
    if not empty(data.get("network_alpha")):
        args["network_alpha"] = data["network_alpha"]
    if not empty(data.get("lora_network_weights")) and empty(data.get("network_weights")):
        args["network_weights"] = data["lora_network_weights"]


def _on(value: Any) -> bool:
    try:
        return to_bool(value)
    except ValueProblem:
        return False


def _learning_rates(b: Builder, data: dict[str, Any], args: dict[str, Any]) -> None:
    """kohya_ss trains the text encoder when its LR is not 0, the U-Net when its LR is not 0, and
    both (at the main LR) when both are 0; it passes text_encoder_lr / unet_lr only when set."""
    for key in ("text_encoder_lr", "unet_lr", "network_train_unet_only"):
        args.pop(key, None)
    if gui_kind(data) != "lora":
        _full_model_encoders(b, data, args)
        return
    te = _num(b, data, "text_encoder_lr")
    unet = _num(b, data, "unet_lr")
    if te > 0:
        args["text_encoder_lr"] = te
    if unet != 0:
        args["unet_lr"] = unet
    if te == 0 and unet != 0:
        args["network_train_unet_only"] = True
        b.note("text_encoder_lr", data.get("text_encoder_lr", 0), "converted", "0 with a U-Net LR set: kohya_ss "
               "trains the U-Net only, so Nyx does", "network.train_unet_only")
    elif te != 0 and unet == 0:
        args["network_train_text_encoder_only"] = True
        b.note("unet_lr", data.get("unet_lr", 0), "converted", "0 with a text-encoder LR set: kohya_ss trains the "
               "text encoder only (network_train_text_encoder_only)", "advanced.extra")
    elif te == 0 and unet == 0:
        b.note("text_encoder_lr", data.get("text_encoder_lr", 0), "converted", "text-encoder and U-Net LR both 0: "
               "kohya_ss trains both at the main learning rate, so Nyx does", "optimizer.learning_rate")


def _full_model_encoders(b: Builder, data: dict[str, Any], args: dict[str, Any]) -> None:
    """A fine-tuning/DreamBooth config trains its text encoder only when it says so, and never
    with cached text-encoder outputs: the LoRA keeps the text encoder frozen in the same cases."""
    cached = any(_on(data.get(k)) for k in ("sdxl_cache_text_encoder_outputs", "sd3_cache_text_encoder_outputs",
                                            "flux1_cache_text_encoder_outputs", "cache_text_encoder_outputs"))
    if "train_text_encoder" in data:
        trains_te = _on(data.get("train_text_encoder"))
    else:
        trains_te = any(_num(b, data, k) > 0 for k in ("learning_rate_te", "learning_rate_te1", "learning_rate_te2"))
    if cached or not trains_te:
        args["network_train_unet_only"] = True
        b.note("(text encoder)", "frozen", "converted", "the source does not train its text encoder"
               + (" (its outputs are cached)" if cached else "") + ", so the LoRA trains the U-Net only",
               "network.train_unet_only")


def _duration(b: Builder, data: dict[str, Any], args: dict[str, Any], ws: Workspace) -> None:
    """kohya_ss passes max_train_epochs and max_train_steps when they are not 0 (sd-scripts lets
    epochs win); with steps 0 and no dataset file it computes the steps from ``epoch`` and the
    training folder itself: ceil(images x repeats / batch / grad-acc x epoch x 2-if-reg)."""
    epochs = _num(b, data, "max_train_epochs", to_int)
    steps = _num(b, data, "max_train_steps", to_int)
    epoch = _num(b, data, "epoch", to_int, default=1)
    args.pop("max_train_epochs", None)
    args.pop("max_train_steps", None)
    if epochs > 0:
        args["max_train_epochs"] = epochs
    if steps > 0:
        args["max_train_steps"] = steps
        if epochs <= 0 and not empty(data.get("epoch")):
            b.note("epoch", data["epoch"], "ignored", f"kohya_ss passes the explicit max_train_steps {steps} and "
                   "uses epoch only to compute steps when those are 0")
        return
    if not empty(data.get("dataset_config")):
        if epochs <= 0:
            b.note("epoch", data.get("epoch"), "ignored", "with a dataset file kohya_ss computes no step count, so "
                   "sd-scripts trains its default 1600 steps")
        return
    if epochs > 0:
        return  # sd-scripts trains the epochs; kohya_ss's own computed steps lose to them
    counted = _kohya_ss_steps(b, data, ws, epoch)
    if counted is not None:
        args["max_train_steps"] = counted
        b.note("epoch", data.get("epoch", 1), "converted", f"kohya_ss turns {epoch} epoch(s) into "
               f"max_train_steps = {counted} from the training folder's images x repeats, so Nyx trains "
               f"{counted} steps", "dataset.max_train_steps")
    else:
        args["max_train_epochs"] = max(epoch, 1)
        b.note("epoch", data.get("epoch", 1), "converted", f"kohya_ss turns {epoch} epoch(s) into a step count "
               "from its training folder (images x repeats / batch x epochs); Nyx trains the same "
               f"{max(epoch, 1)} epoch(s), which counts partly filled aspect-ratio batches exactly",
               "dataset.max_train_epochs")


def _kohya_ss_steps(b: Builder, data: dict[str, Any], ws: Workspace, epoch: int) -> int | None:
    """kohya_ss's own count, when the training folder is a dataset in this workspace."""
    tdd = data.get("train_data_dir")
    if empty(tdd) or not isinstance(tdd, str):
        return None
    try:
        root = ws.resolve(tdd)
    except PathError:
        return None
    if root.parent != ws.datasets or not root.is_dir():
        return None
    total = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        try:
            repeats = int(folder.name.split("_")[0])
        except ValueError:
            continue  # kohya_ss skips a folder without a number prefix
        count = sum(1 for f in folder.iterdir() if f.name.lower().endswith((".jpg", ".jpeg", ".png", ".webp")))
        total += repeats * count
    batch = max(_num(b, data, "train_batch_size", to_int, default=1), 1)
    accum = max(_num(b, data, "gradient_accumulation_steps", to_int, default=1), 1)
    reg = 2 if not empty(data.get("reg_data_dir")) else 1
    steps = math.ceil(total / batch / accum * epoch * reg)
    return steps if steps > 0 else None


def _warmup_and_cycles(b: Builder, data: dict[str, Any], args: dict[str, Any]) -> None:
    """An explicit lr_warmup_steps wins over the GUI's percentage (lr_warmup / 100 of all steps)."""
    absolute = _num(b, data, "lr_warmup_steps")
    percent = _num(b, data, "lr_warmup")
    args.pop("lr_warmup_steps", None)
    if absolute > 0:
        args["lr_warmup_steps"] = int(absolute)
        if percent > 0:
            b.note("lr_warmup", data["lr_warmup"], "ignored", "kohya_ss uses lr_warmup_steps when both are set")
    elif percent != 0:
        args["lr_warmup_steps"] = percent / 100.0
        b.note("lr_warmup", data["lr_warmup"], "converted", f"{percent:g}% of all steps, written as the ratio "
               f"{percent / 100.0:g}", "optimizer.warmup_ratio")
    cycles = data.get("lr_scheduler_num_cycles")
    if cycles == "" or cycles is None:
        if str(data.get("lr_scheduler", "")) == "cosine_with_restarts":
            epoch = _num(b, data, "epoch", to_int, default=1)
            args["lr_scheduler_num_cycles"] = max(epoch, 1)
            b.note("lr_scheduler_num_cycles", "(empty)", "converted", f"kohya_ss uses the epoch count "
                   f"({max(epoch, 1)}) as the number of restarts", "optimizer.num_cycles")
    else:
        args["lr_scheduler_num_cycles"] = cycles


def _noise(b: Builder, data: dict[str, Any], args: dict[str, Any]) -> None:
    """kohya_ss passes the plain noise offset (and its adaptive scale) only for "Original", the
    multires options only for "Multires"; 0 means not passed."""
    for key in ("noise_offset", "adaptive_noise_scale", "multires_noise_iterations", "multires_noise_discount",
                "noise_offset_random_strength"):
        args.pop(key, None)
    ntype = str(data.get("noise_offset_type", "Original"))
    if ntype == "Multires":
        if _num(b, data, "multires_noise_iterations", to_int) != 0:
            args["multires_noise_iterations"] = data["multires_noise_iterations"]
            args["multires_noise_discount"] = data.get("multires_noise_discount", 0.3)
        for key in ("noise_offset", "adaptive_noise_scale"):
            if not empty(data.get(key)):
                b.note(key, data[key], "ignored", "kohya_ss passes it only with the 'Original' noise type; this "
                       "file uses multires noise")
        return
    offset = _num(b, data, "noise_offset")
    if offset != 0:
        args["noise_offset"] = offset
        if _on(data.get("noise_offset_random_strength")):
            args["noise_offset_random_strength"] = True
    adaptive = _num(b, data, "adaptive_noise_scale")
    if adaptive != 0:
        args["adaptive_noise_scale"] = adaptive
    for key in ("multires_noise_iterations", "multires_noise_discount"):
        if key in data and not empty(data[key]) and key == "multires_noise_iterations":
            b.note(key, data[key], "ignored", "kohya_ss passes it only with the 'Multires' noise type")


def _switches(b: Builder, data: dict[str, Any], args: dict[str, Any], fam: Family) -> None:
    if not empty(data.get("optimizer")):
        args["optimizer_type"] = data["optimizer"]
    if not empty(data.get("max_resolution")):
        args["resolution"] = data["max_resolution"]
    xf = data.get("xformers")
    if xf is True or xf == "xformers":
        args["xformers"] = True
    elif xf == "sdpa":
        args["sdpa"] = True
    if _on(data.get("use_wandb")) or str(data.get("log_with", "")) in ("wandb", "all"):
        args["log_with"] = "wandb"
    for key, applies in (("sdxl_cache_text_encoder_outputs", fam is Family.sdxl),
                         ("flux1_cache_text_encoder_outputs", fam is Family.flux),
                         ("sd3_cache_text_encoder_outputs", fam is Family.sd3)):
        if applies and key in data:
            args["cache_text_encoder_outputs"] = _on(data[key])
    for key, applies in (("flux1_cache_text_encoder_outputs_to_disk", fam is Family.flux),
                         ("sd3_cache_text_encoder_outputs_to_disk", fam is Family.sd3)):
        if applies and key in data:
            args["cache_text_encoder_outputs_to_disk"] = _on(data[key])
    if _on(data.get("sdxl_no_half_vae")) and fam is Family.sdxl:
        args["no_half_vae"] = True
    seed = data.get("seed")
    try:
        seed_value = to_int(seed) if not empty(seed) else 0
    except ValueProblem:
        seed_value = -1
    if seed_value > 0:
        args["seed"] = seed_value
    else:
        b.note("seed", seed if seed is not None else "(not set)", "converted", "no seed (0 or empty) means kohya_ss "
               f"lets sd-scripts pick a random seed each run; Nyx uses the fixed seed {b.cfg.project.seed} so runs "
               "repeat (change it under Project › Seed)", "project.seed")
    procs = data.get("num_processes")
    if not empty(procs) and str(procs) not in ("1", "1.0"):
        b.convert_set("num_processes", procs, to_int, "performance.num_gpus")
    if not empty(data.get("gpu_ids")):
        b.set("gpu_ids", str(data["gpu_ids"]), "performance.gpu_ids")


_REASONS = {
    "reg_data_dir": "regularisation folders: add them to the dataset as concepts marked 'regularisation'",
    "stop_text_encoder_training": "kohya_ss itself does not pass this to sd-scripts' LoRA scripts",
    "lr_scheduler_args": "scheduler arguments are not imported",
    "conv_dims": "not read by kohya_ss", "conv_alphas": "not read by kohya_ss",
    "t5xxl_lr": "a separate T5-XXL learning rate is not offered by Nyx",
    "train_lora_ggpo": "GGPO is not offered by Nyx",
}
_HANDLED = {"LoRA_type", "epoch", "max_resolution", "lr_warmup", "optimizer", "noise_offset_type", "use_wandb",
            "sdxl", "sdxl_checkbox", "flux1_checkbox", "sd3_checkbox", "xformers", "network_alpha", "conv_dim",
            "conv_alpha", "factor", "rank_dropout", "module_dropout", "dora_wd", "sdxl_cache_text_encoder_outputs",
            "flux1_cache_text_encoder_outputs", "flux1_cache_text_encoder_outputs_to_disk",
            "sd3_cache_text_encoder_outputs", "sd3_cache_text_encoder_outputs_to_disk", "sdxl_no_half_vae",
            "lora_network_weights", "num_processes", "gpu_ids", "text_encoder_lr", "unet_lr",
            "network_train_unet_only", "network_train_text_encoder_only", "noise_offset", "adaptive_noise_scale",
            "multires_noise_iterations", "multires_noise_discount", "noise_offset_random_strength", "seed",
            "lr_scheduler_num_cycles", "lr_warmup_steps", "max_train_steps", "max_train_epochs", "LyCORIS_preset",
            *KOHYA_LORA_ARGS, *FLUX_LORA_ARGS, *LORAPLUS}


def _leftovers(b: Builder, data: dict[str, Any]) -> None:
    """GUI-only keys: a reason for each one that is set (the ones that are off are summarised)."""
    for key in sorted(GUI_ONLY & set(data)):
        if b.noted(key):
            continue
        value = data[key]
        if key in _REASONS and not empty(value):
            b.note(key, value, "unmapped", _REASONS[key])
        elif key in _HANDLED:
            continue
        elif empty(value) or value == "full":
            continue  # summarised by Builder.account_for
        else:
            b.note(key, value, "ignored", "a kohya_ss GUI setting (launcher, layout or another network type's "
                   "option) with no effect on what sd-scripts trains here")


def parse_gui_json(json_text: str) -> dict[str, Any]:
    try:
        data = json.loads(json_text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = f"{exc.msg} (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise ConfigError(f"the kohya_ss config is not valid JSON: {msg}") from None
    if not isinstance(data, dict):
        raise ConfigError("the kohya_ss config must be a JSON object")
    return data


#: GUI keys that steer kohya_ss's own decisions rather than becoming one option.
EXPLAINED = {"sdxl": "picks the SDXL script (sdxl_train_network.py), as kohya_ss does",
             "sdxl_checkbox": "picks the SDXL script (sdxl_train_network.py), as kohya_ss does",
             "flux1_checkbox": "picks the Flux script (flux_train_network.py), as kohya_ss does",
             "sd3_checkbox": "picks the SD3 script (sd3_train_network.py), as kohya_ss does",
             "noise_offset_type": "decides which noise options kohya_ss passes (see the noise lines)",
             "epoch": "used by kohya_ss only to count steps when no step count is given (see the steps line)"}

#: GUI keys kohya_ss passes under an sd-scripts name.
RENAMED = {"max_resolution": "resolution", "optimizer": "optimizer_type", "xformers": "xformers",
           "lr_warmup": "lr_warmup_steps", "use_wandb": "log_with", "sdxl_cache_text_encoder_outputs":
           "cache_text_encoder_outputs", "flux1_cache_text_encoder_outputs": "cache_text_encoder_outputs",
           "sd3_cache_text_encoder_outputs": "cache_text_encoder_outputs",
           "flux1_cache_text_encoder_outputs_to_disk": "cache_text_encoder_outputs_to_disk",
           "sd3_cache_text_encoder_outputs_to_disk": "cache_text_encoder_outputs_to_disk",
           "sdxl_no_half_vae": "no_half_vae", "lora_network_weights": "network_weights", "epoch": "max_train_epochs",
           "conv_dim": "network_args conv_dim", "conv_alpha": "network_args conv_alpha",
           "factor": "network_args factor", "rank_dropout": "network_args rank_dropout",
           "module_dropout": "network_args module_dropout", "dora_wd": "network_module"}

__all__ = ["gui_family", "gui_kind", "gui_to_args", "kv_list", "parse_gui_json"]
