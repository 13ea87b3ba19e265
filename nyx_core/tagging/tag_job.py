"""The WD14 tagging job program: ``python -m nyx_core.tagging.tag_job render/spec.json``.

Started by the job runner in the job folder (its cwd). Reports ``@nyx`` task lines (images
done/total, images/s, ETA), writes each caption as soon as its batch is scored, and keeps what it
did in the job folder: ``captions.jsonl`` (before/after per image, the page's review) and
``scores.jsonl`` (the tag editor's 'tags just under the threshold'). Stopping keeps every caption
already written.
"""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from nyx_core.jobs.task import TaskReporter


def _stop_on_term() -> None:
    def handler(signum, frame):  # noqa: ANN001, ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    folder = Path(argv[1]) if len(argv) > 1 else Path.cwd()
    images = [Path(p) for p in spec["images"]]
    rep = TaskReporter(total=len(images), unit="images")
    _stop_on_term()
    counts = {"images": len(images), "written": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    ledger = None
    written: dict[str, str] = {}  # caption path (dataset-relative) → SHA-256 of what this job wrote
    try:
        from nyx_core.tagging.catalog import ModelRef, ensure_downloaded
        from nyx_core.tagging.engine import Tagger, providers
        from nyx_core.tagging.options import TagOptions
        from nyx_core.tagging.output import Ledger, caption_sha256
        from nyx_core.tagging.wd14 import tag_images

        m = spec["model"]
        ref = ModelRef("taggers", m["name"], Path(m["folder"]), m.get("repo_id"))
        rep.progress(0, message=f"loading {ref.name}", force=True)
        model_dir = ensure_downloaded(ref, progress=lambda msg: rep.progress(0, message=msg, force=True))
        tagger = Tagger(model_dir)
        print(f"tagger {ref.name}: input {tagger.side}px, {len(tagger.labels)} tags, providers {providers()}", flush=True)
        opts = TagOptions.from_dict(spec["options"])
        ledger = Ledger(folder)
        root = Path(spec.get("root") or "/")
        started = time.monotonic()
        # a pause per image: lets a tagging job share a machine with training (and tests stop one mid-run)
        throttle = float(spec.get("throttle_s") or 0)
        ext = spec.get("caption_ext", ".txt")
        for item in tag_images(tagger, images, opts, batch_size=int(spec.get("batch", 8)),
                               workers=spec.get("workers"), caption_ext=ext):
            rel = _rel(item.image, root)
            if item.error:
                counts["failed"] += 1
                rep.warning(f"{rel}: {item.error}")
            else:
                o = item.outcome
                if o.after is None:
                    counts["skipped"] += 1
                elif o.after == o.before:
                    counts["unchanged"] += 1
                else:
                    counts["written"] += 1
                    written[_rel(item.image.with_name(item.image.stem + ext), root)] = caption_sha256(o.after)
                if item.scores:
                    ledger.scores(rel, item.scores)
                o.image = rel
                ledger.caption(o)
            rep.advance(message=rel)
            if throttle:
                time.sleep(throttle)
        counts["seconds"] = round(time.monotonic() - started, 3)
        rep.progress(rep.done, force=True)
        rep.result(**counts, stopped=False)
        return 0
    except KeyboardInterrupt:
        rep.progress(rep.done, message="stopped; captions written so far are kept", force=True)
        rep.result(**counts, stopped=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for the Monitor, not a traceback
        from nyx_core.errors import NyxError

        msg = str(exc) if isinstance(exc, NyxError) else f"{type(exc).__name__}: {exc}"
        rep.error(msg)
        print(f"error: {msg}", file=sys.stderr, flush=True)
        return 1
    finally:
        if ledger is not None:
            ledger.close()
        from nyx_core.tagging.output import seal_journal

        seal_journal(spec.get("journal"), written)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
