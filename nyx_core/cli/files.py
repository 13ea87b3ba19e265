"""`nyx files …` subcommands (filled in by the file-manager work)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # noqa: ARG001
    return None
