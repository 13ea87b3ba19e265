"""Resize a LoRA/LoCon to a lower rank, the way sd-scripts' ``networks/resize_lora.py`` does, fast.

sd-scripts forms each module's full ``up @ down`` matrix (e.g. 1280×11520) and runs a full SVD of
it. The product of two rank-r factors has rank ≤ r, so the same singular values and vectors come
from a QR of each factor and the SVD of one r×r matrix:

    up = Qu·Ru,  downᵀ = Qd·Rd   ⇒   up·down = Qu·(Ru·Rdᵀ)·Qdᵀ = (Qu·Um)·S·(Qd·Vm)ᵀ

where Um·S·Vmᵀ is the SVD of Ru·Rdᵀ. That is O((out+in)·r²) instead of O(out·in·min(out, in)).
The algebra runs in float64.

Rank selection mirrors sd-scripts exactly, including its index arithmetic: sd-scripts sees the
full-length singular value vector (min(out, in) values, the ones past r being ~0), so the
dynamic rules here run on S padded with zeros to that length.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from nyx_core.errors import NyxError
from nyx_core.lora import st
from nyx_core.lora.info import detect_kind

MIN_SV = 1e-6
DYNAMIC_METHODS = ("sv_ratio", "sv_fro", "sv_cumulative")
#: formats whose factors are not a plain down/up pair: a rank cut would not be a resize of them
REFUSED = {"LoHa", "LoKr", "IA3", "GLoRA", "OFT", "DoRA", "LyCORIS full", "full model", "unknown"}
DOWN_UP = (("lora_down", "lora_up"), ("lora_A", "lora_B"))


class ResizeError(NyxError):
    pass


@dataclass(frozen=True)
class ResizeOptions:
    rank: int
    conv_rank: int | None = None  # None: same as rank (sd-scripts' --new_conv_rank)
    dynamic: str | None = None
    param: float | None = None
    precision: str = "fp16"

    def check(self) -> None:
        if self.rank < 1 or (self.conv_rank is not None and self.conv_rank < 1):
            raise ResizeError("--rank must be at least 1")
        if self.dynamic is not None:
            if self.dynamic not in DYNAMIC_METHODS:
                raise ResizeError(f"unknown dynamic method {self.dynamic!r}: use {', '.join(DYNAMIC_METHODS)}")
            if self.param is None or not np.isfinite(self.param) or self.param <= 0:
                raise ResizeError(f"--dynamic {self.dynamic} needs --param, a positive number")
            if self.dynamic in ("sv_fro", "sv_cumulative") and self.param > 1:
                raise ResizeError(f"--param for {self.dynamic} is a fraction between 0 and 1")
        if self.precision not in st.PRECISIONS:
            raise ResizeError(f"unknown precision {self.precision!r}: use fp16, bf16 or fp32")


@dataclass
class ModuleReport:
    name: str
    conv: bool
    old_rank: int
    new_rank: int
    alpha: float
    fro_retained: float
    sum_retained: float


@dataclass
class ResizeResult:
    output: Path
    old_rank: int
    options: ResizeOptions
    modules: list[ModuleReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mean_fro(self) -> float:
        vals = [m.fro_retained for m in self.modules if np.isfinite(m.fro_retained)]
        return float(np.mean(vals)) if vals else float("nan")

    def to_json(self) -> dict:
        return {"output": str(self.output), "old_rank": self.old_rank, "options": asdict(self.options),
                "seconds": round(self.seconds, 4), "mean_fro_retained": self.mean_fro,
                "modules": [asdict(m) for m in self.modules]}


# --- rank rules (sd-scripts' semantics on the full-length singular values) --------------------

def _searchsorted_plus_one(cum: np.ndarray, target: float, length: int) -> int:
    index = int(np.searchsorted(cum, target, side="left")) + 1
    return max(1, min(index, length - 1))


def new_rank_for(s: np.ndarray, full_len: int, limit: int, dynamic: str | None, param: float | None) -> int:
    """The rank sd-scripts keeps for singular values ``s`` (descending, non-zero part) of a matrix
    whose full singular value vector has ``full_len`` entries."""
    s = np.asarray(s, dtype=np.float64)
    if dynamic == "sv_ratio":
        index = max(1, min(int(np.sum(s > s[0] / param)), full_len - 1))
        rank = index + 1
    elif dynamic == "sv_cumulative":
        cum = np.cumsum(s) / np.sum(s)
        rank = _searchsorted_plus_one(_pad_ones(cum, full_len), param, full_len) + 1
    elif dynamic == "sv_fro":
        sq = s * s
        cum = np.cumsum(sq) / np.sum(sq)
        rank = _searchsorted_plus_one(_pad_ones(cum, full_len), param * param, full_len) + 1
    else:
        rank = limit
    if s[0] <= MIN_SV:
        return 1
    return min(rank, limit)


def _pad_ones(cum: np.ndarray, n: int) -> np.ndarray:
    # the zero singular values past the true rank leave the cumulative fraction at 1
    return np.concatenate([cum, np.ones(max(0, n - len(cum)))])


def factor_svd(up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD of ``up @ down`` (out×r, r×in) from the factors: (U out×r, S r, Vt r×in)."""
    qu, ru = np.linalg.qr(up)
    qd, rd = np.linalg.qr(down.T)
    um, s, vmt = np.linalg.svd(ru @ rd.T)
    return qu @ um, s, (qd @ vmt.T).T


def resize_module(down: np.ndarray, up: np.ndarray, alpha: float | None, limit: int,
                  dynamic: str | None, param: float | None):
    """→ (new_down, new_up, new_alpha, report fields). ``down``/``up`` in their file shapes."""
    conv = down.ndim == 4
    old_rank = down.shape[0]
    d2 = down.reshape(old_rank, -1).astype(np.float64)
    u2 = up.reshape(up.shape[0], -1).astype(np.float64)
    if u2.shape[1] != old_rank:
        raise ResizeError(f"up has rank {u2.shape[1]}, down has rank {old_rank}")
    full_len = min(u2.shape[0], d2.shape[1])
    U, S, Vt = factor_svd(u2, d2)
    k = new_rank_for(S, full_len, limit, dynamic, param)
    k = min(k, full_len)  # a rank past min(out, in) does not exist
    s_full = np.concatenate([S, np.zeros(max(0, k - len(S)))])
    if k > len(S):  # asked for more rank than the module has: the extra directions carry zero
        U = np.concatenate([U, np.zeros((U.shape[0], k - len(S)))], axis=1)
        Vt = np.concatenate([Vt, np.zeros((k - len(S), Vt.shape[1]))], axis=0)
    new_up = U[:, :k] * s_full[:k]
    new_down = Vt[:k]
    if conv:
        new_down = new_down.reshape(k, *down.shape[1:])
        new_up = new_up.reshape(up.shape[0], k, 1, 1)
    total = float(np.sum(np.abs(S)))
    fro = float(np.sqrt(np.sum(S * S)))
    fro_ret = float(np.sqrt(np.sum(S[:k] ** 2)) / fro) if fro > 0 else float("nan")
    sum_ret = float(np.sum(np.abs(S[:k])) / total) if total > 0 else float("nan")
    # sd-scripts computes alpha/old_rank·new_rank in float32 (a tensor op); the same here, so the
    # alpha tensor and ss_network_alpha read the same digits
    if alpha is None:
        new_alpha = float(np.float32(k))
    else:
        new_alpha = float(np.float32(alpha) / np.float32(old_rank) * np.float32(k))
    return new_down, new_up, new_alpha, conv, old_rank, k, fro_ret, sum_ret


def single_threaded_blas():
    """Thousands of tiny QRs run 7x slower when OpenBLAS spreads each over busy cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only speed depends on it
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def lora_pairs(names) -> dict[str, tuple[str, str]]:
    """module → (down key, up key) for every down/up pair in the file."""
    names = set(names)
    pairs: dict[str, tuple[str, str]] = {}
    for n in names:
        parts = n.split(".")
        for dn, un in DOWN_UP:
            if len(parts) >= 2 and parts[-2] == dn:
                mod, tail = ".".join(parts[:-2]), "." + parts[-1]
            elif parts[-1] == dn:
                mod, tail = ".".join(parts[:-1]), ""
            else:
                continue
            upk = f"{mod}.{un}{tail}"
            if upk in names:
                pairs[mod] = (n, upk)
            break
    return pairs


def read_factors(header, f, pairs: dict[str, tuple[str, str]] | None = None):  # noqa: ANN001, ANN201
    """(module, down key, up key, down, up, alpha) for every down/up pair, in module order, read from
    the open file ``f``; alpha is None when the file stores none (sd-scripts then uses the rank).
    Resize, merge and bake all walk a LoRA this way."""
    pairs = lora_pairs(header.tensors) if pairs is None else pairs
    for mod, (dk, uk) in sorted(pairs.items()):
        ak = f"{mod}.alpha"
        alpha = float(st.read_tensor(header, ak, f).reshape(-1)[0]) if ak in header.tensors else None
        yield mod, dk, uk, st.read_tensor(header, dk, f), st.read_tensor(header, uk, f), alpha


def resize_file(src: str | os.PathLike[str], dest: str | os.PathLike[str], opts: ResizeOptions,
                progress: Callable[[int, int, str], None] | None = None) -> ResizeResult:
    opts.check()
    t0 = time.perf_counter()
    header = st.read_header(src)
    kind = detect_kind(header)
    if kind in REFUSED or any(".lora_mid." in n for n in header.tensors):
        name = "LoCon with Tucker decomposition (lora_mid)" if kind == "LoCon" else kind
        raise ResizeError(f"{Path(src).name} is a {name} file: only LoRA and LoCon (down/up factors) can be resized")
    pairs = lora_pairs(header.tensors)
    if not pairs:
        raise ResizeError(f"{Path(src).name} has no LoRA down/up pairs to resize")
    out_dtype = st.PRECISIONS[opts.precision]
    conv_limit = opts.conv_rank if opts.conv_rank is not None else opts.rank
    arrays: dict[str, np.ndarray] = {}
    reports: list[ModuleReport] = []
    old_max = 0
    last_alpha = None
    with open(header.path, "rb") as f, single_threaded_blas():
        for i, (mod, dk, uk, down, up, alpha) in enumerate(read_factors(header, f, pairs)):
            ak = f"{mod}.alpha"
            limit = conv_limit if down.ndim == 4 else opts.rank
            nd, nu, na, conv, old, k, fro, ssum = resize_module(down, up, alpha, limit, opts.dynamic, opts.param)
            arrays[dk], arrays[uk], arrays[ak] = nd, nu, np.array(na)
            old_max = max(old_max, old)
            last_alpha = na
            reports.append(ModuleReport(mod, conv, old, k, na, fro, ssum))
            if progress:
                progress(i + 1, len(pairs), mod)
        tensors: list[st.OutTensor] = []
        for name, e in header.tensors.items():
            if name in arrays:
                tensors.append(st.out_array(name, arrays[name], out_dtype))
            elif e.dtype in ("F16", "BF16", "F32", "F64"):
                tensors.append(st.out_array(name, st.read_tensor(header, name, f), out_dtype))
            else:
                tensors.append(st.OutTensor(name, e.dtype, e.shape, st.read_raw(header, name, f)))
    md = dict(header.metadata)
    md.update(resize_metadata(md, old_max, opts, last_alpha, Path(src).name))
    md.update(st.model_hashes(tensors, md))
    out = st.write_file(dest, tensors, md)
    return ResizeResult(out, old_max, opts, reports, time.perf_counter() - t0)


def resize_metadata(md: dict[str, str], old_dim: int, opts: ResizeOptions, last_alpha: float | None,
                    source: str) -> dict[str, str]:
    """The keys sd-scripts changes (same wording), plus Nyx's own record of the resize."""
    comment = md.get("ss_training_comment", "")
    new: dict[str, str] = {}
    if opts.dynamic is None:
        conv = opts.conv_rank if opts.conv_rank is not None else opts.rank
        conv_desc = "" if conv == opts.rank else f" (conv: {conv})"
        new["ss_training_comment"] = f"dimension is resized from {old_dim} to {opts.rank}{conv_desc}; {comment}"
        new["ss_network_dim"] = str(opts.rank)
        new["ss_network_alpha"] = str(float(last_alpha)) if last_alpha is not None else str(float(opts.rank))
    else:
        new["ss_training_comment"] = f"Dynamic resize with {opts.dynamic}: {opts.param} from {old_dim}; {comment}"
        new["ss_network_dim"] = "Dynamic"
        new["ss_network_alpha"] = "Dynamic"
    new["nyx_resize"] = json.dumps({"source": source, "source_hash": md.get("sshs_model_hash"),
                                    "from_rank": old_dim, **asdict(opts),
                                    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return new
