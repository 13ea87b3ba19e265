"""nyx_core.lora: header-only reading, kind/family detection, metadata editing into a new file,
and `nyx lora info/edit` — on files real sd-scripts wrote and on small built ones."""
from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from nyx_core.errors import NyxError
from nyx_core.lora import edited, inspect, st, write_with_metadata
from nyx_core.lora.info import detect_kind
from tests.conftest import REPO_ROOT
from tests.lora_fixtures import DIM4, DIM8, LOCON, make_lora, write

shared = pytest.mark.skipif(not DIM8.is_file(), reason="../shared/kohya/lora not present")


@shared
def test_sd_scripts_lora_reads_from_the_header():
    info = inspect(DIM8)
    assert (info.kind, info.family, info.rank, info.conv_rank) == ("LoRA", "SD1.5", 8, None)
    assert len(info.tensors) == 792 and info.modules == 264 and info.params == 4718856
    s = info.summary
    assert s["network module"] == "networks.lora" and s["network dim"] == "8" and s["network alpha"] == "4"
    assert s["optimizer"] == "torch.optim.adamw.AdamW" and s["steps"] == "4 of 4" and s["epochs"] == "2 of 2"
    assert s["resolution"] == "128x128" and s["buckets"] == "on (64–128)"
    assert s["bucket sizes"] == "64x128: 4, 128x64: 2, 128x128: 6"
    assert s["training time"] == "0m 57s"
    assert s["sd-scripts commit"] == "48d368fa557731ad0488c07304dfeba8c07910eb"
    assert info.tags == [("nyx", 6), ("solid colour", 6), ("128x128", 3), ("96x192", 2), ("192x96", 1)]


@shared
def test_lycoris_locon_is_locon_with_conv_rank():
    info = inspect(LOCON)
    assert (info.kind, info.family, info.rank, info.conv_rank, info.modules) == ("LoCon", "SD1.5", 4, 4, 354)
    assert info.summary["network args"] == "algo=locon, conv_dim=4, conv_alpha=1"
    assert inspect(DIM4).rank == 4


def _kind_file(tmp_path, names: dict[str, tuple], md=None):
    arrays = {n: np.zeros(shape, np.float32) for n, shape in names.items()}
    return write(tmp_path / "k.safetensors", arrays, md or {})


@pytest.mark.parametrize("names,kind", [
    ({"lora_unet_a.hada_w1_a": (4, 8), "lora_unet_a.hada_w1_b": (4, 8), "lora_unet_a.alpha": ()}, "LoHa"),
    ({"lora_unet_a.lokr_w1": (4, 4), "lora_unet_a.lokr_w2": (8, 8)}, "LoKr"),
    ({"lora_unet_a.weight": (8,), "lora_unet_a.on_input": ()}, "IA3"),
    ({"lora_unet_a.lora_down.weight": (4, 8), "lora_unet_a.lora_up.weight": (8, 4),
      "lora_unet_a.dora_scale": (1, 8)}, "DoRA"),
    ({"lora_unet_a.diff": (8, 8)}, "LyCORIS full"),
    ({"model.diffusion_model.input_blocks.0.0.weight": (4, 4)}, "full model"),
    ({"lora_unet_a.lora_down.weight": (4, 8, 1, 1), "lora_unet_a.lora_up.weight": (8, 4, 1, 1)}, "LoRA"),
    ({"lora_unet_a.lora_down.weight": (4, 8, 3, 3), "lora_unet_a.lora_up.weight": (8, 4, 1, 1)}, "LoCon"),
])
def test_kind_from_key_names(tmp_path, names, kind):
    assert inspect(_kind_file(tmp_path, names)).kind == kind


@pytest.mark.parametrize("names,md,family", [
    ({"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 8)}, {}, "SDXL"),
    ({"lora_unet_double_blocks_0_img_attn_proj.lora_down.weight": (4, 8)}, {}, "Flux"),
    ({"lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight": (4, 8)}, {}, "SD3"),
    ({"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 1024)}, {}, "SD2"),
    ({"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 768)}, {}, "SD1.5"),
    ({"conditioner.embedders.1.model.ln_final.weight": (8,)}, {}, "SDXL"),
    ({"something.weight": (8,)}, {"modelspec.architecture": "flux-1-dev/lora"}, "Flux"),
])
def test_family_from_key_names(tmp_path, names, md, family):
    assert inspect(_kind_file(tmp_path, names, md)).family == family


@pytest.mark.parametrize("blob,why", [
    (b"", "shorter than 8 bytes"),
    (struct.pack("<Q", 10 ** 12) + b"{}", "header length is impossible"),
    (struct.pack("<Q", 4) + b"nope", "not JSON"),
    (struct.pack("<Q", 80) + json.dumps({"a": {"dtype": "F16", "shape": [8], "data_offsets": [0, 16]}}
                                        ).encode().ljust(80) + b"\0" * 8, "truncated"),
])
def test_damaged_files_give_one_line(tmp_path, blob, why):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(blob)
    with pytest.raises(NyxError, match=why):
        inspect(p)


def test_bf16_round_trip_is_torch_rounding(tmp_path):
    a = np.array([1.0, 1.00390625, 1.01171875, -3.14159, 65504.0, 1e-30], dtype=np.float32)
    p = write(tmp_path / "b.safetensors", {"x": a}, dtype="BF16")
    back = st.read_tensor(st.read_header(p), "x")
    # torch.tensor(a).to(torch.bfloat16).float() gives these (round to nearest even)
    assert back.tolist() == pytest.approx([1.0, 1.0, 1.015625, -3.140625, 65536.0, 1.0005271035279195e-30])


def test_edit_writes_a_new_file_and_keeps_the_original(tmp_path):
    src = make_lora(tmp_path / "a.safetensors")
    before = src.read_bytes()
    md = edited(st.read_header(src).metadata, {"title": "Nyx test", "trigger": "nyx person", "tags": ""})
    dest = write_with_metadata(src, tmp_path / "a-edited.safetensors", md)
    assert src.read_bytes() == before
    h = st.read_header(dest)
    assert h.metadata["modelspec.title"] == "Nyx test" and h.metadata["modelspec.trigger_phrase"] == "nyx person"
    assert h.metadata["ss_network_module"] == "networks.lora"
    assert st.data_sha256(dest) == st.data_sha256(src)  # tensors byte for byte
    for name in h.tensors:
        assert np.array_equal(st.read_tensor(h, name), st.read_tensor(st.read_header(src), name))
    with pytest.raises(NyxError, match="new file"):
        write_with_metadata(src, src, md)
    with pytest.raises(NyxError, match="not user metadata"):
        edited({}, {"ss_network_dim": "2"})


class _Run:
    def __init__(self, rc, out, err):
        self.returncode, self.stdout, self.stderr = rc, out, err


def nyx_cli(capsys, ws, *args) -> _Run:
    """`nyx …` in this process (a subprocess per call costs seconds on a loaded machine)."""
    from nyx_core.cli import main

    capsys.readouterr()
    rc = main(["--workspace", str(ws.root), *args])
    out, err = capsys.readouterr()
    return _Run(rc, out, err)


def test_cli_info_json_and_edit(ws, capsys):
    def _nyx(ws, *args):
        return nyx_cli(capsys, ws, *args)

    src = make_lora(ws.outputs / "x.safetensors")
    r = _nyx(ws, "lora", "info", "outputs/x.safetensors", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["kind"] == "LoCon" and data["tensor_count"] == 12 and data["family"] == "SD1.5"
    assert data["metadata"] == st.read_header(src).metadata  # every key
    assert data["tag_frequency"] == {"red": 6, "nyx": 5, "blue": 1}
    r = _nyx(ws, "lora", "info", "outputs/x.safetensors")
    assert r.returncode == 0 and "LoCon for SD1.5, rank 6, conv rank 6" in r.stdout
    r = _nyx(ws, "lora", "edit", "outputs/x.safetensors", "--set", "author=Me", "--set", "trigger=nyx")
    assert r.returncode == 0, r.stderr
    assert st.read_header(ws.outputs / "x-edited.safetensors").metadata["modelspec.author"] == "Me"
    r = _nyx(ws, "lora", "info", "outputs/missing.safetensors")
    assert r.returncode == 1 and r.stderr.startswith("nyx: error:") and "Traceback" not in r.stderr
    (ws.outputs / "junk.safetensors").write_bytes(b"hello world, not a model")
    r = _nyx(ws, "lora", "info", "outputs/junk.safetensors")
    assert r.returncode == 1 and "not a safetensors file" in r.stderr and "Traceback" not in r.stderr
    r = _nyx(ws, "lora", "info", "../etc/passwd")
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_cli_is_wired_into_the_nyx_command(ws):
    make_lora(ws.outputs / "x.safetensors")
    r = subprocess.run([sys.executable, "-m", "nyx_core", "--workspace", str(ws.root), "lora", "info",
                        "outputs/x.safetensors", "--json"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["tensor_count"] == 12


def test_written_files_load_in_the_safetensors_library(tmp_path):
    """Our writer's files are valid for the reference reader (what sd-scripts and ComfyUI use)."""
    from safetensors.numpy import load_file

    p = make_lora(tmp_path / "a.safetensors", dtype="F32")
    loaded = load_file(str(p))
    h = st.read_header(p)
    assert set(loaded) == set(h.tensors)
    for n, a in loaded.items():
        assert np.array_equal(a, st.read_tensor(h, n))
    assert hashlib.sha256(p.read_bytes()).hexdigest()  # readable end to end
    assert detect_kind(h) == "LoCon"
