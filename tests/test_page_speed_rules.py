"""Rules that keep every page's title on screen before anything slow (issue 15; figures in bench/pages.py).

- A page's first call is ``st.title``: nothing reads the workspace, scans a dataset or lists jobs
  before the title is sent (only session-state bookkeeping and a redirect may come first).
- Streamlit's per-run extras are off (.streamlit/config.toml): no full garbage collection after every
  run, no "magic" rewrite of each page (no page draws a bare value on its own line).
- Importing a page's top-level imports, or any view module in nyx_ui, loads none of the heavy view
  libraries: they are imported where a table, chart or grid is drawn, below the title.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "pages").glob("*.py"))
#: ~0.5 s (pandas), ~1 s (the grid component) the first time a server imports them
HEAVY = ("pandas", "plotly.graph_objects", "plotly.express", "st_aggrid")
#: calls a page may make before its title: session-state bookkeeping and redirects, nothing that reads
BEFORE_TITLE_OK = {"st.session_state.pop", "st.session_state.get", "st.session_state.setdefault",
                   "st.switch_page", "fv.init_state"}


def _name(node: ast.AST) -> str:
    return ast.unparse(node)


def _calls(stmt: ast.stmt) -> list[str]:
    return [_name(n.func) for n in ast.walk(stmt) if isinstance(n, ast.Call)]


def first_calls(path: Path) -> tuple[list[str], bool]:
    """The calls a page makes at top level before ``st.title``, and whether it has a title at all."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    before: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            continue
        calls = _calls(stmt)
        if "st.title" in calls:
            return before + calls[:calls.index("st.title")], True
        before += calls
    return before, False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_title_is_the_first_thing_a_page_draws(page):
    before, has_title = first_calls(page)
    assert has_title, f"{page.name} has no st.title at top level"
    assert [c for c in before if c not in BEFORE_TITLE_OK] == [], \
        f"{page.name} calls these before st.title (move them below it): {before}"


def test_the_rule_sees_work_before_the_title(tmp_path):
    page = tmp_path / "p.py"
    page.write_text("import streamlit as st\nfrom x import get_workspace\nss = st.session_state\n"
                    "ws = get_workspace()\nst.title('T')\nst.write(ws)\n")
    assert first_calls(page) == (["get_workspace"], True)


def _top_level_imports(path: Path) -> list[str]:
    out = []
    for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(stmt, ast.Import):
            out += [a.name for a in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0 and stmt.module != "__future__":
            out.append(stmt.module)
            out += [f"{stmt.module}.{a.name}" for a in stmt.names]  # `from nyx_ui import x_view`
    return out


def test_no_page_or_view_module_imports_a_heavy_library_at_top_level():
    modules = sorted({m for p in PAGES for m in _top_level_imports(p)}
                     | {f"nyx_ui.{p.stem}" for p in (REPO / "nyx_ui").glob("*.py") if p.stem != "__init__"})
    code = (
        "import importlib, json, sys\n"
        "import streamlit\n"
        f"heavy = {HEAVY!r}\n"
        "before = {m for m in heavy if m in sys.modules}\n"
        "blame = {}\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        continue  # `from pkg import function`: not a module\n"
        "    for m in heavy:\n"
        "        if m in sys.modules and m not in before and m not in blame:\n"
        "            blame[m] = name\n"
        "print(json.dumps(blame))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    blame = json.loads(r.stdout.strip().splitlines()[-1])
    assert blame == {}, f"imported at top level (library: first module that pulled it in): {blame}"


def _magic_lines(path: Path) -> list[str]:
    """Statements Streamlit's magic would draw: a bare non-call value (docstrings aside)."""
    out = []
    for parent in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        body = getattr(parent, "body", None)
        for i, n in enumerate(body if isinstance(body, list) else []):
            if not isinstance(n, ast.Expr) or isinstance(n.value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
                continue
            docstring = i == 0 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str) \
                and isinstance(parent, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef))
            if not docstring:
                out.append(f"{path.name}:{n.lineno}: {ast.unparse(n)[:60]}")
    return out


def test_streamlit_runs_pages_without_gc_or_magic_and_no_page_needs_magic(tmp_path):
    import tomllib

    runner = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["runner"]
    assert runner["postScriptGC"] is False and runner["magicEnabled"] is False
    assert [m for p in [REPO / "app.py", *PAGES] for m in _magic_lines(p)] == []
    demo = tmp_path / "demo.py"
    demo.write_text('"""doc"""\nimport streamlit as st\nx = 1\nx\nst.write(x)\nif x:\n    "shown by magic"\n')
    assert _magic_lines(demo) == ["demo.py:4: x", "demo.py:7: 'shown by magic'"]
