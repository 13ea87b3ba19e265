"""The WD14 tagging job program: ``python -m nyx_core.tagging.tag_job render/spec.json``.

Started by the job runner in the job folder (its cwd). Reports ``@nyx`` task lines (images
done/total, images/s, ETA), writes each caption as soon as its batch is scored, and keeps what it
did in the job folder: ``captions.jsonl`` (before/after per image, the page's review) and
``scores.jsonl`` (the tag editor's 'tags just under the threshold'). Stopping keeps every caption
already written.
"""
from __future__ import annotations

import sys
import time

from nyx_core.tagging.run import CaptionRun, job_main


def main(argv: list[str] | None = None) -> int:
    return job_main(argv, _tag)


def _tag(job: CaptionRun, spec: dict) -> None:
    from nyx_core.tagging.engine import Tagger, providers
    from nyx_core.tagging.options import TagOptions
    from nyx_core.tagging.wd14 import tag_images

    ref, model_dir = job.fetch_model("taggers")
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
