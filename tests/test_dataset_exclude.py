"""Excluding an image from training without deleting it, and including it back (real files)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from nyx_core.config.plan import plan
from nyx_core.datasets import Dataset
from nyx_core.datasets.exclusion import (
    delete_excluded,
    exclude_image,
    exclude_images,
    excluded_count,
    excluded_images,
    include_image,
)
from nyx_core.datasets.health import check_dataset
from nyx_core.datasets.layout import DatasetError, scan_dataset
from nyx_core.datasets.manager import delete_dataset, rename_dataset, set_repeats, summarize
from nyx_core.trash import list_trash
from tests.test_config_support import make_dataset, ready_config

CONCEPT = "10_ohwx cat"


@pytest.fixture
def cats(ws):
    root = make_dataset(ws, "cats")  # 10_ohwx cat/img000..img002.png with .txt captions
    folder = root / CONCEPT
    (folder / "img001.npz").write_bytes(b"latents")
    (folder / "img001_64x64_sd.npz").write_bytes(b"latents at a size")
    return root


def test_exclude_moves_companions_and_drops_out_of_counts_steps_buckets_and_health(ws, cats):
    folder = cats / CONCEPT
    cfg = ready_config(ws)  # batch size 1, 10 epochs: steps = images x 10 repeats x 10 epochs
    before = plan(cfg, ws).steps.total_optimization_steps
    health_before = check_dataset(ws, "cats", resolution=64, min_bucket_reso=64, max_bucket_reso=128)
    assert before == 300 and health_before.image_count == 3

    e = exclude_image(ws, "cats", "img001.png")  # a bare name is enough when no other concept has one
    kept = cats / ".nyx" / "excluded" / CONCEPT
    assert e.key == f"{CONCEPT}/img001.png" and e.path == kept / "img001.png"
    assert sorted(p.name for p in kept.iterdir()) == ["img001.npz", "img001.png", "img001.txt",
                                                      "img001_64x64_sd.npz"]
    assert not any(folder.glob("img001*"))  # nothing left behind to train as a caption-less stray
    assert (kept / "img001.txt").read_text() == "ohwx cat, sitting"

    assert scan_dataset(ws, "cats").image_count == 2
    assert summarize(scan_dataset(ws, "cats")).image_count == 2
    assert plan(cfg, ws).steps.total_optimization_steps == before - 100  # one image x 10 repeats x 10 epochs fewer
    health = check_dataset(ws, "cats", resolution=64, min_bucket_reso=64, max_bucket_reso=128)
    assert health.image_count == 2 and sum(r.count for r in health.bucket_rows) == 20
    assert not any(p.kind == "stray_folder" for p in health.problems)
    assert [x.key for x in excluded_images(ws, "cats")] == [e.key] and excluded_count(ws, "cats") == 1

    back = include_image(ws, "cats", e.key)
    assert back == folder / "img001.png"
    assert sorted(p.name for p in folder.glob("img001*")) == ["img001.npz", "img001.png", "img001.txt",
                                                              "img001_64x64_sd.npz"]
    assert not kept.exists()  # the emptied concept folder of the excluded list goes
    assert plan(cfg, ws).steps.total_optimization_steps == before
    assert excluded_images(ws, "cats") == []


def test_clashes_are_refused_and_nothing_moves(ws, cats):
    folder = cats / CONCEPT
    exclude_image(ws, "cats", f"{CONCEPT}/img000.png")
    # a new img000 arrives in the concept: including the old one back would overwrite it
    Image.new("RGB", (8, 8)).save(folder / "img000.png")
    with pytest.raises(DatasetError, match="img000.png already exists in 10_ohwx cat.*nothing was moved"):
        include_image(ws, "cats", "img000.png")
    # the caption alone clashing refuses too, and a twin stem (it would share the caption) as well
    (folder / "img000.png").unlink()
    (folder / "img000.txt").write_text("new caption")
    with pytest.raises(DatasetError, match="img000.txt already exists"):
        include_image(ws, "cats", "img000.png")
    (folder / "img000.txt").unlink()
    Image.new("RGB", (8, 8)).save(folder / "img000.jpg")
    with pytest.raises(DatasetError, match="same name stem"):
        include_image(ws, "cats", "img000.png")
    assert (cats / ".nyx/excluded" / CONCEPT / "img000.txt").read_text() == "ohwx cat, sitting"
    # excluding a second img000.* while one is kept: refused, both stay where they are
    with pytest.raises(DatasetError, match="already kept"):
        exclude_image(ws, "cats", "img000.jpg")
    assert (folder / "img000.jpg").exists()
    # one bad name in a batch refuses the batch before anything moves
    with pytest.raises(DatasetError, match="nope.png is not an image of dataset 'cats'"):
        exclude_images(ws, "cats", ["img002.png", "nope.png"])
    assert (folder / "img002.png").exists() and (folder / "img002.txt").exists()
    with pytest.raises(DatasetError, match="not an excluded image"):
        include_image(ws, "cats", "img002.png")


def test_renamed_or_removed_concept(ws, cats):
    exclude_image(ws, "cats", "img002.png")
    new_folder = set_repeats(ws, "cats", "ohwx cat", 3)  # 10_ohwx cat -> 3_ohwx cat
    e = excluded_images(ws, "cats")[0]
    assert e.concept_folder == CONCEPT and e.home(scan_dataset(ws, "cats")).folder == new_folder
    assert include_image(ws, "cats", e) == new_folder / "img002.png"  # same concept name, new repeats
    assert (new_folder / "img002.txt").exists()

    exclude_image(ws, "cats", "img002.png")
    (cats / "5_dog").mkdir()
    new_folder.rename(cats / "3_kitten")  # the concept itself is gone
    with pytest.raises(DatasetError, match="concept folder '3_ohwx cat' of img002.png is gone; say which concept "
                                           "to put it back into: kitten, dog"):
        include_image(ws, "cats", "img002.png")
    assert include_image(ws, "cats", "img002.png", concept="kitten") == cats / "3_kitten" / "img002.png"


def test_dataset_rename_and_delete_carry_excluded_images(ws, cats):
    exclude_image(ws, "cats", "img000.png")
    rename_dataset(ws, "cats", "kitties")
    assert [e.key for e in excluded_images(ws, "kitties")] == [f"{CONCEPT}/img000.png"]
    assert scan_dataset(ws, "kitties").image_count == 2
    entry = delete_dataset(ws, "kitties")
    trashed = ws.trash / entry.id / "item" / "kitties" / ".nyx" / "excluded" / CONCEPT
    assert sorted(p.name for p in trashed.iterdir()) == ["img000.png", "img000.txt"]


def test_delete_excluded_goes_to_trash_and_notebook_facade(ws, cats):
    ds = Dataset(ws, "cats")
    [e] = ds.exclude("img001.png")
    assert [x.key for x in ds.excluded()] == [e.key]
    gone = delete_excluded(ws, "cats", e.key)
    assert {t.name for t in gone} == {"img001.png", "img001.txt", "img001.npz", "img001_64x64_sd.npz"}
    assert {t.name for t in list_trash(ws)} >= {"img001.png", "img001.txt"}
    assert ds.excluded() == []
    ds.exclude("img000.png", "img002.png")
    assert ds.layout.image_count == 0
    assert [p.name for p in ds.include(f"{CONCEPT}/img000.png", "img002.png")] == ["img000.png", "img002.png"]


def test_ambiguous_name_asks_for_the_folder(ws, cats):
    other = cats / "2_other"
    other.mkdir()
    Image.new("RGB", (8, 8)).save(other / "img000.png")
    with pytest.raises(DatasetError, match="in several concept folders.*give the folder too"):
        exclude_image(ws, "cats", "img000.png")
    assert exclude_image(ws, "cats", "2_other/img000.png").key == "2_other/img000.png"


WORK = Path(os.environ.get("NYX_REAL_SDSCRIPTS_WORK", "/nonexistent"))


@pytest.mark.skipif(not (WORK / "venv" / "bin" / "python").exists() or not (WORK / "sd-scripts").is_dir(),
                    reason="set NYX_REAL_SDSCRIPTS_WORK to a prepared sd-scripts folder (tests/test_real_chain.py)")
def test_real_sd_scripts_never_finds_an_excluded_image(ws, cats):
    """sd-scripts' own folder walk and image glob, on the dataset after excluding one image."""
    exclude_image(ws, "cats", "img001.png")
    code = ("import sys; from library.config_util import generate_dreambooth_subsets_config_by_subdirs as g;"
            "from library.train_util import glob_images;"
            "subs = g(sys.argv[1]); print(sorted(p for s in subs for p in glob_images(s['image_dir'])))")
    env = {**os.environ, "PYTHONPATH": f"{WORK / 'sd-scripts'}:{WORK / 'shim'}", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([str(WORK / "venv" / "bin" / "python"), "-c", code, str(cats)], cwd=WORK / "sd-scripts",
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    out = out.stdout
    assert "img000.png" in out and "img002.png" in out and "img001" not in out
