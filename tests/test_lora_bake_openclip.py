"""Bake into SDXL (both text encoders) and SD2: the OpenCLIP text encoders are stored fused
(``attn.in_proj_weight`` = q, k, v stacked by rows) while LoRAs name Hugging Face CLIP modules.
Also: LoRA modules with no layer are reported (result, CLI, page), and a LoRA that does not fit the
checkpoint is refused in one line before anything is written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nyx_core.errors import NyxError
from nyx_core.lora import st
from nyx_core.lora.bake import bake, lora_targets, plan_bake
from tests.lora_fixtures import effective, lora_tensors, write

DATA = Path(__file__).parent / "data"

TE2 = "conditioner.embedders.1.model."
TE1 = "conditioner.embedders.0.transformer.text_model.encoder.layers."
UNET = "model.diffusion_model."
D2 = 6  # width of the tiny second text encoder; its in_proj_weight is 3·D2 × D2

#: a tiny SDXL single file: real key names, small shapes
SDXL_CKPT = {
    UNET + "input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight": (8, 8),
    UNET + "input_blocks.4.1.proj_in.weight": (8, 8),
    UNET + "input_blocks.4.0.in_layers.2.weight": (8, 4, 3, 3),
    UNET + "input_blocks.4.1.norm.weight": (8,),
    TE1 + "0.self_attn.q_proj.weight": (8, 8),
    TE1 + "0.self_attn.q_proj.bias": (8,),
    TE1 + "0.mlp.fc1.weight": (16, 8),
    **{TE2 + f"transformer.resblocks.{n}.{k}": s for n in (0, 1) for k, s in (
        ("attn.in_proj_weight", (3 * D2, D2)), ("attn.in_proj_bias", (3 * D2,)),
        ("attn.out_proj.weight", (D2, D2)), ("attn.out_proj.bias", (D2,)), ("ln_1.weight", (D2,)),
        ("mlp.c_fc.weight", (4 * D2, D2)), ("mlp.c_proj.weight", (D2, 4 * D2)))},
    TE2 + "text_projection": (D2, D2),
    TE2 + "logit_scale": (),
    TE2 + "positional_embedding": (4, D2),
    TE2 + "token_embedding.weight": (10, D2),
    TE2 + "ln_final.weight": (D2,),
    "first_stage_model.decoder.conv_in.weight": (4, 4, 3, 3),
}

#: (module, out, in, kernel) as sd-scripts names an SDXL LoRA's modules
SDXL_MODULES = [
    ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", 8, 8, 0),
    ("lora_unet_input_blocks_4_1_proj_in", 8, 8, 0),
    ("lora_unet_input_blocks_4_0_in_layers_2", 8, 4, 3),
    ("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 8, 8, 0),
    ("lora_te1_text_model_encoder_layers_0_mlp_fc1", 16, 8, 0),
    *[(f"lora_te2_text_model_encoder_layers_0_{m}", o, i, 0) for m, o, i in (
        ("self_attn_q_proj", D2, D2), ("self_attn_k_proj", D2, D2), ("self_attn_v_proj", D2, D2),
        ("self_attn_out_proj", D2, D2), ("mlp_fc1", 4 * D2, D2), ("mlp_fc2", D2, 4 * D2))],
    ("lora_te2_text_model_encoder_layers_1_self_attn_v_proj", D2, D2, 0),
]
#: modules whose layers this tiny checkpoint does not have: reported, never silently dropped
SDXL_MISSING = [
    ("lora_te1_text_model_encoder_layers_11_mlp_fc2", 8, 16, 0),
    ("lora_te2_text_model_encoder_layers_31_self_attn_q_proj", D2, D2, 0),
    ("lora_unet_input_blocks_7_1_proj_in", 8, 8, 0),
]


#: what each module must change, written out by hand: checkpoint key → [(module, rows)]; q/k/v are
#: the first/second/third D2 rows of in_proj_weight (tests/data/openclip_te_to_hf.json, from sd-scripts)
SDXL_EXPECTED = {
    UNET + "input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight":
        [("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", None)],
    UNET + "input_blocks.4.1.proj_in.weight": [("lora_unet_input_blocks_4_1_proj_in", None)],
    UNET + "input_blocks.4.0.in_layers.2.weight": [("lora_unet_input_blocks_4_0_in_layers_2", None)],
    TE1 + "0.self_attn.q_proj.weight": [("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", None)],
    TE1 + "0.mlp.fc1.weight": [("lora_te1_text_model_encoder_layers_0_mlp_fc1", None)],
    TE2 + "transformer.resblocks.0.attn.in_proj_weight": [
        ("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", (0, D2)),
        ("lora_te2_text_model_encoder_layers_0_self_attn_k_proj", (D2, 2 * D2)),
        ("lora_te2_text_model_encoder_layers_0_self_attn_v_proj", (2 * D2, 3 * D2))],
    TE2 + "transformer.resblocks.0.attn.out_proj.weight": [("lora_te2_text_model_encoder_layers_0_self_attn_out_proj", None)],
    TE2 + "transformer.resblocks.0.mlp.c_fc.weight": [("lora_te2_text_model_encoder_layers_0_mlp_fc1", None)],
    TE2 + "transformer.resblocks.0.mlp.c_proj.weight": [("lora_te2_text_model_encoder_layers_0_mlp_fc2", None)],
    TE2 + "transformer.resblocks.1.attn.in_proj_weight": [
        ("lora_te2_text_model_encoder_layers_1_self_attn_v_proj", (2 * D2, 3 * D2))],
}


def _ckpt(path: Path, shapes: dict, dtype: str, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    return write(path, {k: rng.standard_normal(s) for k, s in shapes.items()}, {"format": "pt"}, dtype=dtype)


def _check_baked(src: Path, out: Path, lora: Path, strength: float, expected: dict, rtol: float) -> None:
    """Every expected slice is W + strength·(alpha/rank)·up·down (float64 reference); the other rows of
    a fused tensor and every other tensor keep their bytes."""
    hs, ho, hl = st.read_header(src), st.read_header(out), st.read_header(lora)
    assert list(ho.tensors) == list(hs.tensors)
    with open(hs.path, "rb") as fs, open(ho.path, "rb") as fo:
        for key in hs.tensors:
            assert ho.tensors[key].dtype == hs.tensors[key].dtype and ho.tensors[key].shape == hs.tensors[key].shape
            if key not in expected:
                assert st.read_raw(ho, key, fo) == st.read_raw(hs, key, fs), f"{key} changed"
                continue
            w = st.read_tensor(hs, key, fs).astype(np.float64)
            got = st.read_tensor(ho, key, fo).astype(np.float64)
            want = w.copy()
            touched = np.zeros(w.shape[0], bool)
            for mod, rows in expected[key]:
                a, b = rows or (0, w.shape[0])
                want[a:b] += strength * effective(hl, mod).reshape(want[a:b].shape)
                touched[a:b] = True
            scale = np.abs(want).max()
            assert np.abs(got - want).max() <= rtol * scale, key
            # rows no module owns: the same bits as before
            assert np.array_equal(st.read_tensor(ho, key, fo)[~touched], st.read_tensor(hs, key, fs)[~touched]), key


@pytest.mark.parametrize("dtype,rtol", [("F32", 1e-6), ("F16", 2e-3)])
def test_sdxl_bake_changes_unet_te1_and_the_fused_te2_slices(tmp_path, dtype, rtol):
    ckpt = _ckpt(tmp_path / "xl.safetensors", SDXL_CKPT, dtype)
    lora = write(tmp_path / "xl-lora.safetensors", lora_tensors(SDXL_MODULES + SDXL_MISSING, rank=3, alpha=1.5, seed=2),
                 {"ss_base_model_version": "sdxl_base_v1-0"}, dtype="F32")
    res = bake(ckpt, [(str(lora), 0.7)], tmp_path / "out.safetensors")
    _check_baked(ckpt, Path(res["output"]), lora, 0.7, SDXL_EXPECTED, rtol)
    assert res["family"] == "SDXL" and res["modules_baked"] == len(SDXL_MODULES)
    assert res["baked_by_part"] == {"unet": 3, "te1": 2, "te2": 7} and res["layers_changed"] == len(SDXL_EXPECTED)
    assert res["not_found_count"] == 3 and res["modules_not_found"] == sorted(m for m, *_ in SDXL_MISSING)
    rec = json.loads(st.read_header(res["output"]).metadata["nyx_bake"])
    assert rec["not_found"] == 3 and rec["not_found_modules"] == res["modules_not_found"]


def test_two_loras_on_one_fused_tensor_add_up(tmp_path):
    ckpt = _ckpt(tmp_path / "xl.safetensors", SDXL_CKPT, "F32")
    mods = [m for m in SDXL_MODULES if "lora_te2_text_model_encoder_layers_0_self_attn" in m[0]]
    a = write(tmp_path / "a.safetensors", lora_tensors(mods, rank=2, alpha=2.0, seed=3), {}, dtype="F32")
    b = write(tmp_path / "b.safetensors", lora_tensors(mods[1:2], rank=4, alpha=1.0, seed=4), {}, dtype="F32")
    res = bake(ckpt, [(str(a), 1.0), (str(b), -0.5)], tmp_path / "out.safetensors")
    key = TE2 + "transformer.resblocks.0.attn.in_proj_weight"
    hs, ho = st.read_header(ckpt), st.read_header(res["output"])
    want = st.read_tensor(hs, key).astype(np.float64)
    ha, hb = st.read_header(a), st.read_header(b)
    want[0:D2] += effective(ha, mods[0][0])
    want[D2:2 * D2] += effective(ha, mods[1][0]) - 0.5 * effective(hb, mods[1][0])
    want[2 * D2:] += effective(ha, mods[2][0])
    assert np.abs(st.read_tensor(ho, key) - want).max() <= 1e-6 * np.abs(want).max()
    assert res["not_found_count"] == 0


@pytest.mark.parametrize("family,width", [("sdxl_te2", 1280), ("sd2_te", 1024)])
def test_openclip_names_map_like_sd_scripts_converters(family, width):
    """Every OpenCLIP text-encoder weight of a real SDXL/SD2 single file maps to the LoRA module (and
    the third of in_proj_weight) that sd-scripts' converters give it; everything else to nothing."""
    rec = json.loads((DATA / "openclip_te_to_hf.json").read_text())[family]
    fam = "SDXL" if family == "sdxl_te2" else "SD2"
    want: dict[str, set] = {}
    for linear in rec["lora_linears"]:
        src, third = rec["hf_from_checkpoint"][linear + ".weight"]
        rows = None if third is None else (third * width, (third + 1) * width)
        want.setdefault(src, set()).add((rec["lora_prefix"] + linear.replace(".", "_"), rows))
    assert len(rec["lora_linears"]) == (32 if fam == "SDXL" else 23) * 6
    for key in rec["checkpoint_keys"]:
        shape = (3 * width, width) if key.endswith("in_proj_weight") else (width, width)
        assert set(lora_targets(key, shape, fam)) == want.get(key, set()), key


# --- SD2: the same fused layout under cond_stage_model.model., 23 layers as sd-scripts builds ---

TE = "cond_stage_model.model.transformer.resblocks."
SD2_CKPT = {
    UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (8, 10),
    UNET + "input_blocks.1.1.proj_in.weight": (8, 8),
    TE + "0.attn.in_proj_weight": (30, 10),
    TE + "0.attn.in_proj_bias": (30,),
    TE + "0.mlp.c_fc.weight": (40, 10),
    TE + "23.attn.in_proj_weight": (30, 10),
    "cond_stage_model.model.text_projection": (10, 10),
}
SD2_MODULES = [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 8, 10, 0),
    ("lora_te_text_model_encoder_layers_0_self_attn_k_proj", 10, 10, 0),
    ("lora_te_text_model_encoder_layers_0_mlp_fc1", 40, 10, 0),
]


def test_sd2_bake_changes_its_fused_text_encoder(tmp_path):
    ckpt = _ckpt(tmp_path / "sd2.safetensors", SD2_CKPT, "F32")
    extra = ("lora_te_text_model_encoder_layers_23_self_attn_q_proj", 10, 10, 0)
    lora = write(tmp_path / "sd2-lora.safetensors", lora_tensors(SD2_MODULES + [extra], rank=2, alpha=1.0, seed=5),
                 {"ss_v2": "True", "ss_base_model_version": "sd_v2"}, dtype="F32")
    res = bake(ckpt, [(str(lora), 1.2)], tmp_path / "out.safetensors")
    expected = {
        UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [(SD2_MODULES[0][0], None)],
        TE + "0.attn.in_proj_weight": [(SD2_MODULES[1][0], (10, 20))],
        TE + "0.mlp.c_fc.weight": [(SD2_MODULES[2][0], None)],
    }
    _check_baked(ckpt, Path(res["output"]), lora, 1.2, expected, 1e-6)
    # sd-scripts' SD2 text encoder stops at layer 22 (SD2 uses the penultimate layer): reported
    assert res["family"] == "SD2" and res["modules_not_found"] == [extra[0]]


def test_refusals_are_one_line_and_write_nothing(tmp_path):
    out = tmp_path / "o.safetensors"
    sd2 = _ckpt(tmp_path / "sd2.safetensors", SD2_CKPT, "F16")
    # an SD1.5 LoRA (768-wide cross-attention here 6) on an SD2 checkpoint: shapes decide
    sd15 = write(tmp_path / "sd15.safetensors", lora_tensors(
        [("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 8, 6, 0)]))
    with pytest.raises(NyxError, match=r"sd15.safetensors does not fit sd2.safetensors: 1 layer\(s\) have other "
                                       r"shapes \(first: lora_unet_.*attn2_to_k: LoRA 8×6, checkpoint 8×10\)"):
        bake(sd2, [(str(sd15), 1.0)], out)
    xl = _ckpt(tmp_path / "xl.safetensors", SDXL_CKPT, "F16")
    with pytest.raises(NyxError, match="is a SD1.5 LoRA; the checkpoint is SDXL"):
        bake(xl, [(str(sd15), 1.0)], out)
    only_missing = write(tmp_path / "miss.safetensors", lora_tensors(SDXL_MISSING))
    with pytest.raises(NyxError, match="none of the LoRA's modules match"):
        bake(xl, [(str(only_missing), 1.0)], out)
    diffusers_xl = write(tmp_path / "unet.safetensors", {"down_blocks.1.attentions.0.proj_in.weight": np.ones((4, 4)),
                                                        "add_embedding.linear_1.weight": np.ones((4, 4))})
    with pytest.raises(NyxError, match="SDXL file in diffusers layout"):
        bake(diffusers_xl, [(str(only_missing), 1.0)], out)
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def _workspace_files(ws) -> tuple[Path, Path]:
    (ws.root / "models").mkdir(exist_ok=True)
    ckpt = _ckpt(ws.root / "models" / "xl.safetensors", SDXL_CKPT, "F16")
    lora = write(ws.outputs / "xl-lora.safetensors", lora_tensors(SDXL_MODULES + SDXL_MISSING, rank=2, seed=6),
                 {"ss_base_model_version": "sdxl_base_v1-0"})
    return ckpt, lora


def test_cli_bake_lists_the_modules_left_out(ws, capsys):
    from tests.test_lora_info import nyx_cli

    _workspace_files(ws)
    r = nyx_cli(capsys, ws, "lora", "bake", "models/xl.safetensors", "outputs/xl-lora.safetensors:0.5",
                "models/xl-baked.safetensors")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "12 LoRA modules baked (te1 2, te2 7, unet 3) into 10 layers" in r.stdout
    i = lines.index("3 LoRA module(s) match no layer of this checkpoint and were left out:")
    assert [x.strip() for x in lines[i + 1:i + 4]] == sorted(m for m, *_ in SDXL_MISSING)
    assert (ws.root / "models" / "xl-baked.safetensors").is_file()


def test_page_bake_shows_what_is_left_out_and_the_job_bakes_te2(ws, monkeypatch):
    from nyx_core.jobs import JobManager, JobState
    from nyx_core.settings import Settings
    from tests.test_page_tools import _page

    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    ckpt, lora = _workspace_files(ws)
    at = _page("outputs/xl-lora.safetensors")
    at.selectbox(key="tools_bk_ckpt").set_value("models/xl.safetensors")
    at.number_input(key="tools_bk_strength").set_value(0.5)
    at.button(key="FormSubmitter:tools_bake_form-Bake").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Started job" in s.value for s in at.success)
    assert any("Bakes 12 LoRA modules (te1 2, te2 7, unet 3) into 10 layers of this SDXL" in i.value for i in at.info)
    warn = " ".join(w.value for w in at.warning)
    assert "3 LoRA module(s) match no layer" in warn and all(m in warn for m, *_ in SDXL_MISSING)
    jm = JobManager(ws, Settings())
    job = jm.wait(jm.list()[0].id, 90)
    assert job.state == JobState.COMPLETED, job.log_path.read_text()[-2000:]
    assert jm.progress(job.id).result["baked_by_part"]["te2"] == 7
    _check_baked(ckpt, ws.root / "models" / "xl-lora-baked.safetensors", lora, 0.5, SDXL_EXPECTED, 2e-3)


def test_page_bake_refuses_a_lora_of_another_family(ws):
    ckpt, _ = _workspace_files(ws)
    write(ws.outputs / "sd15.safetensors", lora_tensors(
        [("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 8, 8, 0)]), {"ss_base_model_version": "sd_v1"})
    from tests.test_page_tools import _page

    at = _page("outputs/sd15.safetensors")
    at.selectbox(key="tools_bk_ckpt").set_value("models/xl.safetensors")
    at.button(key="FormSubmitter:tools_bake_form-Bake").click().run()
    assert [e.value for e in at.error] == ["sd15.safetensors is a SD1.5 LoRA; the checkpoint is SDXL"]
    assert not at.success and not (ws.root / "models" / "sd15-baked.safetensors").exists()


@pytest.mark.skipif(not os.environ.get("NYX_REAL_GEN_IMG"),
                    reason="set NYX_REAL_GEN_IMG to a prepared KOHYA_WORK folder (e.g. /tmp/kohya-cpu)")
@pytest.mark.timeout(600)
def test_recorded_openclip_names_are_what_real_sd_scripts_gives_now():
    """Opt-in: re-run sd-scripts' own converters (tests/data/record_openclip_te_names.py, ~20 s on a CPU)
    and compare with the stored mapping the tests above use."""
    work = Path(os.environ["NYX_REAL_GEN_IMG"])
    sd = work / "sd-scripts"
    if not (work / "venv" / "bin" / "python").is_file() or not (sd / "library" / "sdxl_model_util.py").is_file():
        pytest.skip("sd-scripts or its venv is missing")
    env = {**os.environ, "PYTHONPATH": f"{sd}:{work / 'shim'}", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(["flock", "/tmp/kohya-run.lock", str(work / "venv" / "bin" / "python"),
                        str(DATA / "record_openclip_te_names.py")], cwd=sd, env=env, capture_output=True,
                       text=True, timeout=550)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout) == json.loads((DATA / "openclip_te_to_hf.json").read_text())
