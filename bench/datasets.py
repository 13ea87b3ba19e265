"""Dataset benchmarks: `python bench/datasets.py` prints figures (targets from issue 3).

1. a bulk tag operation over 10,000 captions: the transform in memory (< 1 s), and applied to the
   10,000 caption files on disk, atomic per file, journal included (< 2 s), and its undo
2. tag frequency over 10,000 captions (< 0.5 s): in memory, and reading the files
3. the Datasets page with a 48-thumbnail gallery page from a 2,000-image dataset, warm thumbnail
   cache, rendered by AppTest (< 1 s)
4. ingest of a 500-image zip in a fresh subprocess: wall time and peak RSS (< 300 MB)
"""
from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nyx_core.datasets import caption_ops  # noqa: E402
from nyx_core.datasets.captions import TagOp, apply_to_text, build_transform, tag_frequency  # noqa: E402
from nyx_core.datasets.layout import scan_dataset  # noqa: E402
from nyx_core.datasets.manager import create_dataset  # noqa: E402
from nyx_core.workspace import Workspace  # noqa: E402

VOCAB = [f"tag{i}" for i in range(400)] + ["1girl", "solo", "long hair", "smile", "outdoors", "blue eyes"]


def _caption(rng: random.Random) -> str:
    return ", ".join(rng.sample(VOCAB, rng.randint(8, 30)))


def _png(color: tuple[int, int, int], size: int = 64) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "PNG")
    return buf.getvalue()


def _timed(fn, repeat: int = 3) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_tags(ws: Workspace) -> dict[str, float]:
    rng = random.Random(1)
    texts = [_caption(rng) for _ in range(10_000)]
    create_dataset(ws, "tags10k", "c", 1)
    folder = ws.datasets / "tags10k" / "1_c"
    png = _png((1, 2, 3), 8)
    for i, text in enumerate(texts):
        (folder / f"{i:05d}.png").write_bytes(png)
        (folder / f"{i:05d}.txt").write_text(text)
    op = TagOp("add", tags=("ohwx",), front=True)
    transform = build_transform(op)
    out = {
        "bulk_op_in_memory_s": _timed(lambda: [apply_to_text(transform, t) for t in texts]),
        "tag_frequency_in_memory_s": _timed(lambda: tag_frequency(texts)),
    }
    layout = scan_dataset(ws, "tags10k")
    out["tag_frequency_from_files_s"] = _timed(lambda: caption_ops.dataset_tag_frequency(layout))
    out["preview_from_files_s"] = _timed(lambda: caption_ops.preview(layout, op), 1)
    t = time.perf_counter()
    changed = caption_ops.apply(layout, op)
    out["bulk_op_apply_on_disk_s"] = time.perf_counter() - t
    t = time.perf_counter()
    caption_ops.undo(ws, layout)
    out["undo_on_disk_s"] = time.perf_counter() - t
    assert changed == 10_000
    return out


def bench_gallery(ws: Workspace) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    from nyx_core.thumbnails import thumbnail

    create_dataset(ws, "gallery2k", "c", 1)
    folder = ws.datasets / "gallery2k" / "1_c"
    rng = random.Random(2)
    for i in range(2000):
        (folder / f"{i:04d}.png").write_bytes(_png((i % 256, i // 256, rng.randint(0, 255)), 96))
        if i % 2:
            (folder / f"{i:04d}.txt").write_text(_caption(rng))
    layout = scan_dataset(ws, "gallery2k")
    for img in layout.images()[:48]:
        thumbnail(ws, img, 256)  # warm the cache for the first page

    def run_page() -> AppTest:
        at = AppTest.from_file(str(REPO / "pages" / "datasets.py"), default_timeout=60)
        at.session_state["ds_pick"] = "gallery2k"
        return at.run()

    at = run_page()
    assert not at.exception, at.exception
    shown = [b for b in at.button if b.key and b.key.startswith("ds_open_")]
    assert len(shown) == 48, len(shown)
    # what AppTest itself costs here: a page with 48 plain captions and nothing else
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write("import streamlit as st\ncols = st.columns(6)\n"
                 "for i in range(48):\n    cols[i % 6].caption(str(i))\n")
    trivial = lambda: AppTest.from_file(fh.name, default_timeout=60).run()  # noqa: E731
    trivial()
    return {"gallery_page_48_of_2000_apptest_s": _timed(run_page, 5),
            "apptest_trivial_page_s": _timed(trivial, 5)}


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from nyx_core.workspace import Workspace
from nyx_core.datasets.ingest import ingest_zip
ws = Workspace.open(sys.argv[2])
t = time.perf_counter()
rep = ingest_zip(ws, "ingest500", sys.argv[3])
wall = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"taken": len(rep.taken), "wall_s": wall, "peak_rss_mb": hwm / 1024}))
"""


def bench_ingest(ws: Workspace, tmp: Path) -> dict[str, float]:
    import numpy as np
    from PIL import Image

    create_dataset(ws, "ingest500", "c", 1)
    zpath = tmp / "500.zip"
    rng = np.random.default_rng(3)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as zf:
        for i in range(500):
            # noisy pixels so the JPEGs have photo-like sizes; some large ones to stress decoding
            side = 2048 if i % 50 == 0 else 1024
            arr = rng.integers(0, 255, (side // 8, side // 8, 3), dtype=np.uint8)
            im = Image.fromarray(arr).resize((side, side), Image.Resampling.BILINEAR)
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)
            zf.writestr(f"img{i:03d}.jpg", buf.getvalue())
            zf.writestr(f"img{i:03d}.txt", f"caption {i}")
    baseline = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                               "import nyx_core.datasets.ingest; from PIL import Image; "
                               "print(next(int(l.split()[1]) for l in open('/proc/self/status') "
                               "if l.startswith('VmHWM')) / 1024)", str(REPO)],
                              capture_output=True, text=True, check=True)
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(ws.root), str(zpath)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert res["taken"] == 500, res
    return {"ingest_500_zip_mb": zpath.stat().st_size / 2**20, "ingest_500_wall_s": res["wall_s"],
            "ingest_500_peak_rss_mb": res["peak_rss_mb"],
            "python_import_baseline_rss_mb": float(baseline.stdout.strip())}


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        ws = Workspace.open(Path(d) / "workspace")
        os.environ["NYX_WORKSPACE"] = str(ws.root)
        results: dict[str, float] = {}
        for name, fn in (("tags", lambda: bench_tags(ws)), ("gallery", lambda: bench_gallery(ws)),
                         ("ingest", lambda: bench_ingest(ws, Path(d)))):
            r = fn()
            results.update(r)
            for k, v in r.items():
                print(f"{k:40s} {v:9.3f}", flush=True)
    print(f"(machine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]})")
    targets = {"bulk_op_in_memory_s": 1.0, "tag_frequency_in_memory_s": 0.5, "bulk_op_apply_on_disk_s": 2.0,
               "undo_on_disk_s": 2.0,
               "gallery_page_48_of_2000_apptest_s": 1.0, "ingest_500_peak_rss_mb": 300}
    for k, limit in targets.items():
        print(f"{'OK ' if results[k] < limit else 'OVER'} {k} < {limit}")


if __name__ == "__main__":
    main()
