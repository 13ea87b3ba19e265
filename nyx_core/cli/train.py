"""`nyx train …` subcommands (filled in by the train issue)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # noqa: ARG001 - placeholder until implemented
    return None
