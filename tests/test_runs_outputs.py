"""Every run has its own output folder; one function lists a run's files; save_model_as decides
the expected file; a config already queued/running asks first; resume, re-run, clone."""
from __future__ import annotations

import tomllib

import pytest

from nyx_core.config import load_config, new_config, save_config
from nyx_core.errors import NyxError
from nyx_core.jobs import JobManager, JobState
from nyx_core.jobs.manager import AlreadyActive
from nyx_core.kohya.naming import final_lora
from tests.test_jobs import _training_setup
from tests.test_jobs_integrity import cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def setup(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("NYX_STANDIN_STEP_TIME", "0.02")
    settings = _training_setup(ws, tmp_path)
    # the same fake sd-scripts for the CLI (it reads its settings from the environment)
    monkeypatch.setenv("NYX_SD_SCRIPTS", str(settings.sd_scripts_dir))
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", str(settings.sd_scripts_python))
    monkeypatch.setenv("NYX_LAUNCHER", "python")
    return JobManager(ws, settings)


def _config(ws, name="mine", **saving):
    groups = {"saving": saving} if saving else {}
    cfg = new_config(name, dataset={"name": "ds", "max_train_epochs": 2},
                     model={"base_model": "base.safetensors"}, **groups)
    path = ws.configs / f"{name}.toml"
    save_config(cfg, path)
    return path


def test_two_runs_of_one_config_keep_their_own_loras(setup, ws):
    jm = setup
    path = _config(ws)
    a = jm.wait(jm.start_training(load_config(path), config_path=path).id, 60)
    b = jm.wait(jm.start_training(load_config(path), config_path=path).id, 60)
    assert a.state == b.state == JobState.COMPLETED, (a.status.reason, b.status.reason)
    assert a.output_dir != b.output_dir
    assert a.output_dir == ws.outputs / "mine" / a.id and b.output_dir.name == b.id
    fa, fb = jm.files(a.id), jm.files(b.id)
    assert fa.loras[0] == a.expected_output and fb.loras[0] == b.expected_output
    assert not (set(fa.loras) & set(fb.loras)) and not fa.shared
    # a's final LoRA was not overwritten by b (it is older than b's start)
    assert a.expected_output.stat().st_mtime < b.status.started_at


@pytest.mark.parametrize("fmt", ["safetensors", "ckpt", "pt"])
def test_every_save_model_as_format_completes(setup, ws, fmt):
    jm = setup
    path = _config(ws, f"fmt-{fmt}", save_model_as=fmt)
    job = jm.wait(jm.start_training(load_config(path), config_path=path).id, 60)
    assert job.state == JobState.COMPLETED, job.status.reason
    assert job.expected_output == final_lora(job.output_dir, f"fmt-{fmt}", fmt)
    assert job.expected_output.suffix == f".{fmt}" and job.expected_output.is_file()
    files = jm.files(job.id)
    assert files.loras[0] == job.expected_output and all(p.suffix == f".{fmt}" for p in files.loras)
    assert len(files.loras) == 2  # final + the epoch-1 checkpoint


def test_starting_a_config_that_is_already_queued_or_running_asks_first(setup, ws, monkeypatch, capsys):
    jm = setup
    monkeypatch.setenv("NYX_STANDIN_STEP_TIME", "0.5")
    path = _config(ws, "busy")
    first = jm.start_training(load_config(path), config_path=path)
    try:
        with pytest.raises(AlreadyActive, match=first.id):
            jm.start_training(load_config(path), config_path=path)
        rc, out, err = cli(capsys, "train", "start", "configs/busy.toml")
        assert rc == 1 and "--again" in err and first.id in err and "\n" == err[-1] and err.count("\n") == 1
        second = jm.start_training(load_config(path), config_path=path, again=True)
        assert second.state == JobState.QUEUED
        assert {j.id for j in jm.runs_of_config("configs/busy.toml")} == {first.id, second.id}
    finally:
        for j in jm.list():
            jm.stop(j.id)


def test_resume_rerun_and_clone(setup, ws, capsys):
    jm = setup
    path = _config(ws, "stateful", save_state=True)
    done = jm.wait(jm.start_training(load_config(path), config_path=path).id, 60)
    assert done.state == JobState.COMPLETED, done.status.reason
    states = jm.files(done.id).states
    assert [p.name for p in states][0] in ("stateful-state", "stateful-000001-state") and len(states) == 2
    rc, out, err = cli(capsys, "train", "resume", done.id[-12:], "--wait")
    assert rc == 0, err
    resumed = jm.get(out.split("\t")[0])
    rendered = tomllib.loads((resumed.render_dir / "config.toml").read_text())
    flat = {k: v for t in rendered.values() if isinstance(t, dict) for k, v in t.items()}
    assert flat["resume"] == str(states[0])
    assert "resume training from local state" in resumed.log_path.read_text()
    assert resumed.output_dir != done.output_dir
    again = jm.wait(jm.rerun(done.id).id, 60)
    assert again.state == JobState.COMPLETED and load_config(again.dir / "job.toml").model.resume_state == ""
    rc, out, err = cli(capsys, "train", "clone", done.id, "stateful-v2")
    assert rc == 0 and out.strip() == "configs/stateful-v2.toml"
    assert load_config(ws.configs / "stateful-v2.toml").saving.save_state is True
    rc, out, err = cli(capsys, "train", "clone", done.id, "stateful-v2")
    assert rc == 1 and "already exists" in err
    with pytest.raises(NyxError, match="saved no training state"):
        jm.resume(jm.wait(jm.start_training(load_config(_config(ws, "plain"))).id, 60).id)


def test_monitor_lists_the_runs_files_and_resumes_from_its_state(setup, ws):
    from tests.test_page_monitor import page, texts

    jm = setup
    path = _config(ws, "mon", save_state=True)
    done = jm.wait(jm.start_training(load_config(path), config_path=path).id, 60)
    at = page().run()
    assert not at.exception
    t = texts(at)
    assert "Files page" not in t  # the old false claim about metadata/resizing/uploading
    labels = [b.label for b in at.get("download_button")]
    assert any(lbl.startswith("mon.safetensors") for lbl in labels)
    assert "Saved training state" in t
    at.button(key=f"mon_resume_{done.id}").click().run()
    assert not at.exception
    resumed = [j for j in jm.list() if j.id != done.id]
    assert len(resumed) == 1 and load_config(resumed[0].dir / "job.toml").model.resume_state
    jm.stop(resumed[0].id)
    jm.wait(resumed[0].id, 60)
