"""What the two caption programs (WD14 tagging, prose captioning) share: the counts, the review
ledger, the hashes of the captions this job wrote (sealed into the undo journal at the end, so
undo skips later hand edits), and how a run ends — done, stopped (SIGINT/SIGTERM from Stop: every
caption written so far is kept) or failed (one clear line for the Monitor, never a traceback).

Standard library only at import time: the captioner runs in sd-scripts' Python.
"""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Callable

from nyx_core.jobs.task import TaskReporter
from nyx_core.tagging.output import Ledger, Outcome, caption_sha256, seal_journal


class CaptionRun:
    def __init__(self, spec: dict, folder: Path, images: list[Path]) -> None:
        self.spec = spec
        self.images = images
        self.rep = TaskReporter(total=len(images), unit="images")
        self.counts = {"images": len(images), "written": 0, "unchanged": 0, "skipped": 0, "failed": 0}
        self.written: dict[str, str] = {}  # caption path (dataset-relative) → SHA-256 of what was written
        self.root = Path(spec.get("root") or "/")
        self.ext = spec.get("caption_ext", ".txt")
        self.folder = folder
        self.ledger: Ledger | None = None  # opened in run(), so a failure there is reported too
        self.started = time.monotonic()

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def fetch_model(self, kind: str):  # noqa: ANN201 - (ModelRef, Path)
        """The spec's model of ``kind`` ("taggers" / "captioners"), downloaded once if it is not
        there yet, with what is happening shown as the job's progress message."""
        from nyx_core.tagging.catalog import ModelRef, ensure_downloaded

        m = self.spec["model"]
        ref = ModelRef(kind, m["name"], Path(m["folder"]), m.get("repo_id"))
        rep = self.rep
        rep.progress(rep.done, message=f"loading {ref.name}", force=True)
        return ref, ensure_downloaded(ref, progress=lambda msg: rep.progress(rep.done, message=msg, force=True))

    def start_clock(self) -> None:
        """Time the work from here (after the model has loaded)."""
        self.started = time.monotonic()

    def skipped(self, image: Path) -> None:
        self.counts["skipped"] += 1
        self.rep.advance(message=self.rel(image))

    def failed(self, image: Path, why: str) -> None:
        self.counts["failed"] += 1
        self.rep.warning(f"{self.rel(image)}: {why}")
        self.rep.advance()

    def record(self, image: Path, o: Outcome, scores: dict[str, float] | None = None) -> None:
        """One image done: count it, remember the hash of a caption this job wrote, log
        before/after (and the tagger's scores) for the review, and advance the progress."""
        if o.after is None:
            self.counts["skipped"] += 1
        elif o.after == o.before:
            self.counts["unchanged"] += 1
        else:
            self.counts["written"] += 1
            self.written[self.rel(image.with_name(image.stem + self.ext))] = caption_sha256(o.after)
        o.image = self.rel(image)
        if scores:
            self.ledger.scores(o.image, scores)
        self.ledger.caption(o)
        self.rep.advance(message=o.image)

    def run(self, body: Callable[["CaptionRun"], None]) -> int:
        """Run ``body`` and report how it ended; the exit code for the job runner."""
        def on_term(signum, frame):  # noqa: ANN001, ARG001
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        rep = self.rep
        try:
            self.ledger = Ledger(self.folder)
            body(self)
            self.counts["seconds"] = round(time.monotonic() - self.started, 3)
            rep.progress(rep.done, force=True)
            rep.result(**self.counts, stopped=False)
            return 0
        except KeyboardInterrupt:
            rep.progress(rep.done, message="stopped; captions written so far are kept", force=True)
            rep.result(**self.counts, stopped=True)
            return 130
        except Exception as exc:  # noqa: BLE001 - one clear line for the Monitor, not a traceback
            from nyx_core.errors import NyxError

            msg = str(exc) if isinstance(exc, NyxError) else f"{type(exc).__name__}: {exc}"
            rep.error(msg)
            print(f"error: {msg}", file=sys.stderr, flush=True)
            return 1
        finally:
            if self.ledger is not None:
                self.ledger.close()
            seal_journal(self.spec.get("journal"), self.written)


def job_main(argv: list[str] | None, body: Callable[[CaptionRun, dict], None]) -> int:
    """A caption program's entry: ``argv`` is [spec.json, job folder (default: cwd)]; runs
    ``body(job, spec)`` and returns the exit code for the job runner."""
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    folder = Path(argv[1]) if len(argv) > 1 else Path.cwd()
    job = CaptionRun(spec, folder, [Path(p) for p in spec["images"]])
    return job.run(lambda job: body(job, spec))
