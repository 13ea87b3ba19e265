"""The Training page's model pickers offer only models that fit the chosen family and say why the
others are hidden (real headers in workspace/models; AppTest of pages/training.py)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from nyx_core.config import save_config
from nyx_core.config.enums import Family
from tests import model_fixtures as fx
from tests.test_config_support import ready_config
from tests.test_page_training import k

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "training.py")


def test_pickers_follow_the_family(ws):
    save_config(ready_config(ws, "sdxl"), ws.configs / "x.toml")
    fx.write_safetensors(ws.models / "checkpoints" / "sd_xl_base_1.0.safetensors", fx.sdxl_checkpoint())
    fx.write_safetensors(ws.models / "checkpoints" / "flux1-dev.safetensors", fx.flux_checkpoint())
    fx.write_safetensors(ws.models / "checkpoints" / "v1-5.safetensors", fx.sd15_checkpoint())
    fx.write_safetensors(ws.models / "vae" / "ae.safetensors", fx.flux_ae())
    fx.write_safetensors(ws.models / "text_encoders" / "clip_l.safetensors", fx.clip_l())
    (ws.models / "checkpoints" / "half.safetensors.part").write_bytes(b"\0" * 64)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    base = at.selectbox(key=k(at, "model.base_model"))
    assert "checkpoints/sd_xl_base_1.0.safetensors" in base.options
    assert "checkpoints/flux1-dev.safetensors" not in base.options
    assert "checkpoints/v1-5.safetensors" not in base.options
    assert not any(".part" in o for o in base.options)
    notes = " ".join(c.value for c in at.caption)
    assert "checkpoints/flux1-dev.safetensors (Flux dev checkpoint, not SDXL)" in notes
    at.selectbox(key=k(at, "model.family")).set_value(Family.flux).run()
    assert not at.exception
    assert "checkpoints/flux1-dev.safetensors" in at.selectbox(key=k(at, "model.base_model")).options
    assert "checkpoints/sd_xl_base_1.0.safetensors" not in at.selectbox(key=k(at, "model.base_model")).options
    assert "vae/ae.safetensors" in at.selectbox(key=k(at, "model.ae")).options
    assert "text_encoders/clip_l.safetensors" in at.selectbox(key=k(at, "model.clip_l")).options
    assert "vae/ae.safetensors" not in at.selectbox(key=k(at, "model.clip_l")).options
