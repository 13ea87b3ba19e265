"""The health check on a real dataset with one example of every problem."""
from __future__ import annotations

import pytest
from PIL import Image

from nyx_core.buckets import BucketSpec, bucket_histogram
from nyx_core.datasets.health import check_dataset
from nyx_core.datasets.manager import add_concept, create_dataset, update_settings


def _img(path, size, color="red"):
    Image.new("RGB", size, color).save(path)


@pytest.fixture
def messy(ws):
    create_dataset(ws, "m", "ohwx", 2)
    add_concept(ws, "m", "style", 1)
    update_settings(ws, "m", trigger_word="ohwx")
    a = ws.datasets / "m" / "2_ohwx"
    b = ws.datasets / "m" / "1_style"
    _img(a / "ok.png", (512, 512))
    (a / "ok.txt").write_text("ohwx, smiling")
    _img(a / "nocap.png", (512, 768), "blue")
    _img(a / "empty.png", (768, 512), "green")
    (a / "empty.txt").write_text("  , \n")
    _img(a / "zero.png", (512, 512), "orange")
    (a / "zero.txt").write_bytes(b"")
    _img(a / "notrig.png", (512, 512), "yellow")
    (a / "notrig.txt").write_text("ohwxy, woman\nsecond line")
    _img(a / "dup.png", (512, 512))  # same pixels and encoder as ok.png -> same bytes
    (a / "dup.txt").write_text("ohwx")
    _img(b / "tiny.png", (100, 100), "purple")
    (b / "tiny.txt").write_bytes(b"caf\xe9")  # latin-1, not UTF-8
    _img(b / "wide.png", (2100, 500), "white")
    (b / "wide.txt").write_text("ohwx wide")
    (b / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    (ws.datasets / "m" / "misc").mkdir()
    return ws


def test_every_problem_found_with_its_images(messy):
    r = check_dataset(messy, "m", resolution=512, batch_size=4)
    by = {p.kind: p for p in r.problems}
    assert by["missing_caption"].images == ["2_ohwx/nocap.png", "1_style/broken.png"] or \
        set(by["missing_caption"].images) == {"2_ohwx/nocap.png", "1_style/broken.png"}
    assert by["empty_caption"].images == ["2_ohwx/empty.png"]
    assert by["empty_caption_file"].images == ["2_ohwx/zero.png"] and by["empty_caption_file"].level == "error"
    assert by["missing_trigger"].images == ["2_ohwx/notrig.png"]
    assert by["multiline_caption"].images == ["2_ohwx/notrig.png"]
    assert set(by["duplicate"].images) == {"2_ohwx/ok.png", "2_ohwx/dup.png"}
    assert by["tiny"].images == ["1_style/tiny.png"]
    assert by["extreme_aspect"].images == ["1_style/wide.png"]
    assert by["unreadable"].images == ["1_style/broken.png"] and by["unreadable"].level == "error"
    assert by["bad_caption_encoding"].images == ["1_style/tiny.png"]
    assert "misc/" in by["stray_folder"].message
    assert "small_bucket" in by
    assert not r.ok and r.errors[0].level == "error"
    # buckets equal nyx_core.buckets' histogram per concept with its repeats
    spec = BucketSpec((512, 512))
    want: dict = {}
    for sizes, rep in (([(512, 512), (512, 768), (768, 512), (512, 512), (512, 512), (512, 512)], 2),
                       ([(100, 100), (2100, 500)], 1)):
        for k, v in bucket_histogram(spec, sizes, rep).items():
            want[k] = want.get(k, 0) + v
    assert r.buckets == dict(sorted(want.items()))
    d = r.to_dict()
    assert d["ok"] is False and d["buckets"]


def test_clean_dataset_is_ok(ws):
    create_dataset(ws, "c", "x", 1)
    folder = ws.datasets / "c" / "1_x"
    for i in range(2):
        _img(folder / f"{i}.png", (512, 512), (i, 0, 0))
        (folder / f"{i}.txt").write_text("x, y")
    r = check_dataset(ws, "c", resolution=512, batch_size=2, trigger_word="x")
    assert r.problems == [] and r.ok and r.buckets == {(512, 512): 2}


def test_empty_dataset_and_bad_bucket_settings(ws):
    create_dataset(ws, "e", "x", 1)
    r = check_dataset(ws, "e", resolution=512, min_bucket_reso=768)
    kinds = {p.kind for p in r.errors}
    assert kinds == {"no_images", "bucket_settings"}


def test_matches_kohya_case(ws, kohya_facts):
    """A real sd-scripts bucket case: write images of the case's sizes and compare buckets."""
    import json

    cases = json.loads((kohya_facts / "steps" / "cases.json").read_text())
    cases = cases if isinstance(cases, list) else cases.get("cases", list(cases.values()))
    case = next(c for c in cases if len(c["layout"]["datasets"]) == 1 and len(c["layout"]["datasets"][0]["subsets"]) == 1
                and not c["layout"]["datasets"][0]["subsets"][0].get("is_reg")
                and c["layout"]["datasets"][0]["subsets"][0].get("kind", "dreambooth") == "dreambooth"
                and c["expected"]["datasets"][0].get("buckets") and len(c["expected"]["datasets"][0]["buckets"]) > 1)
    ds = case["layout"]["datasets"][0]
    sub = ds["subsets"][0]
    create_dataset(ws, "k", "c", int(sub["num_repeats"]))
    folder = ws.datasets / "k" / f"{int(sub['num_repeats'])}_c"
    n = 0
    for group in sub["images"]:
        for _ in range(group["count"]):
            _img(folder / f"{n}.png", tuple(group["size"]), (n % 256, n // 256, 0))
            n += 1
    import tomllib

    toml = tomllib.loads(case["dataset_toml"])
    merged = {**toml.get("general", {}), **{k: v for k, v in toml["datasets"][0].items() if k != "subsets"}}
    kwargs = {}
    for key, arg in (("min_bucket_reso", "min_bucket_reso"), ("max_bucket_reso", "max_bucket_reso"),
                     ("bucket_reso_steps", "bucket_reso_steps"), ("bucket_no_upscale", "bucket_no_upscale"),
                     ("enable_bucket", "enable_bucket")):
        if key in merged:
            kwargs[arg] = merged[key]
    r = check_dataset(ws, "k", resolution=merged.get("resolution", 512), **kwargs)
    expected = {tuple(b["resolution"]): b["count"] for b in case["expected"]["datasets"][0]["buckets"]}
    assert r.buckets == expected


def test_too_thin_for_no_upscale_is_reported_not_crashing(ws):
    from PIL import Image

    from nyx_core.datasets.health import check_dataset

    folder = ws.datasets / "thin" / "1_thing"
    folder.mkdir(parents=True)
    Image.new("RGB", (2000, 3)).save(folder / "strip.png")
    (folder / "strip.txt").write_text("a strip")
    report = check_dataset(ws, "thin", resolution=512, bucket_no_upscale=True)
    kinds = {p.kind: p for p in report.problems}
    assert kinds["unbucketable"].images == ["1_thing/strip.png"]
    assert kinds["unbucketable"].level == "error"
