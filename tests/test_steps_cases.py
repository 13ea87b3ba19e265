"""The step calculator against all 26 cases real sd-scripts computed (../shared/kohya/steps/cases.json).

Each case's exact dataset TOML goes through ``plans_from_dataset_config`` (the same path a user's
imported config takes); image sizes come from the case layout, ordered like sd-scripts' sorted glob
of the fixture's file names (``img_{W}x{H}_{k:03d}.png``).
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from nyx_core.steps import compute_steps, plans_from_dataset_config, training_plan_from_args
from tests.conftest import SHARED_KOHYA

CASES_FILE = SHARED_KOHYA / "steps" / "cases.json"
CASES = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"] if CASES_FILE.is_file() else []
CASE_IDS = [c["id"] for c in CASES] or ["(cases.json absent)"]


def _case(kohya_facts: Path, case_id: str) -> dict:
    data = json.loads((kohya_facts / "steps" / "cases.json").read_text(encoding="utf-8"))
    return next(c for c in data["cases"] if c["id"] == case_id)


def _sizes_by_dir(case: dict) -> dict[str, list[tuple[int, int]]]:
    out = {}
    for ds in case["layout"]["datasets"]:
        for sub in ds["subsets"]:
            files, k = [], 0
            for img in sub["images"]:
                w, h = img["size"]
                for _ in range(img["count"]):
                    files.append((f"img_{w}x{h}_{k:03d}.png", (w, h)))
                    k += 1
            key = sub.get("metadata_file") or sub["image_dir"]
            out[key] = [size for _, size in sorted(files)]
    return out


def _report(case: dict):
    sizes = _sizes_by_dir(case)
    training = dict(case["training"])
    for key in training.get("defaults_used", []):
        if key in ("max_train_steps", "max_train_epochs"):
            training[key] = None  # the case relied on sd-scripts' default
    plans = plans_from_dataset_config(
        tomllib.loads(case["dataset_toml"]),
        training,
        sizes_for=lambda sub: sizes[sub.get("metadata_file") or sub["image_dir"]],
    )
    return compute_steps(plans, training_plan_from_args(training))


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_printed_numbers(kohya_facts: Path, case_id: str):
    case = _case(kohya_facts, case_id)
    exp = case["expected"]
    rep = _report(case)
    got = {
        "num_train_images_x_repeats": rep.num_train_images_x_repeats,
        "num_reg_images": rep.num_reg_images,
        "num_validation_images_x_repeats": rep.num_validation_images_x_repeats,
        "num_batches_per_epoch": rep.num_batches_per_epoch,
        "num_update_steps_per_epoch": rep.num_update_steps_per_epoch,
        "total_optimization_steps": rep.total_optimization_steps,
        "num_epochs": rep.num_epochs,
        "override_steps_printed": rep.override_steps_printed,
        "batch_size_per_device": rep.batch_size_per_device,
        "gradient_accumulation_steps": rep.gradient_accumulation_steps,
    }
    assert got == {k: exp[k] for k in got}
    if "validation_batches" in exp:
        assert rep.num_validation_batches == exp["validation_batches"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_bucket_lists(kohya_facts: Path, case_id: str):
    case = _case(kohya_facts, case_id)
    rep = _report(case)
    assert len(rep.datasets) == len(case["expected"]["datasets"])
    for got, exp in zip(rep.datasets, case["expected"]["datasets"]):
        assert [(list(b.resolution), b.count, b.batches) for b in got.buckets] == [
            (b["resolution"], b["count"], b["batches"]) for b in exp["buckets"]
        ]
        assert got.num_batches == exp["num_batches"]
        assert got.batch_size == exp["batch_size"]
        assert list(got.resolution) == exp["resolution"]
        assert (got.enable_bucket, got.min_bucket_reso, got.max_bucket_reso, got.bucket_reso_steps,
                got.bucket_no_upscale) == (exp["enable_bucket"], exp["min_bucket_reso"], exp["max_bucket_reso"],
                                           exp["bucket_reso_steps"], exp["bucket_no_upscale"])
        assert (got.num_train_images_x_repeats, got.num_reg_images) == (
            exp["num_train_images_x_repeats"], exp["num_reg_images"])
        want_images = sorted(
            (tuple(i["size"]), i["is_reg"], tuple(i["bucket"]), tuple(i["resized_size"]),
             i["num_repeats_registered"], i["images"]) for i in exp["image_buckets"]
        )
        have_images = sorted(
            (i.size, i.is_reg, i.bucket, i.resized_size, i.num_repeats, i.images) for i in got.image_buckets
        )
        assert have_images == want_images
        if "mean_img_ar_error" in exp:
            assert got.mean_ar_error == pytest.approx(exp["mean_img_ar_error"], abs=1e-12)


def test_real_runs_agree_with_cases(kohya_facts: Path):
    """The 9 cases confirmed by real runs: what the run printed is what we compute."""
    data = json.loads((kohya_facts / "steps" / "cases.json").read_text(encoding="utf-8"))
    verified = [c for c in data["cases"] if c.get("verified_by_real_run")]
    assert len(verified) == data["verified_count"] == 9
    for case in verified:
        printed = case["real_run"]["printed"]
        rep = _report(case)
        assert rep.total_optimization_steps == printed["total_optimization_steps"], case["id"]
        assert rep.num_epochs == printed["num_epochs"], case["id"]
        assert rep.num_batches_per_epoch == printed["num_batches_per_epoch"], case["id"]
        assert rep.num_train_images_x_repeats == printed["num_train_images_x_repeats"], case["id"]
        assert rep.num_reg_images == printed["num_reg_images"], case["id"]
        if printed.get("progress_bar_total") is not None:
            assert rep.total_optimization_steps == printed["progress_bar_total"], case["id"]


def test_warnings_on_cases(kohya_facts: Path):
    codes = {c["id"]: {w.code for w in _report(c).warnings} for c in CASES}
    assert "default_1600" in codes["nb01_default_1600_steps"]
    assert "below_one_epoch" in codes["nb08_steps_below_one_epoch"]
    assert "below_one_epoch" in codes["nb11_run_locon_64px"]
    assert "bucket_below_batch" in codes["b11_bs8_many_singleton_buckets"]
    assert "default_1600" not in codes["b01_sd15_mixed_ar_epochs"]
    assert codes["b01_sd15_mixed_ar_epochs"] == set()


def test_speed_from_real_logs(kohya_facts: Path):
    """Parsing (not timing): the s/it of the last 'steps:' bar of real sd-scripts logs."""
    from nyx_core.steps import speed_from_progress

    assert speed_from_progress(kohya_facts / "logs" / "spike_lora_prof_20steps.log") == pytest.approx(2.13)
    # a run stopped before its first step has no speed yet
    assert speed_from_progress(kohya_facts / "steps" / "real_runs" / "verify_nb01_default_1600_steps.log") is None
