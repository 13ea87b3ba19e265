"""steps_for(cfg, ws): a Nyx config + its dataset folders give the step count sd-scripts printed."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from nyx_core.config import new_config, steps_for
from tests.test_config_support import ready_config

CASES = ["nb04_ga2_epochs", "nb09_nonsquare_resolution", "b01_sd15_mixed_ar_epochs", "b03_bs4_ga2_steps",
         "b06_no_upscale_small_images", "b10_two_subsets_repeats", "b18_general_section",
         "b19_run_bucket_epochs_samples", "b20_run_bucket_ga2", "r03_reg_buckets", "nb06_train_batch_size_fallback"]


def test_steps_for_simple(ws):
    cfg = ready_config(ws, "sd15", dataset={"batch_size": 1, "max_train_epochs": 4, "enable_bucket": False})
    report = steps_for(cfg, ws)
    # 3 images x 10 repeats, batch 1, no buckets -> 30 steps per epoch
    assert report.num_batches_per_epoch == 30
    assert report.total_optimization_steps == 120 and report.num_epochs == 4
    cfg = cfg.model_copy(update={"optimizer": cfg.optimizer.model_copy(update={"gradient_accumulation_steps": 2})})
    assert steps_for(cfg, ws).total_optimization_steps == 60


def test_steps_follow_dataset_changes(ws):
    cfg = ready_config(ws, "sd15", dataset={"enable_bucket": False, "max_train_epochs": 1})
    before = steps_for(cfg, ws).total_optimization_steps
    folder = ws.datasets / "cats" / "10_ohwx cat"
    Image.new("RGB", (64, 64)).save(folder / "new.png")
    assert steps_for(cfg, ws).total_optimization_steps == before + 10


@pytest.mark.parametrize("case_id", CASES)
def test_reproduces_real_sd_scripts_counts(ws, kohya_facts, case_id):
    cases = {c["id"]: c for c in json.loads((kohya_facts / "steps" / "cases.json").read_text())["cases"]}
    case = cases[case_id]
    (ds,) = case["layout"]["datasets"]
    general = case["layout"]["general"]
    training = case["training"]
    root = ws.datasets / case_id
    concepts = []
    for j, sub in enumerate(ds["subsets"]):
        folder = root / f"{sub['num_repeats']}_s{j}"
        folder.mkdir(parents=True)
        k = 0
        for group in sub["images"]:
            w, h = group["size"]
            for _ in range(group["count"]):
                Image.new("L", (w, h)).save(folder / f"img_{w}x{h}_{k:03d}.png", compress_level=1)
                k += 1
        if sub.get("is_reg"):
            concepts.append({"folder": folder.name, "is_reg": True})

    def get(key, default):
        return ds.get(key, general.get(key, default))

    res = get("resolution", 512)
    width, height = (res, res) if isinstance(res, int) else res
    dataset = {
        "name": case_id, "concepts": concepts, "resolution": width, "resolution_height": height,
        "batch_size": get("batch_size", training["train_batch_size"]),
        "enable_bucket": get("enable_bucket", False),
        "min_bucket_reso": get("min_bucket_reso", 256), "max_bucket_reso": get("max_bucket_reso", 1024),
        "bucket_reso_steps": get("bucket_reso_steps", 64), "bucket_no_upscale": get("bucket_no_upscale", False),
    }
    if training["max_train_epochs"]:
        dataset.update(duration="epochs", max_train_epochs=training["max_train_epochs"])
    else:
        dataset.update(duration="steps", max_train_steps=training["max_train_steps"])
    cfg = new_config("case", "sd15", dataset=dataset,
                     optimizer={"gradient_accumulation_steps": training["gradient_accumulation_steps"]})
    report = steps_for(cfg, ws)
    exp = case["expected"]
    assert report.total_optimization_steps == exp["total_optimization_steps"]
    assert report.num_epochs == exp["num_epochs"]
    assert report.num_batches_per_epoch == exp["num_batches_per_epoch"]
    assert report.num_train_images_x_repeats == exp["num_train_images_x_repeats"]
    got = [(tuple(b.resolution), b.count, b.batches) for b in report.datasets[0].buckets]
    want = [(tuple(b["resolution"]), b["count"], b["batches"]) for b in exp["datasets"][0]["buckets"]]
    assert sorted(got) == sorted(want)
