"""Tiny safetensors files with the real key names and shapes of each family (data bytes are
zeros: detection reads only the header, and the files stay a few KB by using tiny dtypes only where
the shape does not matter)."""
from __future__ import annotations

import json
import random
import struct
from pathlib import Path

WIDTH = {"F16": 2, "BF16": 2, "F32": 4, "F8_E4M3": 1}


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], str]], metadata: dict | None = None,
                      sparse: bool = True) -> Path:
    """Write a valid safetensors file. ``sparse``: the data area is a hole (no disk used, size right)."""
    header: dict = {}
    off = 0
    for name, (shape, dtype) in tensors.items():
        n = WIDTH[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        if sparse and off:
            fh.truncate(8 + len(raw) + off)
        else:
            # random bytes: a resumed download spliced at the wrong offset cannot pass as equal
            fh.write(random.Random(len(raw) + off).randbytes(off))
    return path


F16 = "F16"
LDM = "model.diffusion_model."


def sd15_checkpoint():
    return {f"{LDM}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ([320, 768], F16),
            f"{LDM}input_blocks.0.0.weight": ([320, 4, 3, 3], F16),
            "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.k_proj.weight": ([768, 768], F16),
            "first_stage_model.decoder.conv_in.weight": ([512, 4, 3, 3], F16),
            "first_stage_model.encoder.conv_in.weight": ([128, 3, 3, 3], F16)}


def sd2_checkpoint():
    return {f"{LDM}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ([320, 1024], F16),
            "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": ([3072, 1024], F16)}


def sdxl_checkpoint():
    return {f"{LDM}label_emb.0.0.weight": ([1280, 2816], F16),
            f"{LDM}input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": ([640, 2048], F16),
            "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight": ([3840, 1280], F16)}


def flux_checkpoint(dev: bool = True):
    t = {"double_blocks.0.img_attn.qkv.weight": ([9216, 3072], "BF16"),
         "single_blocks.0.linear1.weight": ([21504, 3072], "BF16"), "img_in.weight": ([3072, 64], "BF16")}
    if dev:
        t["guidance_in.in_layer.weight"] = ([3072, 256], "BF16")
    return t


def sd3_checkpoint(depth: int = 24):
    t = {f"{LDM}joint_blocks.{i}.context_block.attn.qkv.weight": ([4608, 1536], F16) for i in range(depth)}
    t[f"{LDM}x_embedder.proj.weight"] = ([1536, 16, 2, 2], F16)
    return t


def sd_vae():
    return {"encoder.conv_in.weight": ([128, 3, 3, 3], F16), "encoder.conv_out.weight": ([8, 512, 3, 3], F16),
            "quant_conv.weight": ([8, 8, 1, 1], F16), "decoder.conv_in.weight": ([512, 4, 3, 3], F16)}


def flux_ae():
    return {"encoder.conv_in.weight": ([128, 3, 3, 3], "F32"), "encoder.conv_out.weight": ([32, 512, 3, 3], "F32"),
            "decoder.conv_in.weight": ([512, 16, 3, 3], "F32"), "encoder.down.0.block.0.conv1.weight": ([128, 128, 3, 3], "F32")}


def clip_l():
    return {"text_model.encoder.layers.0.self_attn.k_proj.weight": ([768, 768], F16),
            "text_model.embeddings.token_embedding.weight": ([49408, 768], F16),
            "text_model.final_layer_norm.weight": ([768], F16)}


def clip_g():
    return {"text_model.encoder.layers.0.self_attn.k_proj.weight": ([1280, 1280], F16),
            "text_projection.weight": ([1280, 1280], F16)}


def t5xxl():
    return {"encoder.block.0.layer.0.SelfAttention.k.weight": ([4096, 4096], F16),
            "shared.weight": ([32128, 4096], F16), "encoder.final_layer_norm.weight": ([4096], F16)}


def sdxl_lora():
    return {"lora_te1_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight": ([4, 768], F16),
            "lora_te2_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight": ([4, 1280], F16),
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": ([4, 2048], F16)}


def flux_lora():
    return {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": ([4, 3072], "BF16"),
            "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": ([9216, 4], "BF16")}
