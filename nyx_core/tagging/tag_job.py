"""The WD14 tagging job program: ``python -m nyx_core.tagging.tag_job render/spec.json``.

Started by the job runner in the job folder (its cwd). Reports ``@nyx`` task lines (images
done/total, images/s, ETA), writes each caption as soon as its batch is scored, and keeps what it
did in the job folder: ``captions.jsonl`` (before/after per image, the page's review) and
``scores.jsonl`` (the tag editor's 'tags just under the threshold'). Stopping keeps every caption
already written.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from nyx_core.tagging.run import CaptionRun


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    folder = Path(argv[1]) if len(argv) > 1 else Path.cwd()
    job = CaptionRun(spec, folder, [Path(p) for p in spec["images"]])
    return job.run(lambda job: _tag(job, spec))


def _tag(job: CaptionRun, spec: dict) -> None:
    from nyx_core.tagging.catalog import ModelRef, ensure_downloaded
    from nyx_core.tagging.engine import Tagger, providers
    from nyx_core.tagging.options import TagOptions
    from nyx_core.tagging.wd14 import tag_images

    rep = job.rep
    m = spec["model"]
    ref = ModelRef("taggers", m["name"], Path(m["folder"]), m.get("repo_id"))
    rep.progress(0, message=f"loading {ref.name}", force=True)
    model_dir = ensure_downloaded(ref, progress=lambda msg: rep.progress(0, message=msg, force=True))
    tagger = Tagger(model_dir)
    print(f"tagger {ref.name}: input {tagger.side}px, {len(tagger.labels)} tags, providers {providers()}", flush=True)
    opts = TagOptions.from_dict(spec["options"])
    job.start_clock()
    # a pause per image: lets a tagging job share a machine with training (and tests stop one mid-run)
    throttle = float(spec.get("throttle_s") or 0)
    for item in tag_images(tagger, job.images, opts, batch_size=int(spec.get("batch", 8)),
                           workers=spec.get("workers"), caption_ext=job.ext):
        if item.error:
            job.failed(item.image, item.error)
        else:
            job.record(item.image, item.outcome, item.scores)
        if throttle:
            time.sleep(throttle)


if __name__ == "__main__":
    sys.exit(main())
