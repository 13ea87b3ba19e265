"""`nyx doctor [--json] [--quick]`: is this machine ready to train; the fix for each missing thing."""
from __future__ import annotations

import argparse

from nyx_core import doctor
from nyx_core.cli.common import print_json, settings, workspace

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "info"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check GPUs, disk, sd-scripts and its Python; say how to fix what is missing")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="skip running sd-scripts' Python (torch, extras, --help)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    rep = doctor.run(ws, settings(ws), deep=not args.quick)
    if args.json:
        print_json(rep.to_dict())
    else:
        width = max(len(c.name) for c in rep.checks)
        for c in rep.checks:
            print(f"{MARK[c.status]}  {c.name:{width}}  {c.detail}")
            if c.fix and c.status != "ok":
                print(f"      {'':{width}}  fix: {c.fix}")
        print("ready to train" if rep.ok else "NOT ready to train: fix the FAIL lines above")
    return 0 if rep.ok else 1
