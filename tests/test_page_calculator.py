"""AppTest for pages/calculator.py: live numbers from plain inputs and from a real workspace dataset."""
from __future__ import annotations

from pathlib import Path

from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def _page() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / "calculator.py"), default_timeout=30)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _bucket_table(at: AppTest):
    return [d.value for d in at.dataframe if "batches" in d.value.columns][0]


def _num(at: AppTest, key: str):
    return at.number_input(key=key)


def test_defaults_without_any_config(ws):
    at = _page().run()
    assert not at.exception
    m = _metrics(at)
    assert m["Total optimisation steps"] == "2,000"  # 20 images x 10 repeats x 10 epochs
    assert m["Steps per epoch"] == "200" and m["Epochs"] == "10"


def test_inputs_update_the_numbers(ws):
    at = _page().run()
    _num(at, "calc_images").set_value(7)
    _num(at, "calc_repeats").set_value(1)
    _num(at, "calc_batch").set_value(3)
    _num(at, "calc_accum").set_value(2)
    _num(at, "calc_epochs").set_value(5)
    at.run()
    m = _metrics(at)
    assert (m["Total optimisation steps"], m["Steps per epoch"], m["Epochs"]) == ("10", "2", "5")


def test_steps_mode_and_time_estimate(ws):
    at = _page().run()
    at.radio(key="calc_mode").set_value("Steps").run()
    _num(at, "calc_steps").set_value(150)
    _num(at, "calc_spi").set_value(2.0)
    at.run()
    m = _metrics(at)
    assert m["Total optimisation steps"] == "150" and m["Epochs"] == "1"
    assert m["Estimated training time"] == "5 min"
    assert any("less than one epoch" in w.value for w in at.warning)


def test_several_gpus(ws):
    at = _page().run()
    _num(at, "calc_gpus").set_value(2)
    at.run()
    assert _metrics(at)["Total optimisation steps"] == "1,000"


def _img(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 120, 200)).save(path)


def test_workspace_dataset_gives_buckets(ws):
    concept = ws.datasets / "portraits" / "5_ohwx"
    for i in range(4):
        _img(concept / f"sq_{i}.png", (1024, 1024))
    for i in range(3):
        _img(concept / f"tall_{i}.png", (1024, 1536))
    at = _page().run()
    at.radio(key="calc_source").set_value("A workspace dataset").run()
    assert not at.exception
    assert at.selectbox(key="calc_dataset").value == "portraits"
    _num(at, "calc_batch").set_value(2)
    _num(at, "calc_epochs").set_value(4)
    at.run()
    m = _metrics(at)
    assert m["Images × repeats"] == "35"
    # buckets: 384x640 gets 15 (8 batches), 512x512 gets 20 (10 batches) -> 18 per epoch
    assert m["Steps per epoch"] == "18" and m["Total optimisation steps"] == "72"
    table = _bucket_table(at)
    assert list(table["resolution"]) == ["384×640", "512×512"]
    assert list(table["batches"]) == [8, 10]
    per_size = [d.value for d in at.dataframe if "image size" in d.value.columns][0]
    assert dict(zip(per_size["image size"], per_size["bucket"])) == {"1024×1024": "512×512", "1024×1536": "384×640"}
    # bucketing off: one 512 bucket, ceil(35 / 2) = 18 batches
    at.toggle(key="calc_bucket").set_value(False).run()
    assert _metrics(at)["Steps per epoch"] == "18"
    assert list(_bucket_table(at)["resolution"]) == ["512×512"]


def test_dataset_mode_without_datasets_falls_back(ws):
    at = _page().run()
    at.radio(key="calc_source").set_value("A workspace dataset").run()
    assert not at.exception
    assert any("No datasets" in i.value for i in at.info)
    assert _metrics(at)["Total optimisation steps"] == "2,000"


def test_speed_from_a_past_job(ws):
    import json

    job = ws.jobs / "20260101-120000-my-lora"
    job.mkdir(parents=True)
    events = [{"v": 1, "t": 1.0, "type": "step", "step": 1, "elapsed_s": 3.0, "it_per_s": 0.33},
              {"v": 1, "t": 2.0, "type": "step", "step": 11, "elapsed_s": 33.0, "it_per_s": 0.33}]
    (job / "progress.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    at = _page().run()
    box = at.selectbox(key="calc_speed_src")
    assert box.options[1].startswith("20260101-120000-my-lora")
    box.set_value(box.options[1]).run()
    assert not at.exception
    # 2,000 steps at 3 s/step
    assert _metrics(at)["Estimated training time"] == "1 h 40 min"


def test_family_sets_sizes_and_checks_bucket_step(ws):
    concept = ws.datasets / "xl" / "2_thing"
    for i in range(3):
        _img(concept / f"{i}.png", (1216, 832))
    at = _page().run()
    at.radio(key="calc_source").set_value("A workspace dataset").run()
    at.selectbox(key="calc_family").set_value("SDXL").run()
    assert _num(at, "calc_resolution").value == 1024 and _num(at, "calc_max_reso").value == 2048
    assert list(_bucket_table(at)["resolution"]) == ["1216×832"]
    at.selectbox(key="calc_reso_steps").set_value(32).run()
    assert not at.error
    at.selectbox(key="calc_family").set_value("SD1.5").run()
    assert any("multiple of 64" in e.value for e in at.error)
