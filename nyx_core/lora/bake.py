"""Bake a LoRA into an SD1.5/SDXL checkpoint: W' = W + strength·(alpha/rank)·up·down.

Streams: the checkpoint is read one tensor at a time (header first, then each tensor's bytes as
the output is written), so memory stays near the largest single tensor, not the model size.

LoRA module names are the model's module paths with ``.`` → ``_`` under a prefix. Going from the
checkpoint's key to the LoRA name (never the reverse) avoids guessing where underscores were dots.
SD1.5 LoRAs name the U-Net by its diffusers layout, so an original-format (LDM) SD1.5 key is first
translated to its diffusers path; SDXL LoRAs use the original layout directly.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from nyx_core.errors import NyxError
from nyx_core.lora import st
from nyx_core.lora.info import detect_family, detect_kind
from nyx_core.lora.resize import read_factors

FLOAT = {"F16", "BF16", "F32", "F64"}


class BakeError(NyxError):
    pass


_RESNET = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
           "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}


def _resnet_tail(rest: str) -> str | None:
    for ldm, dif in _RESNET.items():
        if rest == ldm or rest.startswith(ldm + "."):
            return dif + rest[len(ldm):]
    return None


def sd15_unet_ldm_to_diffusers(path: str) -> str | None:
    """``input_blocks.1.1.proj_in`` → ``down_blocks.0.attentions.0.proj_in`` (module paths, no
    ``.weight``); None for parts no LoRA adapts."""
    m = re.match(r"input_blocks\.(\d+)\.(\d+)\.?(.*)$", path)
    if m:
        n, sub, rest = int(m[1]), int(m[2]), m[3]
        if n == 0:
            return "conv_in" if sub == 0 and rest == "" else None
        block, j = (n - 1) // 3, (n - 1) % 3
        if j == 2:  # input_blocks.3/6/9: the downsampler
            return f"down_blocks.{block}.downsamplers.0.conv" if rest == "op" else None
        if sub == 0:
            tail = _resnet_tail(rest)
            return f"down_blocks.{block}.resnets.{j}.{tail}" if tail else None
        return f"down_blocks.{block}.attentions.{j}.{rest}"
    m = re.match(r"middle_block\.(\d+)\.(.*)$", path)
    if m:
        n, rest = int(m[1]), m[2]
        if n == 1:
            return f"mid_block.attentions.0.{rest}"
        tail = _resnet_tail(rest)
        return f"mid_block.resnets.{n // 2}.{tail}" if tail else None
    m = re.match(r"output_blocks\.(\d+)\.(\d+)\.?(.*)$", path)
    if m:
        n, sub, rest = int(m[1]), int(m[2]), m[3]
        block, j = n // 3, n % 3
        if sub == 0:
            tail = _resnet_tail(rest)
            return f"up_blocks.{block}.resnets.{j}.{tail}" if tail else None
        if rest == "conv" and j == 2 and (sub == 2 or block == 0):
            return f"up_blocks.{block}.upsamplers.0.conv"
        if sub == 1 and block > 0:
            return f"up_blocks.{block}.attentions.{j}.{rest}"
        return None
    if path == "time_embed.0":
        return "time_embedding.linear_1"
    if path == "time_embed.2":
        return "time_embedding.linear_2"
    if path == "out.2":
        return "conv_out"
    return None


def lora_name_for(key: str, family: str) -> str | None:
    """The LoRA module name that adapts checkpoint tensor ``key`` (a ``….weight``), or None."""
    if not key.endswith(".weight"):
        return None
    path = key[: -len(".weight")]
    if family == "SDXL":
        for prefix, lp in (("model.diffusion_model.", "lora_unet_"),
                           ("conditioner.embedders.0.transformer.", "lora_te1_")):
            if path.startswith(prefix):
                return lp + path[len(prefix):].replace(".", "_")
        return None
    # SD1.5 / SD2: an original single file, or diffusers-named keys
    if path.startswith("model.diffusion_model."):
        dif = sd15_unet_ldm_to_diffusers(path[len("model.diffusion_model."):])
        return "lora_unet_" + dif.replace(".", "_") if dif else None
    if path.startswith("cond_stage_model.transformer."):
        return "lora_te_" + path[len("cond_stage_model.transformer."):].replace(".", "_")
    if path.startswith("text_model."):
        return "lora_te_" + path.replace(".", "_")
    if path.split(".")[0] in ("down_blocks", "up_blocks", "mid_block", "conv_in", "conv_out", "time_embedding"):
        return "lora_unet_" + path.replace(".", "_")
    return None


def _checkpoint_family(h: st.Header) -> str:
    fam = detect_family(list(h.tensors), h.metadata, h)
    return fam


def bake(checkpoint: str | os.PathLike[str], loras: list[tuple[str, float]], dest: str | os.PathLike[str], *,
         precision: str | None = None, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Bake ``loras`` [(file, strength)] into ``checkpoint``, writing ``dest``. ``precision`` None keeps
    each tensor's dtype."""
    t0 = time.perf_counter()
    ckpt = st.read_header(checkpoint)
    if detect_kind(ckpt) != "full model":
        raise BakeError(f"{Path(checkpoint).name} is not a full model checkpoint")
    family = _checkpoint_family(ckpt)
    if family not in ("SD1.5", "SD2", "SDXL"):
        raise BakeError(f"{Path(checkpoint).name}: baking supports SD1.5 and SDXL checkpoints (this is {family})")
    # module name → list of (up 2-D scaled, down 2-D, down shape) in float32
    deltas: dict[str, list] = {}
    for path, strength in loras:
        h = st.read_header(path)
        kind = detect_kind(h)
        if kind not in ("LoRA", "LoCon"):
            raise BakeError(f"{Path(path).name} is a {kind} file: only LoRA and LoCon can be baked")
        lf = detect_family(list(h.tensors), h.metadata, h)
        if lf != family and not {lf, family} <= {"SD1.5", "SD2"}:
            raise BakeError(f"{Path(path).name} is a {lf} LoRA; the checkpoint is {family}")
        with open(h.path, "rb") as f:
            for mod, _, _, down, up, alpha in read_factors(h, f):
                down, up = down.astype(np.float32), up.astype(np.float32)
                r = down.shape[0]
                alpha = float(r) if alpha is None else alpha
                deltas.setdefault(mod, []).append((up.reshape(up.shape[0], r) * (strength * alpha / r),
                                                   down.reshape(r, -1)))
    targets: dict[str, str] = {}
    for key in ckpt.tensors:
        name = lora_name_for(key, family)
        if name and name in deltas:
            targets[key] = name
    if not targets:
        raise BakeError("none of the LoRA's modules match the checkpoint's layers (wrong family or format?)")
    missing = sorted(set(deltas) - set(targets.values()))
    fin = open(ckpt.path, "rb")

    def producer(key: str, e: st.TensorEntry, out_dtype: str):
        def make() -> bytes:
            if key not in targets:
                raw = st.read_raw(ckpt, key, fin)
                if out_dtype == e.dtype:
                    return raw
                return st.encode(st.read_tensor(ckpt, key, fin).astype(np.float32), out_dtype)
            w = st.read_tensor(ckpt, key, fin).astype(np.float32)
            for up, down in deltas[targets[key]]:
                w = w + (up @ down).reshape(w.shape)
            return st.encode(w, out_dtype)
        return make

    out_tensors = []
    for key, e in ckpt.tensors.items():
        od = st.PRECISIONS[precision] if precision and e.dtype in FLOAT else e.dtype
        out_tensors.append(st.OutTensor(key, od, e.shape, producer(key, e, od)))
    md = dict(ckpt.metadata)
    md["nyx_bake"] = json.dumps({"checkpoint": Path(checkpoint).name,
                                 "loras": [{"file": Path(p).name, "strength": s} for p, s in loras],
                                 "modules": len(set(targets.values())), "not_found": len(missing),
                                 "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    try:
        out = st.write_file(dest, out_tensors, md,
                            progress=(lambda d, t: progress(d, t, "")) if progress else None)
    finally:
        fin.close()
    return {"output": str(out), "family": family, "modules_baked": len(set(targets.values())),
            "modules_not_found": missing[:20], "not_found_count": len(missing),
            "seconds": round(time.perf_counter() - t0, 3)}
