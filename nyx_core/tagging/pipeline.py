"""An ordered, bounded parallel map: the tagger's decode/inference pipeline, without the model.

``ordered_map(fn, items, workers, ahead)`` runs ``fn`` over ``items`` on ``workers`` threads and
yields one ``Done`` per item **in the order of items**, as soon as that item and every item before
it have finished. At most ``ahead`` items are taken from ``items`` and not yet yielded, so memory
stays bounded however long the input and however slow the consumer (a big decoded batch is
megabytes). An exception in ``fn`` for one item becomes that item's ``error`` (one line) and the
rest go on. Closing the iterator early (a stopped job) cancels what has not started.

Threads, not processes: Pillow's decoders, cv2's resize, numpy's copies and onnxruntime's ``run``
all release the GIL, so threads overlap them on every core without pickling megabyte arrays
between processes.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Done(Generic[T, R]):
    item: T
    result: R | None = None
    error: str | None = None  # one line: "ExceptionType: message"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on a single line (decoder messages can hold newlines), at most ``limit``."""
    text = " ".join(str(exc).split())
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:limit]


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int | None = None,
                thread_name: str = "nyx-pipeline") -> Iterator[Done[T, R]]:
    workers = max(1, int(workers))
    ahead = max(workers, int(ahead if ahead is not None else workers + 1))
    it = iter(items)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name)
    pending: deque[tuple[T, Future]] = deque()
    try:
        def fill() -> None:
            while len(pending) < ahead:
                try:
                    item = next(it)
                except StopIteration:
                    return
                pending.append((item, pool.submit(fn, item)))

        fill()
        while pending:
            item, fut = pending.popleft()
            try:
                done = Done(item, fut.result())
            except Exception as exc:  # noqa: BLE001 - one item's failure is that item's result
                done = Done(item, error=one_line(exc))
            # the workers keep going on the ahead - 1 queued items while the consumer handles this one
            yield done
            fill()
    finally:
        # a consumer that stops early (Stop, an error while writing) must not wait for the whole
        # look-ahead: drop what has not started; what is running finishes in the background
        pool.shutdown(wait=False, cancel_futures=True)
