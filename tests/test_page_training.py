"""AppTest of pages/training.py: pick/create, edit by group, live steps, pre-flight, save."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from nyx_core.config.enums import Family
from nyx_core.config.presets import get_preset

from nyx_core.config import load_config, save_config
from nyx_ui.config_form import FORM_ID, key_for
from tests.test_config_support import ready_config

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "training.py")


def app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60)


def k(at, field: str) -> str:
    """The widget key of a form field in the form now drawn (keys are per file and per load)."""
    return key_for(at.session_state[FORM_ID], field)


def keys(at, kind):
    return {w.key for w in getattr(at, kind)}


def test_empty_workspace_offers_new_config(ws):
    at = app().run()
    assert not at.exception
    assert any("Create a config" in i.value for i in at.info)
    at.text_input(key="tc_new_name").set_value("first")
    at.selectbox(key="tc_new_family").set_value(Family.sdxl)
    at.selectbox(key="tc_new_preset").set_value("style")
    at.button[0].click().run()  # the form's Create button
    assert not at.exception
    cfg = load_config(ws.configs / "first.toml")
    assert cfg.model.family.value == "sdxl" and cfg.network.dim == 32
    assert at.selectbox(key="tc_pick").value == "first"


def test_edit_save_keeps_comments(ws):
    cfg = ready_config(ws, "sd15")
    path = ws.configs / "mine.toml"
    save_config(cfg, path)
    path.write_text(path.read_text().replace("[network]", "# keep this note\n[network]"))
    at = app().run()
    assert not at.exception
    assert at.selectbox(key="tc_pick").value == "mine"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training steps"] == "300"  # 3 images x 10 repeats x 10 epochs, batch 1
    at.number_input(key=k(at, "network.dim")).set_value(48).run()
    at.number_input(key=k(at, "dataset.max_train_epochs")).set_value(4).run()
    assert {m.label: m.value for m in at.metric}["Training steps"] == "120"
    assert any(c.value == "Unsaved changes" for c in at.caption)
    at.button(key="tc_save").click().run()
    assert not at.exception
    text = path.read_text()
    assert "# keep this note" in text and "dim = 48" in text
    assert load_config(path).dataset.max_train_epochs == 4
    assert any("Saved" in s.value for s in at.success)


def test_family_hides_options(ws):
    save_config(ready_config(ws, "sdxl"), ws.configs / "x.toml")
    at = app().run()
    sel = keys(at, "selectbox")
    assert k(at, "model.clip_l") not in sel and k(at, "model.base_model") in sel
    assert k(at, "model.v2") not in keys(at, "checkbox")
    at.selectbox(key=k(at, "model.family")).set_value(Family.flux).run()
    assert not at.exception
    sel = keys(at, "selectbox")
    assert {k(at, "model.clip_l"), k(at, "model.t5xxl"), k(at, "model.ae")} <= sel and k(at, "model.clip_g") not in sel
    assert k(at, "performance.blocks_to_swap") in keys(at, "number_input")
    # the missing encoders are now pre-flight errors and Start is disabled
    errors = " ".join(e.value for e in at.error)
    assert "Model › Autoencoder (ae)" in errors and "Model › CLIP-L text encoder" in errors  # page labels
    assert at.button(key="tc_start").disabled


def test_preflight_and_start_state(ws):
    good = ready_config(ws, "sd15")
    save_config(good, ws.configs / "good.toml")
    at = app().run()
    assert not at.button(key="tc_start").disabled
    assert not at.error
    at.selectbox(key=k(at, "model.base_model")).set_value("").run()
    assert at.button(key="tc_start").disabled
    assert any("Model › Base model" in e.value for e in at.error)
    at.checkbox(key=k(at, "dataset.random_crop")).set_value(True).run()
    fields = " ".join(e.value for e in at.error)
    assert "Model › Base model" in fields and "Performance › Cache latents" in fields  # all at once


def test_open_in_training_from_files_page(ws):
    save_config(ready_config(ws, "sd15"), ws.configs / "aaa.toml")
    save_config(ready_config(ws, "sd15", network={"dim": 7}), ws.configs / "zzz.toml")
    at = app()
    at.session_state["training_config_path"] = "configs/zzz.toml"
    at.run()
    assert at.selectbox(key="tc_pick").value == "zzz"
    assert at.number_input(key=k(at, "network.dim")).value == 7


def test_apply_preset_keeps_paths(ws):
    cfg = ready_config(ws, "sdxl")
    save_config(cfg, ws.configs / "p.toml")
    at = app().run()
    at.selectbox(key="tc_preset").set_value(get_preset("builtin:sdxl-style-lowvram")).run()
    at.button(key="tc_preset_apply").click().run()
    assert not at.exception
    assert at.number_input(key=k(at, "network.dim")).value == 32
    assert at.selectbox(key=k(at, "model.base_model")).value == cfg.model.base_model
    at.button(key="tc_save").click().run()
    saved = load_config(ws.configs / "p.toml")
    assert saved.network.dim == 32 and saved.performance.fp8_base and saved.model.base_model == cfg.model.base_model


def test_bad_text_values_are_reported(ws):
    save_config(ready_config(ws, "sd15"), ws.configs / "t.toml")
    at = app().run()
    at.text_input(key=k(at, "optimizer.unet_lr")).set_value("fast").run()
    at.text_area(key=k(at, "advanced.extra")).set_value("not toml [").run()
    errors = " ".join(e.value for e in at.error)
    assert "Optimizer › U-Net LR" in errors and "Advanced › Extra sd-scripts options" in errors
    assert at.button(key="tc_start").disabled


def test_broken_config_file_is_reported(ws):
    (ws.configs / "broken.toml").write_text("[network]\ndim = 'x'\n")
    at = app().run()
    assert not at.exception
    assert any("network.dim" in e.value for e in at.error)


def test_export_rendered(ws):
    save_config(ready_config(ws, "sd15"), ws.configs / "e.toml")
    at = app().run()
    at.button(key="tc_export").click().run()
    assert not at.exception
    assert (ws.configs / "e.rendered" / "config.toml").is_file()


def _stand_in_sd_scripts(tmp_path, monkeypatch, *, step_time: float) -> None:
    """The page finds a fake sd-scripts (nyx_dev's stand-in trainer), through the environment."""
    import sys

    from nyx_dev.standin import make_fake_sd_scripts

    monkeypatch.setenv("NYX_SD_SCRIPTS", str(make_fake_sd_scripts(tmp_path / "sd-scripts")))
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    monkeypatch.setenv("NYX_LAUNCHER", "python")
    monkeypatch.setenv("NYX_STANDIN_STEP_TIME", str(step_time))


def test_start_hands_off_to_jobs(ws, tmp_path, monkeypatch):
    from nyx_core.jobs import JobManager

    _stand_in_sd_scripts(tmp_path, monkeypatch, step_time=0.01)
    save_config(ready_config(ws, "sd15", dataset={"max_train_epochs": 1}), ws.configs / "go.toml")
    at = app().run()
    assert not at.warning  # sd-scripts "found", so no warning either
    at.number_input(key=k(at, "network.dim")).set_value(12).run()
    at.button(key="tc_start").click().run()
    jobs = JobManager(ws).list()
    assert len(jobs) == 1 and jobs[0].name == "test-lora"
    assert load_config(ws.configs / "go.toml").network.dim == 12  # saved before starting
    assert (jobs[0].render_dir / "config.toml").is_file()
    JobManager(ws).wait(jobs[0].id, 60)


def test_network_fields_follow_the_type(ws):
    save_config(ready_config(ws, "sd15"), ws.configs / "n.toml")
    at = app().run()
    assert k(at, "network.factor") not in keys(at, "number_input")
    from nyx_core.config.enums import NetworkType

    at.selectbox(key=k(at, "network.type")).set_value(NetworkType.lokr).run()
    assert k(at, "network.factor") in keys(at, "number_input")
    at.selectbox(key=k(at, "network.type")).set_value(NetworkType.ia3).run()
    assert k(at, "network.conv_dim") not in keys(at, "number_input")


def test_preview_of_rendered_files(ws):
    save_config(ready_config(ws, "flux"), ws.configs / "f.toml")
    at = app().run()
    codes = [c.value for c in at.code]
    assert any('network_module = "networks.lora_flux"' in c for c in codes)
    assert any("[[datasets.subsets]]" in c for c in codes)


# -- switching configs never carries one config's values into another (issue 8) -------------------
def _form_values(at) -> dict:
    """Every form widget's key and value, as a browser holds them."""
    out = {}
    for kind in ("number_input", "selectbox", "checkbox", "text_input", "text_area", "radio"):
        for w in getattr(at, kind):
            if str(w.key).startswith("tc."):
                out[w.key] = (kind, w.value)
    return out


def test_switch_loads_the_new_file_whole(ws):
    """A browser keeps each widget's value under the widget's id and sends it back with the next
    event. Replaying the first config's values after a switch must not reach the second config."""
    a = ready_config(ws, "sd15", network={"dim": 7})
    b = ready_config(ws, "sdxl", network={"dim": 64}, project={"name": "b-lora"})
    save_config(a, ws.configs / "a.toml")
    save_config(b, ws.configs / "b.toml")
    at = app().run()
    assert at.selectbox(key="tc_pick").value == "a"
    held = _form_values(at)
    at.selectbox(key="tc_pick").set_value("b").run()
    assert at.number_input(key=k(at, "network.dim")).value == 64
    for kind, w in ((kind, w) for kind in ("number_input", "selectbox", "checkbox", "text_input", "text_area", "radio")
                    for w in getattr(at, kind)):
        if w.key in held and w.key != "tc_pick":
            try:
                w.set_value(held[w.key][1])  # what the browser would send for that id
            except (ValueError, TypeError):
                pass
    at.button(key="tc_save").click().run()
    assert not at.exception
    again = load_config(ws.configs / "b.toml")
    assert again.model.family.value == "sdxl" and again.network.dim == 64
    assert again.project.name == "b-lora" and again.model.base_model == b.model.base_model


def test_unsaved_never_shown_as_saved(ws):
    save_config(ready_config(ws, "sd15"), ws.configs / "t.toml")
    at = app().run()
    at.text_input(key=k(at, "optimizer.unet_lr")).set_value("fast").run()
    assert at.button(key="tc_save").disabled  # the typed value cannot be saved...
    captions = [c.value for c in at.caption]
    assert "Saved" not in captions  # ...so it is not "Saved" either
    assert any(c.startswith("Unsaved changes") for c in captions)


def test_drafts_kept_and_coming_back_opens_the_config_you_were_on(ws):
    save_config(ready_config(ws, "sd15", network={"dim": 7}), ws.configs / "aaa.toml")
    save_config(ready_config(ws, "sd15", network={"dim": 9}), ws.configs / "zzz.toml")
    at = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=60)
    at.switch_page("pages/training.py").run()
    at.selectbox(key="tc_pick").set_value("zzz").run()
    at.number_input(key=k(at, "network.dim")).set_value(12).run()
    at.selectbox(key="tc_pick").set_value("aaa").run()
    assert at.number_input(key=k(at, "network.dim")).value == 7
    assert any("zzz" in c.value for c in at.caption if "Unsaved changes kept" in c.value)
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/training.py").run()
    assert at.selectbox(key="tc_pick").value == "aaa"  # not the draft's, not the first: the one you were on
    at.selectbox(key="tc_pick").set_value("zzz").run()
    assert at.number_input(key=k(at, "network.dim")).value == 12  # the unsaved edit, kept
    assert any(c.value == "Unsaved changes" for c in at.caption)
    assert load_config(ws.configs / "zzz.toml").network.dim == 9  # nothing written yet
    at.button(key="tc_discard").click().run()
    assert at.number_input(key=k(at, "network.dim")).value == 9
    assert any(c.value == "Saved" for c in at.caption)


def test_starting_a_config_that_is_already_running_asks_first(ws, tmp_path, monkeypatch):
    from nyx_core.jobs import JobManager

    _stand_in_sd_scripts(tmp_path, monkeypatch, step_time=0.5)
    save_config(ready_config(ws, "sd15", dataset={"max_train_epochs": 1}), ws.configs / "twice.toml")
    at = app().run()
    at.button(key="tc_start").click().run()
    jm = JobManager(ws)
    try:
        at = app().run()
        at.button(key="tc_start").click().run()
        assert not at.exception
        assert len(jm.list()) == 1  # nothing started: the page asks
        assert any("already queued or running" in w.value for w in at.warning)
        at.button(key="tc_start_again_yes").click().run()
        assert len(jm.list()) == 2
    finally:
        for j in jm.list():
            jm.stop(j.id)
