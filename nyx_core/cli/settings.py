"""`nyx settings show|set|unset|password`: the shell's way to set what the web page may not.

Which sd-scripts checkout, Python and launcher run are chosen here (or by environment
variables), never by free text on the page. Secrets are never printed.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from nyx_core.cli.common import print_json, settings, workspace
from nyx_core.errors import NyxError

SETTABLE = ("sd_scripts_dir", "sd_scripts_python", "launcher", "hf_token", "civitai_token", "webhook_url")


class SettingsError(NyxError):
    """A setting could not be changed."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settings", help="show or change settings (sd-scripts location, tokens, password)")
    s = p.add_subparsers(dest="settings_cmd", required=True)
    show = s.add_parser("show", help="every setting and where it came from (secrets masked)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    st = s.add_parser("set", help="set one value in settings.toml")
    st.add_argument("name", choices=SETTABLE)
    st.add_argument("value", help="the value; '-' reads it from standard input (for tokens)")
    st.set_defaults(func=run_set)
    un = s.add_parser("unset", help="remove one value (or the password) from settings.toml")
    un.add_argument("name", choices=SETTABLE + ("password",))
    un.set_defaults(func=run_unset)
    pw = s.add_parser("password", help="set the dashboard password (stored as a salted scrypt hash)")
    pw.add_argument("--stdin", action="store_true", help="read it from standard input instead of a prompt")
    pw.set_defaults(func=run_password)


def run_show(args: argparse.Namespace) -> int:
    ws = workspace(args)
    s = settings(ws)
    shown = s.public_dict()
    data = {name: {"value": value, "from": s.origin.get(name, "default")} for name, value in shown.items()
            if name != "python_for_sd_scripts"}
    if s.password_hash and s.origin.get("password") != "env":
        data["password"]["from"] = "file"
    if args.json:
        print_json(data)
        return 0
    for name, item in data.items():
        print(f"{name:18} {item['value'] or '-':50} ({item['from']})")
    return 0


def _value(raw: str) -> str:
    return sys.stdin.readline().rstrip("\n") if raw == "-" else raw


def run_set(args: argparse.Namespace) -> int:
    ws = workspace(args)
    s = settings(ws)
    try:
        s.set(args.name, _value(args.value))
    except (ValueError, KeyError) as exc:
        raise SettingsError(str(exc).strip("'\"")) from None
    s.save(ws.root)
    if s.origin.get(args.name) == "env":
        print(f"saved; note the environment still overrides {args.name}", file=sys.stderr)
    print(f"{args.name} saved in settings.toml")
    return 0


def run_unset(args: argparse.Namespace) -> int:
    ws = workspace(args)
    s = settings(ws)
    try:
        s.clear_password() if args.name == "password" else s.set(args.name, "")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    s.save(ws.root)
    print(f"{args.name} removed from settings.toml")
    return 0


def run_password(args: argparse.Namespace) -> int:
    ws = workspace(args)
    s = settings(ws)
    if args.stdin:
        new = sys.stdin.readline().rstrip("\n")
    else:
        new = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != new:
            raise SettingsError("the two passwords differ; nothing changed")
    try:
        s.set_password(new)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    s.save(ws.root)
    print("password saved (as a salted hash) in settings.toml")
    return 0
