"""AppTest for the Datasets page's Captioning section: run the tiny WD14 tagger as a real job,
see the result and a before/after sample, undo the whole run in one click, and add a tag scored
just under the threshold from the tag editor."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from nyx_core.datasets import caption_ops  # noqa: E402
from nyx_core.datasets.layout import scan_dataset  # noqa: E402
from nyx_core.datasets.manager import create_dataset  # noqa: E402
from nyx_core.jobs import JobManager, JobState  # noqa: E402
from nyx_core.settings import Settings  # noqa: E402
from tests.conftest import REPO_ROOT  # noqa: E402
from tests.tagging_fixtures import build_model, make_images  # noqa: E402

pytestmark = pytest.mark.timeout(150)


def _page() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / "datasets.py"), default_timeout=60)


def _captions(ws):
    layout = scan_dataset(ws, "cats")
    return {p.name: caption_ops.read_caption(layout, p) for p in layout.images()}


def test_tag_run_review_undo_and_near_misses(ws):
    build_model(ws.models / "taggers" / "tiny", side=64)
    create_dataset(ws, "cats", "ohwx cat", 5, trigger_word="ohwx")
    make_images(ws.datasets / "cats" / "5_ohwx cat", 6)
    layout = scan_dataset(ws, "cats")
    caption_ops.write_caption(layout, layout.images()[0], "handmade")
    before = _captions(ws)

    at = _page().run()
    assert not at.exception
    assert "tiny" in at.selectbox(key="cap_t_model").options
    assert at.text_input(key="cap_t_first_cats").value == "ohwx"  # the trigger word goes first
    at.selectbox(key="cap_t_model").set_value("tiny")
    at.slider(key="cap_t_gthr").set_value(0.6)
    next(b for b in at.button if b.label == "Tag 6 image(s)").click().run()
    assert not at.exception, at.exception
    jobs = JobManager(ws, Settings()).list()
    assert len(jobs) == 1 and jobs[0].spec.kind == "tag"
    job = JobManager(ws, Settings()).wait(jobs[0].id, 90)
    assert job.state == JobState.COMPLETED, job.status.reason

    at = _page().run()  # a fresh session (a reload) finds the run again
    assert not at.exception
    assert any("6 caption(s) written" in s.value for s in at.success)
    assert any(b.label == "Open in the tag editor" for b in at.button)
    after = _captions(ws)
    assert all(v.startswith("ohwx, ") for v in after.values())

    # 'Open in the tag editor' opens that image's caption editor; there, chips offer the tags the
    # run scored just under its 0.6 threshold
    next(b for b in at.button if b.label == "Open in the tag editor").click().run()
    assert not at.exception
    img = layout.root / at.session_state["ds_selected"]
    assert any(t.label == "Caption" and t.value == after[img.name] for t in at.text_area)
    from nyx_core.tagging.jobs import latest_scores, near_misses

    scores, _ = latest_scores(ws, "cats")
    img = next(p for p in layout.images()
               if near_misses(scores[p.relative_to(layout.root).as_posix()], after[p.name].split(", "), 0.6))
    at.session_state["ds_selected"] = img.relative_to(layout.root).as_posix()
    at.run()
    pills = [p for p in at.get("pills") if p.label.startswith("Just under the threshold")]
    assert pills
    option = pills[0].options[0]
    tag = option.rsplit(" (", 1)[0]
    pills[0].set_value(option).run()
    assert not at.exception
    assert caption_ops.read_caption(layout, img).endswith(", " + tag)
    caption_ops.write_caption(layout, img, after[img.name])  # back to what the run wrote

    undo = next(b for b in at.button if b.label == "Undo this run")
    assert not undo.disabled
    undo.click().run()
    assert not at.exception
    assert _captions(ws) == before
    assert any("caption(s) restored" in s.value for s in at.success)
    assert next(b for b in at.button if b.label == "Undo this run").disabled


def test_a_run_stays_undoable_after_a_later_tag_operation(ws):
    """Undo this run is not only for the newest history entry: after a later bulk operation it
    restores the captions still as the run left them and leaves the later operation's alone."""
    from nyx_core.datasets.captions import TagOp

    build_model(ws.models / "taggers" / "tiny", side=64)
    create_dataset(ws, "cats", "ohwx cat", 5)
    make_images(ws.datasets / "cats" / "5_ohwx cat", 3)
    before = _captions(ws)
    at = _page().run()
    at.selectbox(key="cap_t_model").set_value("tiny")
    next(b for b in at.button if b.label == "Tag 3 image(s)").click().run()
    assert not at.exception, at.exception
    jm = JobManager(ws, Settings())
    assert jm.wait(jm.list()[0].id, 90).state == JobState.COMPLETED
    layout = scan_dataset(ws, "cats")
    later = layout.images()[0]
    assert caption_ops.apply(layout, TagOp("add", ("later",)), [later]) == 1
    kept = caption_ops.read_caption(layout, later)

    at = _page().run()
    undo = next(b for b in at.button if b.label == "Undo this run")
    assert not undo.disabled
    undo.click().run()
    assert not at.exception, at.exception
    now = _captions(ws)
    assert now[later.name] == kept  # the later operation's caption is left alone
    assert {k: v for k, v in now.items() if k != later.name} == {k: v for k, v in before.items() if k != later.name}
    assert any("2 caption(s) restored; 1 changed since were left alone" in s.value for s in at.success)
    left = caption_ops.undo_history(layout)  # the run's entry is gone; the later operation's stays
    assert len(left) == 1 and "later" in left[0].op


def test_bad_model_folder_and_missing_captioner_python_are_one_line_errors(ws):
    create_dataset(ws, "cats", "ohwx cat", 5)
    make_images(ws.datasets / "cats" / "5_ohwx cat", 2)
    at = _page().run()
    next(b for b in at.button if b.label == "Caption 2 image(s)").click().run()
    assert not at.exception
    assert any("sd-scripts' Python" in e.value for e in at.error)
    assert not JobManager(ws, Settings()).list()
