"""Record how sd-scripts maps an OpenCLIP text encoder (SDXL's second, SD2's only) between the
single-file checkpoint's layout and the Hugging Face CLIP names its LoRAs use.

Run inside sd-scripts' own environment at the pinned commit (it imports sd-scripts' converters; no
code of theirs is kept here, only the names and slice positions they produce):

    cd /tmp/kohya-cpu/sd-scripts && PYTHONPATH=.:/tmp/kohya-cpu/shim \
        /tmp/kohya-cpu/venv/bin/python /path/to/tests/data/record_openclip_te_names.py \
        > /path/to/tests/data/openclip_te_to_hf.json

For each family: the checkpoint's key names come from sd-scripts' *save* converter applied to the
transformers CLIP model sd-scripts builds (layer count and width as in its loaders); the mapping comes
from its *load* converter, fed tensors whose values name their origin (key index · 4 + row third), so
each HF tensor says which checkpoint key, and which third of a fused q/k/v tensor, it came from. The
LoRA-adapted names are the Linear children of CLIPAttention / CLIPMLP (what networks/lora.py wraps).
"""
from __future__ import annotations

import json
import sys

import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from library import model_util, sdxl_model_util


def _hf_model(cls, **cfg):
    with torch.device("meta"):
        return cls(CLIPTextConfig(**cfg))


def _lora_linears(model) -> list[str]:
    out = []
    for name, mod in model.named_modules():
        if type(mod).__name__ in ("CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"):
            for child, sub in mod.named_modules():
                if type(sub).__name__ == "Linear":
                    out.append(f"{name}.{child}")
    return out


def _tiny(sd: dict) -> dict:
    return {k: torch.zeros((1, 1)) for k in sd}


def _record(ckpt_keys: list[str], load) -> dict:
    ckpt = {}
    for i, k in enumerate(ckpt_keys):
        fused = ".attn.in_proj_" in k
        ckpt[k] = torch.tensor([[i * 4.0 + j] for j in range(3 if fused else 1)])
    hf = load(ckpt)
    pairs = {}
    for hk, t in hf.items():
        v = int(t.reshape(-1)[0].item())
        src = ckpt_keys[v // 4]
        pairs[hk] = [src, v % 4 if ".attn.in_proj_" in src else None]
    return pairs


def main() -> None:
    out = {"sd_scripts_commit": "48d368fa557731ad0488c07304dfeba8c07910eb"}

    # SDXL text encoder 2 (OpenCLIP ViT-bigG): sd-scripts' loader builds 32 layers, width 1280
    te2 = _hf_model(CLIPTextModelWithProjection, vocab_size=49408, hidden_size=1280, intermediate_size=5120,
                    num_hidden_layers=32, num_attention_heads=20, max_position_embeddings=77,
                    hidden_act="gelu", projection_dim=1280)
    saved = sdxl_model_util.convert_text_encoder_2_state_dict_to_sdxl(_tiny(te2.state_dict()), torch.tensor(1.0))
    keys = ["conditioner.embedders.1.model." + k for k in saved]
    pairs = _record(keys, lambda c: sdxl_model_util.convert_sdxl_text_encoder_2_checkpoint(c, 77)[0])
    out["sdxl_te2"] = {"checkpoint_keys": keys, "hf_from_checkpoint": pairs, "lora_prefix": "lora_te2_",
                       "lora_linears": _lora_linears(te2)}

    # SD2 (OpenCLIP ViT-H): sd-scripts' loader builds 23 of the 24 layers (SD2 uses the penultimate)
    te = _hf_model(CLIPTextModel, vocab_size=49408, hidden_size=1024, intermediate_size=4096,
                   num_hidden_layers=23, num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu")
    saved = model_util.convert_text_encoder_state_dict_to_sd_v2(_tiny(te.state_dict()), make_dummy_weights=True)
    keys = ["cond_stage_model.model." + k for k in saved]
    pairs = _record(keys, lambda c: model_util.convert_ldm_clip_checkpoint_v2(c, 77))
    out["sd2_te"] = {"checkpoint_keys": keys, "hf_from_checkpoint": pairs, "lora_prefix": "lora_te_",
                     "lora_linears": _lora_linears(te)}
    json.dump(out, sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
