"""`nyx dataset …`: list, create, import, check, tag operations, undo, and image tools."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nyx_core.cli.common import print_json, workspace
from nyx_core.errors import NyxError, PathError
from nyx_core.fsutil import human_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="manage datasets (images + captions in Kohya's layout)")
    ds = p.add_subparsers(dest="dataset_command", required=True)

    q = ds.add_parser("ls", help="list datasets")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ls)

    q = ds.add_parser("create", help="create a dataset with its first concept folder")
    q.add_argument("name")
    q.add_argument("--concept", required=True, help="concept name, e.g. 'ohwx woman'")
    q.add_argument("--repeats", type=int, default=10)
    q.add_argument("--trigger", help="trigger word (used by the health check and 'tags --add')")
    q.add_argument("--caption-ext", default=".txt")
    q.set_defaults(func=cmd_create)

    q = ds.add_parser("import", help="import a .zip, a folder in the workspace, or an image")
    q.add_argument("source", help="a .zip (anywhere) or a folder inside the workspace")
    q.add_argument("--name", required=True, help="dataset to import into (created when missing)")
    q.add_argument("--concept", help="concept for images outside '<repeats>_<concept>' folders")
    q.add_argument("--repeats", type=int, default=10, help="repeats for a new --concept (default 10)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_import)

    q = ds.add_parser("check", help="health check; exit code 1 when there are errors")
    q.add_argument("name")
    q.add_argument("--resolution", default="512", help="512 or W,H (default 512)")
    q.add_argument("--batch-size", type=int, default=1)
    q.add_argument("--min-bucket-reso", type=int, default=256)
    q.add_argument("--max-bucket-reso", type=int, default=1024)
    q.add_argument("--bucket-reso-steps", type=int, default=64)
    q.add_argument("--no-upscale", action="store_true", help="bucket_no_upscale")
    q.add_argument("--trigger", help="trigger word (default: the dataset's)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_check)

    q = ds.add_parser("tags", help="tag frequency, or one bulk tag operation (undo with 'nyx dataset undo')")
    q.add_argument("name")
    g = q.add_mutually_exclusive_group()
    g.add_argument("--add", metavar="TAGS", help="comma-separated tags to add")
    g.add_argument("--remove", metavar="TAGS", help="comma-separated tags to remove")
    g.add_argument("--replace", metavar="OLD=NEW", action="append", help="exact replacement (repeatable)")
    g.add_argument("--regex", metavar="PATTERN=REPL", help="regex replacement on each tag")
    g.add_argument("--move-front", metavar="TAGS", help="move these tags to the front")
    g.add_argument("--sort", action="store_true")
    g.add_argument("--dedupe", action="store_true")
    g.add_argument("--normalize", action="store_true", help="collapse spaces, underscores to spaces")
    g.add_argument("--keep", type=int, metavar="N", help="put the keep-token separator '|||' after N tags")
    q.add_argument("--front", action="store_true", help="with --add: put the tags first")
    q.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    q.add_argument("--top", type=int, default=30, help="without an operation: show the N most used tags")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_tags)

    q = ds.add_parser("undo", help="undo the last bulk tag operation, or an older one (captions edited since "
                                   "are left alone)")
    q.add_argument("--list", action="store_true", help="show the operations that can be undone, newest first")
    q.add_argument("--entry", metavar="N|ID", help="undo this entry of --list (1 is the newest) out of order")
    q.add_argument("name")
    q.set_defaults(func=cmd_undo)

    q = ds.add_parser("exclude", help="take images out of training without deleting them (caption and caches "
                                      "go with them)")
    q.add_argument("name")
    q.add_argument("images", nargs="+", metavar="IMAGE", help="'10_concept/a.png', or 'a.png' when unambiguous")
    q.set_defaults(func=cmd_exclude)

    q = ds.add_parser("include", help="put excluded images back into training")
    q.add_argument("name")
    q.add_argument("images", nargs="+", metavar="IMAGE", help="as 'nyx dataset excluded' lists them")
    q.add_argument("--concept", help="concept to put them into (needed when their own concept is gone)")
    q.set_defaults(func=cmd_include)

    q = ds.add_parser("excluded", help="list the images excluded from training")
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_excluded)

    q = ds.add_parser("rename", help="rename a dataset")
    q.add_argument("name")
    q.add_argument("new_name")
    q.set_defaults(func=cmd_rename)

    q = ds.add_parser("rm", help="move a dataset to the trash")
    q.add_argument("name")
    q.set_defaults(func=cmd_rm)

    q = ds.add_parser("repeats", help="change a concept's repeats (renames its folder)")
    q.add_argument("name")
    q.add_argument("concept")
    q.add_argument("repeats", type=int)
    q.set_defaults(func=cmd_repeats)

    q = ds.add_parser("convert", help="re-encode images (originals to the trash)")
    q.add_argument("name")
    q.add_argument("--format", required=True, choices=["webp", "png", "jpg"])
    q.add_argument("--quality", type=int, default=95)
    q.set_defaults(func=cmd_convert)

    q = ds.add_parser("downscale", help="shrink images over a max side (originals to the trash)")
    q.add_argument("name")
    q.add_argument("--max-side", type=int, required=True)
    q.set_defaults(func=cmd_downscale)


def _split(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def cmd_ls(args: argparse.Namespace) -> int:
    from nyx_core.datasets.exclusion import excluded_count
    from nyx_core.datasets.layout import list_datasets
    from nyx_core.datasets.manager import summarize

    ws = workspace(args)
    rows = [summarize(layout) for layout in list_datasets(ws)]
    excluded = {r.name: excluded_count(ws, r.name) for r in rows}
    if args.json:
        print_json([{**r.to_dict(), "excluded_count": excluded[r.name]} for r in rows])
        return 0
    if not rows:
        print("no datasets yet: nyx dataset create NAME --concept C --repeats N")
    for r in rows:
        concepts = ", ".join(f"{c.folder} ({c.images})" for c in r.concepts) or "no concepts"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.modified))
        out = f", {excluded[r.name]} excluded" if excluded[r.name] else ""
        print(f"{r.name}: {r.image_count} images{out}, {r.captioned_count} captioned, "
              f"{human_size(r.size_bytes)}, modified {when} | {concepts}")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    from nyx_core.datasets.manager import create_dataset

    ws = workspace(args)
    layout = create_dataset(ws, args.name, args.concept, args.repeats, caption_ext=args.caption_ext,
                            trigger_word=args.trigger)
    first = f"{layout.concepts[0].folder.name}/" if layout.concepts else ""
    print(f"created {ws.relative(layout.root)}/{first}")
    return 0


def _print_report(report, as_json: bool) -> None:  # noqa: ANN001
    if as_json:
        from dataclasses import asdict

        print_json(asdict(report))
        return
    print(report.summary())
    for old, new in report.renamed:
        print(f"  renamed {old} -> {new}")
    for name, why in report.skipped:
        print(f"  skipped {name}: {why}")


def cmd_import(args: argparse.Namespace) -> int:
    from nyx_core.datasets import ingest
    from nyx_core.datasets.layout import dataset_root, scan_dataset
    from nyx_core.datasets.manager import add_concept, create_dataset

    ws = workspace(args)
    if not dataset_root(ws, args.name, must_exist=False).exists():
        create_dataset(ws, args.name, args.concept, args.repeats)
    elif args.concept and not any(c.name == args.concept for c in scan_dataset(ws, args.name).concepts):
        add_concept(ws, args.name, args.concept, args.repeats)
    kwargs = {"concept": args.concept}
    source = Path(args.source).expanduser()
    real = _in_workspace(ws, args.source, source)
    if real is not None:
        report = ingest.ingest_path(ws, args.name, real, **kwargs)
    else:
        # A zip outside the workspace is only read (and checked entry by entry), never written to.
        if source.is_file() and source.suffix.lower() == ".zip":
            report = ingest.ingest_zip(ws, args.name, source, **kwargs)
        elif source.exists():
            raise NyxError(f"{args.source} is outside the workspace; only .zip files can be imported from there "
                           "(copy the folder into the workspace, or zip it)")
        else:
            raise NyxError(f"no such file or folder: {args.source}")
    _print_report(report, args.json)
    return 0


def _in_workspace(ws, text: str, source: Path):  # noqa: ANN001, ANN202
    """The source as a workspace path: workspace-relative first, then relative to the current folder."""
    tries = [source] if source.is_absolute() else [text, source.resolve()]
    for t in tries:
        try:
            return ws.resolve(t, must_exist=True)
        except PathError:
            continue
    return None


def cmd_check(args: argparse.Namespace) -> int:
    from nyx_core.datasets.health import check_dataset

    ws = workspace(args)
    r = check_dataset(ws, args.name, resolution=args.resolution, min_bucket_reso=args.min_bucket_reso,
                      max_bucket_reso=args.max_bucket_reso, bucket_reso_steps=args.bucket_reso_steps,
                      bucket_no_upscale=args.no_upscale, batch_size=args.batch_size, trigger_word=args.trigger)
    if args.json:
        print_json(r.to_dict())
        return 0 if r.ok else 1
    print(f"{r.name}: {r.image_count} images, {len(r.errors)} error(s), {len(r.warnings)} warning(s)")
    for p in r.problems:
        print(f"{p.level.upper()}: {p.message}")
        for img in p.images[:10]:
            print(f"    {img}")
        if len(p.images) > 10:
            print(f"    … and {len(p.images) - 10} more")
    if r.bucket_rows:
        print("buckets (images × repeats):")
        for row in r.bucket_rows:
            print(f"  {row.resolution[0]}x{row.resolution[1]}: {row.count}")
    return 0 if r.ok else 1


def _op_from_args(args: argparse.Namespace):  # noqa: ANN202
    from nyx_core.datasets.captions import CaptionError, TagOp

    if args.add:
        return TagOp("add", tags=_split(args.add), front=args.front)
    if args.remove:
        return TagOp("remove", tags=_split(args.remove))
    if args.replace:
        pairs = []
        for item in args.replace:
            if "=" not in item:
                raise CaptionError(f"--replace takes OLD=NEW, got {item!r}")
            old, new = item.split("=", 1)
            pairs.append((old.strip(), new.strip()))
        return TagOp("replace", mapping=tuple(pairs))
    if args.regex:
        if "=" not in args.regex:
            raise CaptionError("--regex takes PATTERN=REPLACEMENT")
        pattern, repl = args.regex.rsplit("=", 1)
        return TagOp("regex", pattern=pattern, repl=repl)
    if args.move_front:
        return TagOp("move_front", tags=_split(args.move_front))
    if args.sort:
        return TagOp("sort")
    if args.dedupe:
        return TagOp("dedupe")
    if args.normalize:
        return TagOp("normalize")
    if args.keep is not None:
        return TagOp("keep_first", n=args.keep)
    return None


def cmd_tags(args: argparse.Namespace) -> int:
    from nyx_core.datasets import caption_ops
    from nyx_core.datasets.layout import scan_dataset

    ws = workspace(args)
    layout = scan_dataset(ws, args.name)
    op = _op_from_args(args)
    if op is None:
        freq = caption_ops.dataset_tag_frequency(layout).most_common(args.top)
        if args.json:
            print_json([{"tag": t, "count": n} for t, n in freq])
        else:
            for t, n in freq:
                print(f"{n:6d}  {t}")
        return 0
    pv = caption_ops.preview(layout, op, limit=5)
    if args.dry_run:
        if args.json:
            print_json({"op": pv.op, "total": pv.total, "changed": pv.changed,
                        "samples": [{"image": s.image.relative_to(layout.root).as_posix(), "before": s.before,
                                     "after": s.after} for s in pv.samples]})
            return 0
        print(f"would {pv.op}: {pv.changed} of {pv.total} caption(s) change")
        for s in pv.samples:
            print(f"  {s.image.relative_to(layout.root).as_posix()}:\n    - {s.before!r}\n    + {s.after!r}")
        return 0
    n = caption_ops.apply(layout, op)
    if args.json:
        print_json({"op": pv.op, "changed": n})
    else:
        print(f"{pv.op}: {n} caption(s) changed" + ("; undo with: nyx dataset undo " + layout.name if n else ""))
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    from nyx_core.datasets import caption_ops
    from nyx_core.datasets.layout import scan_dataset

    ws = workspace(args)
    layout = scan_dataset(ws, args.name)
    history = caption_ops.undo_history(layout)
    if args.list:
        if not history:
            print(f"nothing to undo in {layout.name}")
        for i, info in enumerate(history, 1):
            print(f"{i:>2}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info.at))}  "
                  f"{info.count:>6} caption(s)  {info.op}  [{info.journal.removesuffix('.json')}]")
        return 0
    entry = None
    if args.entry is not None:
        text = args.entry.strip()
        if text.isdigit() and len(text) <= 3:  # a position in --list; longer numbers are entry ids
            if not 1 <= int(text) <= len(history):
                raise caption_ops.UndoError(f"--entry {text}: the undo history of {layout.name} has "
                                            f"{len(history)} entr{'y' if len(history) == 1 else 'ies'}; "
                                            f"see: nyx dataset undo {layout.name} --list")
            entry = history[int(text) - 1]
        else:
            entry = text if text.endswith(".json") else text + ".json"
    result = caption_ops.undo(ws, layout, entry)
    print(f"undid '{result.op}': {result.restored} caption(s) restored")
    if result.skipped:
        print(f"left {len(result.skipped)} caption(s) alone: changed since the operation:")
        for rel in result.skipped:
            why = f"  (rewritten by a newer operation: {result.newer[rel]})" if rel in result.newer else ""
            print(f"  {rel}{why}")
    return 0


def cmd_exclude(args: argparse.Namespace) -> int:
    from nyx_core.datasets.exclusion import exclude_images

    done = exclude_images(workspace(args), args.name, args.images)
    for e in done:
        extra = f" with {', '.join(c.name for c in e.companions)}" if e.companions else ""
        print(f"excluded {e.key}{extra}")
    print(f"{len(done)} image(s) out of training; put back with: nyx dataset include {args.name} IMAGE")
    return 0


def cmd_include(args: argparse.Namespace) -> int:
    from nyx_core.datasets.exclusion import include_images

    ws = workspace(args)
    for path in include_images(ws, args.name, args.images, concept=args.concept):
        print(f"included {path.parent.name}/{path.name}")
    return 0


def cmd_excluded(args: argparse.Namespace) -> int:
    from nyx_core.datasets.exclusion import excluded_images
    from nyx_core.datasets.layout import scan_dataset
    from nyx_core.names import shown

    ws = workspace(args)
    layout = scan_dataset(ws, args.name)
    rows = excluded_images(ws, args.name)
    if args.json:
        print_json([{"image": e.key, "concept_folder": e.concept_folder,
                     "home": (shown(h.folder.name) if (h := e.home(layout)) else None),
                     "companions": [c.name for c in e.companions]} for e in rows])
        return 0
    if not rows:
        print(f"no images excluded in {layout.name}")
    for e in rows:
        home = e.home(layout)
        where = ("" if home is not None and shown(home.folder.name) == e.concept_folder
                 else f"  (goes back to {shown(home.folder.name)})" if home is not None
                 else "  (its concept is gone: include with --concept)")
        print(f"{e.key}{where}")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    from nyx_core.datasets.manager import rename_dataset

    layout = rename_dataset(workspace(args), args.name, args.new_name)
    print(f"renamed to {layout.name}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from nyx_core.datasets.manager import delete_dataset

    entry = delete_dataset(workspace(args), args.name)
    print(f"moved {entry.original} to the trash (restore it from the Files page)")
    return 0


def cmd_repeats(args: argparse.Namespace) -> int:
    from nyx_core.datasets.manager import set_repeats

    folder = set_repeats(workspace(args), args.name, args.concept, args.repeats)
    print(f"concept folder is now {folder.name}")
    return 0


def _tool_progress(i: int, n: int, name: str) -> None:
    print(f"\r{i}/{n} {name[:40]:40s}", end="", file=sys.stderr, flush=True)


def _print_tool(report) -> None:  # noqa: ANN001
    print(file=sys.stderr)
    print(f"{len(report.changed)} image(s) changed, {len(report.skipped)} skipped; originals are in the trash")
    for old, new in report.changed:
        if old != new:
            print(f"  {old} -> {new}")


def cmd_convert(args: argparse.Namespace) -> int:
    from nyx_core.datasets.image_tools import convert_images

    _print_tool(convert_images(workspace(args), args.name, args.format, quality=args.quality,
                               progress=_tool_progress))
    return 0


def cmd_downscale(args: argparse.Namespace) -> int:
    from nyx_core.datasets.image_tools import downscale_images

    _print_tool(downscale_images(workspace(args), args.name, args.max_side, progress=_tool_progress))
    return 0
