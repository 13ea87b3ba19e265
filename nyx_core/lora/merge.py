"""Merge several LoRAs of one family into one.

Every module's merged weight is Σ wᵢ·(alphaᵢ/rankᵢ)·upᵢ·downᵢ, which is itself a product of two
stacked factors, [w₁s₁up₁ | w₂s₂up₂ | …] · [down₁; down₂; …]:

- ``concat``: write exactly those stacked factors (rank = Σ rankᵢ, alpha = rank): no loss at all.
- ``svd``: reduce that product to ``rank`` through the factor SVD (as resize does), then clip the
  factors at their 99th-percentile magnitude as sd-scripts' ``networks/svd_merge_lora.py`` does.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from nyx_core.errors import NyxError
from nyx_core.lora import st
from nyx_core.lora.info import detect_family, detect_kind
from nyx_core.lora.resize import factor_svd, read_factors, single_threaded_blas

CLAMP_QUANTILE = 0.99
MERGEABLE = {"LoRA", "LoCon"}


class MergeError(NyxError):
    pass


@dataclass(frozen=True)
class MergeInput:
    path: str
    weight: float = 1.0


def parse_inputs(items: list[str]) -> list[MergeInput]:
    """``file.safetensors:0.7`` (weight optional, default 1)."""
    out = []
    for item in items:
        path, sep, w = item.rpartition(":")
        if sep and path and _is_number(w):
            out.append(MergeInput(path, float(w)))
        else:
            out.append(MergeInput(item, 1.0))
    return out


def _is_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


def check_inputs(headers: list[st.Header]) -> str:
    """All LoRA/LoCon of one family → that family, else a one-line refusal."""
    fams = []
    for h in headers:
        kind = detect_kind(h)
        if kind not in MERGEABLE:
            raise MergeError(f"{h.path.name} is a {kind} file: only LoRA and LoCon files can be merged")
        fams.append(detect_family(list(h.tensors), h.metadata, h))
    if len(set(fams)) > 1:
        listed = ", ".join(f"{h.path.name} ({f})" for h, f in zip(headers, fams))
        raise MergeError(f"the LoRAs are for different model families: {listed}")
    return fams[0]


def merge_files(inputs: list[MergeInput], dest: str | os.PathLike[str], *, rank: int | None = None,
                conv_rank: int | None = None, precision: str = "fp16",
                progress: Callable[[int, int, str], None] | None = None) -> dict:
    """``rank`` None → concatenate (exact); else SVD to ``rank`` (``conv_rank`` for 3×3 convs)."""
    if len(inputs) < 1:
        raise MergeError("give at least one LoRA to merge")
    if rank is not None and rank < 1:
        raise MergeError("--rank must be at least 1")
    if precision not in st.PRECISIONS:
        raise MergeError(f"unknown precision {precision!r}: use fp16, bf16 or fp32")
    t0 = time.perf_counter()
    headers = [st.read_header(i.path) for i in inputs]
    family = check_inputs(headers)
    # module → list of (scaled up 2-D, down 2-D, down file shape)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, tuple[int, ...]]]] = {}
    for inp, h in zip(inputs, headers):
        with open(h.path, "rb") as f:
            for mod, _, _, down, up, alpha in read_factors(h, f):
                down, up = down.astype(np.float64), up.astype(np.float64)
                r = down.shape[0]
                alpha = float(r) if alpha is None else alpha
                prev = parts.get(mod)
                if prev and prev[0][2][1:] != down.shape[1:]:
                    raise MergeError(f"{mod}: shapes differ between the files ({prev[0][2]} vs {down.shape})")
                parts.setdefault(mod, []).append(
                    (up.reshape(up.shape[0], r) * (inp.weight * alpha / r), down.reshape(r, -1), down.shape))
    out_dtype = st.PRECISIONS[precision]
    tensors: list[st.OutTensor] = []
    ranks: dict[str, int] = {}
    with single_threaded_blas():
        for i, (mod, plist) in enumerate(sorted(parts.items())):
            U = np.concatenate([p[0] for p in plist], axis=1)
            D = np.concatenate([p[1] for p in plist], axis=0)
            dshape = plist[0][2]
            conv = len(dshape) == 4
            conv3 = conv and dshape[2] * dshape[3] > 1
            if rank is None:
                new_up, new_down, k = U, D, U.shape[1]
            else:
                # sd-scripts caps at the module's in/out channels (not channels×kernel)
                k = min(conv_rank if (conv3 and conv_rank) else rank, U.shape[0], dshape[1])
                Uf, S, Vt = factor_svd(U, D)
                kk = min(k, len(S))
                new_up = np.zeros((U.shape[0], k))
                new_down = np.zeros((k, D.shape[1]))
                new_up[:, :kk] = Uf[:, :kk] * S[:kk]
                new_down[:kk] = Vt[:kk]
                hi = float(np.quantile(np.concatenate([new_up.ravel(), new_down.ravel()]), CLAMP_QUANTILE))
                new_up = np.clip(new_up, -hi, hi)
                new_down = np.clip(new_down, -hi, hi)
            if conv:
                new_down = new_down.reshape(k, *dshape[1:])
                new_up = new_up.reshape(new_up.shape[0], k, 1, 1)
            ranks[mod] = k
            tensors += [st.out_array(f"{mod}.lora_down.weight", new_down, out_dtype),
                        st.out_array(f"{mod}.lora_up.weight", new_up, out_dtype),
                        st.out_array(f"{mod}.alpha", np.array(float(k)), out_dtype)]
            if progress:
                progress(i + 1, len(parts), mod)
    md = merged_metadata(headers, inputs, rank, conv_rank, ranks, precision)
    md.update(st.model_hashes(tensors, md))
    out = st.write_file(dest, tensors, md)
    return {"output": str(out), "family": family, "modules": len(ranks), "rank": max(ranks.values()) if ranks else 0,
            "method": "concat" if rank is None else "svd", "seconds": round(time.perf_counter() - t0, 4)}


def merged_metadata(headers, inputs, rank, conv_rank, ranks, precision) -> dict[str, str]:
    first = headers[0].metadata
    md = {k: first[k] for k in ("ss_base_model_version", "ss_v2", "modelspec.architecture",
                                "modelspec.implementation", "modelspec.prediction_type", "modelspec.resolution",
                                "modelspec.sai_model_spec") if k in first}
    dims = sorted(set(ranks.values()))
    md["ss_network_module"] = "networks.lora"
    md["ss_network_dim"] = str(dims[0]) if len(dims) == 1 else "Dynamic"
    md["ss_network_alpha"] = md["ss_network_dim"]
    if conv_rank:
        md["ss_network_args"] = json.dumps({"conv_dim": str(conv_rank), "conv_alpha": str(conv_rank)})
    md["ss_training_comment"] = "merged by Nyx: " + ", ".join(
        f"{Path(i.path).name}×{i.weight:g}" for i in inputs)
    md["nyx_merge"] = json.dumps({
        "inputs": [{"file": Path(i.path).name, "weight": i.weight, "hash": h.metadata.get("sshs_model_hash")}
                   for i, h in zip(inputs, headers)],
        "method": "concat" if rank is None else "svd", "rank": rank, "conv_rank": conv_rank,
        "precision": precision, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return md
