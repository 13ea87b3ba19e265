"""`nyx info`: workspace, versions, GPU, and whether sd-scripts can be used (and why not)."""
from __future__ import annotations

import argparse
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from nyx_core import __version__
from nyx_core.cli.common import print_json, settings
from nyx_core.workspace import Workspace
from nyx_core.system import gpu_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show workspace, versions, GPU and sd-scripts status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


PINNED_SD_SCRIPTS = "48d368fa557731ad0488c07304dfeba8c07910eb"


def _version(pkg: str) -> str | None:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def sd_scripts_commit(folder: Path) -> str | None:
    """The checked-out commit of an sd-scripts git checkout (None when it is not one)."""
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and (folder / "train_network.py").exists() else None


def collect(args: argparse.Namespace) -> dict[str, object]:
    ws = Workspace.peek(getattr(args, "workspace", None))  # a read: never creates the workspace
    s = settings(ws)
    found, why = s.sd_scripts_status()
    return {
        "nyx": __version__,
        "python": platform.python_version(),
        "workspace": str(ws.root),
        "workspace_exists": ws.exists,
        "versions": {pkg: _version(pkg) for pkg in ("streamlit", "pydantic", "pillow", "safetensors")},
        "sd_scripts": {"found": found, "detail": why, "commit": sd_scripts_commit(Path(s.sd_scripts_dir)),
                       "pinned": PINNED_SD_SCRIPTS},
        "gpus": gpu_summary(),
        "settings": s.public_dict(),
    }


def run(args: argparse.Namespace) -> int:
    info = collect(args)
    if args.json:
        print_json(info)
        return 0
    print(f"Nyx Trainer {info['nyx']} (Python {info['python']})")
    print(f"workspace:  {info['workspace']}" + ("" if info["workspace_exists"] else " (not created yet)"))
    sd = info["sd_scripts"]
    print("versions:   " + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v))
    print(f"sd-scripts: {'found' if sd['found'] else 'NOT found'}: {sd['detail']}")
    if sd["commit"] and sd["commit"] != sd["pinned"]:
        print(f"            at commit {sd['commit'][:10]}, not the pinned {sd['pinned'][:10]}: "
              "argument checks may not match this checkout")
    gpus = info["gpus"]
    if gpus:
        for g in gpus:
            print(f"GPU {g['index']}: {g['name']} {g['memory_used_mb']}/{g['memory_total_mb']} MB")
    else:
        print("GPU:        none detected (nvidia-ml-py found no NVIDIA GPU)")
    return 0
