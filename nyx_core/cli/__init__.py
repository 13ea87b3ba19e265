"""The ``nyx`` command: thin argument parsing over the managers.

Each subcommand group lives in its own module with ``register(subparsers)``; a handler returns
an exit code. A ``NyxError`` becomes one line on stderr and exit code 1 (2 for usage errors).
"""
from __future__ import annotations

import argparse
import sys

from nyx_core.errors import NyxError
from nyx_core.cli import config as config_cmd
from nyx_core.cli import dataset as dataset_cmd
from nyx_core.cli import files as files_cmd
from nyx_core.cli import info as info_cmd
from nyx_core.cli import doctor_cmd, settings_cmd
from nyx_core.cli import lora as lora_cmd
from nyx_core.cli import models as models_cmd
from nyx_core.cli import tagging as tagging_cmd
from nyx_core.cli import train as train_cmd

GROUPS = (files_cmd, info_cmd, dataset_cmd, config_cmd, train_cmd, models_cmd, settings_cmd, doctor_cmd, lora_cmd,
          tagging_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nyx", description="Nyx Trainer: LoRA training for SD-family models.")
    parser.add_argument("--workspace", help="workspace root (default: $NYX_WORKSPACE or ./workspace)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A file name that is not UTF-8 prints as \xNN instead of crashing the command (names.py).
    from nyx_core import names  # noqa: F401 - registers the "nyx_escape" error handler

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="nyx_escape")
        except (AttributeError, ValueError):
            pass
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NyxError as exc:
        print(f"nyx: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        # The disk said no (a name too long, a loop, no space, permission): one line, not a traceback.
        from nyx_core.names import shown

        where = f" ({shown(str(exc.filename))})" if exc.filename else ""
        print(f"nyx: error: {_one_line(str(exc.strerror or exc))}{_one_line(where)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `nyx train ls | head`: the reader left; not an error. Point stdout at devnull so the
        # interpreter's final flush does not complain either.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _one_line(text: str) -> str:
    """An error is one line, even when it quotes input holding a line break."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
