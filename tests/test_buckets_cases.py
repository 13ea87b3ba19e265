"""Bucket arithmetic against every case that real sd-scripts computed (../shared/kohya/steps/cases.json)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nyx_core.buckets import BucketSpec, assign, effective_min_max, mean_aspect_error, predefined_buckets
from tests.conftest import SHARED_KOHYA

CASES_FILE = SHARED_KOHYA / "steps" / "cases.json"
CASE_IDS = (
    [c["id"] for c in json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]] if CASES_FILE.is_file() else []
)
DEFAULTS = {"enable_bucket": False, "min_bucket_reso": 256, "max_bucket_reso": 1024, "bucket_reso_steps": 64,
            "bucket_no_upscale": False}


def _case(kohya_facts: Path, case_id: str) -> dict:
    data = json.loads((kohya_facts / "steps" / "cases.json").read_text(encoding="utf-8"))
    return next(c for c in data["cases"] if c["id"] == case_id)


def _spec(dataset: dict, general: dict) -> BucketSpec:
    def get(key):
        return dataset.get(key, general.get(key, DEFAULTS[key]))

    res = dataset.get("resolution", general.get("resolution"))
    res = (res, res) if isinstance(res, int) else tuple(res)
    return BucketSpec(resolution=res, enable=get("enable_bucket"), min_reso=get("min_bucket_reso"),
                      max_reso=get("max_bucket_reso"), reso_steps=get("bucket_reso_steps"),
                      no_upscale=get("bucket_no_upscale"))


@pytest.mark.parametrize("case_id", CASE_IDS or ["(cases.json absent)"])
def test_case_buckets(kohya_facts: Path, case_id: str):
    case = _case(kohya_facts, case_id)
    general = case["layout"].get("general", {})
    for layout_ds, expected in zip(case["layout"]["datasets"], case["expected"]["datasets"], strict=True):
        spec = _spec(layout_ds, general)
        assert spec.resolution == tuple(expected["resolution"])
        assert spec.enable == expected["enable_bucket"]
        if spec.enable:
            assert effective_min_max(spec) == (expected["min_bucket_reso"], expected["max_bucket_reso"])
        if "predefined_buckets" in expected:
            assert predefined_buckets(spec) == [tuple(b) for b in expected["predefined_buckets"]]
        for ib in expected["image_buckets"]:
            bucket, resized = assign(spec, tuple(ib["size"]))
            assert (bucket, resized) == (tuple(ib["bucket"]), tuple(ib["resized_size"])), ib
        if "mean_img_ar_error" in expected:
            sizes = [tuple(img["size"]) for s in layout_ds["subsets"] for img in s["images"]
                     for _ in range(img["count"])]
            # the mean is over registered images only: equal here unless reg images are surplus or a
            # validation split removed some (tests/test_steps_cases.py covers those)
            if not any(s.get("is_reg") for s in layout_ds["subsets"]) and "validation_split" not in layout_ds:
                assert mean_aspect_error(spec, sizes) == pytest.approx(expected["mean_img_ar_error"], abs=1e-12)


def test_bucket_lists_have_expected_resolutions(kohya_facts: Path):
    """The printed bucket resolutions of each dataset are exactly those its images map to."""
    data = json.loads((kohya_facts / "steps" / "cases.json").read_text(encoding="utf-8"))
    for case in data["cases"]:
        general = case["layout"].get("general", {})
        for layout_ds, expected in zip(case["layout"]["datasets"], case["expected"]["datasets"]):
            spec = _spec(layout_ds, general)
            got = sorted({assign(spec, tuple(img["size"]))[0] for s in layout_ds["subsets"] for img in s["images"]})
            want = sorted(tuple(b["resolution"]) for b in expected["buckets"])
            if case["id"].startswith("v01"):
                assert set(want) <= set(got)  # validation split may drop a size
            else:
                assert got == want, case["id"]
