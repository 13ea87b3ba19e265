"""`nyx settings show|set|unset|password`: the workspace settings from the shell (provisioning uses it).

``set`` and ``password`` change ``settings.toml`` only: values that come from the environment are
neither read into nor written back to the file, so a pod's ``NYX_PASSWORD`` or ``HF_TOKEN`` never
lands on disk through here. The settings that choose which programs run (sd-scripts folder, its
Python, the launcher) are set here or in the environment, never on the web page. The password is
stored as a salted scrypt hash (``Settings.set_password``).
"""
from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path

from nyx_core.cli.common import print_json, settings, workspace
from nyx_core.errors import NyxError
from nyx_core.settings import Settings

#: Keys `set` accepts. Secrets are not among them: a value on the command line ends up in the
#: shell history and the process list. The password has its own subcommand.
PLAIN_KEYS = ("sd_scripts_dir", "sd_scripts_python", "webhook_url", "launcher")
_PATH_KEYS = ("sd_scripts_dir", "sd_scripts_python")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settings", help="show or change the workspace settings")
    s = p.add_subparsers(dest="settings_cmd", required=True)
    show = s.add_parser("show", help="every setting, secrets masked")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    st = s.add_parser("set", help="set KEY VALUE [KEY VALUE …] in settings.toml (keys: " + ", ".join(PLAIN_KEYS) + ")")
    st.add_argument("pairs", nargs="+", metavar="KEY VALUE")
    st.set_defaults(func=cmd_set)
    un = s.add_parser("unset", help="remove a value from settings.toml (a token, the password, …)")
    un.add_argument("key", choices=PLAIN_KEYS + ("hf_token", "civitai_token", "password"))
    un.set_defaults(func=cmd_unset)
    pw = s.add_parser("password", help="set the dashboard password (asked for, read from stdin, or generated)")
    how = pw.add_mutually_exclusive_group()
    how.add_argument("--generate", action="store_true", help="make a random one and print it once")
    how.add_argument("--if-unset", action="store_true",
                     help="generate and print one only when neither NYX_PASSWORD nor settings.toml has one")
    how.add_argument("--stdin", action="store_true", help="read it from standard input")
    pw.set_defaults(func=cmd_password)


def cmd_show(args: argparse.Namespace) -> int:
    s = settings(workspace(args))
    values = s.public_dict()
    if args.json:
        print_json(values)
    else:
        for key, value in values.items():
            where = s.origin.get(key, "")
            if key == "password":
                where = "env" if where == "env" else "file"
            print(f"{key:22} {value}" + (f"  ({where})" if where and value else ""))
    return 0


def _file_settings(root: Path) -> Settings:
    """What settings.toml holds, without the environment's overrides."""
    return Settings.load(root, env={})


def cmd_set(args: argparse.Namespace) -> int:
    pairs = args.pairs
    if len(pairs) % 2:
        raise NyxError("settings set takes KEY VALUE pairs")
    ws = workspace(args)
    s = _file_settings(ws.root)
    before = s.public_dict()
    for key, value in zip(pairs[::2], pairs[1::2]):
        if key not in PLAIN_KEYS:
            raise NyxError(f"unknown or secret setting {key!r}: settable here are {', '.join(PLAIN_KEYS)}"
                           " (the password: `nyx settings password`)")
        if key == "launcher" and value not in ("accelerate", "python"):
            raise NyxError(f"launcher must be 'accelerate' or 'python', not {value!r}")
        if key in _PATH_KEYS and value and not Path(value).expanduser().is_absolute():
            raise NyxError(f"{key} must be an absolute path, not {value!r}")
        s.set(key, value)
    if s.public_dict() == before and (ws.root / "settings.toml").exists():
        print("unchanged")
        return 0
    path = s.save(ws.root)
    print(f"saved {path}")
    return 0


def store_password(root: Path, password: str) -> Path:
    """Store the dashboard password through Settings (a salted scrypt hash)."""
    s = _file_settings(root)
    s.set_password(password)
    return s.save(root)


def cmd_unset(args: argparse.Namespace) -> int:
    ws = workspace(args)
    s = _file_settings(ws.root)
    if args.key == "password":
        s.clear_password()
    else:
        s.set(args.key, "")
    s.save(ws.root)
    print(f"removed {args.key} from settings.toml")
    return 0


def cmd_password(args: argparse.Namespace) -> int:
    ws = workspace(args)
    if args.if_unset:
        current = settings(ws)
        if current.has_password:
            where = "NYX_PASSWORD" if current.origin.get("password") == "env" else "settings.toml"
            print(f"A dashboard password is set (from {where}).")
            return 0
        args.generate = True
    if args.generate:
        password = secrets.token_urlsafe(15)
    elif args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New dashboard password: ")
        if getpass.getpass("Again: ") != password:
            raise NyxError("the two passwords differ; nothing changed")
    if len(password) < 8:
        raise NyxError("a dashboard password needs at least 8 characters")
    store_password(ws.root, password)
    if args.generate:
        print(f"Generated dashboard password (shown only now; change it with `nyx settings password`): {password}")
    else:
        print("Dashboard password saved.")
    return 0
