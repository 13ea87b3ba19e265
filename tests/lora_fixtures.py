"""Small LoRA/LyCORIS/checkpoint files built for tests (random factors, real safetensors files)."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from nyx_core.lora import st
from nyx_core.lora.resize import lora_pairs
from tests.conftest import SHARED_KOHYA

SHARED_LORA = SHARED_KOHYA / "lora"
DIM8 = SHARED_LORA / "sd15_lora_dim8_bucket_ga2.safetensors"
DIM4 = SHARED_LORA / "sd15_lora_dim4_samples.safetensors"
LOCON = SHARED_LORA / "sd15_locon_lycoris.safetensors"

#: (module name, out, in, kernel) — names as sd-scripts writes them for SD1.5
SD15_MODULES = [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 40, 24, 0),
    ("lora_unet_down_blocks_0_attentions_0_proj_in", 24, 24, 1),
    ("lora_unet_down_blocks_0_resnets_0_conv1", 24, 16, 3),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 32, 32, 0),
]


def lora_tensors(modules=SD15_MODULES, rank=6, alpha=3.0, seed=0, decay=0.6):
    """{name: array} with factors whose singular values fall off geometrically (distinct, so the
    truncated SVD is unique)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, o, i, k in modules:
        flat_in = i * (k * k if k else 1)
        up = rng.standard_normal((o, rank)) * (decay ** np.arange(rank))
        down = rng.standard_normal((rank, flat_in)) / np.sqrt(flat_in)
        if k:
            out[f"{name}.lora_up.weight"] = up.reshape(o, rank, 1, 1)
            out[f"{name}.lora_down.weight"] = down.reshape(rank, i, k, k)
        else:
            out[f"{name}.lora_up.weight"] = up
            out[f"{name}.lora_down.weight"] = down
        out[f"{name}.alpha"] = np.array(alpha)
    return out


def write(path: Path, arrays: dict, metadata: dict | None = None, dtype: str = "F16") -> Path:
    tensors = [st.out_array(n, a, dtype) for n, a in arrays.items()]
    return st.write_file(path, tensors, metadata or {})


def make_lora(path: Path, dtype: str = "F16", extra_md: dict | None = None, **kw) -> Path:
    md = {"ss_network_module": "networks.lora", "ss_base_model_version": "sd_v1",
          "ss_network_dim": str(kw.get("rank", 6)), "ss_network_alpha": str(kw.get("alpha", 3.0)),
          "ss_tag_frequency": json.dumps({"1_nyx": {"nyx": 5, "red": 2}, "2_more": {"red": 4, "blue": 1}})}
    md.update(extra_md or {})
    return write(path, lora_tensors(**kw), md, dtype=dtype)


def effective(arrays_or_header, module: str) -> np.ndarray:
    """up·down·alpha/rank of one module, float64, 2-D."""
    if isinstance(arrays_or_header, st.Header):
        h = arrays_or_header

        def get(n):
            return st.read_tensor(h, n).astype(np.float64)
        has = h.tensors.__contains__
    else:
        def get(n):
            return np.asarray(arrays_or_header[n], dtype=np.float64)
        has = arrays_or_header.__contains__
    down = get(f"{module}.lora_down.weight")
    up = get(f"{module}.lora_up.weight")
    r = down.shape[0]
    alpha = float(get(f"{module}.alpha").reshape(-1)[0]) if has(f"{module}.alpha") else r
    return up.reshape(up.shape[0], r) @ down.reshape(r, -1) * (alpha / r)


def rel_fro(a: np.ndarray, b: np.ndarray) -> float:
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / nb) if nb else float(np.linalg.norm(a))


def factors(h: st.Header, module: str) -> tuple[np.ndarray, np.ndarray]:
    """(up·alpha/rank, down) as float64 2-D: their product is the module's effective weight."""
    down = st.read_tensor(h, f"{module}.lora_down.weight").astype(np.float64)
    up = st.read_tensor(h, f"{module}.lora_up.weight").astype(np.float64)
    r = down.shape[0]
    ak = f"{module}.alpha"
    alpha = float(st.read_tensor(h, ak).reshape(-1)[0]) if ak in h.tensors else r
    return up.reshape(up.shape[0], r) * (alpha / r), down.reshape(r, -1)


def module_facts(h: st.Header) -> dict[str, dict]:
    """What tests/data/lora_resize_reference.json records for each module of a resized file:
    rank, alpha, ‖W‖F, W's non-zero singular values and two random projections yᵀWx, where
    W = up·down·alpha/rank. Computed from r×r Gram matrices (not Nyx's QR path, not a dense SVD)."""
    facts = {}
    pairs = lora_pairs(h.tensors)
    for mod in sorted(pairs):
        u, d = factors(h, mod)
        rank = d.shape[0]
        ev = np.linalg.eigvals((u.T @ u) @ (d @ d.T)).real
        sv = np.sqrt(np.clip(np.sort(ev)[::-1], 0, None))
        rng = np.random.default_rng(zlib.crc32(mod.encode()))
        x = rng.standard_normal((d.shape[1], 2))
        y = rng.standard_normal((u.shape[0], 2))
        probes = np.einsum("ij,ij->j", y, u @ (d @ x))
        facts[mod] = {"rank": rank, "alpha": float(st.read_tensor(h, f"{mod}.alpha").reshape(-1)[0]),
                      "fro": float(np.sqrt(max(0.0, float(np.sum(ev))))), "sv": [float(v) for v in sv],
                      "probes": [float(v) for v in probes],
                      "probe_scale": [float(np.linalg.norm(x[:, j]) * np.linalg.norm(y[:, j])) for j in range(2)]}
    return facts


#: the sd-scripts reference runs on module subsets of the shared files (every Nth module, sorted by
#: name, optionally only names containing a word) so a run takes minutes, not half an hour, on a
#: shared 2-core machine; per-module results do not depend on the other modules
SUBSETS = {"dim8_r4": (6, ""), "dim8_dyn": (2, "self_attn"), "locon": (10, ""), "dim4": (2, "self_attn")}


def subset_file(src: Path, dest: Path, subset: tuple[int, str]) -> Path:
    """Every ``step``-th down/up/alpha module of ``src`` whose name contains ``word`` (sorted by
    name), bytes unchanged."""
    step, word = subset
    h = st.read_header(src)
    mods = [m for m in sorted(lora_pairs(h.tensors)) if word in m][::step]
    keep = [n for n in h.tensors if any(n.startswith(m + ".") for m in mods)]
    with open(h.path, "rb") as f:
        tensors = [st.OutTensor(n, h.tensors[n].dtype, h.tensors[n].shape, st.read_raw(h, n, f)) for n in keep]
    return st.write_file(dest, tensors, h.metadata)


#: Flux and SD3 module names as sd-scripts' networks/lora_flux.py and lora_sd3.py write them
#: (U-Net prefix "lora_unet", CLIP-L "lora_te1"), small shapes.
FLUX_MODULES = [
    ("lora_unet_double_blocks_0_img_attn_qkv", 48, 16, 0),
    ("lora_unet_double_blocks_0_txt_mlp_0", 32, 16, 0),
    ("lora_unet_single_blocks_0_linear1", 40, 16, 0),
    ("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 16, 16, 0),
]
SD3_MODULES = [
    ("lora_unet_joint_blocks_0_x_block_attn_qkv", 48, 16, 0),
    ("lora_unet_joint_blocks_0_context_block_mlp_fc1", 32, 16, 0),
]
DIT_METADATA = {"Flux": {"ss_network_module": "networks.lora_flux", "ss_base_model_version": "flux1"},
                "SD3": {"ss_network_module": "networks.lora_sd3", "ss_base_model_version": "sd3"}}


def make_dit_lora(path: Path, family: str, extra_md: dict | None = None, seed: int = 0) -> Path:
    """A tiny Flux or SD3 LoRA with the key names and metadata sd-scripts writes."""
    modules = FLUX_MODULES if family == "Flux" else SD3_MODULES
    md = {**DIT_METADATA[family], "ss_network_dim": "4", "ss_network_alpha": "4.0",
          "ss_tag_frequency": json.dumps({"1_nyx": {"nyx": 3}})}
    md.update(extra_md or {})
    return write(path, lora_tensors(modules=modules, rank=4, alpha=4.0, seed=seed), md, dtype="BF16")


def make_dit_checkpoint(path: Path, family: str, *, schnell: bool = False, encoders: tuple[str, ...] = ()) -> Path:
    """A tiny Flux/SD3 model file with the family's key names (sd-scripts tells Flux dev from
    schnell by the guidance embedder; SD3 single files may carry text_encoders.<name>.*)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    if family == "Flux":
        arrays["double_blocks.0.img_attn.qkv.weight"] = np.zeros((6, 2))
        if not schnell:
            arrays["guidance_in.in_layer.bias"] = np.zeros(2)
    else:
        arrays["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"] = np.zeros((6, 2))
    for name in encoders:
        arrays[f"text_encoders.{name}.transformer.text_model.embeddings.position_embedding.weight"] = np.zeros((2, 2))
    return write(path, arrays, {})
