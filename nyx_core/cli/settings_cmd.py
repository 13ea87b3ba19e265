"""`nyx settings show|set|unset|password`: the workspace settings from the shell (provisioning uses it).

``set`` and ``password`` change ``settings.toml`` only: values that come from the environment are
neither read into nor written back to the file, so a pod's ``NYX_PASSWORD`` or ``HF_TOKEN`` never
lands on disk through here. The password is handed to ``Settings``, which stores a salted scrypt
hash. The settings that choose which programs run (sd-scripts folder, its Python, the launcher)
are set here or in the environment, never on the web page.
"""
from __future__ import annotations

import argparse
import getpass
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
    st = s.add_parser("set", help="set one value in settings.toml")
    st.add_argument("name", choices=PLAIN_KEYS)
    st.add_argument("value")
    st.set_defaults(func=cmd_set)
    un = s.add_parser("unset", help="remove a value from settings.toml (a token, the password, …)")
    un.add_argument("name", choices=PLAIN_KEYS + ("hf_token", "civitai_token", "password"))
    un.set_defaults(func=cmd_unset)
    pw = s.add_parser("password", help="set the dashboard password (asked for, or read from stdin)")
    pw.add_argument("--stdin", action="store_true", help="read it from standard input instead of a prompt")
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
    if args.name == "launcher" and args.value not in ("accelerate", "python"):
        raise NyxError(f"launcher must be 'accelerate' or 'python', not {args.value!r}")
    ws = workspace(args)
    s = _file_settings(ws.root)
    if args.name in _PATH_KEYS and args.value and not Path(args.value).expanduser().is_absolute():
        raise NyxError(f"{args.name} must be an absolute path, not {args.value!r}")
    s.set(args.name, args.value)
    s.save(ws.root)
    print(f"{args.name} saved in settings.toml")
    return 0


def cmd_password(args: argparse.Namespace) -> int:
    ws = workspace(args)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New dashboard password: ")
        if getpass.getpass("Again: ") != password:
            raise NyxError("the two passwords differ; nothing changed")
    if len(password) < 8:
        raise NyxError("a dashboard password needs at least 8 characters")
    s = _file_settings(ws.root)
    s.set_password(password)  # a salted scrypt hash; the text is never written
    s.save(ws.root)
    print("password saved in settings.toml")
    return 0


def cmd_unset(args: argparse.Namespace) -> int:
    ws = workspace(args)
    s = _file_settings(ws.root)
    if args.name == "password":
        s.clear_password()
    else:
        s.set(args.name, "")
    s.save(ws.root)
    print(f"{args.name} removed from settings.toml")
    return 0
