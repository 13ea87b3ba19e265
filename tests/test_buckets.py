"""Bucket arithmetic on hand-built inputs (no ../shared needed)."""
from __future__ import annotations

import pytest

from nyx_core.buckets import (
    BucketError,
    BucketSpec,
    assign,
    bucket_histogram,
    check_reso_steps,
    effective_min_max,
    mean_aspect_error,
    parse_resolution,
    predefined_buckets,
)

SD15 = BucketSpec(resolution=(512, 512))


def test_sd15_predefined_buckets_are_the_well_known_17():
    buckets = predefined_buckets(SD15)
    assert len(buckets) == 17
    assert buckets[0] == (256, 832) and buckets[-1] == (1024, 256)
    assert (512, 512) in buckets and (640, 384) in buckets and (384, 640) in buckets
    assert buckets == sorted(buckets)
    # every bucket stays within the target area and min/max
    assert all(w * h <= 512 * 512 and 256 <= min(w, h) and max(w, h) <= 1024 for w, h in buckets)


def test_no_bucketing_means_one_bucket_of_the_resolution():
    spec = BucketSpec(resolution=(768, 512), enable=False)
    assert predefined_buckets(spec) == [(768, 512)]
    bucket, resized = assign(spec, (1024, 1024))
    assert bucket == (768, 512)
    assert resized == (768, 768)  # scaled to cover, then cropped


def test_assign_landscape_and_portrait():
    assert assign(SD15, (1536, 1024)) == ((640, 384), (640, 427))
    assert assign(SD15, (1024, 1536)) == ((384, 640), (427, 640))
    assert assign(SD15, (1024, 1024)) == ((512, 512), (512, 512))


def test_exact_predefined_size_is_kept():
    assert assign(SD15, (448, 576)) == ((448, 576), (448, 576))


def test_small_images_are_upscaled_without_no_upscale():
    assert assign(SD15, (200, 200)) == ((512, 512), (512, 512))


def test_no_upscale_keeps_small_images_and_floors_to_step():
    spec = BucketSpec(resolution=(512, 512), no_upscale=True)
    assert assign(spec, (200, 200)) == ((192, 192), (200, 200))
    assert assign(spec, (300, 400)) == ((256, 384), (300, 400))
    assert assign(spec, (1920, 1080)) == ((640, 384), (683, 384))
    assert predefined_buckets(spec) == []


def test_min_max_rounded_to_steps():
    spec = BucketSpec(resolution=(512, 512), min_reso=300, max_reso=1000, reso_steps=64)
    assert effective_min_max(spec) == (256, 1024)
    spec32 = BucketSpec(resolution=(1024, 1024), min_reso=500, max_reso=2000, reso_steps=32)
    assert effective_min_max(spec32) == (480, 2016)


def test_min_above_resolution_is_refused():
    with pytest.raises(BucketError, match="min_bucket_reso"):
        effective_min_max(BucketSpec(resolution=(512, 512), min_reso=576))
    with pytest.raises(BucketError, match="max_bucket_reso"):
        predefined_buckets(BucketSpec(resolution=(1024, 1024), max_reso=768))


def test_histogram_counts_repeats_sorted():
    sizes = [(1024, 1024)] * 4 + [(1536, 1024)] * 3 + [(1024, 1536)] * 3
    assert bucket_histogram(SD15, sizes, repeats=5) == {(384, 640): 15, (512, 512): 20, (640, 384): 15}
    assert list(bucket_histogram(SD15, sizes)) == [(384, 640), (512, 512), (640, 384)]


def test_mean_aspect_error():
    assert mean_aspect_error(SD15, []) == 0.0
    assert mean_aspect_error(SD15, [(512, 512)]) == 0.0
    assert mean_aspect_error(SD15, [(1536, 1024)]) == pytest.approx(abs(640 / 384 - 1.5))


def test_reso_steps_rules_per_family():
    assert check_reso_steps(BucketSpec((512, 512), reso_steps=32), "sd15") is not None
    assert check_reso_steps(BucketSpec((1024, 1024), reso_steps=32), "sdxl") is None
    assert check_reso_steps(BucketSpec((512, 512), enable=False, reso_steps=32), "sd15") is None


@pytest.mark.parametrize(
    "value,expected",
    [(512, (512, 512)), ("768,512", (768, 512)), ([768, 512], (768, 512)), ("1024", (1024, 1024))],
)
def test_parse_resolution(value, expected):
    assert parse_resolution(value) == expected


@pytest.mark.parametrize("value", ["abc", "0", [1, 2, 3], "-5"])
def test_parse_resolution_rejects(value):
    with pytest.raises(BucketError):
        parse_resolution(value)


def test_spec_accepts_list_resolution_and_stays_hashable():
    spec = BucketSpec(resolution=[768, 512])  # type: ignore[arg-type]
    assert spec.resolution == (768, 512)
    hash(spec)


def test_no_upscale_refuses_too_thin_images():
    spec = BucketSpec(resolution=(256, 256), min_reso=64, max_reso=256, reso_steps=32, no_upscale=True)
    with pytest.raises(BucketError, match="too thin"):
        assign(spec, (28, 2341))  # sd-scripts divides by zero on this one
    with pytest.raises(BucketError, match="too thin"):
        assign(spec, (20, 300))  # bucket would be 0 px wide
