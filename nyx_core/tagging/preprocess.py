"""Image → the WD taggers' input array, exactly as sd-scripts' ``finetune/tag_images_by_wd14_tagger.py``
prepares it at the pinned commit, so the same model and image give the same tags:

transparent images are composited onto white; RGB → BGR; padded to a square with white (the odd
pixel of padding goes right/bottom); resized to the model's input side with cv2's INTER_AREA when
shrinking and Pillow's LANCZOS when enlarging (sd-scripts' ``resize_image`` rule); float32 0..255.

The side comes from the ONNX input shape (every WD tagger is 448, which sd-scripts hard-codes).

Same pixels, less work: both resizes treat each channel on its own and white is (255, 255, 255)
in either channel order, so padding and resizing the RGB image and swapping to BGR on the small
result gives the very same bytes as swapping first (tests/test_tagging_pipeline.py compares them
with the straightforward order). That swap then costs 448² pixels instead of the full image, and
the pad is one C call (``cv2.copyMakeBorder``) instead of ``np.pad``'s Python-level copies.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        image = image.convert("RGBA")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        image = background
    return image


def square_rgb(image: Image.Image, side: int) -> np.ndarray:
    """The image on white, padded to a square and resized to ``side``: side x side x 3 uint8, RGB."""
    import cv2

    arr = np.asarray(to_rgb(image))
    h, w = arr.shape[:2]
    size = max(h, w)
    pad_x, pad_y = size - w, size - h
    pad_l, pad_t = pad_x // 2, pad_y // 2
    if pad_x or pad_y:
        arr = cv2.copyMakeBorder(arr, pad_t, pad_y - pad_t, pad_l, pad_x - pad_l, cv2.BORDER_CONSTANT,
                                 value=(255, 255, 255))
    if size >= side:
        return cv2.resize(arr, (side, side), interpolation=cv2.INTER_AREA)
    return np.asarray(Image.fromarray(arr).resize((side, side), resample=Image.Resampling.LANCZOS))


def preprocess(image: Image.Image, side: int) -> np.ndarray:
    """One HxWx3 float32 BGR array of ``side`` x ``side``."""
    return square_rgb(image, side)[:, :, ::-1].astype(np.float32)


def load(path: Path, side: int) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        return preprocess(im, side)


def load_into(path: Path, side: int, out: np.ndarray) -> None:
    """Decode and pre-process ``path`` straight into ``out`` (a side x side x 3 float32 slot of a
    batch): the BGR swap and the float conversion happen in that one copy."""
    with Image.open(path) as im:
        im.load()
        out[...] = square_rgb(im, side)[:, :, ::-1]
