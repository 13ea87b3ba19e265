"""Read ``progress.jsonl`` incrementally and fold it into chart-ready series.

``ProgressReader`` remembers a byte offset and returns only new, *complete* lines: a half-written
last line (the runner is mid-write) is left for the next read. ``ProgressState`` is plain data
(lists, numbers, strings) so a page can keep it in ``st.session_state`` between reruns and feed it
only what is new.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class ProgressReader:
    def __init__(self, job_dir: Path, offset: int = 0) -> None:
        self.path = Path(job_dir) / "progress.jsonl"
        self.offset = offset

    def read_new(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read() if max_bytes is None else fh.read(max_bytes)
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        chunk = data[: end + 1]
        self.offset += len(chunk)
        out = []
        for line in chunk.split(b"\n"):
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a damaged line must not hide the rest
            if isinstance(ev, dict) and ev.get("v", 1) == 1:
                out.append(ev)
        return out


@dataclass
class ProgressState:
    """Everything the monitor shows, folded from events. Data only (fits in session_state)."""

    offset: int = 0
    phase: str | None = None
    step: int = 0
    total: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    it_per_s: float | None = None
    rate_text: str | None = None
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

    def apply(self, events: list[dict[str, Any]]) -> "ProgressState":
        for ev in events:
            self.events += 1
            self.last_event_t = ev.get("t", self.last_event_t)
            kind = ev.get("type")
            if kind == "step":
                self.step = int(ev.get("step") or 0)
                self.total = ev.get("total") or self.total
                self.epoch = ev.get("epoch") or self.epoch
                self.epochs = ev.get("epochs") or self.epochs
                if ev.get("it_per_s"):
                    self.it_per_s = ev["it_per_s"]
                    self.rate_text = f"{ev.get('rate')} {ev.get('rate_unit')}"
                self.eta_s = ev.get("eta_s")
                self.elapsed_s = ev.get("elapsed_s")
                if ev.get("avr_loss") is not None:
                    self.avr_loss = ev["avr_loss"]
                    if self.avr_steps and self.avr_steps[-1] == self.step:
                        self.avr_values[-1] = ev["avr_loss"]
                    else:
                        self.avr_steps.append(self.step)
                        self.avr_values.append(ev["avr_loss"])
                if self.phase != "training":
                    self.phase = "training"
            elif kind == "metric":
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
        return self

    def loss_series(self) -> tuple[list[int], list[float], str]:
        """(steps, values, label): per-step TB loss when sd-scripts logged it, else avr_loss."""
        if self.loss_values:
            return self.loss_steps, self.loss_values, "loss (per step)"
        return self.avr_steps, self.avr_values, "avr_loss (tqdm running average)"

    @property
    def fraction(self) -> float:
        if not self.total:
            return 0.0
        return max(0.0, min(1.0, self.step / self.total))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def follow(job_dir: Path, state: ProgressState | None = None) -> ProgressState:
    """Bring ``state`` up to date with the job's progress file (reads only new bytes)."""
    state = state or ProgressState()
    reader = ProgressReader(job_dir, state.offset)
    state.apply(reader.read_new())
    state.offset = reader.offset
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
    buckets = max_points // 2
    size = n / buckets
    ox, oy = [], []
    for b in range(buckets):
        lo, hi = int(b * size), int((b + 1) * size)
        if hi <= lo:
            continue
        seg = ys[lo:hi]
        i_min = lo + min(range(len(seg)), key=seg.__getitem__)
        i_max = lo + max(range(len(seg)), key=seg.__getitem__)
        for i in sorted({i_min, i_max}):
            ox.append(xs[i])
            oy.append(ys[i])
    if ox[-1] != xs[-1]:
        ox.append(xs[-1])
        oy.append(ys[-1])
    return ox, oy
