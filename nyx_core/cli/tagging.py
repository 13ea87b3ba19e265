"""`nyx tag …` / `nyx caption …`: auto-caption a dataset as a background job.

    nyx tag DATASET --model NAME_OR_FOLDER [--general-threshold 0.35] [--character-threshold 0.85]
            [--mcut] [--mode overwrite|append|skip] [--undesired TAGS] [--first TAGS]
            [--replace OLD=NEW;…] [--batch N] [--wait] [--json]
    nyx caption DATASET --model NAME_OR_FOLDER [--prefix TEXT] [--suffix TEXT] [--prompt TEXT]
            [--max-length N] [--beams N] [--batch N] [--mode …] [--wait] [--json]
"""
from __future__ import annotations

import argparse
import time

from nyx_core.cli.common import print_json, settings, workspace


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("tag", help="tag a dataset's images with a WD14 tagger (a background job)")
    t.add_argument("dataset")
    t.add_argument("--model", default="wd-eva02-large-tagger-v3",
                   help="a known tagger name or a folder with model.onnx + selected_tags.csv")
    t.add_argument("--general-threshold", type=float, default=0.35)
    t.add_argument("--character-threshold", type=float, default=0.85)
    t.add_argument("--mcut", action="store_true", help="automatic thresholds (MCut) for general and character tags")
    t.add_argument("--mode", choices=("overwrite", "append", "skip"), default="overwrite",
                   help="what to do with existing captions (skip also resumes a stopped run)")
    t.add_argument("--undesired", default="", help="comma-separated tags never to write")
    t.add_argument("--first", default="", help="comma-separated tags always first (a trigger word)")
    t.add_argument("--replace", default="", help="tag replacements, old=new;old2=new2")
    t.add_argument("--character-first", action="store_true")
    t.add_argument("--rating", action="store_true", help="add the rating tag first")
    t.add_argument("--keep-underscores", action="store_true", help="do not turn underscores into spaces")
    t.add_argument("--escape-brackets", action="store_true", help=r"write ( ) as \( \)")
    t.add_argument("--max-tags", type=int, default=0)
    t.add_argument("--order", choices=("model", "score"), default="model")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--wait", action="store_true", help="follow the job; exit 0 only if it completed")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_tag)

    c = sub.add_parser("caption", help="write natural-language captions with BLIP (a background job)")
    c.add_argument("dataset")
    c.add_argument("--model", default="blip-large", help="blip-large, blip-base or a model folder")
    c.add_argument("--prompt", default="", help="text the caption continues, e.g. 'a photo of'")
    c.add_argument("--prefix", default="")
    c.add_argument("--suffix", default="")
    c.add_argument("--max-length", type=int, default=60)
    c.add_argument("--beams", type=int, default=3)
    c.add_argument("--batch", type=int, default=4)
    c.add_argument("--device", choices=("", "cpu", "cuda"), default="")
    c.add_argument("--mode", choices=("overwrite", "append", "skip"), default="overwrite")
    c.add_argument("--python", help="the Python to run in (default: sd-scripts' venv)")
    c.add_argument("--wait", action="store_true")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_caption)


def _tag(args) -> int:
    from nyx_core.tagging.jobs import submit_tag
    from nyx_core.tagging.options import TagOptions, parse_list, parse_replacements

    ws = workspace(args)
    opts = TagOptions(general_threshold=args.general_threshold, character_threshold=args.character_threshold,
                      general_mcut=args.mcut, character_mcut=args.mcut, undesired=parse_list(args.undesired),
                      replacements=parse_replacements(args.replace), first=parse_list(args.first),
                      character_first=args.character_first, rating=args.rating,
                      underscores_to_spaces=not args.keep_underscores, escape_brackets=args.escape_brackets,
                      max_tags=args.max_tags, order=args.order, mode=args.mode)
    job = submit_tag(ws, args.dataset, args.model, opts, batch=args.batch, settings=settings(ws))
    return _after_submit(ws, job, args)


def _caption(args) -> int:
    from nyx_core.tagging.jobs import submit_caption
    from nyx_core.tagging.options import CaptionOptions

    ws = workspace(args)
    opts = CaptionOptions(prompt=args.prompt, prefix=args.prefix, suffix=args.suffix, max_length=args.max_length,
                          beams=args.beams, batch=args.batch, mode=args.mode, device=args.device)
    job = submit_caption(ws, args.dataset, args.model, opts, settings=settings(ws), python=args.python)
    return _after_submit(ws, job, args)


def _after_submit(ws, job, args) -> int:  # noqa: ANN001
    from nyx_core.jobs import JobManager, ProgressState

    jm = JobManager(ws, settings(ws))
    if not args.wait:
        if args.json:
            print_json(job.summary())
        else:
            print(f"{job.id}\t{job.state.value}")
        return 0
    st = ProgressState()
    last = ""
    while True:
        job = jm.get(job.id)
        st = jm.progress(job.id, st)
        t = st.task or {}
        line = f"{job.id} | {job.state.value} | {t.get('done', 0)}/{t.get('total', '?')} {t.get('unit', 'images')}"
        if t.get("rate") and not job.state.final:
            line += f" | {t['rate']:.2f}/s"
        if line != last and not args.json:
            print(line, flush=True)
            last = line
        if job.state.final:
            break
        time.sleep(0.5)
    result = st.result or {}
    if args.json:
        out = job.summary()
        out["result"] = result
        print_json(out)
    else:
        if result:
            print(", ".join(f"{k} {v}" for k, v in result.items() if k in ("written", "unchanged", "skipped", "failed")))
        if job.status.reason:
            print(f"reason: {job.status.reason}")
    return 0 if job.state.value == "completed" else 1
