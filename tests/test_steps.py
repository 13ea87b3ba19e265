"""Step calculator on hand-built layouts and real files (no ../shared needed)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from PIL import Image

from nyx_core.buckets import BucketSpec
from nyx_core.steps import (
    DatasetPlan,
    StepsError,
    StepWarning,
    SubsetPlan,
    TrainingPlan,
    compute_steps,
    estimate_time,
    format_duration,
    image_files,
    plan_from_folders,
    plans_from_dataset_config,
    read_image_sizes,
    simple_plan,
    speed_from_log,
    speed_from_progress,
    speeds_from_jobs,
    summary_lines,
)

SD15_BUCKETS = BucketSpec(resolution=(512, 512), enable=True)


def _codes(report) -> set[str]:
    return {w.code for w in report.warnings}


def test_simple_epochs():
    rep = compute_steps([simple_plan(10, repeats=10)], TrainingPlan(max_train_epochs=10))
    assert rep.num_train_images_x_repeats == 100
    assert rep.num_batches_per_epoch == 100
    assert rep.total_optimization_steps == 1000
    assert rep.num_epochs == 10
    assert rep.override_steps_printed
    assert rep.buckets == [[((512, 512), 100, 100)]]
    assert rep.warnings == []


def test_batch_and_accumulation_round_up():
    # 7 images in batches of 3 -> 3 batches; accumulation 2 -> 2 optimiser steps per epoch
    rep = compute_steps([simple_plan(7, batch_size=3)], TrainingPlan(max_train_epochs=5, gradient_accumulation_steps=2))
    assert (rep.num_batches_per_epoch, rep.num_update_steps_per_epoch) == (3, 2)
    assert (rep.total_optimization_steps, rep.num_epochs) == (10, 5)


def test_steps_given_gives_epochs():
    rep = compute_steps([simple_plan(15, repeats=3, batch_size=4)], TrainingPlan(max_train_steps=100))
    assert rep.num_batches_per_epoch == 12
    assert rep.num_epochs == 9  # ceil(100 / 12)
    assert not rep.override_steps_printed


def test_default_1600_warns():
    rep = compute_steps([simple_plan(10, repeats=10)], TrainingPlan())
    assert rep.total_optimization_steps == 1600 and rep.num_epochs == 16
    assert rep.default_steps_used and "default_1600" in _codes(rep)


def test_epochs_win_over_steps():
    rep = compute_steps([simple_plan(10)], TrainingPlan(max_train_steps=3, max_train_epochs=2))
    assert rep.total_optimization_steps == 20
    assert "epochs_override_steps" in _codes(rep)


def test_below_one_epoch_warns():
    rep = compute_steps([simple_plan(10, repeats=20)], TrainingPlan(max_train_steps=50))
    assert rep.num_epochs == 1 and "below_one_epoch" in _codes(rep)


def test_buckets_batch_per_bucket():
    sizes = [(1024, 1024)] * 5 + [(1536, 1024)] * 4 + [(1024, 1536)] * 4 + [(1920, 1080)] * 3
    plan = DatasetPlan([SubsetPlan(sizes, num_repeats=3)], batch_size=4, bucket=SD15_BUCKETS)
    rep = compute_steps([plan], TrainingPlan(max_train_steps=50, gradient_accumulation_steps=2))
    assert [tuple(b) for b in rep.buckets[0]] == [((384, 640), 12, 3), ((512, 512), 15, 4), ((640, 384), 21, 6)]
    assert (rep.num_batches_per_epoch, rep.num_update_steps_per_epoch, rep.num_epochs) == (13, 7, 8)


def test_small_bucket_warns():
    sizes = [(512, 512)] * 8 + [(1536, 1024)]
    plan = DatasetPlan([SubsetPlan(sizes)], batch_size=4, bucket=SD15_BUCKETS)
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=1))
    small = [w for w in rep.warnings if w.code == "bucket_below_batch"]
    assert len(small) == 1 and "640x384" in small[0]


def test_reg_images_balanced_to_train_count():
    plan = DatasetPlan(
        [SubsetPlan([(512, 512)] * 10, num_repeats=10), SubsetPlan([(512, 512)] * 50, is_reg=True)],
        batch_size=2, bucket=BucketSpec((512, 512), enable=False),
    )
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=2))
    assert rep.num_train_images_x_repeats == 100 and rep.num_reg_images == 50
    assert rep.buckets[0] == [((512, 512), 200, 100)]  # 100 train + reg repeated up to 100
    assert rep.total_optimization_steps == 200


def test_reg_surplus_uses_only_what_is_needed():
    plan = DatasetPlan(
        [SubsetPlan([(512, 512)] * 3, num_repeats=2), SubsetPlan([(512, 512)] * 20, is_reg=True)],
        bucket=BucketSpec((512, 512), enable=False),
    )
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=1))
    assert rep.buckets[0] == [((512, 512), 12, 12)]
    assert rep.num_reg_images == 20 and "reg_surplus" in _codes(rep)


def test_reg_extra_repeats_go_in_file_order():
    # 40 train x repeats, 16 reg: three passes, the third adds one more to the first 8 reg images
    reg = [(1024, 1024)] * 6 + [(1536, 1024)] * 10
    plan = DatasetPlan(
        [SubsetPlan([(1024, 1024)] * 4 + [(1024, 1536)] * 4, num_repeats=5), SubsetPlan(reg, is_reg=True)],
        batch_size=2, bucket=SD15_BUCKETS,
    )
    rep = compute_steps([plan], TrainingPlan(max_train_steps=120))
    assert [tuple(b) for b in rep.buckets[0]] == [((384, 640), 20, 10), ((512, 512), 38, 19), ((640, 384), 22, 11)]


def test_reg_only_dataset_trains_nothing():
    plan = DatasetPlan([SubsetPlan([(512, 512)] * 5, is_reg=True)], bucket=BucketSpec((512, 512), enable=False))
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=1))
    assert rep.total_optimization_steps == 0 and {"no_images", "reg_only"} <= _codes(rep)


def test_validation_split_counts():
    sizes = [(1024, 1024)] * 6 + [(1024, 1536)] * 4
    plan = DatasetPlan([SubsetPlan(sizes, num_repeats=4)], batch_size=2, bucket=SD15_BUCKETS,
                       validation_split=0.2, validation_seed=7)
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=3))
    assert rep.num_train_images_x_repeats == 32  # ceil(10 * 0.8) = 8 images x 4
    assert rep.num_validation_images_x_repeats == 2  # validation has no repeats
    assert rep.num_validation_batches == 1
    unseeded = compute_steps([DatasetPlan([SubsetPlan(sizes)], validation_split=0.2)], TrainingPlan(max_train_epochs=1))
    assert "validation_unseeded" in _codes(unseeded)


def test_two_datasets_and_several_gpus():
    a = simple_plan(10, batch_size=2)  # 5 batches
    b = simple_plan(5, batch_size=1)  # 5 batches
    rep = compute_steps([a, b], TrainingPlan(max_train_epochs=3, num_processes=2))
    assert rep.batch_size_per_device == [2, 1]
    assert rep.num_batches_per_epoch == 5  # 10 batches shared by 2 processes
    assert rep.total_optimization_steps == 15 and rep.num_epochs == 3


def test_subset_with_zero_repeats_is_ignored():
    plan = DatasetPlan([SubsetPlan([(512, 512)] * 4, num_repeats=0), SubsetPlan([(512, 512)] * 2)],
                       bucket=BucketSpec((512, 512), enable=False))
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=1))
    assert rep.num_train_images_x_repeats == 2 and "subset_ignored" in _codes(rep)


@pytest.mark.parametrize(
    "plan,training",
    [
        (simple_plan(1), TrainingPlan(gradient_accumulation_steps=0)),
        (simple_plan(1), TrainingPlan(num_processes=0)),
        (simple_plan(1), TrainingPlan(max_train_epochs=0)),
        (simple_plan(1), TrainingPlan(max_train_steps=0)),
        (simple_plan(1, batch_size=0), TrainingPlan(max_train_epochs=1)),
    ],
)
def test_bad_inputs_raise_clear_errors(plan, training):
    with pytest.raises(StepsError):
        compute_steps([plan], training)


def test_report_serialises_and_warnings_are_strings():
    rep = compute_steps([simple_plan(3)], TrainingPlan())
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["total_optimization_steps"] == 1600
    assert data["warnings"][0]["code"] == "default_1600"
    w = rep.warnings[0]
    assert isinstance(w, str) and "1600" in w
    assert copy.deepcopy(w).code == "default_1600"
    assert StepWarning("x", "y") == "y"


def test_adjusted_min_max_warns():
    spec = BucketSpec((512, 512), enable=True, min_reso=300, max_reso=1000)
    rep = compute_steps([DatasetPlan([SubsetPlan([(512, 512)])], bucket=spec)], TrainingPlan(max_train_epochs=1))
    assert rep.datasets[0].min_bucket_reso == 256 and rep.datasets[0].max_bucket_reso == 1024
    assert "bucket_reso_adjusted" in _codes(rep)


# ------------------------------------------------------------------------------------------ files


def _img(path: Path, size: tuple[int, int], fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path, fmt)


def test_read_image_sizes_follows_sd_scripts_glob(tmp_path: Path):
    d = tmp_path / "10_ohwx"
    _img(d / "b.png", (64, 96))
    _img(d / "a.JPG", (96, 64), "JPEG")
    _img(d / "c.Png", (32, 32))  # sd-scripts' glob does not match this spelling
    _img(d / ".hidden.png", (32, 32))  # nor dot-files
    (d / "a.txt").write_text("caption")
    (d / "sub.png").mkdir()
    assert [p.name for p in image_files(d)] == ["a.JPG", "b.png"]
    assert read_image_sizes(d) == [(96, 64), (64, 96)]
    assert read_image_sizes(tmp_path / "missing") == []


def test_read_image_sizes_does_not_decode_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _img(tmp_path / "x.png", (300, 200))

    def no_load(self, *a, **k):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_load)
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_load)
    assert read_image_sizes(tmp_path) == [(300, 200)]


def test_unreadable_image_is_a_clear_error(tmp_path: Path):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(StepsError, match="broken.png"):
        read_image_sizes(tmp_path)


def test_plan_from_folders(tmp_path: Path):
    root = tmp_path / "ds"
    for i in range(3):
        _img(root / "10_ohwx woman" / f"{i}.png", (128, 128))
    _img(root / "2_style" / "s.png", (192, 128))
    _img(root / "notes" / "n.png", (64, 64))  # not a concept folder: ignored like sd-scripts
    _img(tmp_path / "reg" / "1_woman" / "r.png", (128, 128))
    subsets = plan_from_folders(root, tmp_path / "reg")
    assert [(s.name, s.num_repeats, s.is_reg, len(s.image_sizes)) for s in subsets] == [
        ("ohwx woman", 10, False, 3), ("style", 2, False, 1), ("woman", 1, True, 1)]
    plan = DatasetPlan(subsets, bucket=BucketSpec((128, 128), min_reso=64, max_reso=256))
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=1))
    assert rep.num_train_images_x_repeats == 32 and rep.num_reg_images == 1
    with pytest.raises(StepsError):
        plan_from_folders(tmp_path / "nope")


def test_plans_from_dataset_config_reads_folders_and_inherits(tmp_path: Path):
    for i in range(4):
        _img(tmp_path / "imgs" / f"{i}.png", (768, 512))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"a.png": {"caption": "x", "image_size": [512, 512]}}))
    _img(tmp_path / "ft" / "b.png", (640, 640))
    meta2 = tmp_path / "meta2.json"
    meta2.write_text(json.dumps({"b.png": {"caption": "y"}}))
    config = {
        "general": {"enable_bucket": True, "num_repeats": 3},
        "datasets": [
            {"subsets": [{"image_dir": str(tmp_path / "imgs")}]},
            {"resolution": 512, "batch_size": 2,
             "subsets": [{"metadata_file": str(meta), "image_dir": str(tmp_path)},
                         {"metadata_file": str(meta2), "image_dir": str(tmp_path / "ft"), "num_repeats": 1}]},
        ],
    }
    plans = plans_from_dataset_config(config, {"resolution": "512", "train_batch_size": 4})
    assert plans[0].batch_size == 4 and plans[0].bucket.enable and plans[0].subsets[0].num_repeats == 3
    assert plans[0].subsets[0].image_sizes == [(768, 512)] * 4
    assert plans[1].fine_tuning and plans[1].subsets[0].image_sizes == [(512, 512)]
    assert plans[1].subsets[1].image_sizes == [(640, 640)]
    rep = compute_steps(plans, TrainingPlan(max_train_epochs=1))
    assert rep.num_train_images_x_repeats == 12 + 3 + 1
    with pytest.raises(StepsError, match="resolution"):
        plans_from_dataset_config({"datasets": [{"subsets": []}]}, {})


# ------------------------------------------------------------------------------------------- time


def test_estimate_and_format():
    assert estimate_time(100, 1.5) == 150.0
    assert format_duration(45) == "45 s"
    assert format_duration(150) == "2 min 30 s"
    assert format_duration(3725) == "1 h 2 min"
    assert format_duration(3 * 86400 + 7200) == "3 d 2 h"
    with pytest.raises(StepsError):
        estimate_time(10, 0)


def test_speed_from_progress_sources(tmp_path: Path):
    assert speed_from_progress(2.5) == 2.5
    assert speed_from_progress([{"step": 1, "s_per_it": 2.0}, {"step": 2, "s_per_it": 4.0},
                                {"step": 3, "s_per_it": 3.0}]) == 3.0
    assert speed_from_progress([{"step": 0, "elapsed": 10.0}, {"step": 10, "elapsed": 40.0}]) == 40.0 / 10
    assert speed_from_progress([{"step": 2, "elapsed_s": 10.0}, {"step": 12, "elapsed_s": 40.0}]) == 3.0
    assert speed_from_progress([{"type": "step", "step": 1, "it_per_s": 0.5},
                                {"type": "metric", "step": 1, "it_per_s": 100.0}]) == 2.0
    p = tmp_path / "progress.jsonl"
    p.write_text('{"step": 1, "seconds_per_step": 1.25}\nnot json\n')
    assert speed_from_progress(p) == 1.25
    log = tmp_path / "run.log"
    log.write_text("steps:  50%|#####     | 1/2 [00:02<00:02,  2.20s/it]\rsteps: 100%|##########| 2/2 [00:03<00:00,"
                   "  1.50it/s, avr_loss=0.1]\n")
    assert speed_from_progress(log) == pytest.approx(1 / 1.5)
    assert speed_from_progress(tmp_path / "absent.jsonl") is None
    assert speed_from_progress([{"type": "step", "step": 0, "rate": None, "it_per_s": None}]) is None
    assert speed_from_log("caching latents: 10.0s/it\n") is None


def test_speeds_from_job_folders(tmp_path: Path):
    jobs = tmp_path / "jobs"
    (jobs / "20260101-100000-a").mkdir(parents=True)
    (jobs / "20260101-100000-a" / "progress.jsonl").write_text(
        json.dumps({"v": 1, "t": 1.0, "type": "step", "step": 1, "elapsed_s": 2.0, "it_per_s": 0.5}) + "\n"
        + json.dumps({"v": 1, "t": 9.0, "type": "step", "step": 5, "elapsed_s": 10.0, "it_per_s": 0.5}) + "\n")
    (jobs / "20260102-100000-b").mkdir()
    (jobs / "20260102-100000-b" / "progress.jsonl").write_text("")  # never started
    (jobs / "20260103-100000-c").mkdir()
    (jobs / "20260103-100000-c" / "train.log").write_text("steps: 100%|#| 4/4 [00:08<00:00,  2.00s/it]\n")
    assert speeds_from_jobs(jobs) == [("20260103-100000-c", 2.0), ("20260101-100000-a", 2.0)]
    assert speeds_from_jobs(tmp_path / "none") == []


def test_summary_lines_read_like_sd_scripts():
    sizes = [(1024, 1024)] * 4 + [(1536, 1024)] * 3 + [(1024, 1536)] * 3
    rep = compute_steps([DatasetPlan([SubsetPlan(sizes, 5)], bucket=SD15_BUCKETS)], TrainingPlan(max_train_epochs=4))
    lines = summary_lines(rep)
    assert lines[0] == "override steps. steps for 4 epochs is: 200"
    assert "total optimization steps: 200" in lines and "num batches per epoch: 50" in lines
    assert "  bucket 0: resolution (384, 640), count: 15, batches: 15" in lines


def test_fine_tuning_validation_is_a_copy():
    plan = DatasetPlan([SubsetPlan([(512, 512)] * 10, 2)], bucket=BucketSpec((512, 512), enable=False),
                       validation_split=0.2, validation_seed=1, fine_tuning=True)
    rep = compute_steps([plan], TrainingPlan(max_train_epochs=1))
    assert rep.num_train_images_x_repeats == 20 and rep.num_validation_images_x_repeats == 20
    assert "validation_not_split" in _codes(rep)
