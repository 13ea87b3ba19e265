"""`nyx models …` and `nyx hub …`: the model library, downloads and Hugging Face publishing.

    nyx models ls [--json]
    nyx models get SOURCE [--file F] [--revision R] [--kind checkpoint|vae|…] [--wait]
    nyx models catalog [--json]
    nyx models hash [--wait]
    nyx hub upload PATH… --repo OWNER/NAME [--private] [--dataset] [--no-card] [--license L] [--wait]
"""
from __future__ import annotations

import argparse
import sys
import time

from nyx_core.cli.common import print_json, settings, workspace
from nyx_core.fsutil import human_size


def register(sub: argparse._SubParsersAction) -> None:
    from nyx_core.models.download import KINDS

    p = sub.add_parser("models", help="list, download and hash base models (workspace/models)")
    msub = p.add_subparsers(dest="models_command", required=True)
    ls = msub.add_parser("ls", help="list models: kind, family, size, precision, hash, source")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_ls)
    g = msub.add_parser("get", help="download a model as a job (Hub repo id, Civitai link, URL or catalog:<id>)")
    g.add_argument("source", help="owner/name, owner/name/file.safetensors, a huggingface.co or civitai.com link, "
                                  "a direct URL, or catalog:<id> (see `nyx models catalog`)")
    g.add_argument("--file", help="one file of the Hub repo (default: the whole repo)")
    g.add_argument("--revision", help="Hub branch, tag or commit")
    g.add_argument("--kind", choices=KINDS, help="what it is (default: detected); a file of another kind is refused")
    g.add_argument("--wait", action="store_true", help="follow the download until it ends")
    g.set_defaults(func=_get)
    c = msub.add_parser("catalog", help="the built-in catalogue of base models per family")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_catalog)
    h = msub.add_parser("hash", help="compute missing SHA-256 hashes in the background")
    h.add_argument("--wait", action="store_true")
    h.set_defaults(func=_hash)

    hp = sub.add_parser("hub", help="publish LoRAs, runs and datasets to the Hugging Face Hub")
    hsub = hp.add_subparsers(dest="hub_command", required=True)
    u = hsub.add_parser("upload", help="upload LoRA file(s), a run's output folder, or a dataset folder")
    u.add_argument("paths", nargs="+", help="workspace paths")
    u.add_argument("--repo", required=True, help="OWNER/NAME (an organisation as owner is fine) or NAME")
    u.add_argument("--private", action="store_true", help="create the repo private (if it does not exist)")
    u.add_argument("--dataset", action="store_true", help="upload as a dataset repo")
    u.add_argument("--no-card", action="store_true", help="do not write a README.md model card")
    u.add_argument("--license", default="other", help="licence for the model card (default: other)")
    u.add_argument("--trigger", action="append", default=[], help="trigger word(s) for the card")
    u.add_argument("--wait", action="store_true")
    u.set_defaults(func=_upload)


def _ls(args) -> int:
    from nyx_core.models import scan

    models = scan(workspace(args))
    if args.json:
        print_json([m.to_dict() for m in models])
        return 0
    if not models:
        print("no models in workspace/models (try: nyx models catalog, then nyx models get catalog:<id>)")
        return 0
    for m in models:
        sha = (m.sha256 or "-")[:12]
        fam = ",".join(m.families) or "?"
        print(f"{m.path}\t{m.label}\t{fam}\t{human_size(m.size)}\t{m.precision or '-'}\t{sha}\t{m.source or '-'}"
              + (f"\tERROR: {m.error}" if m.error else ""))
    return 0


def _follow(jm, job) -> int:
    from nyx_core.jobs import JobState

    state = None
    last = ""
    while True:
        job = jm.get(job.id)
        state = jm.progress(job.id, state)
        t = state.task or {}
        if t and (t.get("done") or t.get("total")):
            line = f"{human_size(t.get('done', 0))}" + (f" / {human_size(t['total'])}" if t.get("total") else "")
            if t.get("rate"):
                line += f" · {human_size(t['rate'])}/s"
            if t.get("eta_s") is not None:
                line += f" · ETA {int(t['eta_s'])} s"
            if line != last:
                print(line, file=sys.stderr)
                last = line
        if job.state.final:
            break
        time.sleep(0.5)
    if job.state != JobState.COMPLETED:
        print(f"nyx: error: {job.status.reason or job.state.value}", file=sys.stderr)
        return 1
    for f in (state.result or {}).get("files", []):
        print(f["path"] if isinstance(f, dict) else f)
    return 0


def _get(args) -> int:
    from nyx_core.jobs import JobManager
    from nyx_core.models.download import submit_download

    ws = workspace(args)
    s = settings(ws)
    job = submit_download(ws, args.source, kind=args.kind, file=args.file, revision=args.revision, settings=s)
    print(f"{job.id}\t{job.state.value}")
    return _follow(JobManager(ws, s), job) if args.wait else 0


def _catalog(args) -> int:
    from nyx_core.models import CATALOG

    if args.json:
        print_json([{"id": e.id, "family": e.family, "title": e.title, "gated": e.gated, "size": e.size,
                     "files": [vars(f) for f in e.files]} for e in CATALOG])
        return 0
    for e in CATALOG:
        print(f"catalog:{e.id}\t{e.title}\t≈{human_size(e.size)}\t{'gated' if e.gated else 'open'}\t"
              f"{', '.join(e.licenses)}")
    return 0


def _hash(args) -> int:
    from nyx_core.jobs import JobManager
    from nyx_core.models.hashjob import submit_hash

    ws = workspace(args)
    job = submit_hash(ws, settings(ws))
    if job is None:
        print("every model already has a cached SHA-256")
        return 0
    print(f"{job.id}\t{job.state.value}")
    return _follow(JobManager(ws, settings(ws)), job) if args.wait else 0


def _upload(args) -> int:
    from nyx_core.jobs import JobManager
    from nyx_core.models.publish import card_for_paths, submit_upload

    ws = workspace(args)
    s = settings(ws)
    card = None if args.no_card else card_for_paths(ws, args.paths, args.repo, license=args.license,
                                                     triggers=args.trigger, dataset=args.dataset)
    job = submit_upload(ws, args.paths, args.repo, private=args.private, dataset=args.dataset, card=card, settings=s)
    print(f"{job.id}\t{job.state.value}")
    if not args.wait:
        return 0
    rc = _follow(JobManager(ws, s), job)
    if rc == 0:
        res = JobManager(ws, s).progress(job.id).result or {}
        print(res.get("url", ""))
    return rc
