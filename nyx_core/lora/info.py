"""What a ``.safetensors`` file is, from its header only: metadata, tensors, kind and family.

Nothing here reads tensor data, so opening a 7 GB checkpoint costs one small read.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nyx_core.lora.st import Header, read_header

KINDS = ("LoRA", "LoCon", "LoHa", "LoKr", "DoRA", "IA3", "GLoRA", "OFT", "LyCORIS full", "full model", "unknown")


@dataclass
class TensorRow:
    name: str
    dtype: str
    shape: tuple[int, ...]
    params: int


@dataclass
class LoraInfo:
    path: Path
    file_size: int
    kind: str
    family: str
    metadata: dict[str, str]
    tensors: list[TensorRow]
    modules: int  # adapted modules (a LoRA's down/up/alpha triple counts once)
    rank: int | None  # the largest module rank (None for a full model)
    conv_rank: int | None
    summary: dict[str, Any] = field(default_factory=dict)
    tags: list[tuple[str, int]] = field(default_factory=list)  # (tag, count), most frequent first

    @property
    def params(self) -> int:
        return sum(t.params for t in self.tensors)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "bytes": self.file_size, "kind": self.kind, "family": self.family,
            "tensor_count": len(self.tensors), "params": self.params, "modules": self.modules,
            "rank": self.rank, "conv_rank": self.conv_rank, "summary": self.summary,
            "tag_frequency": dict(self.tags), "metadata": self.metadata,
            "tensors": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "params": t.params}
                        for t in self.tensors],
        }


def inspect(path: str | os.PathLike[str]) -> LoraInfo:
    h = read_header(path)
    names = list(h.tensors)
    kind = detect_kind(h)
    rank, conv_rank, modules = _ranks(h)
    rows = [TensorRow(e.name, e.dtype, e.shape, e.numel) for e in h.tensors.values()]
    return LoraInfo(h.path, h.file_size, kind, detect_family(names, h.metadata, h), h.metadata, rows,
                    modules if kind != "full model" else 0, rank, conv_rank,
                    summarize(h.metadata), tag_frequency(h.metadata))


def detect_kind(h: Header) -> str:
    names = h.tensors
    suffixes = {n.rsplit(".", 1)[-1] for n in names}
    parts = {p for n in names for p in n.split(".")[-2:]}
    if "hada_w1_a" in parts:
        return "LoHa"
    if parts & {"lokr_w1", "lokr_w1_a", "lokr_w2", "lokr_w2_a"}:
        return "LoKr"
    if "on_input" in suffixes:
        return "IA3"
    if parts & {"a1", "b1"} and "a2" in parts:
        return "GLoRA"
    if parts & {"oft_blocks", "oft_diag"}:
        return "OFT"
    downs = [e for n, e in names.items() if _down_key(n)]
    if downs:
        if "dora_scale" in suffixes:
            return "DoRA"
        if any(len(e.shape) == 4 and e.shape[2] * e.shape[3] > 1 for e in downs):
            return "LoCon"
        return "LoRA"
    if "diff" in suffixes and any(n.startswith("lora_") for n in names):
        return "LyCORIS full"
    if names:
        return "full model"
    return "unknown"


def _down_key(name: str) -> bool:
    parts = name.split(".")
    return "lora_down" in parts[-2:] or "lora_A" in parts[-2:]


def _ranks(h: Header) -> tuple[int | None, int | None, int]:
    rank = conv = None
    modules = set()
    for n, e in h.tensors.items():
        if _down_key(n):
            modules.add(n.split(".lora_")[0])
            r = e.shape[0] if e.shape else None
            if r is None:
                continue
            if len(e.shape) == 4 and e.shape[2] * e.shape[3] > 1:
                conv = max(conv or 0, r)
            else:
                rank = max(rank or 0, r)
        elif n.startswith(("lora_", "lycoris_")) and "." in n:
            modules.add(n.split(".")[0])
    return rank, conv, len(modules)


def detect_family(names: list[str], metadata: dict[str, str], h: Header | None = None) -> str:
    """From key names first (they cannot lie), then the modelspec/ss_ metadata."""
    joined = "\n".join(names[:5000])

    def has(*subs: str) -> bool:
        return any(s in joined for s in subs)

    if has("lora_unet_double_blocks_", "lora_unet_single_blocks_", "double_blocks.", "single_blocks."):
        return "Flux"
    if has("lora_unet_joint_blocks_", "joint_blocks."):
        return "SD3"
    if has("lora_te1_", "lora_te2_", "conditioner.embedders.1", "add_embedding.linear_1"):
        return "SDXL"
    if has("lora_unet_input_blocks_", "lora_unet_output_blocks_") and not has("lora_te_"):
        # SDXL LoRAs use the LDM block names for the U-Net
        if metadata.get("ss_base_model_version", "").startswith("sdxl"):
            return "SDXL"
    if has("cond_stage_model.model.", "lora_te_text_model_encoder_layers_", "cond_stage_model.transformer",
           "lora_unet_down_blocks_", "model.diffusion_model.input_blocks", "down_blocks.0.attentions.0.",
           "text_model.encoder.layers.0."):
        v2 = metadata.get("ss_v2") == "True" or metadata.get("ss_base_model_version", "").startswith("sd_v2") \
            or has("cond_stage_model.model.")
        if not v2 and h is not None:
            # SD2's text encoder is 1024 wide, SD1's 768
            for n, e in h.tensors.items():
                if n.startswith("lora_te_") and _down_key(n) and len(e.shape) == 2:
                    v2 = e.shape[1] == 1024
                    break
        return "SD2" if v2 else "SD1.5"
    arch = metadata.get("modelspec.architecture", "")
    for key, fam in (("flux", "Flux"), ("stable-diffusion-3", "SD3"), ("xl", "SDXL"),
                     ("stable-diffusion-v2", "SD2"), ("stable-diffusion-v1", "SD1.5")):
        if key in arch:
            return fam
    base = metadata.get("ss_base_model_version", "")
    for key, fam in (("flux", "Flux"), ("sd3", "SD3"), ("sdxl", "SDXL"), ("sd_v2", "SD2"), ("sd_v1", "SD1.5")):
        if base.startswith(key):
            return fam
    return "unknown"


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def tag_frequency(metadata: dict[str, str]) -> list[tuple[str, int]]:
    """All folders' tag counts added up, most frequent first (ties by name)."""
    freq = _json(metadata.get("ss_tag_frequency"))
    totals: dict[str, int] = {}
    if isinstance(freq, dict):
        for tags in freq.values():
            if isinstance(tags, dict):
                for tag, n in tags.items():
                    if isinstance(n, (int, float)):
                        totals[str(tag).strip()] = totals.get(str(tag).strip(), 0) + int(n)
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


def _ts(v: str | None) -> str | None:
    try:
        return datetime.fromtimestamp(float(v), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _clean(v: str | None) -> str | None:
    return None if v in (None, "", "None", "null") else v


def summarize(md: dict[str, str]) -> dict[str, Any]:
    """The training facts a person asks about, each one line, from ``ss_*`` and ``modelspec.*``."""
    s: dict[str, Any] = {}

    def put(label: str, value: Any) -> None:
        if value not in (None, "", "None", "null", [], {}):
            s[label] = value

    put("title", md.get("modelspec.title"))
    put("architecture", md.get("modelspec.architecture"))
    put("base model", _clean(md.get("ss_sd_model_name")) or _clean(md.get("ss_base_model_version")))
    put("base model version", md.get("ss_base_model_version"))
    put("network module", md.get("ss_network_module"))
    put("network dim", md.get("ss_network_dim"))
    put("network alpha", md.get("ss_network_alpha"))
    args = _json(md.get("ss_network_args"))
    if isinstance(args, dict):
        put("network args", ", ".join(f"{k}={v}" for k, v in args.items() if v is not None))
    put("optimizer", md.get("ss_optimizer"))
    put("learning rate", md.get("ss_learning_rate"))
    put("unet lr", _clean(md.get("ss_unet_lr")))
    put("text encoder lr", _clean(md.get("ss_text_encoder_lr")))
    put("lr scheduler", md.get("ss_lr_scheduler"))
    put("epochs", f"{md.get('ss_epoch', '?')} of {md.get('ss_num_epochs', '?')}" if "ss_epoch" in md else None)
    put("steps", f"{md.get('ss_steps', '?')} of {md.get('ss_max_train_steps', '?')}" if "ss_steps" in md else None)
    put("train images", md.get("ss_num_train_images"))
    put("batches per epoch", md.get("ss_num_batches_per_epoch"))
    put("gradient accumulation", md.get("ss_gradient_accumulation_steps"))
    put("mixed precision", md.get("ss_mixed_precision"))
    put("seed", md.get("ss_seed"))
    datasets = _json(md.get("ss_datasets"))
    if isinstance(datasets, list) and datasets and isinstance(datasets[0], dict):
        d0 = datasets[0]
        reso = d0.get("resolution")
        if isinstance(reso, list):
            put("resolution", "x".join(str(x) for x in reso))
        if d0.get("enable_bucket"):
            put("buckets", f"on ({d0.get('min_bucket_reso')}–{d0.get('max_bucket_reso')})")
            binfo = d0.get("bucket_info")
            if isinstance(binfo, dict) and isinstance(binfo.get("buckets"), dict):
                put("bucket sizes", ", ".join(
                    f"{'x'.join(str(x) for x in b.get('resolution', []))}: {b.get('count')}"
                    for b in binfo["buckets"].values() if isinstance(b, dict)))
        elif "enable_bucket" in d0:
            put("buckets", "off")
    elif md.get("ss_resolution"):
        put("resolution", md["ss_resolution"])
    start, end = md.get("ss_training_started_at"), md.get("ss_training_finished_at")
    put("training started", _ts(start))
    put("training finished", _ts(end))
    try:
        dur = float(end) - float(start)  # type: ignore[arg-type]
        put("training time", f"{int(dur // 3600)}h {int(dur % 3600 // 60)}m {dur % 60:.0f}s" if dur >= 3600
            else f"{int(dur // 60)}m {dur % 60:.0f}s")
    except (TypeError, ValueError):
        pass
    put("sd-scripts commit", md.get("ss_sd_scripts_commit_hash"))
    put("comment", _clean(md.get("ss_training_comment")))
    for key in ("author", "description", "trigger_phrase", "license", "tags"):
        put(key.replace("_", " "), md.get(f"modelspec.{key}"))
    put("model hash", md.get("sshs_model_hash"))
    return s
