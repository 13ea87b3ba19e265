"""`nyx dataset …` subcommands (filled in by the dataset issue)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # noqa: ARG001 - placeholder until implemented
    return None
