"""WD14 tagging throughput: Nyx's pipeline vs a plain one-image-at-a-time loop.

    python bench/tagging.py [--images 200] [--batch 8] [--heavy 2]

Both sides use the same ONNX model (a tiny tagger with the real signature, 448 px input, built
here with onnx's helper API; ``--heavy`` adds 3x3 convolutions so inference costs something), the
same 200 JPEG images (640x480) and the same pre-processing and caption writing:

(a) Nyx: ``nyx_core.tagging.wd14.tag_images`` — a thread pool decodes and pre-processes while the
    session runs the previous batch, batch 8;
(b) baseline: decode → pre-process → run one image → write its caption, in a loop, as sd-scripts'
    ``tag_images_by_wd14_tagger.py`` does with its default ``--batch_size 1`` and no data loader.

Prints images/s for each and the ratio from one run (the issue's goal: ≥ 1.5× on a 2-core CPU).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from nyx_core.tagging import preprocess  # noqa: E402
from nyx_core.tagging.engine import Tagger  # noqa: E402
from nyx_core.tagging.options import TagOptions  # noqa: E402
from nyx_core.tagging.output import apply_caption  # noqa: E402
from nyx_core.tagging.select import prepare, select  # noqa: E402
from nyx_core.tagging.wd14 import tag_images  # noqa: E402
from tests.tagging_fixtures import build_model  # noqa: E402


def make_jpegs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        w, h = (640, 480) if i % 2 else (480, 640)
        base = rng.integers(0, 256, size=3)
        arr = np.clip(base + rng.normal(0, 30, size=(h, w, 3)), 0, 255).astype(np.uint8)
        p = folder / f"img{i:04d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        out.append(p)
    return out


def baseline(model: Path, images: list[Path], opts: TagOptions) -> float:
    import onnxruntime as ort

    # a session as sd-scripts makes it: default options
    session = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
    tagger = Tagger(model)
    input_name = session.get_inputs()[0].name
    prep = prepare(tagger.labels, opts)
    t0 = time.perf_counter()
    for path in images:
        with Image.open(path) as im:
            arr = preprocess.preprocess(im, tagger.side)
        probs = session.run(None, {input_name: arr[None]})[0][0]
        apply_caption(path, ".txt", ", ".join(select(probs, prep, opts)), "overwrite")
    return time.perf_counter() - t0


def nyx(tagger: Tagger, images: list[Path], opts: TagOptions, batch: int) -> float:
    t0 = time.perf_counter()
    n = sum(1 for _ in tag_images(tagger, images, opts, batch_size=batch))
    assert n == len(images)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heavy", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3,
                    help="baseline and Nyx alternate this many times; the ratio is the median of the rounds' "
                         "ratios (a shared machine's load changes from minute to minute)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_model(tmp / "model", side=448, heavy=a.heavy)
        images = make_jpegs(tmp / "imgs", a.images)
        tagger = Tagger(model)
        opts = TagOptions()
        list(tag_images(tagger, images[:4], opts, write=False))  # warm-up (session, thread pool)
        n = len(images)
        rounds = []
        for _ in range(a.rounds):
            tb = baseline(model, images, opts)
            tn = nyx(tagger, images, opts, a.batch)
            rounds.append((tb, tn))
        print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, images: {n} (640x480 JPEG), "
              f"model: 448 px, {a.heavy} conv layer(s)")
        for i, (tb, tn) in enumerate(rounds, 1):
            print(f"round {i}: baseline (one at a time, batch 1) {n / tb:6.1f} images/s, "
                  f"nyx (parallel decode, batch {a.batch}) {n / tn:6.1f} images/s, ratio {tb / tn:.2f}x")
        ratios = sorted(tb / tn for tb, tn in rounds)
        print(f"ratio nyx/baseline (median of {len(ratios)}): {ratios[len(ratios) // 2]:.2f}x")


if __name__ == "__main__":
    main()
