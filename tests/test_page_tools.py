"""AppTest for pages/tools.py: real files, real jobs behind every click."""
from __future__ import annotations

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from nyx_core.jobs import JobManager, JobState
from nyx_core.lora import st
from nyx_core.settings import Settings
from tests.conftest import REPO_ROOT
from tests.lora_fixtures import make_lora


def _page(file: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "tools.py"), default_timeout=30)
    if file:
        at.query_params["file"] = file
    return at.run()


def test_opens_from_a_link_and_shows_metadata_tags_tensors(ws):
    make_lora(ws.outputs / "a.safetensors", extra_md={"modelspec.title": "Alpha"})
    at = _page("outputs/a.safetensors")
    assert not at.exception and not at.error
    assert [m.value for m in at.metric][:3] == ["LoCon", "SD1.5", "6 / conv 6"]
    summary = at.dataframe[0].value
    assert dict(zip(summary.iloc[:, 0], summary["value"]))["title"] == "Alpha"
    tags = at.dataframe[1].value
    assert tags.to_dict("records")[0] == {"tag": "red", "count": 6}
    assert len(at.dataframe[2].value) == 12
    at.text_input(key="tools_tensor_filter").input("conv1").run()
    assert len(at.dataframe[2].value) == 3


def test_picker_lists_outputs_and_bad_paths_are_one_line(ws):
    make_lora(ws.outputs / "b.safetensors")
    at = _page()
    assert "outputs/b.safetensors" in at.selectbox(key="tools_pick").options
    at.selectbox(key="tools_pick").set_value("outputs/b.safetensors").run()
    assert at.session_state["tools_file"] == "outputs/b.safetensors" and at.metric
    at.text_input(key="tools_file").input("../../etc/passwd").run()
    assert at.error and not at.exception
    (ws.outputs / "junk.safetensors").write_bytes(b"this is not a model file at all")
    at.text_input(key="tools_file").input("outputs/junk.safetensors").run()
    assert "not a safetensors file" in at.error[0].value and not at.exception


def test_edit_metadata_writes_a_new_file(ws):
    src = make_lora(ws.outputs / "a.safetensors")
    before = src.read_bytes()
    at = _page("outputs/a.safetensors")
    at.text_input(key="tools_md_title").input("New title")
    at.text_input(key="tools_md_trigger").input("nyxperson")
    at.button(key="FormSubmitter:tools_edit_form-Save as new file").click().run()
    assert not at.error, [e.value for e in at.error]
    md = st.read_header(ws.outputs / "a-edited.safetensors").metadata
    assert md["modelspec.title"] == "New title" and md["modelspec.trigger_phrase"] == "nyxperson"
    assert src.read_bytes() == before


def test_resize_form_submits_a_job(ws, monkeypatch):
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    make_lora(ws.outputs / "a.safetensors", rank=6)
    at = _page("outputs/a.safetensors")
    at.number_input(key="tools_rs_rank").set_value(2)
    at.text_input(key="tools_rs_out").input("outputs/a-small.safetensors")
    at.button(key="FormSubmitter:tools_resize_form-Resize").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("Started job" in s.value for s in at.success)
    jm = JobManager(ws, Settings())
    job = jm.list()[0]
    assert job.spec.kind == "lora" and jm.wait(job.id, 90).state == JobState.COMPLETED
    assert st.read_header(ws.outputs / "a-small.safetensors").tensors[
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"].shape[0] == 2
    # the same output again is refused, nothing overwritten
    at.button(key="FormSubmitter:tools_resize_form-Resize").click().run()
    assert "already exists" in at.error[0].value


def test_merge_form_needs_another_file(ws):
    make_lora(ws.outputs / "a.safetensors")
    make_lora(ws.outputs / "b.safetensors", seed=4)
    at = _page("outputs/a.safetensors")
    at.button(key="FormSubmitter:tools_merge_form-Merge").click().run()
    assert "pick at least one other LoRA" in at.error[0].value
    at.multiselect(key="tools_mg_with").set_value(["outputs/b.safetensors"])
    at.text_input(key="tools_mg_weights").input("0.5")
    at.button(key="FormSubmitter:tools_merge_form-Merge").click().run()
    assert not at.error and any("Started job" in s.value for s in at.success)
    job = JobManager(ws, Settings()).wait(JobManager(ws, Settings()).list()[0].id, 90)
    assert job.state == JobState.COMPLETED
    assert Path(job.spec.expected_output).name == "a-merged.safetensors"


def test_lycoris_resize_refused_on_the_page(ws):
    from tests.lora_fixtures import write
    import numpy as np

    write(ws.outputs / "h.safetensors", {"lora_unet_a.hada_w1_a": np.zeros((2, 4)),
                                         "lora_unet_a.hada_w1_b": np.zeros((2, 4))})
    at = _page("outputs/h.safetensors")
    assert any("LoHa file: only LoRA and LoCon" in w.value for w in at.warning)


def test_files_page_links_a_safetensors_file_into_tools(ws):
    make_lora(ws.outputs / "a.safetensors")
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "files.py"), default_timeout=30).run()
    at.button(key="tree:outputs").click().run()
    at.multiselect(key="files_select").set_value(["a.safetensors"]).run()
    links = [m.value for m in at.markdown if "Inspect" in m.value] + [
        str(e.proto) for e in at.get("page_link")]
    assert any("file=outputs/a.safetensors" in v or "outputs/a.safetensors" in v for v in links)


def test_monitor_links_a_finished_runs_lora_into_tools(ws):
    from tests.test_jobs import synth_spec

    jm = JobManager(ws, Settings())
    job = jm.wait(jm.submit(synth_spec(ws, "good"), "good").id, 60)
    assert job.state == JobState.COMPLETED
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "monitor.py"), default_timeout=30).run()
    links = [m.value for m in at.markdown if "Inspect" in m.value] + [str(e.proto) for e in at.get("page_link")]
    assert any("tools?file=" in v and ".safetensors" in v for v in links), links


def test_try_tab_renders_a_flux_grid_with_the_runs_encoders(ws, monkeypatch):
    from tests.test_lora_tryit_dit import STANDIN_DIR, dit_run

    monkeypatch.setenv("NYX_SD_SCRIPTS", str(STANDIN_DIR))
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    lora = dit_run(ws, "Flux")
    at = _page(ws.relative(lora))
    assert not at.exception and not at.error
    # the run's own model files, shown workspace-relative; Flux's size and CFG defaults
    assert at.text_input(key="tools_try_t5xxl").value == "models/t5xxl.safetensors"
    assert at.text_input(key="tools_try_ae").value == "models/ae.safetensors"
    assert at.text_input(key="tools_try_base").value == "models/flux-base.safetensors"
    assert at.number_input(key="tools_try_w").value == 1024 and at.number_input(key="tools_try_cfg").value == 1.0
    assert any("flux_minimal_inference.py" in c.value for c in at.caption)
    at.text_input(key="tools_try_strengths").input("0, 1")
    at.number_input(key="tools_try_w").set_value(64)
    at.number_input(key="tools_try_h").set_value(64)
    # a path outside the workspace is named as such (it is also a ValueError: not "strengths are numbers")
    at.text_input(key="tools_try_t5xxl").input("/etc/hostname")
    at.button(key="FormSubmitter:tools_try_form-Render grid").click().run()
    assert at.error and "outside the workspace" in at.error[0].value and not at.exception
    at.text_input(key="tools_try_t5xxl").input("models/t5xxl.safetensors")
    at.button(key="FormSubmitter:tools_try_form-Render grid").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("Started job" in s.value for s in at.success)
    jm = JobManager(ws, Settings())
    job = next(j for j in jm.list() if j.spec and j.spec.kind == "generate")
    done = jm.wait(job.id, 120)
    assert done.state == JobState.COMPLETED, done.log_path.read_text()[-2000:]
    at.run()
    assert at.image and "grid.png" in at.image[0].proto.imgs[0].caption
