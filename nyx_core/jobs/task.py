"""The task-progress protocol: how a non-training job program (tagging, captioning, downloads,
generation, LoRA resize/merge) reports to the runner.

A task program is any process the runner starts (``JobSpec.argv``). It prints ordinary lines to
stdout/stderr (they go to ``train.log``) and, for Nyx, lines that start with ``@nyx `` followed by
one JSON object. The runner's parser turns those into progress events (see ``models.py``):

- ``{"type": "task", "done": 3, "total": 200, "unit": "images", "rate": 4.1, "eta_s": 48.0,
  "message": "tagging 003.png"}`` → a ``task`` event (every field optional but ``done``)
- ``{"type": "result", ...anything JSON...}`` → a ``result`` event whose ``data`` is the object
  without ``type``: what the job produced (files written, counts, a report)
- ``{"type": "warning"|"error", "message": "..."}`` → the usual ``warning``/``error`` events

Why a prefix on stdout rather than a second file: the runner already owns the program's output
pipe, parses it line by line and is the only writer of ``progress.jsonl``; a prefix keeps one
writer and one order. Programs written in Python use ``TaskReporter``; anything else can print the
lines itself.
"""
from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, TextIO

PREFIX = "@nyx "
#: event types a task program may send; anything else is ignored
TASK_TYPES = ("task", "result", "warning", "error")


class TaskReporter:
    """Prints protocol lines, throttled: at most one ``task`` line per ``min_interval_s`` unless
    the work is done, so a fast loop over 10,000 images does not flood the log."""

    def __init__(self, total: int | None = None, unit: str = "items", stream: TextIO | None = None,
                 min_interval_s: float = 0.25) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stdout
        self.min_interval_s = min_interval_s
        self.started = time.monotonic()
        self._last_sent = 0.0
        self.done = 0

    def send(self, type_: str, **fields: Any) -> None:
        line = PREFIX + json.dumps({"type": type_, **fields}, ensure_ascii=False, default=str)
        # A single write of the whole line keeps it whole even when stderr is interleaved.
        self.stream.write(line + "\n")
        self.stream.flush()

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 force: bool = False) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        finished = self.total is not None and done >= self.total
        if not (force or finished) and now - self._last_sent < self.min_interval_s:
            return
        self._last_sent = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 and done else None
        eta = (self.total - done) / rate if rate and self.total is not None else None
        fields: dict[str, Any] = {"done": done, "total": self.total, "unit": self.unit,
                                  "elapsed_s": round(elapsed, 3)}
        if rate is not None:
            fields["rate"] = round(rate, 4)
        if eta is not None:
            fields["eta_s"] = round(max(0.0, eta), 1)
        if message:
            fields["message"] = message[:300]
        self.send("task", **fields)

    def advance(self, n: int = 1, message: str | None = None) -> None:
        self.progress(self.done + n, message=message)

    def result(self, **data: Any) -> None:
        self.send("result", **data)

    def warning(self, message: str) -> None:
        self.send("warning", message=message[:500])

    def error(self, message: str) -> None:
        self.send("error", message=message[:500])


def parse_line(line: str) -> dict[str, Any] | None:
    """``@nyx {json}`` → the event's fields (``type`` first) or None when the line is not a
    well-formed protocol line (then it is treated as ordinary output)."""
    if not line.startswith(PREFIX):
        return None
    try:
        obj = json.loads(line[len(PREFIX):])
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("type") not in TASK_TYPES:
        return None
    kind = obj.pop("type")
    if kind == "task":
        done = _num(obj.get("done"))
        if done is None:
            return None
        fields = {"done": int(done)}
        for key in ("total", "rate", "eta_s", "elapsed_s"):
            v = _num(obj.get(key))
            if v is not None:
                fields[key] = int(v) if key == "total" else v
        for key in ("unit", "message"):
            if isinstance(obj.get(key), str):
                fields[key] = obj[key][:300]
        return {"type": "task", **fields}
    if kind == "result":
        return {"type": "result", "data": obj}
    msg = obj.get("message")
    return {"type": kind, "message": str(msg)[:500] if msg is not None else ""}


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def task_argv(module: str, *args: str, python: str | None = None) -> tuple[list[str], dict[str, str]]:
    """``python -m module args…`` for a job program, and the env it needs to import Nyx.

    ``python`` defaults to Nyx's own interpreter; pass sd-scripts' Python for programs that need
    torch/transformers (they must then import only stdlib-only Nyx modules, like this one, at the
    top level). The runner gives the program the *caller's* PYTHONPATH, so Nyx's folder is added
    here explicitly.
    """
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[2])
    return [python or sys.executable, "-m", module, *args], {"PYTHONPATH": repo}
