"""Dataset health check: what would make training worse or fail, each problem naming its images.

Image sizes come from headers (no full decode); each image is also ``verify()``-ed, which reads the
file but does not decode pixels. Buckets are computed with ``nyx_core.buckets`` (sd-scripts'
arithmetic), per concept with its repeats, exactly as sd-scripts counts them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

from nyx_core.buckets import BucketError, BucketSpec, assign, parse_resolution
from nyx_core.datasets.captions import has_word, split_tags
from nyx_core.datasets.layout import caption_path, scan_dataset
from nyx_core.workspace import Workspace

#: long side / short side above which an image is mostly cropped away or badly bucketed
EXTREME_ASPECT = 4.0
#: an image with less than this share of the training area gets upscaled noticeably
TINY_AREA_SHARE = 0.5

ERROR_KINDS = frozenset({"unreadable", "no_images", "bad_caption_encoding", "empty_caption_file", "bucket_settings",
                         "unbucketable"})

TITLES = {
    "no_images": "No trainable images",
    "unreadable": "Unreadable images",
    "bad_caption_encoding": "Captions that are not UTF-8",
    "bucket_settings": "Bucket settings sd-scripts would refuse",
    "missing_caption": "Images without a caption",
    "empty_caption_file": "Zero-byte caption files (sd-scripts stops on them)",
    "empty_caption": "Empty captions",
    "missing_trigger": "Captions without the trigger word",
    "multiline_caption": "Captions with several lines (sd-scripts reads only the first)",
    "duplicate": "Duplicate images (same content)",
    "tiny": "Small images (will be upscaled)",
    "extreme_aspect": "Extreme aspect ratios",
    "unbucketable": "Images too thin for any bucket",
    "stray_folder": "Folders sd-scripts ignores",
    "skipped_extension": "Images sd-scripts skips (extension case)",
    "small_bucket": "Buckets smaller than the batch size",
}


class Problem(NamedTuple):
    kind: str
    message: str
    images: list[str]  # dataset-relative posix paths

    @property
    def level(self) -> str:
        return "error" if self.kind in ERROR_KINDS else "warning"

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "level": self.level, "title": self.title, "message": self.message,
                "images": self.images}


@dataclass
class BucketRow:
    resolution: tuple[int, int]
    count: int  # images × repeats, as sd-scripts prints it
    images: list[str]


@dataclass
class HealthReport:
    name: str
    image_count: int
    spec: BucketSpec | None
    batch_size: int
    problems: list[Problem] = field(default_factory=list)
    buckets: dict[tuple[int, int], int] = field(default_factory=dict)
    bucket_rows: list[BucketRow] = field(default_factory=list)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "image_count": self.image_count,
            "batch_size": self.batch_size,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "buckets": [{"resolution": list(r.resolution), "count": r.count, "images": len(r.images)}
                        for r in self.bucket_rows],
        }


def _hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _probe(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """(size, None) for a readable image, (None, reason) otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            # raw header size, no EXIF rotation: sd-scripts buckets on the same numbers
            size = im.size
            im.verify()
        return size, None
    except UnidentifiedImageError:
        return None, "not an image"
    except Exception as exc:  # noqa: BLE001 - any decoder failure means sd-scripts would fail too
        return None, f"{type(exc).__name__}: {exc}"


def check_dataset(ws: Workspace, name: str, *, resolution: int | tuple[int, int] | str = 512,
                  min_bucket_reso: int = 256, max_bucket_reso: int = 1024, bucket_reso_steps: int = 64,
                  bucket_no_upscale: bool = False, batch_size: int = 1, trigger_word: str | None = None,
                  enable_bucket: bool = True,
                  progress: Callable[[int, int], None] | None = None) -> HealthReport:
    """Check dataset ``name``. ``trigger_word`` defaults to the dataset's own setting."""
    if batch_size < 1:
        raise BucketError("batch size must be at least 1")
    layout = scan_dataset(ws, name)
    trigger = (trigger_word if trigger_word is not None else layout.trigger_word) or None
    res = parse_resolution(resolution)
    spec: BucketSpec | None = BucketSpec(res, enable_bucket, min_bucket_reso, max_bucket_reso,
                                         bucket_reso_steps, bucket_no_upscale)
    report = HealthReport(layout.name, layout.image_count, spec, batch_size)
    problems: dict[str, list[str]] = {}
    notes: dict[str, str] = {}

    def add(kind: str, rel: str) -> None:
        problems.setdefault(kind, []).append(rel)

    try:
        assign(spec, (res[0], res[1]))  # validates min/max against the resolution like sd-scripts
    except BucketError as exc:
        notes["bucket_settings"] = str(exc)
        problems["bucket_settings"] = []
        spec = None
        report.spec = None

    rel = lambda p: p.relative_to(layout.root).as_posix()  # noqa: E731
    hashes: dict[str, list[str]] = {}
    bucket_images: dict[tuple[int, int], list[str]] = {}
    bucket_counts: dict[tuple[int, int], int] = {}
    all_images = [(c, img) for c in layout.concepts for img in c.images]
    for i, (concept, img) in enumerate(all_images, 1):
        if progress:
            progress(i, len(all_images))
        r = rel(img)
        size, why = _probe(img)
        if size is None:
            add("unreadable", r)
            notes.setdefault("unreadable_first", f"{r}: {why}")
        else:
            report.sizes[r] = size
            w, h = size
            if w * h < res[0] * res[1] * TINY_AREA_SHARE:
                add("tiny", r)
            if max(w, h) / max(1, min(w, h)) > EXTREME_ASPECT:
                add("extreme_aspect", r)
            if spec is not None:
                try:
                    bucket = assign(spec, size)[0]
                except BucketError:
                    # Under no-upscale, sd-scripts divides by zero on these; name them instead of crashing.
                    add("unbucketable", r)
                else:
                    bucket_counts[bucket] = bucket_counts.get(bucket, 0) + concept.repeats
                    bucket_images.setdefault(bucket, []).append(r)
            hashes.setdefault(_hash(img), []).append(r)
        cap = caption_path(img, layout.caption_ext)
        try:
            raw = cap.read_bytes()
        except FileNotFoundError:
            add("missing_caption", r)
            continue
        if not raw:
            add("empty_caption_file", r)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            add("bad_caption_encoding", r)
            continue
        first = text.lstrip("\ufeff").split("\n", 1)
        if not split_tags(first[0]):
            add("empty_caption", r)
            continue
        if len(first) > 1 and first[1].strip():
            add("multiline_caption", r)
        if trigger and not has_word(first[0], trigger):
            add("missing_trigger", r)

    out: list[Problem] = []
    if layout.image_count == 0:
        where = "no '<repeats>_<concept>' folder" if not layout.concepts else "its concept folders are empty"
        out.append(Problem("no_images", f"the dataset has no images sd-scripts would train on ({where})", []))
    if "bucket_settings" in problems:
        out.append(Problem("bucket_settings", notes["bucket_settings"], []))
    n = layout.image_count
    msgs = {
        "unreadable": lambda k: f"{k} image(s) cannot be read and would stop training "
                                f"(first: {notes.get('unreadable_first')}); replace or delete them",
        "bad_caption_encoding": lambda k: f"{k} caption(s) are not UTF-8 text; sd-scripts fails on them. Re-save as UTF-8",
        "missing_caption": lambda k: f"{k} of {n} image(s) have no {layout.caption_ext} caption "
                                     "(sd-scripts then uses the concept name as the caption)",
        "empty_caption_file": lambda k: f"{k} caption file(s) are completely empty (0 bytes); sd-scripts stops "
                                        "with 'caption file is empty'. Write a caption or delete the file",
        "empty_caption": lambda k: f"{k} caption(s) are empty",
        "missing_trigger": lambda k: f"{k} caption(s) do not contain the trigger word {trigger!r}",
        "multiline_caption": lambda k: f"{k} caption(s) have more than one line; only the first is trained on",
        "tiny": lambda k: f"{k} image(s) are under half the training area {res[0]}×{res[1]}"
                          + ("" if bucket_no_upscale else " and will be upscaled (blurry)"),
        "extreme_aspect": lambda k: f"{k} image(s) are more than {EXTREME_ASPECT:g}:1; most of them gets cropped",
        "unbucketable": lambda k: f"{k} image(s) are so thin that a bucket side would be 0 px with no-upscale "
                                  "(sd-scripts crashes on them); crop them or turn no-upscale off",
    }
    for kind, fn in msgs.items():
        if problems.get(kind):
            out.append(Problem(kind, fn(len(problems[kind])), problems[kind]))
    dup_groups = [g for g in hashes.values() if len(g) > 1]
    if dup_groups:
        imgs = [r for g in dup_groups for r in g]
        out.append(Problem("duplicate", f"{len(dup_groups)} group(s) of identical images: "
                           + "; ".join(" = ".join(g) for g in dup_groups[:5]), imgs))
    stray = [p.name + "/" for p in layout.stray] + [p.name for p in layout.loose_images]
    if stray:
        out.append(Problem("stray_folder", "not in a '<repeats>_<concept>' folder, so sd-scripts skips: "
                           + ", ".join(stray[:10]), [p.name for p in layout.loose_images]))

    skipped = [rel(p) for p in layout.skipped_images()]
    if skipped:
        out.append(Problem("skipped_extension", f"{len(skipped)} image file(s) will not be trained: sd-scripts matches "
                           "extensions exactly (.png or .PNG, not .Png). Rename them to the lower-case extension "
                           "(the Datasets page can do it; captions follow)", skipped))

    report.buckets = dict(sorted(bucket_counts.items()))
    report.bucket_rows = [BucketRow(b, c, bucket_images[b]) for b, c in report.buckets.items()]
    small = [r for r in report.bucket_rows if r.count < batch_size]
    if small and batch_size > 1:
        out.append(Problem(
            "small_bucket",
            f"{len(small)} bucket(s) hold fewer images than the batch size {batch_size}: "
            + ", ".join(f"{r.resolution[0]}×{r.resolution[1]} ({r.count})" for r in small[:8])
            + "; their batches are partly empty. Add images of those shapes or crop them to a common one",
            [img for r in small for img in r.images],
        ))
    report.problems = sorted(out, key=lambda p: (p.level != "error",))
    return report
