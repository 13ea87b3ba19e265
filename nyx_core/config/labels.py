"""The names users see for config fields: the Training page's widget labels and tab names.

One table, read by the page (widget labels), pre-flight (problem lines) and the importers (the
per-key report), so a message always names a field the way the page shows it.
"""
from __future__ import annotations

TAB_NAMES = {
    "project": "Project", "model": "Model", "dataset": "Dataset", "network": "Network",
    "optimizer": "Optimizer", "performance": "Performance", "advanced": "Advanced",
    "saving": "Saving & samples", "samples": "Saving & samples", "logging": "Logging", "settings": "Settings",
}

LABELS = {
    "project.name": "Project name", "project.output_dir": "Output folder (empty = outputs/<name>)",
    "project.output_name": "LoRA file name (empty = project name)", "project.trigger_word": "Trigger word",
    "project.comment": "Comment (stored in the LoRA)",
    "model.base_model": "Base model", "model.vae": "VAE (optional)", "model.clip_l": "CLIP-L text encoder",
    "model.clip_g": "CLIP-G text encoder", "model.t5xxl": "T5-XXL text encoder", "model.ae": "Autoencoder (ae)",
    "model.v2": "SD 2.x model (v2)", "model.v_parameterization": "v-prediction model",
    "model.clip_skip": "Clip skip (0 = off)", "model.network_weights": "Continue from LoRA (optional)",
    "model.resume_state": "Resume from saved state folder (optional)", "model.flux_variant": "Flux variant",
    "dataset.resolution": "Resolution (width)", "dataset.resolution_height": "Height (0 = square)",
    "dataset.enable_bucket": "Aspect-ratio buckets", "dataset.min_bucket_reso": "Min bucket resolution",
    "dataset.max_bucket_reso": "Max bucket resolution", "dataset.bucket_reso_steps": "Bucket step",
    "dataset.bucket_no_upscale": "Don't upscale small images",
    "dataset.caption_extension": "Caption extension (empty = the dataset's)",
    "dataset.batch_size": "Batch size", "dataset.max_train_epochs": "Epochs", "dataset.max_train_steps": "Steps",
    "network.type": "Network type", "network.dim": "Dim (rank)", "network.alpha": "Alpha",
    "network.conv_dim": "Conv dim (0 = off)", "network.conv_alpha": "Conv alpha", "network.factor": "LoKr factor",
    "network.train_unet_only": "Train U-Net / transformer only",
    "optimizer.learning_rate": "Learning rate", "optimizer.unet_lr": "U-Net LR (empty = learning rate)",
    "optimizer.text_encoder_lr": "Text encoder LR (empty = learning rate, 0 = frozen)",
    "optimizer.weight_decay": "Weight decay (empty = optimizer default)",
    "optimizer.num_cycles": "Restart cycles", "optimizer.power": "Polynomial power",
    "performance.attention": "Attention", "performance.fp8_base": "fp8 base model",
    "performance.blocks_to_swap": "Blocks to swap to CPU (0 = off)", "performance.num_gpus": "Number of GPUs",
    "performance.gpu_ids": "GPU ids (e.g. 0,1; empty = default)",
    "advanced.min_snr_gamma_enabled": "Min-SNR gamma", "advanced.ip_noise_gamma": "IP noise gamma",
    "advanced.min_timestep": "Min timestep (empty = 0)", "advanced.max_timestep": "Max timestep (empty = 1000)",
    "saving.save_every_n_epochs": "Save every N epochs (0 = end only)",
    "saving.save_every_n_steps": "Save every N steps (0 = off)", "saving.save_last_n_epochs": "Keep last N (0 = all)",
    "samples.sample_every_n_epochs": "Sample every N epochs (0 = off)",
    "samples.sample_every_n_steps": "Sample every N steps (0 = off)", "samples.sampler": "Sampler",
    "logging.wandb": "Also log to Weights & Biases", "logging.wandb_project": "wandb project (empty = name)",
}
LABELS.update({
    "dataset.name": "Dataset", "dataset.concepts": "Concepts", "dataset.duration": "Train for",
    "dataset.shuffle_caption": "Shuffle caption", "dataset.keep_tokens": "Keep tokens",
    "samples.prompts": "Sample prompts", "advanced.extra": "Extra sd-scripts options",
    "network.extra_args": "Extra network arguments", "optimizer.extra_args": "Extra optimizer arguments",
    "optimizer.betas": "Betas", "optimizer.warmup_mode": "Warmup as", "optimizer.warmup_steps": "Warmup steps",
    "optimizer.warmup_ratio": "Warmup ratio", "optimizer.scheduler": "Scheduler", "optimizer.optimizer": "Optimizer",
    "model.family": "Model family", "settings.sd_scripts_dir": "sd-scripts folder",
    "version": "Config file version",
})


def label(path: str) -> str:
    """``"dataset.min_bucket_reso"`` -> ``"Min bucket resolution"``; unknown ids get a readable fallback."""
    if path in LABELS:
        return LABELS[path]
    base = path.split("[", 1)[0]
    if base in LABELS:
        return LABELS[base] + path[len(base):]
    tail = path.split(".", 1)[-1]
    return tail.replace("_", " ").capitalize()


def where(path: str) -> str:
    """``"Dataset › Min bucket resolution"``: the tab and the label, as a user finds the field."""
    group = path.split(".", 1)[0].split("[", 1)[0]
    tab = TAB_NAMES.get(group)
    name = label(path)
    return f"{tab} › {name}" if tab and "." in path else name
