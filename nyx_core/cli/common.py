"""Helpers every CLI group uses."""
from __future__ import annotations

import argparse
import json
import sys

from nyx_core.settings import Settings
from nyx_core.workspace import Workspace


def workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.open(getattr(args, "workspace", None))


def settings(ws: Workspace) -> Settings:
    return Settings.load(ws.root)


def print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
