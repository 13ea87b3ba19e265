"""WD14 inference: an onnxruntime session fed by a parallel decode pipeline.

On the CPU provider Nyx runs several images (or batches) at once, each on one core from decode to
scores, rather than one at a time with onnxruntime's threads split over every core: while one
worker decodes and pre-processes (Pillow, cv2 — single-threaded work) another runs the model, so
no core waits for the other, and a single-threaded onnxruntime run wastes nothing on splitting a
small op over threads. ``session.run`` is thread-safe and releases the GIL, so the workers share
one session (one copy of the weights). On CUDA the GPU is the one inference engine: worker threads
decode and pre-process the next batches while the main thread runs the current one.

At most ``workers + 1`` batches are decoded and not yet handed on (``pipeline.ordered_map``), so
memory stays bounded on any number of images; results come in the images' order, and an image
that cannot be read is reported (one line) while the rest are tagged.

onnxruntime is imported here, lazily: only the job process (or a notebook) ever loads it, never
the UI server.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from nyx_core.tagging import preprocess
from nyx_core.tagging.labels import Labels, read_labels
from nyx_core.tagging.options import TaggingError
from nyx_core.tagging.pipeline import one_line, ordered_map


def cpu_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_plan(cores: int) -> tuple[int, int]:
    """(parallel workers, onnxruntime threads per run) for a CPU with ``cores`` cores: one worker
    per core up to 4, and the cores left over split among the runs of a many-core machine."""
    workers = max(1, min(4, cores))
    return workers, max(1, cores // workers)


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
        cores = cpu_cores()
        self.cpu_workers, threads = cpu_plan(cores)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # each CPU worker runs the model on its own core(s): onnxruntime must not also spread one
        # run over every core, and its threads must not spin while waiting for work (by default
        # they do, taking the cores the decode work needs between runs)
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(folder / "model.onnx"), sess_options=opts, providers=providers())
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise TaggingError(f"{folder / 'model.onnx'} cannot be loaded: {str(exc).splitlines()[0][:200]}") from None
        #: CPU: every worker decodes and runs its own batch; GPU: workers decode, one thread infers
        self.on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"
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

    def decode(self, paths: list[Path]) -> tuple[np.ndarray, list[str | None]]:
        """Decode and pre-process a batch into one array of the images that could be read, and
        per image its error (one line) or None."""
        batch = np.empty((len(paths), self.side, self.side, 3), dtype=np.float32)
        errors: list[str | None] = []
        n = 0
        for path in paths:
            try:
                preprocess.load_into(path, self.side, batch[n])
                n += 1
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - a broken image is reported, the rest go on
                errors.append(one_line(exc))
        return batch[:n], errors

    def _finish(self, paths: list[Path], batch: np.ndarray, errors: list[str | None]) -> list[Scored]:
        """Run the batch; its results in the order the images were given, failed ones in place."""
        probs = iter(self.infer(batch) if len(batch) else ())
        return [Scored(p, np.asarray(next(probs), dtype=np.float32)) if err is None else Scored(p, None, err)
                for p, err in zip(paths, errors)]

    def _decode_and_infer(self, paths: list[Path]) -> list[Scored]:
        return self._finish(paths, *self.decode(paths))

    def score(self, images: list[Path], batch_size: int = 8, workers: int | None = None) -> Iterator[Scored]:
        """Scores for each image, in the images' order, as batches finish."""
        batch_size = max(1, int(batch_size))
        batches = [list(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
        if self.on_cpu:
            workers = workers or self.cpu_workers
            with _cv2_single_threaded():
                for done in ordered_map(self._decode_and_infer, batches, workers, thread_name="nyx-tag"):
                    if done.error:  # the model itself failed on this batch: that is not one image's fault
                        raise TaggingError(f"inference failed: {done.error}")
                    yield from done.result
            return
        workers = workers or max(1, min(4, cpu_cores()))
        with _cv2_single_threaded():
            for done in ordered_map(self.decode, batches, workers, thread_name="nyx-decode"):
                if done.error:
                    raise TaggingError(f"decoding failed: {done.error}")
                yield from self._finish(done.item, *done.result)


@contextmanager
def _cv2_single_threaded():
    """cv2 spreads one resize over every core by default; with a worker per core that only adds
    threads fighting for the same cores. Restored afterwards (a notebook may rely on it)."""
    try:
        import cv2
    except ImportError:  # preprocess reports it per image
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)
