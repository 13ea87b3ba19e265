"""Bake a LoRA into an SD1.5/SD2/SDXL checkpoint: W' = W + strength·(alpha/rank)·up·down.

Streams: the checkpoint is read one tensor at a time (header first, then each tensor's bytes as
the output is written), so memory stays near the largest single tensor, not the model size.

LoRA module names are the model's module paths with ``.`` → ``_`` under a prefix. Going from the
checkpoint's key to the LoRA name (never the reverse) avoids guessing where underscores were dots.
SD1.5 LoRAs name the U-Net by its diffusers layout, so an original-format (LDM) SD1.5 key is first
translated to its diffusers path; SDXL LoRAs use the original layout directly. OpenCLIP text
encoders (SDXL's second, SD2's) are stored fused in single files (``attn.in_proj_weight`` holds
q, k, v stacked by rows) while LoRAs name them as Hugging Face CLIP modules, so each of those
modules changes its third of the fused tensor.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from nyx_core.errors import NyxError
from nyx_core.lora import st
from nyx_core.lora.info import detect_family, detect_kind
from nyx_core.lora.resize import lora_pairs, read_factors

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
    """The LoRA module name that adapts the whole checkpoint tensor ``key`` (a ``….weight``), or None.
    Fused OpenCLIP tensors, which several modules share, are in :func:`lora_targets`."""
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


#: OpenCLIP text encoders in original single files (SDXL's second, SD2's only): the checkpoint's
#: resblock prefix, the LoRA prefix, and how many layers sd-scripts builds (SD2 uses the penultimate
#: layer, so its text encoder has 23 of the file's 24 and a LoRA never adapts resblock 23).
_OPENCLIP = {"SDXL": ("conditioner.embedders.1.model.transformer.resblocks.", "lora_te2_", None),
             "SD2": ("cond_stage_model.model.transformer.resblocks.", "lora_te_", 23)}
_OPENCLIP_LINEAR = {"attn.out_proj.weight": "self_attn_out_proj", "mlp.c_fc.weight": "mlp_fc1",
                    "mlp.c_proj.weight": "mlp_fc2"}
#: ``attn.in_proj_weight`` stacks the HF model's q, k and v projections along its rows, in this order
_QKV = ("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj")

Rows = tuple[int, int] | None


def _openclip_targets(key: str, shape: tuple[int, ...], family: str) -> list[tuple[str, Rows]]:
    spec = _OPENCLIP.get(family)
    if spec is None or not key.startswith(spec[0]):
        return []
    prefix, lora_prefix, layers = spec
    layer, _, rest = key[len(prefix):].partition(".")
    if not layer.isdigit() or (layers is not None and int(layer) >= layers):
        return []
    base = f"{lora_prefix}text_model_encoder_layers_{int(layer)}_"
    if rest == "attn.in_proj_weight":
        if len(shape) != 2 or shape[0] % 3:
            return []
        d = shape[0] // 3
        return [(base + name, (i * d, (i + 1) * d)) for i, name in enumerate(_QKV)]
    if rest in _OPENCLIP_LINEAR:
        return [(base + _OPENCLIP_LINEAR[rest], None)]
    return []


def lora_targets(key: str, shape: tuple[int, ...], family: str) -> list[tuple[str, Rows]]:
    """The LoRA modules that adapt checkpoint tensor ``key``: (module name, rows) where rows is the
    (start, stop) slice of a fused q/k/v tensor the module owns, or None for the whole tensor."""
    fused = _openclip_targets(key, shape, family)
    if fused:
        return fused
    name = lora_name_for(key, family)
    return [(name, None)] if name else []


def _part(module: str) -> str:
    """``lora_te2_…`` → ``te2``: which model part a LoRA module adapts."""
    return module.split("_")[1] if module.startswith("lora_") else "other"


def _dims(shape) -> str:
    return "×".join(str(d) for d in shape)


@dataclass
class BakePlan:
    """What a bake will do, known from the files' headers alone (cheap: no tensor is read)."""
    family: str
    #: checkpoint key → [(LoRA module, rows)] for every layer a LoRA changes
    targets: dict[str, list[tuple[str, Rows]]]
    #: LoRA modules that found their layer, per model part (``unet``, ``te``, ``te1``, ``te2``)
    baked: dict[str, int]
    #: LoRA modules (all files together) with no layer in this checkpoint, sorted
    not_found: list[str] = field(default_factory=list)

    @property
    def modules_baked(self) -> int:
        return sum(self.baked.values())

    def parts(self) -> str:
        return ", ".join(f"{p} {n}" for p, n in sorted(self.baked.items()))

    def not_found_line(self, limit: int = 8) -> str:
        """One line naming what is left out, or "" when every module found its layer."""
        if not self.not_found:
            return ""
        shown = ", ".join(self.not_found[:limit])
        more = f" (+{len(self.not_found) - limit} more)" if len(self.not_found) > limit else ""
        return (f"{len(self.not_found)} LoRA module(s) match no layer of this checkpoint and are left out: "
                f"{shown}{more}")


def _lora_modules(h: st.Header) -> dict[str, tuple[int, int]]:
    """module → (out, in) of its up·down product, from the header's shapes."""
    out = {}
    for mod, (dk, uk) in lora_pairs(h.tensors).items():
        d, u = h.tensors[dk].shape, h.tensors[uk].shape
        if len(d) >= 2 and len(u) >= 2:
            out[mod] = (u[0], int(np.prod(d[1:])))
    return out


def plan_bake(checkpoint: str | os.PathLike[str], loras: list[tuple[str, float]]) -> BakePlan:
    """Check the inputs and match every LoRA module to its checkpoint layer, reading headers only.
    Refuses (one line, before anything is written) a wrong kind or family, a checkpoint layout it
    cannot bake, a LoRA whose layers have other shapes than the checkpoint's, and a LoRA nothing of
    which matches."""
    ckpt = st.read_header(checkpoint)
    cname = Path(checkpoint).name
    if detect_kind(ckpt) != "full model":
        raise BakeError(f"{cname} is not a full model checkpoint")
    family = detect_family(list(ckpt.tensors), ckpt.metadata, ckpt)
    if family not in ("SD1.5", "SD2", "SDXL"):
        raise BakeError(f"{cname}: baking supports SD1.5, SD2 and SDXL checkpoints (this is {family})")
    if family == "SDXL" and not any(k.startswith(("model.diffusion_model.", "conditioner.embedders."))
                                    for k in ckpt.tensors):
        raise BakeError(f"{cname} is an SDXL file in diffusers layout: bake into the single-file SDXL "
                        "checkpoint (original layout), as sd-scripts' sdxl_merge_lora.py does")
    per_file: list[tuple[str, dict[str, tuple[int, int]]]] = []
    for path, _ in loras:
        h = st.read_header(path)
        kind = detect_kind(h)
        if kind not in ("LoRA", "LoCon"):
            raise BakeError(f"{Path(path).name} is a {kind} file: only LoRA and LoCon can be baked")
        lf = detect_family(list(h.tensors), h.metadata, h)
        # SD1.5 and SD2 LoRAs share names and metadata may be missing: the shape check below decides
        if lf != family and not {lf, family} <= {"SD1.5", "SD2"}:
            raise BakeError(f"{Path(path).name} is a {lf} LoRA; the checkpoint is {family}")
        per_file.append((Path(path).name, _lora_modules(h)))
    wanted = {m for _, mods in per_file for m in mods}
    targets: dict[str, list[tuple[str, Rows]]] = {}
    layer_shape: dict[str, tuple[int, int] | None] = {}
    for key, e in ckpt.tensors.items():
        hits = [(n, rows) for n, rows in lora_targets(key, tuple(e.shape), family) if n in wanted]
        if not hits:
            continue
        targets[key] = hits
        for n, rows in hits:
            ok = e.dtype in FLOAT and len(e.shape) >= 2
            n_out = (rows[1] - rows[0]) if rows else (e.shape[0] if e.shape else 0)
            layer_shape[n] = (n_out, int(np.prod(e.shape[1:]))) if ok else None
    for fname, mods in per_file:
        bad = [(m, s, layer_shape[m]) for m, s in sorted(mods.items()) if m in layer_shape and s != layer_shape[m]]
        if bad:
            m, s, ls = bad[0]
            raise BakeError(f"{fname} does not fit {cname}: {len(bad)} layer(s) have other shapes (first: {m}: "
                            f"LoRA {_dims(s)}, checkpoint {_dims(ls) if ls else 'not a weight matrix'}); "
                            f"is it for another model ({family} checkpoint)?")
    if not targets:
        raise BakeError("none of the LoRA's modules match the checkpoint's layers (wrong family or format?)")
    baked: dict[str, int] = {}
    for m in layer_shape:
        baked[_part(m)] = baked.get(_part(m), 0) + 1
    return BakePlan(family, targets, baked, sorted(wanted - set(layer_shape)))


def bake(checkpoint: str | os.PathLike[str], loras: list[tuple[str, float]], dest: str | os.PathLike[str], *,
         precision: str | None = None, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Bake ``loras`` [(file, strength)] into ``checkpoint``, writing ``dest``. ``precision`` None keeps
    each tensor's dtype. Changed tensors are computed in float64, then stored in their dtype."""
    t0 = time.perf_counter()
    plan = plan_bake(checkpoint, loras)
    ckpt = st.read_header(checkpoint)
    used = {n for hits in plan.targets.values() for n, _ in hits}
    # module name → [(up·strength·alpha/rank, down)], 2-D float64; only the modules that have a layer
    deltas: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for path, strength in loras:
        h = st.read_header(path)
        pairs = {m: p for m, p in lora_pairs(h.tensors).items() if m in used}
        with open(h.path, "rb") as f:
            for mod, _, _, down, up, alpha in read_factors(h, f, pairs):
                r = down.shape[0]
                alpha = float(r) if alpha is None else alpha
                deltas.setdefault(mod, []).append(
                    (up.astype(np.float64).reshape(up.shape[0], r) * (strength * alpha / r),
                     down.astype(np.float64).reshape(r, -1)))
    fin = open(ckpt.path, "rb")

    def producer(key: str, e: st.TensorEntry, out_dtype: str):
        def make() -> bytes:
            if key not in plan.targets:
                if out_dtype == e.dtype:
                    return st.read_raw(ckpt, key, fin)
                return st.encode(st.read_tensor(ckpt, key, fin).astype(np.float32), out_dtype)
            w = st.read_tensor(ckpt, key, fin).astype(np.float64)
            for name, rows in plan.targets[key]:
                part = w[rows[0]:rows[1]] if rows else w
                for up, down in deltas.get(name, ()):
                    part += (up @ down).reshape(part.shape)
            return st.encode(w, out_dtype)
        return make

    out_tensors = []
    for key, e in ckpt.tensors.items():
        od = st.PRECISIONS[precision] if precision and e.dtype in FLOAT else e.dtype
        out_tensors.append(st.OutTensor(key, od, e.shape, producer(key, e, od)))
    md = dict(ckpt.metadata)
    md["nyx_bake"] = json.dumps({"checkpoint": Path(checkpoint).name,
                                 "loras": [{"file": Path(p).name, "strength": s} for p, s in loras],
                                 "modules": plan.modules_baked, "not_found": len(plan.not_found),
                                 "not_found_modules": plan.not_found[:20],
                                 "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    try:
        out = st.write_file(dest, out_tensors, md,
                            progress=(lambda d, t: progress(d, t, "")) if progress else None)
    finally:
        fin.close()
    return {"output": str(out), "family": plan.family, "modules_baked": plan.modules_baked,
            "baked_by_part": plan.baked, "layers_changed": len(plan.targets),
            "modules_not_found": plan.not_found[:20], "not_found_count": len(plan.not_found),
            "seconds": round(time.perf_counter() - t0, 3)}
