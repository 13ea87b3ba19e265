"""The WD14 pre-processing in the plain order sd-scripts' tagger script takes its steps, kept as the
reference that Nyx's reordered pre-processing (``nyx_core.tagging.preprocess``) must match byte for
byte (tests/test_tagging_pipeline.py) and as the baseline's pre-processing in bench/tagging.py."""
from __future__ import annotations

import numpy as np
from PIL import Image

from nyx_core.tagging.preprocess import to_rgb


def plain_preprocess(image: Image.Image, side: int) -> np.ndarray:
    """RGB → BGR on the full image, np.pad with white to a square, then resize (cv2 INTER_AREA when
    shrinking, Pillow Lanczos in RGB when enlarging), float32."""
    import cv2

    arr = np.asarray(to_rgb(image))[:, :, ::-1]
    h, w = arr.shape[:2]
    size = max(h, w)
    pad_x, pad_y = size - w, size - h
    arr = np.pad(arr, ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0)),
                 mode="constant", constant_values=255)
    if size >= side:
        arr = cv2.resize(np.ascontiguousarray(arr), (side, side), interpolation=cv2.INTER_AREA)
    else:
        rgb = Image.fromarray(np.ascontiguousarray(arr[:, :, ::-1]))
        arr = np.asarray(rgb.resize((side, side), resample=Image.Resampling.LANCZOS))[:, :, ::-1]
    return arr.astype(np.float32)
