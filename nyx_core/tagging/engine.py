"""WD14 inference: onnxruntime session + a decode pipeline.

Images are decoded and pre-processed by a thread pool (Pillow, numpy and cv2 release the GIL)
while the session runs the previous batch, so on a 2-core machine decode and inference overlap
instead of taking turns as in a one-image-at-a-time loop. onnxruntime is imported here, lazily:
only the job process (or a notebook) ever loads it, never the UI server.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from nyx_core.tagging import preprocess
from nyx_core.tagging.labels import Labels, read_labels
from nyx_core.tagging.options import TaggingError


@dataclass
class Scored:
    image: Path
    scores: np.ndarray | None  # None when the image could not be read
    error: str | None = None


def providers() -> list[str]:
    """CUDA when ``onnxruntime-gpu`` is installed and sees a GPU, else CPU."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have] or have


class Tagger:
    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        folder = Path(folder)
        self.labels: Labels = read_labels(folder / "selected_tags.csv")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # onnxruntime's worker threads spin while waiting for work by default; on a small CPU
        # that spinning takes the cores the decode threads need between batches.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(folder / "model.onnx"), sess_options=opts, providers=providers())
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise TaggingError(f"{folder / 'model.onnx'} cannot be loaded: {str(exc).splitlines()[0][:200]}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        if len(shape) != 4 or shape[3] != 3 or not isinstance(shape[1], int) or shape[1] != shape[2]:
            raise TaggingError(f"{folder.name}: expected an NHWC input of a square size with 3 channels, got {shape}")
        self.side = int(shape[1])
        # A model exported with a fixed batch dimension (some re-exports are) runs one batch of
        # exactly that size; None means any batch.
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        out = self.session.get_outputs()[0].shape
        if isinstance(out[-1], int) and out[-1] != len(self.labels):
            raise TaggingError(f"{folder.name}: the model has {out[-1]} outputs but selected_tags.csv lists {len(self.labels)} tags")

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if self.fixed_batch and len(batch) != self.fixed_batch:
            return self._padded(batch)
        return self.session.run(None, {self.input_name: batch})[0]

    def _padded(self, batch: np.ndarray) -> np.ndarray:
        out = []
        n = self.fixed_batch
        for i in range(0, len(batch), n):
            part = batch[i:i + n]
            pad = n - len(part)
            if pad:
                part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), dtype=part.dtype)])
            out.append(self.session.run(None, {self.input_name: part})[0][: n - pad])
        return np.concatenate(out)

    def score(self, images: list[Path], batch_size: int = 8, workers: int | None = None) -> Iterator[Scored]:
        """Scores for each image, in order, as batches finish."""
        workers = workers or max(1, min(4, os.cpu_count() or 1))
        side = self.side

        def load(path: Path) -> np.ndarray:
            return preprocess.load(path, side)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nyx-decode") as pool:
            pending: deque[tuple[Path, Future]] = deque()
            it = iter(images)
            ahead = batch_size * 2 + workers

            def fill() -> None:
                while len(pending) < ahead:
                    try:
                        p = next(it)
                    except StopIteration:
                        return
                    pending.append((p, pool.submit(load, p)))

            fill()
            while pending:
                paths, arrays, failed = [], [], []
                while pending and len(arrays) < batch_size:
                    path, fut = pending.popleft()
                    try:
                        arrays.append(fut.result())
                        paths.append(path)
                    except Exception as exc:  # unreadable image: report it, tag the rest
                        failed.append(Scored(path, None, f"{type(exc).__name__}: {exc}"[:300]))
                    fill()
                yield from failed
                if arrays:
                    probs = self.infer(np.stack(arrays))
                    for path, p in zip(paths, probs):
                        yield Scored(path, np.asarray(p, dtype=np.float32))
