"""AppTest for pages/models.py: the library table, a download started from the form with live
progress, the catalogue's one-click set, and the publish form with an editable card."""
from __future__ import annotations

import os
import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest

from nyx_core.jobs import JobManager
from nyx_core.settings import Settings
from tests import model_fixtures as fx
from tests.conftest import REPO_ROOT
from tests.model_servers import FakeHub, FileServer

pytestmark = pytest.mark.timeout(120)


def _page() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / "models.py"), default_timeout=30).run()


def test_library_lists_models_with_family_and_hides_partials(ws):
    fx.write_safetensors(ws.models / "checkpoints" / "flux1-dev.safetensors", fx.flux_checkpoint())
    fx.write_safetensors(ws.models / "vae" / "sdxl_vae.safetensors", fx.sd_vae())
    (ws.models / "checkpoints" / "big.safetensors.part").write_bytes(b"\0" * 10)
    at = _page()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["model"]) == ["checkpoints/flux1-dev.safetensors", "vae/sdxl_vae.safetensors"]
    assert list(table["what"]) == ["Flux dev checkpoint", "VAE"]
    assert list(table["SHA-256"]) == ["not yet", "not yet"]
    at.button(key="models_hash").click().run()
    job = JobManager(ws, Settings()).list()[0]
    assert job.spec.kind == "hash" and job.spec.gpu_set == "none"
    JobManager(ws, Settings()).wait(job.id, 60)
    from nyx_core.models import scan

    assert all(m.sha256 for m in scan(ws))


def test_download_from_the_form_shows_progress_then_the_model(ws, tmp_path):
    data = fx.write_safetensors(tmp_path / "sdxl.safetensors", fx.sdxl_checkpoint(), sparse=False).read_bytes()
    with FileServer(files={"/sdxl.safetensors": data}) as srv:
        at = _page()
        at.text_input(key="models_source").input(srv.url("/sdxl.safetensors"))
        at.button[0].click()  # the form's Download button
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("Started: download" in s.value for s in at.success)
        jm = JobManager(ws, Settings())
        job = jm.wait(jm.list()[0].id, 60)
        assert job.state.value == "completed", job.status.reason
    at.run()
    assert "checkpoints/sdxl.safetensors" in list(at.dataframe[0].value["model"])
    assert any("download" in c.value and "checkpoints/sdxl.safetensors" in c.value for c in at.caption)


def test_a_bad_source_is_one_line_and_no_job(ws):
    at = _page()
    at.text_input(key="models_source").input("not a source at all")
    at.button[0].click()
    at.run()
    assert [e.value for e in at.error] == ["a source has no spaces: 'not a source at all'"]
    assert JobManager(ws, Settings()).list() == []


def test_catalogue_one_click_fetches_the_whole_family_set(ws, tmp_path, monkeypatch):
    files = {"flux1-schnell.safetensors": fx.write_safetensors(tmp_path / "f.safetensors", {
        "double_blocks.0.img_attn.qkv.weight": ([8, 8], "BF16")}, sparse=False).read_bytes(),
        "ae.safetensors": fx.write_safetensors(tmp_path / "ae.safetensors", {
            "encoder.conv_in.weight": ([4, 3, 1, 1], "F32"), "decoder.conv_in.weight": ([4, 16, 1, 1], "F32")},
            sparse=False).read_bytes()}
    te = {"clip_l.safetensors": fx.write_safetensors(tmp_path / "c.safetensors", {
        "text_model.encoder.layers.0.self_attn.k_proj.weight": ([768, 768], "F16")}, sparse=False).read_bytes(),
        "t5xxl_fp16.safetensors": fx.write_safetensors(tmp_path / "t.safetensors", {
            "encoder.block.0.layer.0.SelfAttention.k.weight": ([4096, 4], "F16")}, sparse=False).read_bytes()}
    with FakeHub() as hub:
        hub.add("black-forest-labs/FLUX.1-schnell", files)
        hub.add("comfyanonymous/flux_text_encoders", te)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        at = _page()
        at.button(key="models_cat_flux-schnell").click().run()
        assert not at.error, [e.value for e in at.error]
        jm = JobManager(ws, Settings())
        job = jm.wait(jm.list()[0].id, 90)
        assert job.state.value == "completed", job.status.reason
    got = sorted(p.relative_to(ws.models).as_posix() for p in ws.models.rglob("*.safetensors"))
    assert got == ["checkpoints/flux1-schnell.safetensors", "text_encoders/clip_l.safetensors",
                   "text_encoders/t5xxl_fp16.safetensors", "vae/ae.safetensors"]


def test_publish_form_preselected_from_the_monitor_writes_an_editable_card(ws, kohya_facts):
    run = ws.outputs / "cat"
    (run / "sample").mkdir(parents=True)
    shutil.copy(kohya_facts / "lora" / "sd15_lora_dim4_samples.safetensors", run / "cat.safetensors")
    (run / "sample" / "cat_000001_00.png").write_bytes(b"png")
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "models.py"), default_timeout=30)
    at.session_state["models_publish_path"] = "outputs/cat"
    at.run()
    assert not at.exception
    assert at.selectbox(key="models_pub_folder").value == "outputs/cat"
    assert at.multiselect(key="models_pub_files_outputs/cat").value == ["outputs/cat/cat.safetensors",
                                                                       "outputs/cat/sample/cat_000001_00.png"]
    assert any("No Hugging Face token" in w.value for w in at.warning)
    at.button(key="models_pub_make").click().run()
    card = at.text_area(key="models_pub_card").value
    assert "| Rank (dim) | `4` |" in card and "samples/cat_000001_00.png" in card
    at.text_area(key="models_pub_card").input(card + "\nMy own words.\n").run()
    at.button(key="models_pub_go").click().run()
    job = JobManager(ws, Settings()).list()[0]
    assert job.spec.kind == "upload"
    assert (job.dir / "render" / "README.md").read_text().endswith("My own words.\n")
