"""WD14 tagging end to end on a tiny ONNX model (onnx helper API, the real taggers' signature):
the engine reads the input size from the model, batches equal one-at-a-time, the job writes
captions one by one with the scores in its folder, modes, stop keeps finished captions, skip
resumes, one undo restores the whole run, the CLI, and 'tags just under the threshold'."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from nyx_core.datasets import caption_ops  # noqa: E402
from nyx_core.datasets.layout import scan_dataset  # noqa: E402
from nyx_core.datasets.manager import create_dataset  # noqa: E402
from nyx_core.jobs import JobManager, JobState  # noqa: E402
from nyx_core.settings import Settings  # noqa: E402
from nyx_core.tagging import jobs as tjobs  # noqa: E402
from nyx_core.tagging.catalog import resolve_model  # noqa: E402
from nyx_core.tagging.engine import Tagger  # noqa: E402
from nyx_core.tagging.options import TagOptions, TaggingError  # noqa: E402
from nyx_core.tagging.output import CAPTIONS_FILE, SCORES_FILE, read_jsonl  # noqa: E402
from tests.tagging_fixtures import build_model, make_images  # noqa: E402

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tagged_ws(ws):
    """A workspace with a tiny tagger in models/taggers/tiny and a 2-concept dataset of 10 images."""
    build_model(ws.models / "taggers" / "tiny", side=64)
    create_dataset(ws, "ds", "ohwx", 5)
    root = ws.datasets / "ds"
    make_images(root / "5_ohwx", 6, seed=1)
    make_images(root / "2_style", 4, seed=2, size=(120, 90))
    return ws


def _captions(ws) -> dict[str, str | None]:
    layout = scan_dataset(ws, "ds")
    return {p.relative_to(layout.root).as_posix(): caption_ops.read_caption(layout, p) for p in layout.images()}


def test_engine_reads_size_from_model_and_batches_match_single(tmp_path):
    folder = build_model(tmp_path / "m", side=32)
    images = make_images(tmp_path / "imgs", 7)
    t = Tagger(folder)
    assert t.side == 32 and len(t.labels) == 27 and t.fixed_batch is None
    batched = [s.scores for s in t.score(images, batch_size=4, workers=2)]
    single = [s.scores for s in t.score(images, batch_size=1, workers=1)]
    assert len(batched) == 7
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(batched, single))
    # a model exported with a fixed batch of 1 still takes any batch size
    fixed = Tagger(build_model(tmp_path / "fixed", side=32, batch_dim=1))
    assert fixed.fixed_batch == 1
    assert all(np.allclose(a, s.scores, atol=1e-6) for a, s in zip(single, fixed.score(images, batch_size=4)))


def test_unreadable_image_is_reported_and_the_rest_tagged(tmp_path):
    folder = build_model(tmp_path / "m", side=32)
    images = make_images(tmp_path / "imgs", 3)
    bad = tmp_path / "imgs" / "broken.png"
    bad.write_bytes(b"not a png")
    out = list(Tagger(folder).score([images[0], bad, *images[1:]], batch_size=2))
    assert [o.image.name for o in out if o.error] == ["broken.png"]
    assert len([o for o in out if o.scores is not None]) == 3


def test_model_resolution_errors(ws, tmp_path):
    with pytest.raises(TaggingError, match="neither a known model"):
        resolve_model(ws, "taggers", "no-such-tagger")
    ref = resolve_model(ws, "taggers", "wd-vit-tagger-v3")  # known: resolved, not downloaded
    assert ref.repo_id == "SmilingWolf/wd-vit-tagger-v3" and not ref.present
    bad = build_model(ws.models / "taggers" / "mismatch", side=32)
    (bad / "selected_tags.csv").write_text("tag_id,name,category,count\n1,a,0,1\n")
    with pytest.raises(TaggingError, match="27 outputs"):
        Tagger(bad)


def test_tag_job_writes_captions_scores_and_one_undo_restores_the_run(tagged_ws):
    ws = tagged_ws
    layout = scan_dataset(ws, "ds")
    first = layout.images()[0]
    caption_ops.write_caption(layout, first, "handmade, caption")
    before = _captions(ws)
    jm = JobManager(ws, Settings())
    job = tjobs.submit_tag(ws, "ds", "tiny", TagOptions(first=["ohwx"]), batch=3)
    assert job.spec.kind == "tag" and job.spec.gpu_set == "none"
    job = jm.wait(job.id, 90)
    assert job.state == JobState.COMPLETED, (job.status.reason, job.log_path.read_text()[-2000:])
    st = jm.progress(job.id)
    assert st.task["done"] == 10 and st.task["total"] == 10 and st.task["unit"] == "images"
    assert st.result["written"] == 10 and st.result["failed"] == 0
    after = _captions(ws)
    assert all(c and c.startswith("ohwx, ") for c in after.values())
    assert "handmade" not in after[first.relative_to(layout.root).as_posix()]  # overwrite
    # per-image scores and before/after are kept in the job folder
    scores = read_jsonl(job.dir / SCORES_FILE)
    assert len(scores) == 10 and all(r["scores"] for r in scores)
    rows = read_jsonl(job.dir / CAPTIONS_FILE)
    assert {r["image"] for r in rows} == set(before)
    rv = tjobs.review(job, limit=4)
    assert rv.changed == 10 and len(rv.samples) == 4 and rv.dataset == "ds"
    # the whole run is one entry of the tag editor's undo history
    info = caption_ops.undo_info(scan_dataset(ws, "ds"))
    assert info.op == rv.journal_op and info.count == 10
    # a caption edited by hand after the run is left alone by the undo (the job sealed the journal
    # with the hash of what it wrote); every other one goes back to its exact bytes
    edited = layout.images()[1]
    caption_ops.write_caption(layout, edited, "edited after the run")
    res = caption_ops.undo(ws, scan_dataset(ws, "ds"))
    rel_edited = edited.relative_to(layout.root).as_posix()
    assert res.restored == 9 and res.skipped == [edited.with_suffix(".txt").relative_to(layout.root).as_posix()]
    assert _captions(ws) == {**before, rel_edited: "edited after the run"}


def test_append_and_skip_modes(tagged_ws):
    ws = tagged_ws
    layout = scan_dataset(ws, "ds")
    a, b = layout.images()[:2]
    caption_ops.write_caption(layout, a, "mine, solo")
    caption_ops.write_caption(layout, b, "keep me")
    jm = JobManager(ws, Settings())
    job = jm.wait(tjobs.submit_tag(ws, "ds", "tiny", TagOptions(mode="skip")).id, 90)
    assert job.state == JobState.COMPLETED
    assert jm.progress(job.id).result["skipped"] == 2 and jm.progress(job.id).result["written"] == 8
    assert caption_ops.read_caption(layout, a) == "mine, solo"
    assert caption_ops.read_caption(layout, b) == "keep me"
    # skip journals only the captions it may create: undo leaves the hand-written two alone
    assert caption_ops.undo_info(layout).count == 8
    job = jm.wait(tjobs.submit_tag(ws, "ds", "tiny", TagOptions(mode="append")).id, 90)
    assert job.state == JobState.COMPLETED
    text = caption_ops.read_caption(layout, a)
    tags = [t.strip() for t in text.split(",")]
    assert tags[:2] == ["mine", "solo"] and len(tags) == len(set(tags)) > 2


def test_stop_keeps_finished_captions_and_skip_resumes(tagged_ws, tmp_path):
    ws = tagged_ws
    # 40 images at 0.4 s each: after the third the job has 15 s of work left, so the stop
    # lands mid-run even on a slow, busy machine
    for p in make_images(tmp_path / "more", 30, seed=9, size=(40, 30)):
        p.rename(ws.datasets / "ds" / "5_ohwx" / f"more_{p.name}")
    total = len(scan_dataset(ws, "ds").images())
    assert total == 40
    jm = JobManager(ws, Settings())
    job = tjobs.submit_tag(ws, "ds", "tiny", TagOptions(), batch=1, throttle_s=0.4)
    import time

    deadline = time.time() + 60
    while time.time() < deadline and (jm.progress(job.id).task or {}).get("done", 0) < 3:
        time.sleep(0.1)
    jm.stop(job.id)
    job = jm.wait(job.id, 60)
    assert job.state == JobState.STOPPED
    res = jm.progress(job.id).result
    assert res["stopped"] is True and 3 <= res["written"] < total
    done = {k: v for k, v in _captions(ws).items() if v}
    assert len(done) == res["written"]
    # no temp files left behind by the stop
    assert not list((ws.datasets / "ds").rglob("*.tmp"))
    job2 = jm.wait(tjobs.submit_tag(ws, "ds", "tiny", TagOptions(mode="skip")).id, 90)
    res2 = jm.progress(job2.id).result
    assert res2["skipped"] == len(done) and res2["written"] == total - len(done)
    final = _captions(ws)
    assert all(final.values()) and {k: final[k] for k in done} == done


def test_near_misses_come_from_the_latest_run(tagged_ws):
    ws = tagged_ws
    jm = JobManager(ws, Settings())
    job = jm.wait(tjobs.submit_tag(ws, "ds", "tiny", TagOptions(general_threshold=0.6)).id, 90)
    scores, opts = tjobs.latest_scores(ws, "ds")
    assert opts["general_threshold"] == 0.6 and len(scores) == 10
    layout = scan_dataset(ws, "ds")
    some = False
    for img in layout.images():
        rel = img.relative_to(layout.root).as_posix()
        text = caption_ops.read_caption(layout, img)
        near = tjobs.near_misses(scores[rel], text.split(", "), 0.6)
        assert all(0.45 <= s < 0.6 and t not in text.split(", ") for t, s in near)
        some = some or bool(near)
    assert some, "the tiny model should leave some tags just under 0.6"
    assert job.state == JobState.COMPLETED


def test_cli_tag_wait_json_and_one_line_errors(tagged_ws, capsys):
    from nyx_core.cli import main

    ws = tagged_ws
    rc = main(["--workspace", str(ws.root), "tag", "ds", "--model", "tiny", "--first", "ohwx", "--undesired",
               "smile", "--mode", "overwrite", "--batch", "4", "--wait", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["state"] == "completed" and out["kind"] == "tag"
    assert out["result"]["written"] == 10
    assert all(c.startswith("ohwx") and "smile" not in c for c in _captions(ws).values())
    for argv, msg in ((["tag", "ds", "--model", "nope"], "neither a known model"),
                      (["tag", "nods", "--model", "tiny"], "nods"),
                      (["tag", "ds", "--model", "tiny", "--general-threshold", "2"], "between 0 and 1"),
                      (["tag", "ds", "--model", "tiny", "--replace", "x"], "old=new")):
        rc = main(["--workspace", str(ws.root), *argv])
        err = capsys.readouterr().err
        assert rc == 1 and msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_notebook_tag_folder_returns_tags_and_scores(tagged_ws):
    from nyx_core.tagging import TagOptions as TO
    from nyx_core.tagging import tag_folder

    res = tag_folder("datasets/ds", "tiny", TO(first=["x"]), ws=tagged_ws)
    assert len(res) == 10
    item = next(iter(res.values()))
    assert item.tags[0] == "x" and item.scores and item.outcome is None
    assert not any(v for v in _captions(tagged_ws).values())  # write=False writes nothing


def test_ui_process_never_imports_onnxruntime_or_torch(tagged_ws, tmp_path):
    """The page's modules and a whole tagging job, seen from the submitting process: the model
    lives in the job process."""
    import subprocess

    code = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import nyx_ui.captioning_view, nyx_core.tagging, nyx_core.cli.tagging
from nyx_core.workspace import Workspace
from nyx_core.jobs import JobManager
from nyx_core.tagging.jobs import submit_tag
ws = Workspace.open({str(tagged_ws.root)!r})
job = JobManager(ws).wait(submit_tag(ws, "ds", "tiny").id, 90)
assert job.state.value == "completed", job.status.reason
heavy = [m for m in ("onnxruntime", "onnx", "torch", "transformers", "cv2") if m in sys.modules]
print("HEAVY", heavy)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "HEAVY []" in r.stdout


def test_job_reports_each_broken_image_in_one_line_and_tags_the_rest(tagged_ws):
    ws = tagged_ws
    concept = ws.datasets / "ds" / "5_ohwx"
    (concept / "broken.png").write_bytes(b"not a png")
    (concept / "cut.jpg").write_bytes((concept / "img003.jpg").read_bytes()[:200])
    jm = JobManager(ws, Settings())
    job = jm.wait(tjobs.submit_tag(ws, "ds", "tiny", TagOptions(), batch=4).id, 90)
    assert job.state == JobState.COMPLETED, (job.status.reason, job.log_path.read_text()[-2000:])
    st = jm.progress(job.id)
    assert st.result["failed"] == 2 and st.result["written"] == 10 and st.task["done"] == 12
    broken = [w for w in st.warnings if "broken.png" in w or "cut.jpg" in w]
    assert len(broken) == 2 and all("\n" not in w for w in broken)
    assert all(c for rel, c in _captions(ws).items() if not rel.endswith(("broken.png", "cut.jpg")))
