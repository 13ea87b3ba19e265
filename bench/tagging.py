"""WD14 tagging throughput: Nyx's pipeline vs a plain one-image-at-a-time loop.

    python bench/tagging.py [--images 200] [--batch 8] [--heavy 2] [--rounds 5] [--baseline-nyx-preprocess]

Both sides tag the same files on disk with the same ONNX model (a tiny tagger with the real
signature, 448 px input, built here with onnx's helper API; ``--heavy`` adds 3x3 convolutions so
inference costs something) and write the same captions the same way:

- images: 200 photo-like pictures of the sizes people tag (512x768 up to 1536x1024, landscape,
  portrait and square; smooth gradients and shapes with a little sensor-like noise), 4 in 5 JPEG
  (quality 92) and 1 in 5 PNG;
- (a) Nyx: ``nyx_core.tagging.wd14.tag_images`` as the tagging job runs it (batch 8): one worker
  per core decodes, pre-processes and runs its own batch on a one-thread onnxruntime run, in
  parallel, results in order;
- (b) baseline: what sd-scripts' ``finetune/tag_images_by_wd14_tagger.py`` does with its default
  ``--batch_size 1`` and no data-loader workers: for each image, open and decode it with Pillow,
  pre-process it the plain way (numpy array, RGB→BGR, ``np.pad`` with white, cv2 INTER_AREA with
  cv2's default threads, float32), run the session (created with onnxruntime's default options,
  as that script does) on a batch of one, write the caption.

Each round times the baseline and then Nyx; the captions both wrote are compared (they must be
identical). Prints images/s for each, the ratio per round and the median ratio (the issue's goal:
≥ 1.5× on a 2-core CPU), where the baseline's time goes per image, the CPU time per image of each
(all threads; less sensitive to other work than wall time) and the load average (other work on a
shared machine changes the figures from minute to minute).
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
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from nyx_core.tagging.engine import Tagger  # noqa: E402
from nyx_core.tagging.options import TagOptions  # noqa: E402
from nyx_core.tagging.output import apply_caption  # noqa: E402
from nyx_core.tagging.preprocess import preprocess  # noqa: E402
from nyx_core.tagging.select import prepare, select  # noqa: E402
from nyx_core.tagging.wd14 import tag_images  # noqa: E402
from nyx_dev.wd14_plain import plain_preprocess  # noqa: E402
from tests.tagging_fixtures import build_model  # noqa: E402

SIZES = [(1024, 768), (768, 1024), (1536, 1024), (1024, 1536), (1024, 1024), (512, 768), (1216, 832), (832, 1216)]


def make_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Photo-like images: a colour gradient, a dozen blurred shapes, mild per-pixel noise (so JPEG
    sizes and decode times are like a camera's or a generator's, not like pure noise's)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = Image.fromarray((c0 * (1 - t) + c1 * t + np.zeros((1, w, 1), np.float32)).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(w // 20, w // 4))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        arr = np.asarray(img.filter(ImageFilter.GaussianBlur(2))).astype(np.int16)
        arr = np.clip(arr + rng.normal(0, 6, arr.shape).astype(np.int16), 0, 255).astype(np.uint8)
        if i % 5 == 4:
            p = folder / f"img{i:04d}.png"
            Image.fromarray(arr).save(p)
        else:
            p = folder / f"img{i:04d}.jpg"
            Image.fromarray(arr).save(p, quality=92)
        out.append(p)
    return out


def baseline(session, side: int, images: list[Path], opts: TagOptions, prep, stages: dict,  # noqa: ANN001
             pre=plain_preprocess) -> float:  # noqa: ANN001
    input_name = session.get_inputs()[0].name
    clock = time.perf_counter
    t0 = clock()
    for path in images:
        a = clock()
        image = Image.open(path)
        image.load()
        b = clock()
        arr = pre(image, side)
        c = clock()
        probs = session.run(None, {input_name: arr[None]})[0][0]
        d = clock()
        apply_caption(path, ".txt", ", ".join(select(probs, prep, opts)), "overwrite")
        e = clock()
        for k, v in zip(("decode", "pre-process", "inference", "tags+caption"), (b - a, c - b, d - c, e - d)):
            stages[k] = stages.get(k, 0.0) + v
    return clock() - t0


def nyx(tagger: Tagger, images: list[Path], opts: TagOptions, batch: int) -> float:
    t0 = time.perf_counter()
    n = 0
    for item in tag_images(tagger, images, opts, batch_size=batch):
        assert item.error is None, item.error
        n += 1
    assert n == len(images)
    return time.perf_counter() - t0


def captions(images: list[Path]) -> list[str]:
    out = []
    for p in images:
        c = p.with_suffix(".txt")
        out.append(c.read_text(encoding="utf-8"))
        c.unlink()
    return out


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heavy", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5,
                    help="baseline and Nyx alternate this many times; the ratio is the median of the rounds' "
                         "ratios (a shared machine's load changes from minute to minute)")
    ap.add_argument("--baseline-nyx-preprocess", action="store_true",
                    help="give the baseline Nyx's pre-processing (same bytes, less work), to see what the "
                         "pipeline alone gains")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_model(tmp / "model", side=448, heavy=a.heavy)
        images = make_photos(tmp / "imgs", a.images)
        opts = TagOptions()
        # a session as sd-scripts makes it: default options, CPU provider
        session = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
        tagger = Tagger(model)
        prep = prepare(tagger.labels, opts)
        # warm-up of both (sessions' first runs, page cache for the files)
        baseline(session, tagger.side, images[:4], opts, prep, {})
        list(tag_images(tagger, images[:8], opts))
        for p in images[:8]:
            p.with_suffix(".txt").unlink()
        n = len(images)
        rounds, stages, cpu = [], {}, [0.0, 0.0]
        load = [os.getloadavg()[0]]
        for _ in range(a.rounds):
            c0 = time.process_time()
            tb = baseline(session, tagger.side, images, opts, prep, stages,
                          pre=preprocess if a.baseline_nyx_preprocess else plain_preprocess)
            c1 = time.process_time()
            want = captions(images)
            c2 = time.process_time()
            tn = nyx(tagger, images, opts, a.batch)
            c3 = time.process_time()
            assert captions(images) == want, "Nyx and the baseline wrote different captions"
            rounds.append((tb, tn))
            cpu[0] += c1 - c0
            cpu[1] += c3 - c2
            load.append(os.getloadavg()[0])
        sizes = sorted({f"{w}x{h}" for w, h in SIZES[: min(n, len(SIZES))]})
        print(f"cpu cores: {os.cpu_count()}, Nyx: {tagger.cpu_workers} worker(s), batch {a.batch}; "
              f"images: {n} ({sum(p.suffix == '.jpg' for p in images)} JPEG, {sum(p.suffix == '.png' for p in images)} PNG; "
              f"{', '.join(sizes)}; {sum(p.stat().st_size for p in images) / n / 1024:.0f} KB average); "
              f"model: 448 px, {a.heavy} conv layer(s); baseline pre-processing: "
              f"{'Nyx' if a.baseline_nyx_preprocess else 'plain'}; load average (1 min) {min(load):.1f}..{max(load):.1f}")
        per = {k: v / (n * len(rounds)) * 1000 for k, v in stages.items()}
        print("baseline per image (wall): " + ", ".join(f"{k} {v:.1f} ms" for k, v in per.items()))
        print(f"CPU time per image (all threads): baseline {cpu[0] / (n * len(rounds)) * 1000:.1f} ms, "
              f"nyx {cpu[1] / (n * len(rounds)) * 1000:.1f} ms")
        for i, (tb, tn) in enumerate(rounds, 1):
            print(f"round {i}: baseline (one at a time, batch 1) {n / tb:6.1f} images/s, "
                  f"nyx {n / tn:6.1f} images/s, ratio {tb / tn:.2f}x")
        ratios = sorted(tb / tn for tb, tn in rounds)
        print(f"ratio nyx/baseline (median of {len(ratios)}): {ratios[len(ratios) // 2]:.2f}x; captions identical")


if __name__ == "__main__":
    main()
