"""`nyx info`: workspace, versions, GPU, and whether sd-scripts can be used (and why not)."""
from __future__ import annotations

import argparse
import platform

from nyx_core import __version__
from nyx_core.cli.common import print_json, settings, workspace
from nyx_core.system import gpu_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show workspace, versions, GPU and sd-scripts status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def collect(args: argparse.Namespace) -> dict[str, object]:
    ws = workspace(args)
    s = settings(ws)
    found, why = s.sd_scripts_status()
    return {
        "nyx": __version__,
        "python": platform.python_version(),
        "workspace": str(ws.root),
        "sd_scripts": {"found": found, "detail": why},
        "gpus": gpu_summary(),
        "settings": s.public_dict(),
    }


def run(args: argparse.Namespace) -> int:
    info = collect(args)
    if args.json:
        print_json(info)
        return 0
    print(f"Nyx Trainer {info['nyx']} (Python {info['python']})")
    print(f"workspace:  {info['workspace']}")
    sd = info["sd_scripts"]
    print(f"sd-scripts: {'found' if sd['found'] else 'NOT found'}: {sd['detail']}")
    gpus = info["gpus"]
    if gpus:
        for g in gpus:
            print(f"GPU {g['index']}: {g['name']} {g['memory_used_mb']}/{g['memory_total_mb']} MB")
    else:
        print("GPU:        none detected (nvidia-ml-py found no NVIDIA GPU)")
    return 0
