"""Merge (concatenate exactly / SVD to a rank, as svd_merge_lora.py) and bake into a checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nyx_core.errors import NyxError
from nyx_core.lora import st
from nyx_core.lora.bake import bake, lora_name_for, sd15_unet_ldm_to_diffusers
from nyx_core.lora.merge import CLAMP_QUANTILE, MergeInput, merge_files, parse_inputs
from tests.lora_fixtures import SD15_MODULES, effective, lora_tensors, rel_fro, write

DATA = Path(__file__).parent / "data"


def _two(tmp_path):
    a = lora_tensors(rank=4, alpha=2.0, seed=1)
    b = lora_tensors(rank=6, alpha=6.0, seed=2)
    md = {"ss_base_model_version": "sd_v1", "sshs_model_hash": "x"}
    return (a, write(tmp_path / "a.safetensors", a, md, dtype="F32"),
            b, write(tmp_path / "b.safetensors", b, md, dtype="F32"))


def test_concat_merge_is_exact(tmp_path):
    a, pa, b, pb = _two(tmp_path)
    res = merge_files([MergeInput(str(pa), 0.7), MergeInput(str(pb), -0.25)], tmp_path / "m.safetensors",
                      precision="fp32")
    assert res["method"] == "concat" and res["rank"] == 10 and res["modules"] == len(SD15_MODULES)
    h = st.read_header(res["output"])
    for name, *_ in SD15_MODULES:
        want = 0.7 * effective(a, name) - 0.25 * effective(b, name)
        assert rel_fro(effective(h, name), want) < 1e-6, name
    rec = json.loads(h.metadata["nyx_merge"])
    assert [i["weight"] for i in rec["inputs"]] == [0.7, -0.25] and rec["method"] == "concat"
    assert h.metadata["ss_base_model_version"] == "sd_v1"


def test_svd_merge_is_svd_merge_lora_py(tmp_path):
    """What svd_merge_lora.py computes: Σ ratio·up·down·alpha/rank, full SVD, keep `rank`, put S into
    up, clip both factors at the 0.99 quantile of their values, alpha = rank. LAPACK leaves each
    singular vector pair's sign free and the clip sees signed values, so the dense reference takes
    our signs before clipping (sd-scripts' own output depends on torch's choice the same way)."""
    a, pa, b, pb = _two(tmp_path)
    res = merge_files([MergeInput(str(pa), 1.0), MergeInput(str(pb), 0.5)], tmp_path / "m.safetensors",
                      rank=3, precision="fp32")
    h = st.read_header(res["output"])
    for name, o, i, k in SD15_MODULES:
        w = effective(a, name) + 0.5 * effective(b, name)
        u, s, vt = np.linalg.svd(w, full_matrices=False)
        ours_up = st.read_tensor(h, f"{name}.lora_up.weight").reshape(o, 3)
        signs = np.sign(np.sum(u[:, :3] * ours_up, axis=0))
        up, down = u[:, :3] * s[:3] * signs, vt[:3] * signs[:, None]
        hi = np.quantile(np.concatenate([up.ravel(), down.ravel()]), CLAMP_QUANTILE)
        want = np.clip(up, -hi, hi) @ np.clip(down, -hi, hi)
        assert rel_fro(effective(h, name), want) < 1e-5, name
        assert float(st.read_tensor(h, f"{name}.alpha")) == 3.0


def test_merge_refuses_mixed_families_and_lycoris(tmp_path):
    _, pa, _, _ = _two(tmp_path)
    xl = write(tmp_path / "xl.safetensors", {"lora_te1_text_model_x.lora_down.weight": np.zeros((2, 4)),
                                              "lora_te1_text_model_x.lora_up.weight": np.zeros((4, 2))})
    with pytest.raises(NyxError, match="different model families"):
        merge_files([MergeInput(str(pa)), MergeInput(str(xl))], tmp_path / "m.safetensors")
    loha = write(tmp_path / "h.safetensors", {"lora_unet_a.hada_w1_a": np.zeros((2, 4))})
    with pytest.raises(NyxError, match="LoHa file"):
        merge_files([MergeInput(str(pa)), MergeInput(str(loha))], tmp_path / "m.safetensors")
    assert parse_inputs(["a.safetensors:0.5", "b.safetensors", "c:d.safetensors"]) == [
        MergeInput("a.safetensors", 0.5), MergeInput("b.safetensors", 1.0), MergeInput("c:d.safetensors", 1.0)]


def test_sd15_ldm_names_map_like_sd_scripts_converter():
    """Every U-Net weight of SD1.5 maps as sd-scripts' own LDM↔diffusers converter maps it."""
    pairs = json.loads((DATA / "sd15_unet_ldm_to_diffusers.json").read_text())["pairs"]
    assert len(pairs) == 391
    wrong = {ldm: (sd15_unet_ldm_to_diffusers(ldm), dif) for ldm, dif in pairs.items()
             if ldm != "out.0" and sd15_unet_ldm_to_diffusers(ldm) != dif}
    assert not wrong


def _checkpoint(tmp_path, ldm: bool):
    """A small SD1.5-shaped checkpoint with one weight per test module (LDM or diffusers names)."""
    names = {
        SD15_MODULES[0][0]: "input_blocks.1.1.transformer_blocks.0.attn1.to_q",
        SD15_MODULES[1][0]: "input_blocks.1.1.proj_in",
        SD15_MODULES[2][0]: "input_blocks.1.0.in_layers.2",
    }
    rng = np.random.default_rng(5)
    arrays, keys = {}, {}
    for name, o, i, k in SD15_MODULES:
        shape = (o, i, k, k) if k else (o, i)
        if name.startswith("lora_te_"):
            key = (("cond_stage_model.transformer." if ldm else "")
                   + "text_model.encoder.layers.0.self_attn.q_proj.weight")
        elif ldm:
            key = "model.diffusion_model." + names[name] + ".weight"
        else:
            key = sd15_unet_ldm_to_diffusers(names[name]) + ".weight"
        arrays[key] = rng.standard_normal(shape)
        keys[name] = key
    arrays["model.diffusion_model.out.0.weight" if ldm else "conv_norm_out.weight"] = np.ones(4)
    if not ldm:
        arrays["down_blocks.0.attentions.0.norm.weight"] = np.ones(4)
    return write(tmp_path / f"ckpt-{ldm}.safetensors", arrays, {"format": "pt"}, dtype="F16"), arrays, keys


@pytest.mark.parametrize("ldm", [True, False])
def test_bake_adds_the_lora_at_strength_and_streams(tmp_path, ldm):
    ckpt, arrays, keys = _checkpoint(tmp_path, ldm)
    lora = lora_tensors(rank=4, alpha=2.0, seed=3)
    lp = write(tmp_path / "l.safetensors", lora, {"ss_base_model_version": "sd_v1"})
    res = bake(ckpt, [(str(lp), 0.8)], tmp_path / "out.safetensors")
    assert res["modules_baked"] == len(SD15_MODULES) and res["not_found_count"] == 0
    h, src = st.read_header(res["output"]), st.read_header(ckpt)
    lh = st.read_header(lp)
    for name, key in keys.items():
        want = st.read_tensor(src, key).astype(np.float64) + 0.8 * effective(lh, name).reshape(arrays[key].shape)
        got = st.read_tensor(h, key).astype(np.float64)
        assert h.tensors[key].dtype == "F16"
        assert np.abs(got - want).max() <= 2e-3 * np.abs(want).max(), name
    untouched = [k for k in src.tensors if k not in keys.values()]
    assert untouched and all(np.array_equal(st.read_tensor(h, k), st.read_tensor(src, k)) for k in untouched)
    assert json.loads(h.metadata["nyx_bake"])["loras"] == [{"file": "l.safetensors", "strength": 0.8}]
    assert h.metadata["format"] == "pt"


def test_bake_refuses_wrong_inputs(tmp_path):
    ckpt, _, _ = _checkpoint(tmp_path, True)
    lora = write(tmp_path / "l.safetensors", lora_tensors(rank=2))
    with pytest.raises(NyxError, match="not a full model"):
        bake(lora, [(str(lora), 1.0)], tmp_path / "o.safetensors")
    xl = write(tmp_path / "xl.safetensors", {"lora_te1_text_model_x.lora_down.weight": np.zeros((2, 4)),
                                              "lora_te1_text_model_x.lora_up.weight": np.zeros((4, 2))})
    with pytest.raises(NyxError, match="SDXL LoRA; the checkpoint is SD1.5"):
        bake(ckpt, [(str(xl), 1.0)], tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()
    assert lora_name_for("conditioner.embedders.0.transformer.text_model.encoder.layers.0.mlp.fc1.weight", "SDXL") \
        == "lora_te1_text_model_encoder_layers_0_mlp_fc1"
    assert lora_name_for("model.diffusion_model.input_blocks.4.1.proj_in.weight", "SDXL") \
        == "lora_unet_input_blocks_4_1_proj_in"
