"""sd-scripts output → progress events (schema v1, see models.py).

Feed it the program's output one *segment* at a time: the text between two ``\\r`` or ``\\n``
(tqdm redraws its bar with ``\\r``). Anchors, all taken from real sd-scripts logs:

- ``steps:  12%|█▎  | 1/8 [00:04<00:34,  4.97s/it, avr_loss=1.09]`` — the training bar; other bars
  (latent caching, ``read caption``, ``Loading pipeline components``) have other or no labels.
- ``epoch 1/2`` on its own line; ``saving checkpoint: <path>``; ``model saved.``
- the summary block after ``running training / 学習開始`` up to ``total optimization steps``, and
  ``override steps. steps for 2 epochs is … : 8``
- rich log records ``2026-11-26 14:29:46 INFO     message      file.py:123`` (wrapped onto
  continuation lines at 80 columns unless COLUMNS is set; both handled)
- LyCORIS records ``…|[LyCORIS]-WARNING: …`` (ANSI-coloured); Python tracebacks.
"""
from __future__ import annotations

import re
from typing import Any

from nyx_core.jobs.models import event
from nyx_core.jobs.task import PREFIX as TASK_PREFIX, parse_line as parse_task_line

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
_STEPS = re.compile(
    r"^steps:\s*(?P<pct>\d+)%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
    r"\[(?P<elapsed>[\d:]+)<(?P<eta>[\d:?]+),\s*(?P<rate>[\d.]+|\?)\s*(?P<unit>it/s|s/it)"
    r"(?:,\s*avr_loss=(?P<loss>[-+\d.eE]+|nan|inf))?"
)
_EPOCH = re.compile(r"^epoch (\d+)/(\d+)\s*$")
_SAVING = re.compile(r"^saving checkpoint:\s*(.+?)\s*$")
_RECORD = re.compile(
    r"^(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)?\s+(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\s{1,}(?P<msg>.*)$"
)
_LYCORIS = re.compile(r"\|\[LyCORIS\]-(?P<level>INFO|WARNING|ERROR)\s*:\s*(?P<msg>.*)$")
_SRC_COL = re.compile(r"\s{2,}[\w.]+\.py:\d+\s*$")
_CONT = re.compile(r"^\s{20,}\S")
_SUMMARY = {
    "num train images * repeats": "images",
    "num reg images": "reg_images",
    "num batches per epoch": "batches_per_epoch",
    "num epochs": "epochs",
    "batch size per device": "batch_size",
    "gradient accumulation steps": "grad_accum",
    "total optimization steps": "total",
}
_SUMMARY_LINE = re.compile(r"^\s+(?P<key>[a-z][a-z *]+?)\s*/.*?[:=]\s*(?P<val>[\d, ]+)\s*$")
_OVERRIDE = re.compile(r"^override steps\. steps for (\d+) epochs is.*?:\s*(\d+)")
_PHASE_MARKERS = (
    ("Loading dataset config", "preparing dataset"),
    ("prepare images", "preparing dataset"),
    ("loading model for process", "loading model"),
    ("load Diffusers pretrained", "loading model"),
    ("load StableDiffusion checkpoint", "loading model"),
    ("caching latents", "caching latents"),
    ("cache latents", "caching latents"),
    ("prepare optimizer, data loader", "preparing optimizer"),
    ("running training", "training"),
    ("generating sample images", "sampling"),
)
_IGNORE = ("Failed to load CPU gemm_4bit_forward",)


def _hms(text: str) -> float | None:
    if "?" in text:
        return None
    secs = 0.0
    for part in text.split(":"):
        secs = secs * 60 + float(part)
    return secs


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


class OutputParser:
    """Stateful: remembers the epoch, total and phase so each event is complete on its own."""

    def __init__(self) -> None:
        self.task_seen = False  # a task program (tagging, downloads …) reported progress
        self.phase: str | None = None
        self.epoch: int | None = None
        self.epochs: int | None = None
        self.total: int | None = None
        self.last_step: int = 0
        self.steps_seen = False
        self._last_step_key: tuple | None = None
        self._summary: dict[str, int] = {}
        self._in_summary = False
        self._record: tuple[str, list[str]] | None = None  # (level, lines) of a WARNING/ERROR record
        self._tb: list[str] | None = None  # lines of a traceback being read
        self.errors: list[dict[str, Any]] = []
        self.checkpoints: list[str] = []

    # ------------------------------------------------------------------------------------
    def feed(self, segment: str) -> list[dict[str, Any]]:
        line = (strip_ansi(segment) if "\x1b" in segment else segment).rstrip()
        out: list[dict[str, Any]] = []
        if not line.strip():
            if self._in_summary and self._summary:
                out += self._end_summary()
            return out
        if any(x in line for x in _IGNORE):
            return out
        if line.startswith(TASK_PREFIX):
            ev = parse_task_line(line)
            if ev is not None:
                kind = ev.pop("type")
                if kind == "task":
                    self.task_seen = True
                if kind == "error":
                    # the job's failure reason names it, not "see the log"
                    return out + self._emit_error(ev["message"], [line])
                return out + [event(kind, **ev)]

        # Traceback: collect until the exception line (first non-indented line after the frames).
        if self._tb is not None:
            if line.startswith((" ", "\t")) or line.startswith("Traceback") or line.startswith("During handling"):
                self._tb.append(line)
                return out
            self._tb.append(line)
            out += self._emit_error(line, self._tb)
            self._tb = None
            return out
        if line.startswith("Traceback (most recent call last)"):
            out += self._flush_record()
            self._tb = [line]
            return out

        # Continuation of a wrapped rich record.
        if self._record is not None and _CONT.match(line) and not _RECORD.match(line):
            self._record[1].append(_SRC_COL.sub("", line).strip())
            return out
        out += self._flush_record()

        m = _STEPS.match(line)
        if m:
            out += self._step(m)
            return out
        m = _EPOCH.match(line)
        if m:
            self.epoch, self.epochs = int(m.group(1)), int(m.group(2))
            out.append(event("epoch", epoch=self.epoch, epochs=self.epochs))
            return out
        m = _SAVING.match(line)
        if m:
            path = m.group(1)
            self.checkpoints.append(path)
            out += self._set_phase("saving")
            out.append(event("checkpoint", path=path, final=not re.search(r"-(step)?\d{6,}\.\w+$", path)))
            return out

        # Summary block
        m = _OVERRIDE.match(line)
        if m:
            self._summary["epochs"] = int(m.group(1))
            self._summary["total"] = int(m.group(2))
        if line.startswith("running training"):
            self._in_summary = True
        if self._in_summary:
            sm = _SUMMARY_LINE.match(line)
            if sm:
                key = _SUMMARY.get(sm.group("key").strip())
                if key:
                    try:
                        self._summary[key] = int(sm.group("val").split(",")[0].strip())
                    except ValueError:
                        pass
                    if key == "total":
                        out += self._set_phase("training")
                        out += self._end_summary()
                return out

        out += self._phase_from(line)

        m = _LYCORIS.search(line)
        if m:
            if m.group("level") in ("WARNING", "ERROR"):
                kind = "warning" if m.group("level") == "WARNING" else "error"
                out.append(event(kind, message=m.group("msg").strip()[:500]))
            return out
        m = _RECORD.match(line)
        if m:
            level = m.group("level")
            if level in ("WARNING", "ERROR", "CRITICAL"):
                self._record = (level, [_SRC_COL.sub("", m.group("msg")).strip()])
            return out
        return out

    def flush(self) -> list[dict[str, Any]]:
        """Emit whatever is pending (a wrapped record, a traceback cut short). Call at idle/end."""
        out = self._flush_record()
        if self._tb is not None:
            out += self._emit_error(self._tb[-1], self._tb)
            self._tb = None
        if self._in_summary and self._summary:
            out += self._end_summary()
        return out

    # ------------------------------------------------------------------------------------
    def _step(self, m: re.Match) -> list[dict[str, Any]]:
        out = []
        n, total = int(m.group("n")), int(m.group("total"))
        self.total = total
        loss = m.group("loss")
        key = (n, total, loss)
        if key == self._last_step_key:
            return out  # the bar is reprinted unchanged after saves; one event is enough
        self._last_step_key = key
        if self.phase != "training":
            out += self._set_phase("training")
        if n > 0:
            self.steps_seen = True
        self.last_step = max(self.last_step, n)
        rate_txt, unit = m.group("rate"), m.group("unit")  # tqdm flips to s/it below 1 it/s
        rate = None if rate_txt == "?" else float(rate_txt)
        it_per_s = None
        if rate:
            it_per_s = rate if unit == "it/s" else 1.0 / rate
        out.append(
            # field order is part of the format: readers take a fast path on it (reader.py)
            event(
                "step", step=n, total=total, epoch=self.epoch, epochs=self.epochs,
                it_per_s=None if it_per_s is None else round(it_per_s, 6),
                elapsed_s=_hms(m.group("elapsed")), eta_s=_hms(m.group("eta")),
                avr_loss=None if loss is None else float(loss),
            )
        )
        return out

    def _set_phase(self, phase: str) -> list[dict[str, Any]]:
        if phase == self.phase:
            return []
        self.phase = phase
        return [event("phase", phase=phase)]

    def _phase_from(self, line: str) -> list[dict[str, Any]]:
        for marker, phase in _PHASE_MARKERS:
            if marker in line:
                return self._set_phase(phase)
        return []

    def _end_summary(self) -> list[dict[str, Any]]:
        self._in_summary = False
        s, self._summary = self._summary, {}
        if "total" in s:
            self.total = s["total"]
        if "epochs" in s:
            self.epochs = s["epochs"]
        return [event("summary", **s)] if s else []

    def _flush_record(self) -> list[dict[str, Any]]:
        if self._record is None:
            return []
        level, lines = self._record
        self._record = None
        msg = " ".join(x for x in lines if x)
        if level == "WARNING":
            return [event("warning", message=msg[:1000])]
        return self._emit_error(msg, lines)

    def _emit_error(self, message: str, lines: list[str]) -> list[dict[str, Any]]:
        ev = event("error", message=message.strip()[:1000], lines=lines[-30:])
        self.errors.append(ev)
        return [ev]
