"""Aspect-ratio buckets, computed exactly the way sd-scripts' dataset code does.

Pure arithmetic, no I/O. The rules are re-expressed from kohya-ss/sd-scripts at the pinned commit
48d368fa (``library/train_util.py``: ``BucketManager``, ``BaseDataset.make_buckets``,
``adjust_min_max_bucket_reso_by_steps``; ``library/model_util.py``: ``make_bucket_resolutions``).
Float operations are kept in the same order as there, because a bucket choice can hinge on a tie
between two aspect-ratio errors, and the checks in tests/test_buckets_cases.py compare against real
sd-scripts output (../shared/kohya/steps/cases.json).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from nyx_core.errors import NyxError

Size = tuple[int, int]


class BucketError(NyxError, ValueError):
    """Bucket settings that sd-scripts would refuse at start-up."""


@dataclass(frozen=True)
class BucketSpec:
    """One dataset's resolution and bucketing settings (the keys of a ``[[datasets]]`` table).

    ``resolution`` is (width, height). With ``enable=False`` every image goes to one bucket of
    exactly ``resolution``; min/max/steps/no_upscale are then ignored, as in sd-scripts.
    """

    resolution: Size
    enable: bool = True
    min_reso: int = 256
    max_reso: int = 1024
    reso_steps: int = 64
    no_upscale: bool = False

    def __post_init__(self) -> None:
        # keep the spec hashable (it keys caches) even when given a list such as [768, 512]
        w, h = self.resolution
        object.__setattr__(self, "resolution", (int(w), int(h)))
        # sd-scripts divides by these: a zero or negative one is a one-line refusal, not a crash
        for name, value in (("resolution", min(int(w), int(h))), ("min_bucket_reso", self.min_reso),
                            ("max_bucket_reso", self.max_reso), ("bucket_reso_steps", self.reso_steps)):
            if value < 1:
                raise BucketError(f"{name} must be at least 1 pixel, not {value}")

    @staticmethod
    def square(size: int, **kwargs: object) -> "BucketSpec":
        return BucketSpec(resolution=(size, size), **kwargs)  # type: ignore[arg-type]


def parse_resolution(value: int | str | tuple[int, int] | list[int]) -> Size:
    """Accept what users and TOML files write: ``512``, ``"768,512"``, ``[768, 512]``."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise BucketError(
                f"resolution {value!r} is not a number or 'width,height'; write e.g. 512 or 768,512"
            ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        nums = [value]
    else:
        nums = [int(v) for v in value]
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) <= 0:
        raise BucketError(f"resolution {value!r} must be one positive size or width,height")
    return (nums[0], nums[1])


def _check(spec: BucketSpec) -> None:
    w, h = spec.resolution
    if w <= 0 or h <= 0:
        raise BucketError(f"resolution {spec.resolution} must be positive")
    if spec.enable and spec.reso_steps <= 0:
        raise BucketError("bucket_reso_steps must be a positive number, e.g. 64")


def effective_min_max(spec: BucketSpec) -> tuple[int, int]:
    """min/max bucket resolution after sd-scripts rounds them to the bucket step.

    sd-scripts rounds min *down* and max *up* to a multiple of ``reso_steps``, then refuses to start
    when min exceeds the short side of ``resolution`` or max is below its long side.
    (train_util.BaseDataset.adjust_min_max_bucket_reso_by_steps)
    """
    _check(spec)
    step = spec.reso_steps
    lo, hi = spec.min_reso, spec.max_reso
    if lo % step:
        lo -= lo % step
    if hi % step:
        hi += step - hi % step
    if min(spec.resolution) < lo:
        raise BucketError(
            f"min bucket resolution {lo} is larger than the resolution {min(spec.resolution)}; lower min_bucket_reso"
        )
    if max(spec.resolution) > hi:
        raise BucketError(
            f"max bucket resolution {hi} is smaller than the resolution {max(spec.resolution)}; raise max_bucket_reso"
        )
    return lo, hi


def min_reso_steps_for(script_family: str) -> int:
    """bucket_reso_steps must be a multiple of this: 64 for SD1.5/SD2 (train_network.py) and Flux
    (flux_train_network.py runs that check before its own), 32 for SDXL and SD3 (the family table's
    ``bucket_multiple``; a test keeps the two equal)."""
    return 64 if script_family.lower() in ("sd15", "sd1.5", "sd1", "sd2", "sd20", "sd2.x", "flux", "flux.1") else 32


def check_reso_steps(spec: BucketSpec, script_family: str) -> str | None:
    """A one-line problem when the training script would reject ``reso_steps``, else None."""
    if not spec.enable:
        return None
    need = min_reso_steps_for(script_family)
    if spec.reso_steps % need:
        return f"bucket_reso_steps {spec.reso_steps} must be a multiple of {need} for this model family"
    return None


@lru_cache(maxsize=256)
def _make_bucket_resolutions(max_reso: Size, min_size: int, max_size: int, step: int) -> tuple[Size, ...]:
    # model_util.make_bucket_resolutions: a square of the target area, then for each width from
    # min_size up to max_size the tallest step-aligned height that keeps the area, and its mirror.
    max_area = max_reso[0] * max_reso[1]
    resos: set[Size] = set()
    side = int(math.sqrt(max_area) // step) * step
    resos.add((side, side))
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // step) * step)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += step
    return tuple(sorted(resos))


def predefined_buckets(spec: BucketSpec) -> list[Size]:
    """The bucket resolutions images are fitted into.

    Without bucketing that is just ``[resolution]``. With ``no_upscale`` sd-scripts has no
    predefined list (each bucket comes from its image size), so this returns ``[]``.
    """
    _check(spec)
    if not spec.enable:
        return [spec.resolution]
    lo, hi = effective_min_max(spec)
    if spec.no_upscale:
        return []
    return list(_make_bucket_resolutions(spec.resolution, lo, hi, spec.reso_steps))


@lru_cache(maxsize=256)
def _predefined_with_ratios(spec: BucketSpec) -> tuple[tuple[Size, ...], frozenset[Size], tuple[float, ...]]:
    resos = tuple(predefined_buckets(spec))
    return resos, frozenset(resos), tuple(w / h for w, h in resos)


def _round_to_steps(x: float, step: int) -> int:
    # BucketManager.round_to_steps: round half up, then floor to the step.
    n = int(x + 0.5)
    return n - n % step


def _fit_predefined(spec: BucketSpec, width: int, height: int) -> tuple[Size, Size]:
    resos, reso_set, ratios = _predefined_with_ratios(spec)
    aspect = width / height
    if (width, height) in reso_set:
        bucket = (width, height)
    else:
        # first bucket with the smallest |ratio error| wins (numpy argmin semantics)
        best_i, best_err = 0, abs(ratios[0] - aspect)
        for i in range(1, len(ratios)):
            err = abs(ratios[i] - aspect)
            if err < best_err:
                best_i, best_err = i, err
        bucket = resos[best_i]
    # scale so the image covers the bucket, then it is centre/random-cropped to it
    if aspect > bucket[0] / bucket[1]:
        scale = bucket[1] / height
    else:
        scale = bucket[0] / width
    resized = (int(width * scale + 0.5), int(height * scale + 0.5))
    return bucket, resized


def _fit_no_upscale(spec: BucketSpec, width: int, height: int) -> tuple[Size, Size]:
    step = spec.reso_steps
    max_area = spec.resolution[0] * spec.resolution[1]
    aspect = width / height
    too_thin = BucketError(
        f"image {width}x{height} is too thin for bucket_no_upscale at step {step}: one side of its bucket "
        "would be 0 px and sd-scripts fails on it; crop the image or turn off no-upscale"
    )
    if width * height > max_area:
        # shrink to the target area keeping the aspect ratio, then make the long or the short side
        # step-aligned, whichever keeps the aspect ratio closer
        r_w = math.sqrt(max_area * aspect)
        r_h = max_area / r_w
        bw = _round_to_steps(r_w, step)
        bh_w = _round_to_steps(bw / aspect, step)
        bh = _round_to_steps(r_h, step)
        bw_h = _round_to_steps(bh * aspect, step)
        if bh_w == 0 or bh == 0:
            raise too_thin  # sd-scripts divides by zero here
        ar_w = bw / bh_w
        ar_h = bw_h / bh
        if abs(ar_w - aspect) < abs(ar_h - aspect):
            resized = (bw, int(bw / aspect + 0.5))
        else:
            resized = (int(bh * aspect + 0.5), bh)
    else:
        resized = (width, height)
    # the bucket is the step-aligned size not larger than the image: crop, never pad
    bucket = (resized[0] - resized[0] % step, resized[1] - resized[1] % step)
    if bucket[0] == 0 or bucket[1] == 0:
        raise too_thin
    return bucket, resized


def assign(spec: BucketSpec, image_size: Size) -> tuple[Size, Size]:
    """(bucket resolution, resized image size) that sd-scripts gives an image of ``image_size``."""
    width, height = int(image_size[0]), int(image_size[1])
    if width <= 0 or height <= 0:
        raise BucketError(f"image size {image_size} is not a real image size")
    if spec.enable and spec.no_upscale:
        effective_min_max(spec)  # same start-up checks as sd-scripts even though unused here
        return _fit_no_upscale(spec, width, height)
    return _fit_predefined(spec, width, height)


def aspect_error(bucket: Size, image_size: Size) -> float:
    """Signed aspect-ratio error (bucket minus image) that sd-scripts averages as 'mean ar error'."""
    return bucket[0] / bucket[1] - image_size[0] / image_size[1]


def bucket_histogram(spec: BucketSpec, image_sizes: list[Size], repeats: int = 1) -> dict[Size, int]:
    """Images per bucket (times ``repeats``), keys sorted by resolution like sd-scripts prints them."""
    counts: dict[Size, int] = {}
    cache: dict[Size, Size] = {}
    for size in image_sizes:
        key = (int(size[0]), int(size[1]))
        bucket = cache.get(key)
        if bucket is None:
            bucket = cache[key] = assign(spec, key)[0]
        counts[bucket] = counts.get(bucket, 0) + repeats
    return dict(sorted(counts.items()))


def mean_aspect_error(spec: BucketSpec, image_sizes: list[Size]) -> float:
    """sd-scripts' 'mean ar error (without repeats)' for a bucketed dataset; 0 when empty."""
    if not image_sizes:
        return 0.0
    errs = [abs(aspect_error(assign(spec, s)[0], s)) for s in image_sizes]
    return sum(errs) / len(errs)
