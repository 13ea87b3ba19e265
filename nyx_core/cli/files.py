"""`nyx files …`: list, delete (to the trash), restore and inspect the trash from a shell."""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict

from nyx_core import trash
from nyx_core.cli.common import print_json, workspace
from nyx_core.errors import NyxError
from nyx_core.files import FileManager, icon
from nyx_core.fsutil import human_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("files", help="list, delete (to the trash) and restore workspace files")
    fsub = p.add_subparsers(dest="files_command", required=True)

    ls = fsub.add_parser("ls", help="list a folder (workspace-relative path)")
    ls.add_argument("path", nargs="?", default="")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument("--sort", choices=("name", "size", "mtime", "kind"), default="name")
    ls.set_defaults(func=run_ls)

    rm = fsub.add_parser("rm", help="move files/folders to the trash (prints each trash id)")
    rm.add_argument("paths", nargs="+", metavar="PATH")
    rm.set_defaults(func=run_rm)

    rs = fsub.add_parser("restore", help="restore from the trash by trash id or original path")
    rs.add_argument("name", metavar="NAME")
    rs.add_argument("--no-rename", action="store_true",
                    help="fail instead of restoring as 'name (restored)' when the place is taken")
    rs.set_defaults(func=run_restore)

    tr = fsub.add_parser("trash", help="list the trash (newest first)")
    tr.add_argument("--json", action="store_true")
    tr.add_argument("--empty", action="store_true", help="delete everything in the trash for good")
    tr.set_defaults(func=run_trash)


def run_ls(args: argparse.Namespace) -> int:
    fm = FileManager(workspace(args))
    entries = fm.list_dir(args.path, sort_by=args.sort)
    if args.json:
        print_json([asdict(e) for e in entries])
        return 0
    for e in entries:
        size = "" if e.is_dir else human_size(e.size)
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.mtime))
        print(f"{icon(e.kind)} {size:>10}  {stamp}  {e.name}{'/' if e.is_dir else ''}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    fm = FileManager(workspace(args))
    for entry in fm.delete(args.paths):
        print(f"{entry.id}\t{entry.original}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    ws = workspace(args)
    entries = trash.list_trash(ws)
    by_id = {e.id: e for e in entries}
    wanted = args.name.strip().strip("/")
    if wanted in by_id:
        entry = by_id[wanted]
    else:
        # An original path: the newest deletion of it wins (list_trash is newest first).
        matches = [e for e in entries if e.original == wanted]
        if not matches:
            raise NyxError(f"nothing in the trash is called {args.name!r}; see `nyx files trash`")
        entry = matches[0]
    where = trash.restore(ws, entry.id, on_clash="error" if args.no_rename else "rename")
    print(FileManager(ws).rel(where))
    return 0


def run_trash(args: argparse.Namespace) -> int:
    ws = workspace(args)
    if args.empty:
        print(f"removed {trash.empty_trash(ws)} item(s) for good")
        return 0
    entries = trash.list_trash(ws)
    if args.json:
        print_json([asdict(e) for e in entries])
        return 0
    if not entries:
        print("the trash is empty")
    for e in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.deleted_at))
        print(f"{e.id}  {stamp}  {human_size(e.size):>10}  {e.original}{'/' if e.is_dir else ''}")
    return 0
