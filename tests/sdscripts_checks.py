"""Test helpers (no tests here): sd-scripts' start-up refusals and kohya_ss's launch decisions,
re-expressed from reading their code at the pinned commits, independently of Nyx's own checks.

``startup_refusals`` covers what sd-scripts refuses before the first step that can be known from
the rendered files: ``verify_training_args``, each script's ``assert_extra_args``, the dataset's
bucket checks, the latent/text-encoder caching asserts, precision asserts, and the optimizer and
scheduler set-up. ``verify_command_line_training_args`` only warns (and Nyx passes everything in
the config file), so it refuses nothing.
"""
from __future__ import annotations

import math
from typing import Any

SCRIPT_BUCKET_MULTIPLES = {
    # train_network.py asserts 64; flux_train_network.py calls that first, then its own 32;
    # sdxl_train_network.py and sd3_train_network.py assert 32 only.
    "train_network.py": (64,), "flux_train_network.py": (64, 32), "sdxl_train_network.py": (32,),
    "sd3_train_network.py": (32,),
}


def _optimizer_kwargs(args: dict[str, Any]) -> dict[str, str]:
    out = {}
    for item in args.get("optimizer_args", []) or []:
        k, _, v = str(item).partition("=")
        out[k.strip()] = v.strip()
    return out


def startup_refusals(script: str, args: dict[str, Any], dataset: dict[str, Any]) -> list[str]:
    """What sd-scripts would refuse at start for these rendered arguments and dataset file."""
    out: list[str] = []
    if args.get("adaptive_noise_scale") is not None and args.get("noise_offset") is None:
        out.append("adaptive_noise_scale requires noise_offset")
    if args.get("scale_v_pred_loss_like_noise_pred") and not args.get("v_parameterization"):
        out.append("scale_v_pred_loss_like_noise_pred needs v_parameterization")
    if args.get("v_pred_like_loss") and args.get("v_parameterization"):
        out.append("v_pred_like_loss with v_parameterization")
    if script == "sdxl_train_network.py" and args.get("v2"):
        out.append("v2 in SDXL training")
    general = dataset.get("general", {})
    for ds in dataset.get("datasets", []):
        merged = {**general, **ds}
        if merged.get("enable_bucket"):
            step = merged.get("bucket_reso_steps", 64)
            for multiple in SCRIPT_BUCKET_MULTIPLES[script]:
                if step % multiple:
                    out.append(f"bucket_reso_steps {step} not divisible by {multiple}")
                    break
            res = merged["resolution"]
            w, h = (res, res) if isinstance(res, int) else tuple(res)
            low = merged.get("min_bucket_reso", 256)
            high = merged.get("max_bucket_reso", 1024)
            low -= low % step
            high += (-high) % step
            if min(w, h) < low:
                out.append("min_bucket_reso must be equal or less than resolution")
            if max(w, h) > high:
                out.append("max_bucket_reso must be equal or greater than resolution")
        if args.get("cache_latents") and (merged.get("color_aug") or merged.get("random_crop")):
            out.append("caching latents with color_aug or random_crop")
        te_cache = args.get("cache_text_encoder_outputs") or (
            args.get("cache_text_encoder_outputs_to_disk") and script in ("flux_train_network.py", "sd3_train_network.py"))
        if te_cache and script != "train_network.py" and (
                merged.get("shuffle_caption") or merged.get("caption_dropout_rate")
                or merged.get("caption_tag_dropout_rate") or merged.get("caption_dropout_every_n_epochs")
                or args.get("token_warmup_step")):
            out.append("caching text encoder outputs with caption shuffling/dropout")
    if script == "sdxl_train_network.py" and args.get("cache_text_encoder_outputs") and not args.get(
            "network_train_unet_only"):
        out.append("network for Text Encoder cannot be trained with caching Text Encoder outputs")
    mp = args.get("mixed_precision", "no")
    if args.get("full_fp16") and mp != "fp16":
        out.append("full_fp16 requires fp16")
    elif args.get("full_bf16") and mp != "bf16":
        out.append("full_bf16 requires bf16")
    if (args.get("fp8_base") or args.get("fp8_base_unet")) and mp == "no":
        out.append("fp8_base requires mixed precision")
    if script in ("flux_train_network.py", "sd3_train_network.py") and args.get("blocks_to_swap") and args.get(
            "cpu_offload_checkpointing"):
        out.append("blocks_to_swap with cpu_offload_checkpointing")
    opt = str(args.get("optimizer_type", "")).lower()
    if args.get("fused_backward_pass") and (opt != "adafactor" or args.get("gradient_accumulation_steps", 1) > 1):
        out.append("fused_backward_pass needs Adafactor and no gradient accumulation")
    out += _scheduler_refusals(args, opt)
    if ("max_train_steps" in args) == ("max_train_epochs" in args):
        out.append("Nyx must write exactly one of max_train_steps / max_train_epochs")
    return out


def _scheduler_refusals(args: dict[str, Any], opt: str) -> list[str]:
    kw = _optimizer_kwargs(args)
    relative = opt == "adafactor" and (kw.get("relative_step", "True") != "False" or kw.get("warmup_init") == "True")
    warm = args.get("lr_warmup_steps") or 0
    # A ratio becomes int(ratio * total steps); any real run has enough steps for 0.01 to count.
    warm_steps = warm if isinstance(warm, int) else math.floor(warm * 10_000)
    no_warmup_schedule = relative or args.get("lr_scheduler_type") or args.get("lr_scheduler") == "constant"
    if no_warmup_schedule and warm_steps:
        return ["scheduler does not require num_warmup_steps"]
    if str(args.get("lr_scheduler", "")).startswith("adafactor") and opt != "adafactor":
        return ["adafactor scheduler must be used with Adafactor optimizer"]
    return []


# kohya_ss ----------------------------------------------------------------------------------------
def _num(v: Any, default: float = 0.0) -> float:
    if v is None or v == "":
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _on(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def kohya_ss_passes(preset: dict[str, Any]) -> dict[str, Any]:
    """What kohya_ss's LoRA tab passes to sd-scripts for the settings that decide what is trained
    (read from its lora_gui.py: train-mode flags from the LRs, epochs/steps, noise, LyCORIS args,
    seed). A step count it would compute from the training folder is given as epochs."""
    is_lora = "LoRA_type" in preset or "network_dim" in preset
    if _on(preset.get("sdxl")) or _on(preset.get("sdxl_checkbox")):
        script = "sdxl_train_network.py"
    elif _on(preset.get("flux1_checkbox")) or str(preset.get("LoRA_type", "")).startswith("Flux"):
        script = "flux_train_network.py"
    elif _on(preset.get("sd3_checkbox")):
        script = "sd3_train_network.py"
    else:
        script = "train_network.py"
    te, unet = _num(preset.get("text_encoder_lr")), _num(preset.get("unet_lr"))
    epochs, steps = int(_num(preset.get("max_train_epochs"))), int(_num(preset.get("max_train_steps")))
    if epochs > 0:
        duration = ("epochs", epochs)
    elif steps > 0:
        duration = ("steps", steps)
    else:
        duration = ("epochs", max(int(_num(preset.get("epoch"), 1)), 1))
    noise_type = preset.get("noise_offset_type", "Original")
    offset = _num(preset.get("noise_offset")) if noise_type == "Original" else 0.0
    adaptive = _num(preset.get("adaptive_noise_scale")) if noise_type == "Original" else 0.0
    multires = int(_num(preset.get("multires_noise_iterations"))) if noise_type == "Multires" else 0
    lycoris = []
    algo = {"LyCORIS/LoCon": "locon", "LoCon": "locon", "LyCORIS/LoHa": "loha", "LyCORIS/LoKr": "lokr",
            "LyCORIS/iA3": "ia3", "LyCORIS/Native Fine-Tuning": "full"}.get(str(preset.get("LoRA_type")))
    switches = {"locon": ("use_tucker", "bypass_mode", "use_scalar", "rank_dropout_scale", "train_norm"),
                "loha": ("use_tucker", "bypass_mode", "use_scalar", "rank_dropout_scale", "train_norm"),
                "lokr": ("use_tucker", "bypass_mode", "use_scalar", "rank_dropout_scale", "train_norm", "use_cp",
                         "decompose_both"), "ia3": ("train_on_input",), "full": ("rank_dropout_scale", "train_norm")}
    for key in switches.get(algo or "", ()):
        if _on(preset.get(key)):
            lycoris.append(f"{key}=True")
    seed = int(_num(preset.get("seed")))
    return {
        "is_lora": is_lora, "script": script, "algo": algo,
        "unet_only": is_lora and te == 0 and unet != 0,
        "text_encoder_only": is_lora and te != 0 and unet == 0,
        "text_encoder_lr": te if is_lora and te > 0 else None,
        "duration": duration,
        "noise_offset": offset or None, "adaptive_noise_scale": adaptive or None,
        "multires_noise_iterations": multires or None,
        "lycoris_switches": lycoris,
        "seed": seed if seed > 0 else None,
        "network_dim": int(_num(preset.get("network_dim"))) or None,
    }
