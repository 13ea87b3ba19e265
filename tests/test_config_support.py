"""Builders shared by the config/render/validate tests (no tests here): real files on disk."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

from nyx_core.config import TrainingConfig, new_config
from nyx_core.workspace import Workspace

FAMILY_KEYS = {
    "sd15": ["model.diffusion_model.input_blocks.0.0.weight", "cond_stage_model.transformer.text_model.x"],
    "sdxl": ["model.diffusion_model.label_emb.0.0.weight", "conditioner.embedders.1.model.x"],
    "flux": ["double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight"],
    "sd3": ["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"],
    "lora": ["lora_unet_down_blocks_0.lora_down.weight", "lora_unet_down_blocks_0.alpha"],
    "other": ["encoder.weight"],
}


def fake_checkpoint(path: Path, kind: str) -> Path:
    """A tiny .safetensors whose tensor names look like ``kind``'s (sd15/sdxl/flux/sd3/lora/other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.zeros((2, 2), dtype=np.float16) for k in FAMILY_KEYS[kind]}, str(path))
    return path


def make_dataset(
    ws: Workspace,
    name: str = "cats",
    concepts: dict[str, list[tuple[int, int]]] | None = None,
    caption: str | None = "ohwx cat, sitting",
) -> Path:
    concepts = concepts or {"10_ohwx cat": [(64, 64), (96, 64), (64, 96)]}
    root = ws.datasets / name
    for folder, sizes in concepts.items():
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(sizes):
            Image.new("RGB", size, (i * 40 % 255, 90, 120)).save(d / f"img{i:03d}.png")
            if caption is not None:
                (d / f"img{i:03d}.txt").write_text(caption, encoding="utf-8")
    return root


def ready_config(ws: Workspace, family: str = "sd15", **groups) -> TrainingConfig:
    """A config that validates cleanly: model files and dataset ("cats" unless dataset.name is given) exist."""
    dataset = groups.get("dataset", {}).get("name", "cats")
    if not (ws.datasets / dataset).exists():
        make_dataset(ws, dataset)
    kind = family
    fake_checkpoint(ws.models / f"base-{family}.safetensors", kind)
    model = {"base_model": f"base-{family}.safetensors"}
    for enc in ("clip_l", "clip_g", "t5xxl", "ae"):
        fake_checkpoint(ws.models / f"{enc}.safetensors", "other")
    if family == "flux":
        model.update(clip_l="clip_l.safetensors", t5xxl="t5xxl.safetensors", ae="ae.safetensors")
    if family == "sd3":
        model.update(clip_l="clip_l.safetensors", clip_g="clip_g.safetensors", t5xxl="t5xxl.safetensors")
    model.update(groups.pop("model", {}))
    ds = {"name": dataset, "resolution": 64, "min_bucket_reso": 64, "max_bucket_reso": 128}
    ds.update(groups.pop("dataset", {}))
    return new_config("test-lora", family, model=model, dataset=ds, **groups)
