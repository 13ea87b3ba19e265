"""Image → the WD taggers' input array, exactly as sd-scripts' ``finetune/tag_images_by_wd14_tagger.py``
prepares it at the pinned commit, so the same model and image give the same tags:

transparent images are composited onto white; RGB → BGR; padded to a square with white (the odd
pixel of padding goes right/bottom); resized to the model's input side with cv2's INTER_AREA when
shrinking and Pillow's LANCZOS when enlarging (sd-scripts' ``resize_image`` rule); float32 0..255.

The side comes from the ONNX input shape (every WD tagger is 448, which sd-scripts hard-codes).
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


def preprocess(image: Image.Image, side: int) -> np.ndarray:
    """One HxWx3 float32 BGR array of ``side`` x ``side``."""
    arr = np.asarray(to_rgb(image))[:, :, ::-1]
    h, w = arr.shape[:2]
    size = max(h, w)
    pad_x, pad_y = size - w, size - h
    pad_l, pad_t = pad_x // 2, pad_y // 2
    arr = np.pad(arr, ((pad_t, pad_y - pad_t), (pad_l, pad_x - pad_l), (0, 0)), mode="constant", constant_values=255)
    if size >= side:
        import cv2

        arr = cv2.resize(np.ascontiguousarray(arr), (side, side), interpolation=cv2.INTER_AREA)
    else:
        # Pillow works in RGB; flip there and back, as sd-scripts' pil_resize does.
        rgb = Image.fromarray(np.ascontiguousarray(arr[:, :, ::-1]))
        arr = np.asarray(rgb.resize((side, side), resample=Image.Resampling.LANCZOS))[:, :, ::-1]
    return arr.astype(np.float32)


def load(path: Path, side: int) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        return preprocess(im, side)
