"""Bench the step calculator: header-only size reads and compute_steps on large layouts.

    python bench/steps.py [--images 500]

Prints figures; asserts nothing. Timings depend on the machine (note its cores when quoting them).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from nyx_core.buckets import BucketSpec, bucket_histogram  # noqa: E402
from nyx_core.steps import DatasetPlan, SubsetPlan, TrainingPlan, compute_steps, read_image_sizes  # noqa: E402


def _best(fn, n=3) -> float:
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    rng = random.Random(1)
    print(f"cpus: {os.cpu_count()}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "10_concept"
        folder.mkdir()
        for i in range(args.images):
            w, h = rng.choice([(1024, 1024), (1536, 1024), (1024, 1536), (1920, 1080), (1216, 832)])
            Image.new("RGB", (w, h)).save(folder / f"img_{i:05d}.jpg", quality=80)
        t = _best(lambda: read_image_sizes(folder))
        print(f"read_image_sizes: {args.images} JPEGs (up to 1920x1080) in {t * 1000:.1f} ms "
              f"({t / args.images * 1e6:.0f} us/image, headers only)")

    sizes = [(rng.randint(300, 4000), rng.randint(300, 4000)) for _ in range(100_000)]
    spec = BucketSpec((1024, 1024), min_reso=512, max_reso=2048)
    t = _best(lambda: bucket_histogram(spec, sizes))
    print(f"bucket_histogram: 100,000 images of random sizes in {t * 1000:.0f} ms")
    plan = DatasetPlan([SubsetPlan(sizes[:50_000], 3), SubsetPlan(sizes[50_000:], 1, is_reg=True)],
                       batch_size=4, bucket=spec)
    t = _best(lambda: compute_steps([plan], TrainingPlan(max_train_epochs=10)))
    print(f"compute_steps: 50,000 train + 50,000 reg images, buckets on, in {t * 1000:.0f} ms")
    pool = [(rng.randint(300, 4000), rng.randint(300, 4000)) for _ in range(200)]
    real = [rng.choice(pool) for _ in range(50_000)]
    t = _best(lambda: compute_steps([DatasetPlan([SubsetPlan(real, 5)], batch_size=4, bucket=spec)],
                                    TrainingPlan(max_train_epochs=10)))
    print(f"compute_steps: 50,000 images in 200 distinct sizes, buckets on, in {t * 1000:.0f} ms")
    same = [(1024, 1024)] * 100_000
    t = _best(lambda: compute_steps([DatasetPlan([SubsetPlan(same, 1)], bucket=spec)], TrainingPlan()))
    print(f"compute_steps: 100,000 same-size images in {t * 1000:.0f} ms")


if __name__ == "__main__":
    main()
