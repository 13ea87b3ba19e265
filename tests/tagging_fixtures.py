"""Tiny WD-tagger stand-ins built with onnx's helper API (no downloads), shared by the tagging
tests and bench/tagging.py.

The model has the real taggers' signature: input ``input`` NHWC float32 ``[batch, S, S, 3]`` (BGR,
0..255), output ``output`` ``[batch, n_tags]`` sigmoid scores, one per row of ``selected_tags.csv``
(columns tag_id,name,category,count; 4 ratings, then general, then character tags). Inside: the
mean colour of each image quadrant → a fixed random linear layer → sigmoid, so the scores depend
on every pre-processing step (channel order, white padding, resize).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

RATINGS = ["general", "sensitive", "questionable", "explicit"]
GENERAL = ["1girl", "solo", "long_hair", "short_hair", "red_theme", "blue_sky", "^_^", "simple_background",
           "white_background", "outdoors", "smile", "looking_at_viewer", "holding", "flower", "cat_ears",
           "blonde_hair", "black_hair", "green_eyes", "(tag)_with_brackets", "monochrome"]
CHARACTERS = ["hatsune_miku", "kafuu_chino_(gochuumon_wa_usagi_desu_ka?)", "saber_(fate)"]


def labels() -> list[tuple[str, int]]:
    return [(n, 9) for n in RATINGS] + [(n, 0) for n in GENERAL] + [(n, 4) for n in CHARACTERS]


def write_labels(folder: Path, rows: list[tuple[str, int]] | None = None) -> None:
    rows = rows or labels()
    with open(folder / "selected_tags.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tag_id", "name", "category", "count"])
        for i, (name, cat) in enumerate(rows):
            w.writerow([100000 + i, name, cat, 1000 - i])


def build_model(folder: Path, side: int = 448, seed: int = 7, n_tags: int | None = None,
                heavy: int = 0, batch_dim: int | str = "batch") -> Path:
    """Write ``model.onnx`` + ``selected_tags.csv`` into ``folder``. ``heavy`` > 0 adds that many
    3x3 convolutions (16 channels) before the pooling, for a benchmark model whose inference costs
    something."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    write_labels(folder)
    n = n_tags or len(labels())
    rng = np.random.default_rng(seed)
    h = side // 2
    nodes, inits = [], []
    x = "input"
    feat = 3
    if heavy:
        nodes.append(helper.make_node("Transpose", [x], ["nchw"], perm=[0, 3, 1, 2]))
        cur, ch = "nchw", 3
        for k in range(heavy):
            w = (rng.standard_normal((16, ch, 3, 3)) * 0.02).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"cw{k}"))
            nodes.append(helper.make_node("Conv", [cur, f"cw{k}"], [f"conv{k}"], pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [f"conv{k}"], [f"relu{k}"]))  # (not "r6": a name used below)
            cur, ch = f"relu{k}", 16
        nodes.append(helper.make_node("Transpose", [cur], ["nhwc"], perm=[0, 2, 3, 1]))
        x, feat = "nhwc", ch
    inits.append(numpy_helper.from_array(np.array([-1, 2, h, 2, h, feat], dtype=np.int64), "shape6"))
    inits.append(numpy_helper.from_array(np.array([-1, 4 * feat], dtype=np.int64), "shape2"))
    inits.append(numpy_helper.from_array(np.array([1 / 255.0], dtype=np.float32), "scale"))
    inits.append(numpy_helper.from_array(np.array([0.5], dtype=np.float32), "half"))
    inits.append(numpy_helper.from_array((rng.standard_normal((4 * feat, n)) * 4).astype(np.float32), "W"))
    inits.append(numpy_helper.from_array((rng.standard_normal(n) - 0.5).astype(np.float32), "b"))
    nodes += [
        helper.make_node("Reshape", [x, "shape6"], ["r6"]),
        helper.make_node("ReduceMean", ["r6"], ["q"], axes=[2, 4], keepdims=0),
        helper.make_node("Reshape", ["q", "shape2"], ["flat"]),
        helper.make_node("Mul", ["flat", "scale"], ["unit"]),
        helper.make_node("Sub", ["unit", "half"], ["norm"]),
        helper.make_node("MatMul", ["norm", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny-wd-tagger",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_dim, side, side, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch_dim, n])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def make_images(folder: Path, n: int, seed: int = 3, size: tuple[int, int] = (96, 64)) -> list[Path]:
    """``n`` small PNG/JPEG images of varied colour, shape and mode (RGBA, L, RGB; wide and tall)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = (size if i % 2 == 0 else size[::-1])
        base = rng.integers(0, 256, size=3)
        arr = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
        arr[: h // 3, : w // 2] = rng.integers(0, 256, size=3)
        img = Image.fromarray(arr)
        kind = i % 4
        if kind == 1:
            rgba = img.convert("RGBA")
            alpha = np.full((h, w), 255, dtype=np.uint8)
            alpha[:, : w // 3] = 0
            rgba.putalpha(Image.fromarray(alpha))
            img = rgba
        elif kind == 2:
            img = img.convert("L")
        ext = ".jpg" if kind == 3 else ".png"
        p = folder / f"img{i:03d}{ext}"
        img.save(p)
        out.append(p)
    return out
