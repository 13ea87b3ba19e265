"""Benchmark: bake a rank-8 LoRA into SDXL's second text encoder at full size, streaming.

    python bench/lora_bake.py                 # 32 layers × 1280 (ViT-bigG as in an SDXL file), fp16
    python bench/lora_bake.py --layers 4      # a quicker, smaller run

Writes a random-weight checkpoint with the real key names (fused ``attn.in_proj_weight``) and a LoRA
with every ``lora_te2_*`` module sd-scripts trains (q, k, v, out, fc1, fc2 per layer), then runs the
bake in a fresh process and prints its wall time, its peak memory (VmHWM) and the checkpoint's
size: the bake reads and writes one tensor at a time, so the peak stays near the largest tensor,
not the file. One slice is checked against W + (alpha/rank)·up·down in float64.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nyx_core.lora import st  # noqa: E402

W, RANK = 1280, 8
P = "conditioner.embedders.1.model."

ONE = """
import json, sys, time
t0 = time.perf_counter()
from nyx_core.lora.bake import bake
res = bake(sys.argv[1], [(sys.argv[2], 1.0)], sys.argv[3])
res["wall_s"] = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
res["peak_rss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(res))
"""


def _random(shape, seed: int, scale: float = 0.02):
    def make() -> bytes:
        return st.encode(np.random.default_rng(seed).standard_normal(shape, dtype=np.float32) * scale, "F16")
    return make


def write_checkpoint(path: Path, layers: int) -> None:
    shapes = {P + "token_embedding.weight": (49408, W), P + "positional_embedding": (77, W),
              P + "text_projection": (W, W), P + "ln_final.weight": (W,)}
    for n in range(layers):
        b = f"{P}transformer.resblocks.{n}."
        shapes.update({b + "attn.in_proj_weight": (3 * W, W), b + "attn.in_proj_bias": (3 * W,),
                       b + "attn.out_proj.weight": (W, W), b + "mlp.c_fc.weight": (4 * W, W),
                       b + "mlp.c_proj.weight": (W, 4 * W), b + "ln_1.weight": (W,)})
    st.write_file(path, [st.OutTensor(k, "F16", s, _random(s, i)) for i, (k, s) in enumerate(shapes.items())],
                  {"format": "pt"})


def write_lora(path: Path, layers: int) -> None:
    rng = np.random.default_rng(1)
    arrays = {}
    for n in range(layers):
        for m, o, i in (("self_attn_q_proj", W, W), ("self_attn_k_proj", W, W), ("self_attn_v_proj", W, W),
                        ("self_attn_out_proj", W, W), ("mlp_fc1", 4 * W, W), ("mlp_fc2", W, 4 * W)):
            name = f"lora_te2_text_model_encoder_layers_{n}_{m}"
            arrays[f"{name}.lora_down.weight"] = rng.standard_normal((RANK, i)) * 0.01
            arrays[f"{name}.lora_up.weight"] = rng.standard_normal((o, RANK)) * 0.01
            arrays[f"{name}.alpha"] = np.array(4.0)
    st.write_file(path, [st.out_array(k, a, "F16") for k, a in arrays.items()],
                  {"ss_base_model_version": "sdxl_base_v1-0"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="nyx-bake-bench-") as tmp:
        ckpt, lora, out = Path(tmp, "te2.safetensors"), Path(tmp, "lora.safetensors"), Path(tmp, "out.safetensors")
        write_checkpoint(ckpt, args.layers)
        write_lora(lora, args.layers)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        r = subprocess.run([sys.executable, "-c", ONE, str(ckpt), str(lora), str(out)], capture_output=True,
                           text=True, env=env, check=True)
        res = json.loads(r.stdout)
        # v of the last layer: rows 2W:3W of its in_proj_weight
        key = f"{P}transformer.resblocks.{args.layers - 1}.attn.in_proj_weight"
        name = f"lora_te2_text_model_encoder_layers_{args.layers - 1}_self_attn_v_proj"
        hl = st.read_header(lora)
        up = st.read_tensor(hl, name + ".lora_up.weight").astype(np.float64)
        down = st.read_tensor(hl, name + ".lora_down.weight").astype(np.float64)
        want = st.read_tensor(st.read_header(ckpt), key).astype(np.float64)[2 * W:] + up @ down * (4.0 / RANK)
        got = st.read_tensor(st.read_header(out), key).astype(np.float64)[2 * W:]
        err = float(np.abs(got - want).max())
        size_mb = ckpt.stat().st_size / 2**20
    print(f"checkpoint {size_mb:.0f} MiB ({args.layers} layers × {W}), {res['modules_baked']} LoRA modules "
          f"into {res['layers_changed']} tensors: {res['wall_s']:.1f} s, peak memory {res['peak_rss_mb']:.0f} MiB "
          f"({res['peak_rss_mb'] / size_mb:.2f}× the checkpoint); max |error| on one v slice {err:.2e} (fp16)")


if __name__ == "__main__":
    main()
