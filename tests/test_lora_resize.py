"""Resize equals sd-scripts' networks/resize_lora.py.

Two kinds of evidence:
- built LoRAs, checked against the dense computation resize_lora.py does (full up·down product,
  full SVD, truncate) done here independently in numpy;
- the shared LoRAs that real sd-scripts trained, checked against numbers recorded from real
  resize_lora.py runs at the pinned commit (tests/data/lora_resize_reference.json: per-module rank,
  alpha, Frobenius norm and singular values of each module's effective weight, and two random
  projections of it). With NYX_LORA_REF pointing at the folder of sd-scripts' output files, the
  full 1e-3 relative Frobenius comparison of every module runs as well.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from nyx_core.errors import NyxError
from nyx_core.lora import st
from nyx_core.lora.resize import ResizeOptions, lora_pairs, new_rank_for, resize_file
from tests.lora_fixtures import (DIM4, DIM8, LOCON, SD15_MODULES, effective, lora_tensors, make_lora, module_facts,
                                 rel_fro, SUBSETS, subset_file, write)

REFERENCE = Path(__file__).parent / "data" / "lora_resize_reference.json"
shared = pytest.mark.skipif(not DIM8.is_file(), reason="../shared/kohya/lora not present")


def dense_truncate(w: np.ndarray, k: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k]


def test_fixed_rank_is_the_truncated_svd_of_the_full_product(tmp_path):
    arrays = lora_tensors(rank=6, alpha=3.0)
    src = write(tmp_path / "in.safetensors", arrays, {"ss_network_dim": "6"}, dtype="F32")
    res = resize_file(src, tmp_path / "out.safetensors", ResizeOptions(rank=3, precision="fp32"))
    out = st.read_header(res.output)
    for name, o, i, k in SD15_MODULES:
        want = dense_truncate(effective(arrays, name), 3)
        got = effective(out, name)
        assert rel_fro(got, want) < 1e-6, name
        assert st.read_tensor(out, f"{name}.lora_down.weight").shape[0] == 3
        # alpha recomputed: alpha/rank stays the original scale (3/6)
        assert float(st.read_tensor(out, f"{name}.alpha")) == pytest.approx(1.5)
    conv = out.tensors["lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight"]
    assert conv.shape == (3, 16, 3, 3) and out.tensors[
        "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight"].shape == (24, 3, 1, 1)
    md = out.metadata
    assert md["ss_network_dim"] == "3" and md["ss_network_alpha"] == "1.5"
    assert md["ss_training_comment"].startswith("dimension is resized from 6 to 3;")
    assert json.loads(md["nyx_resize"])["rank"] == 3
    assert md["sshs_model_hash"] == st.data_sha256(res.output)
    assert [m.new_rank for m in res.modules] == [3, 3, 3, 3]


def test_conv_rank_separate_and_precisions(tmp_path):
    src = make_lora(tmp_path / "in.safetensors", rank=6)
    for prec, dtype in (("fp16", "F16"), ("bf16", "BF16"), ("fp32", "F32")):
        res = resize_file(src, tmp_path / f"{prec}.safetensors", ResizeOptions(rank=4, conv_rank=2, precision=prec))
        h = st.read_header(res.output)
        assert {e.dtype for e in h.tensors.values()} == {dtype}
        assert h.tensors["lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight"].shape[0] == 2
        assert h.tensors["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"].shape[0] == 2  # 1×1 conv too
        assert h.tensors["lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"].shape[0] == 4
        assert "(conv: 2)" in h.metadata["ss_training_comment"]
    assert src.is_file()


def _dense_rank(s_full: np.ndarray, limit: int, method: str | None, param: float | None) -> int:
    """resize_lora.py's rule, written out on the full singular value vector."""
    n = len(s_full)
    if method == "sv_ratio":
        idx = int(np.sum(s_full > s_full[0] / param))
    elif method == "sv_cumulative":
        idx = int(np.searchsorted(np.cumsum(s_full) / s_full.sum(), param)) + 1
    elif method == "sv_fro":
        sq = s_full ** 2
        idx = int(np.searchsorted(np.cumsum(sq) / sq.sum(), param ** 2)) + 1
    else:
        return limit
    rank = max(1, min(idx, n - 1)) + 1
    return 1 if s_full[0] <= 1e-6 else min(rank, limit)


@pytest.mark.parametrize("method,param", [("sv_ratio", 2.0), ("sv_ratio", 9.0), ("sv_fro", 0.9), ("sv_fro", 0.5),
                                          ("sv_cumulative", 0.7), ("sv_cumulative", 0.95)])
def test_dynamic_rules_match_the_full_length_rule(method, param):
    rng = np.random.default_rng(int(param * 100))
    for _ in range(50):
        r = int(rng.integers(2, 12))
        s = np.sort(rng.gamma(1.0, 1.0, r))[::-1]
        full = np.concatenate([s, np.zeros(int(rng.integers(0, 40)))])
        limit = int(rng.integers(1, 16))
        assert new_rank_for(s, len(full), limit, method, param) == _dense_rank(full, limit, method, param)


def test_refuses_lycoris_formats_by_name_and_bad_options(tmp_path):
    loha = write(tmp_path / "loha.safetensors", {"lora_unet_a.hada_w1_a": np.zeros((4, 8)),
                                                  "lora_unet_a.hada_w1_b": np.zeros((4, 8))})
    with pytest.raises(NyxError, match="LoHa file: only LoRA and LoCon"):
        resize_file(loha, tmp_path / "o.safetensors", ResizeOptions(rank=2))
    lokr = write(tmp_path / "lokr.safetensors", {"lora_unet_a.lokr_w1": np.zeros((4, 4))})
    with pytest.raises(NyxError, match="LoKr"):
        resize_file(lokr, tmp_path / "o.safetensors", ResizeOptions(rank=2))
    src = make_lora(tmp_path / "in.safetensors")
    for opts, why in ((ResizeOptions(rank=0), "at least 1"), (ResizeOptions(rank=2, dynamic="sv_fro"), "needs --param"),
                      (ResizeOptions(rank=2, dynamic="sv_fro", param=1.5), "fraction"),
                      (ResizeOptions(rank=2, precision="fp8"), "precision")):
        with pytest.raises(NyxError, match=why):
            resize_file(src, tmp_path / "o.safetensors", opts)
    assert not (tmp_path / "o.safetensors").exists()


def test_zero_module_becomes_rank_one(tmp_path):
    arrays = lora_tensors(rank=4)
    name = SD15_MODULES[0][0]
    arrays[f"{name}.lora_up.weight"] = np.zeros_like(arrays[f"{name}.lora_up.weight"])
    src = write(tmp_path / "z.safetensors", arrays)
    res = resize_file(src, tmp_path / "o.safetensors", ResizeOptions(rank=2))
    assert {m.name: m.new_rank for m in res.modules}[name] == 1


# --- against real sd-scripts ---------------------------------------------------------------

CASES = {  # name → (input, module subset step or None, options) as run with resize_lora.py
    "dim8_r4": (DIM8, SUBSETS["dim8_r4"], ResizeOptions(rank=4, precision="fp32")),
    "locon_r3c2": (LOCON, SUBSETS["locon"], ResizeOptions(rank=3, conv_rank=2, precision="fp16")),
    "dim8_ratio": (DIM8, SUBSETS["dim8_dyn"], ResizeOptions(rank=8, dynamic="sv_ratio", param=2.0, precision="fp32")),
    "dim8_fro": (DIM8, SUBSETS["dim8_dyn"], ResizeOptions(rank=6, dynamic="sv_fro", param=0.9, precision="fp32")),
    "dim8_cum": (DIM8, SUBSETS["dim8_dyn"],
                 ResizeOptions(rank=8, dynamic="sv_cumulative", param=0.7, precision="fp32")),
    "dim4_r2_bf16": (DIM4, SUBSETS["dim4"], ResizeOptions(rank=2, precision="bf16")),
}


def case_input(case: str, tmp_path: Path) -> tuple[Path, ResizeOptions]:
    src, subset, opts = CASES[case]
    return (src if subset is None else subset_file(src, tmp_path / "subset.safetensors", subset)), opts


def _reference() -> dict:
    if not REFERENCE.is_file():
        pytest.skip("no recorded sd-scripts reference")
    return json.loads(REFERENCE.read_text())


@shared
@pytest.mark.parametrize("case", list(CASES))
def test_same_ranks_and_weights_as_resize_lora_py(tmp_path, case):
    ref = _reference()["cases"].get(case)
    if ref is None:
        pytest.skip(f"{case} not recorded")
    src, opts = case_input(case, tmp_path)
    res = resize_file(src, tmp_path / "out.safetensors", opts)
    h = st.read_header(res.output)
    ours = module_facts(h)
    assert set(ours) == set(ref["modules"])
    assert {m: f["rank"] for m, f in ours.items()} == {m: f["rank"] for m, f in ref["modules"].items()}
    tol = {"fp32": 1e-5, "fp16": 2e-3, "bf16": 1.5e-2}[opts.precision]
    for mod, f in ref["modules"].items():
        o = ours[mod]
        assert o["alpha"] == pytest.approx(f["alpha"], rel=1e-3), mod
        assert o["fro"] == pytest.approx(f["fro"], rel=tol, abs=1e-9), mod
        assert np.allclose(o["sv"], f["sv"], rtol=tol, atol=1e-9 + tol * f["fro"]), mod
        # yᵀ(A−B)x for Gaussian x, y has standard deviation ‖A−B‖F ≤ tol·‖B‖F, while a wrong
        # subspace moves it by about ‖B‖F: the probes tell the right singular vectors from wrong ones
        assert np.allclose(o["probes"], f["probes"], rtol=0, atol=8 * tol * f["fro"] + 1e-12), mod
    for key in ("ss_network_dim", "ss_network_alpha"):
        assert h.metadata[key] == ref["metadata"][key]
    assert h.metadata["ss_training_comment"] == ref["metadata"]["ss_training_comment"]
    assert {e.dtype for n, e in h.tensors.items()} == set(ref["dtypes"])


@shared
@pytest.mark.skipif(not os.environ.get("NYX_LORA_REF"), reason="set NYX_LORA_REF to sd-scripts' output folder")
@pytest.mark.parametrize("case", list(CASES))
def test_every_module_within_1e3_of_sd_scripts_file(tmp_path, case):
    ref_file = Path(os.environ["NYX_LORA_REF"]) / f"{case}.safetensors"
    if not ref_file.is_file():
        pytest.skip(f"{ref_file} missing")
    src, opts = case_input(case, tmp_path)
    res = resize_file(src, tmp_path / "out.safetensors", opts)
    ours, theirs = st.read_header(res.output), st.read_header(ref_file)
    for mod in lora_pairs(theirs.tensors):
        assert rel_fro(effective(ours, mod), effective(theirs, mod)) < 1e-3, mod
