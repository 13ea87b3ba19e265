"""Family and kind detection from safetensors headers (no tensor loaded): the real LoRAs sd-scripts
wrote (../shared/kohya/lora) and headers built with each architecture's real key names and shapes."""
from __future__ import annotations

import json
import struct

import pytest

from nyx_core.models import check_weights, detect, read_header, scan, picker_options
from nyx_core.models.safetensors_header import InvalidWeights
from tests import model_fixtures as fx


@pytest.mark.parametrize("name,tensors,kind,arch,families,variant", [
    ("sd15.safetensors", fx.sd15_checkpoint(), "checkpoint", "sd1", ("sd15",), None),
    ("sd2.safetensors", fx.sd2_checkpoint(), "checkpoint", "sd2", ("sd15",), None),
    ("sdxl.safetensors", fx.sdxl_checkpoint(), "checkpoint", "sdxl", ("sdxl",), None),
    ("flux-dev.safetensors", fx.flux_checkpoint(True), "checkpoint", "flux", ("flux",), "dev"),
    ("flux-schnell.safetensors", fx.flux_checkpoint(False), "checkpoint", "flux", ("flux",), "schnell"),
    ("sd35m.safetensors", fx.sd3_checkpoint(24), "checkpoint", "sd3", ("sd3",), "medium"),
    ("sd35l.safetensors", fx.sd3_checkpoint(38), "checkpoint", "sd3", ("sd3",), "large"),
    ("vae.safetensors", fx.sd_vae(), "vae", None, ("sd15", "sdxl"), None),
    ("ae.safetensors", fx.flux_ae(), "ae", None, ("flux", "sd3"), None),
    ("clip_l.safetensors", fx.clip_l(), "clip_l", None, ("flux", "sd3"), None),
    ("clip_g.safetensors", fx.clip_g(), "clip_g", None, ("sd3",), None),
    ("t5xxl.safetensors", fx.t5xxl(), "t5", None, ("flux", "sd3"), None),
    ("sdxl_lora.safetensors", fx.sdxl_lora(), "lora", "sdxl", ("sdxl",), None),
    ("flux_lora.safetensors", fx.flux_lora(), "lora", "flux", ("flux",), None),
])
def test_each_family_is_detected_from_its_header(tmp_path, name, tensors, kind, arch, families, variant):
    path = fx.write_safetensors(tmp_path / name, tensors)
    d = detect(read_header(path))
    assert (d.kind, d.arch, d.families, d.variant) == (kind, arch, families, variant), d.reason
    assert d.reason


def test_sd_lora_written_by_sd_scripts_is_sd15(kohya_facts):
    for f in sorted((kohya_facts / "lora").glob("*.safetensors")):
        h = read_header(f)
        d = detect(h)
        assert d.kind == "lora" and d.arch == "sd1" and d.family == "sd15", (f.name, d)
        assert h.precision == "fp16"
        # the key names alone (no ss_* metadata) reach the same answer
        h.metadata.clear()
        assert detect(h).arch == "sd1", f.name


def test_precision_is_the_dtype_of_most_parameters(tmp_path):
    p = fx.write_safetensors(tmp_path / "m.safetensors", {"a": ([1000], "BF16"), "b": ([10], "F32")})
    assert read_header(p).precision == "bf16"


@pytest.mark.parametrize("payload,why", [
    (b"<!DOCTYPE html><html>login</html>", "web page"),
    (b'{"error": "unauthorized"}', "JSON"),
    (b"\x01\x02", "shorter than 8 bytes"),
])
def test_things_that_are_not_safetensors_are_refused_with_the_reason(tmp_path, payload, why):
    p = tmp_path / "m.safetensors"
    p.write_bytes(payload)
    with pytest.raises(InvalidWeights, match=why):
        check_weights(p)


def test_a_truncated_safetensors_is_refused(tmp_path):
    p = fx.write_safetensors(tmp_path / "m.safetensors", fx.sd_vae(), sparse=False)
    data = p.read_bytes()
    p.write_bytes(data[:-100])
    with pytest.raises(InvalidWeights, match="truncated"):
        check_weights(p)


def test_ckpt_checks(tmp_path):
    import zipfile

    good = tmp_path / "a.ckpt"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    assert check_weights(good) == "ckpt"
    (tmp_path / "p.ckpt").write_bytes(b"\x80\x04" + b"\0" * 10)
    assert check_weights(tmp_path / "p.ckpt") == "ckpt"
    (tmp_path / "bad.ckpt").write_bytes(b"hello world, not a model")
    with pytest.raises(InvalidWeights, match="neither a torch zip"):
        check_weights(tmp_path / "bad.ckpt")


def test_a_huge_header_length_is_not_read(tmp_path):
    p = tmp_path / "m.safetensors"
    p.write_bytes(struct.pack("<Q", 2 ** 40) + b"{}")
    with pytest.raises(InvalidWeights):
        read_header(p)


def _library(ws):
    m = ws.models
    fx.write_safetensors(m / "checkpoints" / "sd15.safetensors", fx.sd15_checkpoint())
    fx.write_safetensors(m / "checkpoints" / "sdxl.safetensors", fx.sdxl_checkpoint())
    fx.write_safetensors(m / "checkpoints" / "flux1-dev.safetensors", fx.flux_checkpoint())
    fx.write_safetensors(m / "vae" / "sdxl_vae.safetensors", fx.sd_vae())
    fx.write_safetensors(m / "vae" / "ae.safetensors", fx.flux_ae())
    fx.write_safetensors(m / "text_encoders" / "clip_l.safetensors", fx.clip_l())
    fx.write_safetensors(m / "text_encoders" / "t5xxl.safetensors", fx.t5xxl())
    fx.write_safetensors(m / "loras" / "flux_lora.safetensors", fx.flux_lora())
    (m / "checkpoints" / "half.safetensors.part").write_bytes(b"\0" * 100)
    (m / "checkpoints" / "x.safetensors.incomplete").write_bytes(b"\0" * 100)
    (m / ".downloads" / "abc").mkdir(parents=True)
    fx.write_safetensors(m / ".downloads" / "abc" / "staged.safetensors", fx.sd15_checkpoint())
    (m / "checkpoints" / "broken.safetensors").write_bytes(b"<html>nope</html>")
    diff = m / "checkpoints" / "sd15-diffusers"
    (diff / "unet").mkdir(parents=True)
    (diff / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (diff / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 768}))
    return m


def test_scan_lists_models_and_never_partial_files(ws):
    _library(ws)
    models = {m.path: m for m in scan(ws)}
    assert "checkpoints/half.safetensors.part" not in models
    assert "checkpoints/x.safetensors.incomplete" not in models
    assert not any(p.startswith(".downloads") for p in models)
    assert models["checkpoints/sd15-diffusers"].format == "diffusers"
    assert models["checkpoints/sd15-diffusers"].arch == "sd1"
    assert models["checkpoints/flux1-dev.safetensors"].label == "Flux dev checkpoint"
    assert models["checkpoints/broken.safetensors"].error
    assert models["text_encoders/t5xxl.safetensors"].size > 200_000_000  # sparse, but the true size


def test_pickers_offer_only_what_fits_the_family_and_say_why(ws):
    _library(ws)
    models = scan(ws)
    base = picker_options(models, "base_model", "flux")
    assert base.offered == ["checkpoints/flux1-dev.safetensors"]
    hidden = dict(base.hidden)
    assert "not Flux" in hidden["checkpoints/sdxl.safetensors"]
    assert "unreadable" in hidden["checkpoints/broken.safetensors"]
    assert "other kinds" in base.hidden_note()
    assert picker_options(models, "ae", "flux").offered == ["vae/ae.safetensors"]
    assert picker_options(models, "t5xxl", "flux").offered == ["text_encoders/t5xxl.safetensors"]
    assert picker_options(models, "vae", "sdxl").offered == ["vae/sdxl_vae.safetensors"]
    sdxl = picker_options(models, "base_model", "sdxl")
    assert sdxl.offered == ["checkpoints/sdxl.safetensors"]
    sd15 = picker_options(models, "base_model", "sd15")
    assert sd15.offered == ["checkpoints/sd15-diffusers", "checkpoints/sd15.safetensors"]
    assert picker_options(models, "network_weights", "sdxl").offered == []
