"""Record the command-line facts of sd-scripts' inference scripts (tests/data/inference_args.json).

Run against an sd-scripts checkout at the pinned commit:

    python tests/data/record_inference_args.py /path/to/sd-scripts > tests/data/inference_args.json

It reads each script's source with ``ast`` (nothing is imported or run) and keeps, per
``add_argument`` call, the option string, ``dest``, ``type``, ``nargs``, ``action``, ``choices`` and
``required``; and for the minimal inference scripts the per-prompt options of ``--interactive``
(the letters its option loop tests with ``opt.startswith``) and the start of the line it prints
when it waits for a prompt. Only these facts are kept, no code.
``tests/test_lora_tryit_dit.py`` checks every argument Nyx passes against them and, with
``NYX_SD_SCRIPTS_CHECKOUT`` set, re-records them from that checkout and compares.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = ("gen_img.py", "flux_minimal_inference.py", "sd3_minimal_inference.py")


def _const(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def script_facts(source: str) -> dict:
    tree = ast.parse(source)
    args: dict[str, dict] = {}
    interactive: set[str] = set()
    prompt: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            flags = [_const(a) for a in node.args if isinstance(a, ast.Constant)]
            if not flags or not str(flags[0]).startswith("--"):
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            action = _const(kw["action"]) if "action" in kw else "store"
            typ = kw.get("type")
            type_name = ("bool-flag" if action in ("store_true", "store_false")
                         else ast.unparse(typ) if typ is not None else "str")
            args[flags[0]] = {
                "dest": _const(kw["dest"]) if "dest" in kw else flags[0][2:].replace("-", "_"),
                "type": type_name, "action": action,
                "nargs": _const(kw["nargs"]) if "nargs" in kw else None,
                "choices": _const(kw["choices"]) if "choices" in kw else None,
                "required": bool(_const(kw["required"])) if "required" in kw else False,
            }
        # the --interactive option loop: `opt.startswith("w")` ...
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "opt"
                and node.args and isinstance(node.args[0], ast.Constant)):
            interactive.add(node.args[0].value)
        # what the --interactive loop prints each time it waits for a line (Nyx waits for it)
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("Enter prompt")
                and "interactive_prompt" not in prompt):
            prompt["interactive_prompt"] = node.value.split(".")[0]  # its first sentence
    facts: dict = {"arguments": dict(sorted(args.items()))}
    if interactive:
        facts["interactive_options"] = sorted(interactive)
    return facts | prompt


def main(checkout: str) -> int:
    root = Path(checkout)
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    out = {"sd_scripts_commit": commit,
           "recorded_by": "tests/data/record_inference_args.py (ast of each script; nothing imported)",
           "scripts": {s: script_facts((root / s).read_text(encoding="utf-8")) for s in SCRIPTS}}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
