"""Read ``progress.jsonl`` incrementally and fold it into chart-ready series.

``ProgressReader`` remembers a byte offset and returns only new, *complete* lines: a half-written
last line (the runner is mid-write) is left for the next read. ``ProgressState`` is plain data
(lists, numbers, strings) so a page can keep it in ``st.session_state`` between reruns and feed it
only what is new.
"""
from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nyx_core.jobs.models import SCHEMA_VERSION


class ProgressReader:
    def __init__(self, job_dir: Path, offset: int = 0, *, name: str = "progress.jsonl") -> None:
        self.path = Path(job_dir) / name
        self.offset = offset

    def read_lines(self, max_bytes: int | None = None) -> list[bytes]:
        """New complete lines (raw bytes) since the last call; advances the offset past them."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read() if max_bytes is None else fh.read(max_bytes)
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return data[:end].split(b"\n")

    def read_chunk(self, max_bytes: int | None = None) -> bytes:
        """New complete lines as one bytes chunk (ends with a newline, or empty)."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read() if max_bytes is None else fh.read(max_bytes)
        except FileNotFoundError:
            return b""
        end = data.rfind(b"\n")
        if end < 0:
            return b""
        self.offset += end + 1
        return data[: end + 1]

    def read_new(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        """New events (decoded) since the last call. Damaged lines and other versions are skipped."""
        return [ev for ev in (_decode(line) for line in self.read_lines(max_bytes)) if ev is not None]


_NUMBER_FIELDS = {
    "step": ("step", "total", "epoch", "epochs", "it_per_s", "elapsed_s", "eta_s", "avr_loss"),
    "metric": ("step", "loss", "lr"),
    "epoch": ("epoch", "epochs"),
    "summary": ("total", "epochs", "images", "reg_images", "batches_per_epoch", "batch_size", "grad_accum"),
    "sample": ("epoch", "prompt", "step"),
    "end": ("exit_code", "duration_s"),
    "task": ("done", "total", "rate", "eta_s", "elapsed_s"),
}
_INT_FIELDS = {"step", "total", "epoch", "epochs", "prompt", "exit_code", "images", "reg_images",
               "batches_per_epoch", "batch_size", "grad_accum"}
_TEXT_FIELDS = {"checkpoint": ("path",), "sample": ("path",), "phase": ("phase",), "warning": ("message",),
                "error": ("message",), "end": ("state",)}


def _check_event(ev: dict[str, Any]) -> None:
    """ValueError naming the field when a known event has a field of the wrong type (a damaged or
    hand-made line); such an event is skipped and counted, never folded half-way."""
    kind = ev.get("type")
    for k in _NUMBER_FIELDS.get(kind, ()):
        v = ev.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (k in _INT_FIELDS and not isinstance(v, int)):
            raise ValueError(f"a {kind} event has {k}={v!r}")
    for k in _TEXT_FIELDS.get(kind, ()):
        if ev.get(k) is not None and not isinstance(ev[k], str):
            raise ValueError(f"a {kind} event has {k}={ev[k]!r}")
    if kind == "error" and not isinstance(ev.get("lines", []), list):
        raise ValueError("an error event has lines that are not a list")


def _decode(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        ev = json.loads(line)
    except ValueError:
        return None  # a damaged line must not hide the rest
    if isinstance(ev, dict) and ev.get("v", 1) == SCHEMA_VERSION:
        return ev
    return None


# The fast path: step and metric events are >95 % of a long run's file. Their first fields are in
# a fixed order (written by the runner), so the chart series can be taken without a JSON decode.
# A number as json.dumps writes it (or null): a field of any other type (a damaged or hand-made
# line) does not match, so the line takes the checked path and is counted as bad, never crashes.
_N = rb'(null|NaN|-?Infinity|-?\d[\d.eE+-]*)'
_METRIC = re.compile(rb'^\{"v":1,"t":[^,]+,"type":"metric","step":(\d+),"loss":' + _N + rb',"lr":' + _N + rb',')
_STEP = re.compile(rb'^\{"v":1,"t":[^,]+,"type":"step","step":(\d+),.*"avr_loss":' + _N + rb'\}$')
# No "^"/re.M: a pattern that starts with a literal lets the regex engine jump between line starts.
_METRIC_ALL = re.compile(rb'\{"v":1,"t":[^,\n]+,"type":"metric","step":(\d+),"loss":' + _N + rb',"lr":' + _N + rb',')
_STEP_ALL = re.compile(rb'\{"v":1,"t":[^,\n]+,"type":"step","step":(\d+),[^\n]*"avr_loss":' + _N + rb'\}\n')
_RARE_ALL = re.compile(rb'\{"v":1,"t":[^,\n]+,"type":"(?!step"|metric")[^\n]*')


#: ``series.bin``: the chart's per-step loss and learning rate, one fixed-size record per TB
#: metric (step uint32, loss float32, lr float32, little-endian; NaN = absent), appended by the
#: runner next to the ``metric`` events. A derived index: progress.jsonl stays the record.
SERIES_FILE = "series.bin"
SERIES_RECORD = struct.Struct("<Iff")


def series_record(step: int, loss: float | None, lr: float | None) -> bytes:
    nan = float("nan")
    return SERIES_RECORD.pack(step, nan if loss is None else loss, nan if lr is None else lr)


def _num(raw: bytes) -> float | None:
    return None if raw == b"null" else float(raw)


@dataclass
class ProgressState:
    """Everything the monitor shows, folded from events. Data only (fits in session_state)."""

    offset: int = 0
    #: byte offset in series.bin; None = the job has no series.bin (metrics come from the events)
    series_offset: int | None = None
    phase: str | None = None
    step: int = 0
    total: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    it_per_s: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    avr_loss: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # chart series: TB per-step loss when available, else the tqdm running average
    loss_steps: list[int] = field(default_factory=list)
    loss_values: list[float] = field(default_factory=list)
    avr_steps: list[int] = field(default_factory=list)
    avr_values: list[float] = field(default_factory=list)
    lr_steps: list[int] = field(default_factory=list)
    lr_values: list[float] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    last_event_t: float | None = None
    end: dict[str, Any] | None = None
    events: int = 0
    #: a task job's last progress (``done``, ``total``, ``unit``, ``rate``, ``eta_s``, ``message``)
    task: dict[str, Any] | None = None
    #: what a task job reported it produced (its ``result`` event's ``data``)
    result: dict[str, Any] | None = None
    #: events skipped because a field had the wrong type (a damaged or foreign line), and why
    #: the first one was
    bad_events: int = 0
    bad_event: str | None = None
    #: (epoch, first step of that epoch), for marking epoch boundaries on the charts
    epoch_starts: list[list[int]] = field(default_factory=list)
    #: the end-of-run webhook's outcome (``notify`` event): {"ok": bool, "message": str}
    notify: dict[str, Any] | None = None

    def apply(self, events: list[dict[str, Any]]) -> "ProgressState":
        for ev in events:
            try:
                _check_event(ev)
            except ValueError as exc:
                self._bad(str(exc))
                continue
            self.events += 1
            self.last_event_t = ev.get("t", self.last_event_t)
            kind = ev.get("type")
            if kind == "step":
                self._step_header(ev)
                if ev.get("avr_loss") is not None:
                    if self.avr_steps and self.avr_steps[-1] == self.step:
                        self.avr_values[-1] = ev["avr_loss"]
                    else:
                        self.avr_steps.append(self.step)
                        self.avr_values.append(ev["avr_loss"])
            elif kind == "metric":
                if self.series_offset is not None:
                    continue  # charted from series.bin
                step = int(ev.get("step") or 0)
                if ev.get("loss") is not None:
                    self.loss_steps.append(step)
                    self.loss_values.append(float(ev["loss"]))
                if ev.get("lr") is not None:
                    self.lr_steps.append(step)
                    self.lr_values.append(float(ev["lr"]))
            elif kind == "phase":
                self.phase = ev.get("phase")
            elif kind == "epoch":
                self.epoch, self.epochs = ev.get("epoch"), ev.get("epochs")
                self._mark_epoch(self.epoch, self.step)
            elif kind == "summary":
                self.summary.update({k: v for k, v in ev.items() if k not in ("v", "t", "type")})
                self.total = ev.get("total") or self.total
                self.epochs = ev.get("epochs") or self.epochs
            elif kind == "checkpoint":
                if ev.get("path") not in self.checkpoints:
                    self.checkpoints.append(ev.get("path"))
            elif kind == "sample":
                self.samples.append({k: ev.get(k) for k in ("path", "epoch", "prompt", "step")})
            elif kind == "warning":
                self.warnings.append(str(ev.get("message", "")))
                del self.warnings[:-50]
            elif kind == "error":
                self.errors.append({"message": ev.get("message", ""), "lines": ev.get("lines", [])})
                del self.errors[:-20]
            elif kind == "end":
                self.end = {k: v for k, v in ev.items() if k not in ("v", "type")}
                self.phase = "finished"
            elif kind == "notify":
                self.notify = {"ok": bool(ev.get("ok")), "message": str(ev.get("message") or "")}
            elif kind == "task":
                self.task = {k: v for k, v in ev.items() if k not in ("v", "type")}
            elif kind == "result":
                data = ev.get("data")
                self.result = data if isinstance(data, dict) else {"value": data}
        return self

    def apply_chunk(self, data: bytes) -> "ProgressState":
        """Fold a chunk of complete lines. Step/metric lines are matched by regexes over the whole
        chunk (C speed, no JSON decode); the rare other events are decoded in order around the last
        step line. Anything unexpected (foreign formatting) falls back to the line-by-line path."""
        if not data:
            return self
        n_lines = data.count(b"\n")
        if self.series_offset is not None:
            metrics = []  # the chart series come from series.bin
            n_metrics = data.count(b',"type":"metric",')
        else:
            metrics = _METRIC_ALL.findall(data)
            n_metrics = len(metrics)
        n_steps = data.count(b',"type":"step",')
        # The tqdm running average is only charted when there is no per-step TB loss.
        steps = _STEP_ALL.findall(data) if not (n_metrics or self.loss_values) else None
        n_rare = n_lines - n_metrics - n_steps
        rare = list(_RARE_ALL.finditer(data)) if n_rare > 0 else []
        if len(rare) != n_rare or (steps is not None and len(steps) != n_steps):
            return self.apply_lines(data.rstrip(b"\n").split(b"\n"))
        self.events += n_lines
        if metrics:
            st_, loss_, lr_ = zip(*metrics)
            if b"null" not in loss_:
                self.loss_steps += map(int, st_)
                self.loss_values += map(float, loss_)
            else:
                for a, b in zip(st_, loss_):
                    if b != b"null":
                        self.loss_steps.append(int(a))
                        self.loss_values.append(float(b))
            if b"null" not in lr_:
                self.lr_steps += map(int, st_)
                self.lr_values += map(float, lr_)
            else:
                for a, b in zip(st_, lr_):
                    if b != b"null":
                        self.lr_steps.append(int(a))
                        self.lr_values.append(float(b))
        for step, avr in steps or ():
            if avr == b"null":
                continue
            s_, a_ = int(step), float(avr)
            if self.avr_steps and self.avr_steps[-1] == s_:
                self.avr_values[-1] = a_
            else:
                self.avr_steps.append(s_)
                self.avr_values.append(a_)
        last_step_at = data.rfind(b',"type":"step",')
        header = None
        if n_steps and last_step_at >= 0:
            start = data.rfind(b"\n", 0, last_step_at) + 1
            header = _decode(data[start:data.index(b"\n", last_step_at)])
            # tqdm prints each step twice, the second time with avr_loss: keep the last known one
            at = last_step_at
            for _ in range(4):
                if header is None or header.get("avr_loss") is not None:
                    break
                at = data.rfind(b',"type":"step",', 0, at)
                if at < 0:
                    break
                s0 = data.rfind(b"\n", 0, at) + 1
                prev = _decode(data[s0:data.index(b"\n", at)])
                if prev and prev.get("avr_loss") is not None:
                    self.avr_loss = prev["avr_loss"]
                    break
        for m in rare:
            if header is not None and m.start() > last_step_at:
                self._step_header(header)
                header = None
            ev = _decode(m.group(0))
            if ev is not None:
                if ev.get("type") == "epoch":
                    # the steps before this line in the chunk were not folded one by one: the
                    # epoch began after the last step printed before it
                    at = data.rfind(b',"type":"step","step":', 0, m.start())
                    if at >= 0:
                        num = re.match(rb'\d+', data[at + 22:at + 34])
                        if num:
                            self.step = max(self.step, int(num.group(0)))
                self.apply([ev])
                self.events -= 1  # counted above
        if header is not None:
            self._step_header(header)
        return self

    def apply_lines(self, lines: list[bytes]) -> "ProgressState":
        """Like ``apply`` on raw lines, but step and metric lines skip the JSON decode: only the
        last step line of the batch is decoded (for total, epoch, ETA …)."""
        last_step: bytes | None = None
        for line in lines:
            head = line[:64]
            if b'"type":"metric"' in head:
                m = _METRIC.match(line)
                if m and self.series_offset is not None:
                    self.events += 1
                    continue
                if m:
                    self.events += 1
                    step = int(m.group(1))
                    loss, lr = _num(m.group(2)), _num(m.group(3))
                    if loss is not None:
                        self.loss_steps.append(step)
                        self.loss_values.append(loss)
                    if lr is not None:
                        self.lr_steps.append(step)
                        self.lr_values.append(lr)
                    continue
            elif b'"type":"step"' in head:
                m = _STEP.match(line)
                if m:
                    self.events += 1
                    last_step = line
                    avr = _num(m.group(2))
                    if avr is not None:
                        step = int(m.group(1))
                        if self.avr_steps and self.avr_steps[-1] == step:
                            self.avr_values[-1] = avr
                        else:
                            self.avr_steps.append(step)
                            self.avr_values.append(avr)
                    continue
            ev = _decode(line)
            if ev is None:
                continue
            if last_step is not None:
                # keep order: fold the pending step header before a non-step event
                self._step_header(_decode(last_step))
                last_step = None
            self.apply([ev])  # rare events: phases, checkpoints, samples, errors, end
        if last_step is not None:
            self._step_header(_decode(last_step))
        return self

    def _bad(self, why: str) -> None:
        self.bad_events += 1
        if self.bad_event is None:
            self.bad_event = why

    def _mark_epoch(self, epoch: Any, step: int) -> None:
        if isinstance(epoch, int) and (not self.epoch_starts or self.epoch_starts[-1][0] != epoch):
            if not self.epoch_starts or epoch > self.epoch_starts[-1][0]:
                self.epoch_starts.append([epoch, step])

    def _step_header(self, ev: dict[str, Any] | None) -> None:
        if not ev:
            return
        try:
            _check_event(ev)
        except ValueError as exc:
            self._bad(str(exc))
            return
        self.last_event_t = ev.get("t", self.last_event_t)
        self.step = int(ev.get("step") or 0)
        self.total = ev.get("total") or self.total
        self.epoch = ev.get("epoch") or self.epoch
        self.epochs = ev.get("epochs") or self.epochs
        if ev.get("it_per_s"):
            self.it_per_s = ev["it_per_s"]
        self.eta_s = ev.get("eta_s")
        self.elapsed_s = ev.get("elapsed_s")
        if self.epoch is not None:
            self._mark_epoch(self.epoch, max(0, self.step - 1))
        if ev.get("avr_loss") is not None:
            self.avr_loss = ev["avr_loss"]
        if self.end is None:
            self.phase = "training"

    def loss_series(self) -> tuple[list[int], list[float], str]:
        """(steps, values, label): per-step TB loss when sd-scripts logged it, else avr_loss."""
        if self.loss_values:
            return self.loss_steps, self.loss_values, "loss (per step)"
        return self.avr_steps, self.avr_values, "avr_loss (tqdm running average)"

    @property
    def fraction(self) -> float:
        if self.task is not None and not self.total:
            done, total = self.task.get("done") or 0, self.task.get("total")
            return max(0.0, min(1.0, done / total)) if total else 0.0
        if not self.total:
            return 0.0
        return max(0.0, min(1.0, self.step / self.total))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_series(job_dir: Path, state: ProgressState) -> None:
    """Append the new complete records of ``series.bin`` to the state's loss/lr series."""
    import numpy as np

    try:
        with open(Path(job_dir) / SERIES_FILE, "rb") as fh:
            fh.seek(state.series_offset or 0)
            data = fh.read()
    except FileNotFoundError:
        return
    n = len(data) // SERIES_RECORD.size
    if not n:
        return
    rec = np.frombuffer(data[: n * SERIES_RECORD.size], dtype=np.dtype([("s", "<u4"), ("l", "<f4"), ("r", "<f4")]))
    state.series_offset = (state.series_offset or 0) + n * SERIES_RECORD.size
    for col, steps, values in (("l", state.loss_steps, state.loss_values), ("r", state.lr_steps, state.lr_values)):
        v = rec[col]
        ok = ~np.isnan(v)
        steps += rec["s"][ok].tolist()
        values += v[ok].astype(float).tolist()  # float32 precision, as TensorBoard stored it


def follow(job_dir: Path, state: ProgressState | None = None) -> ProgressState:
    """Bring ``state`` up to date with the job's progress (reads only new bytes)."""
    state = state or ProgressState()
    if state.series_offset is None and state.offset == 0 and (Path(job_dir) / SERIES_FILE).exists():
        state.series_offset = 0
    reader = ProgressReader(job_dir, state.offset)
    state.apply_chunk(reader.read_chunk())
    state.offset = reader.offset
    if state.series_offset is not None:
        read_series(job_dir, state)
    return state


# Chart helpers (pure) ----------------------------------------------------------------------------
def ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's debiased exponential moving average; ``weight`` in [0, 1) (0 = raw)."""
    if weight <= 0 or not values:
        return list(values)
    out, last, n = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        n += 1
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** n))
    return out


def downsample(xs: list, ys: list, max_points: int = 2000) -> tuple[list, list]:
    """At most ~``max_points`` points keeping each bucket's min and max (so spikes stay visible)
    and the last point (so the line ends where training is)."""
    n = len(xs)
    if n <= max_points or max_points < 4:
        return list(xs), list(ys)
    import numpy as np

    buckets = max_points // 2
    size = n // buckets
    y = np.asarray(ys, dtype=np.float64)
    body = y[: size * buckets].reshape(buckets, size)
    base = np.arange(buckets) * size
    with np.errstate(invalid="ignore"):
        lo = base + np.nanargmin(np.where(np.isnan(body), np.inf, body), axis=1)
        hi = base + np.nanargmax(np.where(np.isnan(body), -np.inf, body), axis=1)
    idx = np.unique(np.concatenate([lo, hi, [n - 1]]))
    x = np.asarray(xs)
    return x[idx].tolist(), y[idx].tolist()
