"""AppTest for the shell (app.py) and the Settings page, and the `nyx info` CLI."""
from __future__ import annotations

import json
import subprocess
import sys

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def _app() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=30)


def test_app_runs_without_password(ws) -> None:
    at = _app().run()
    assert not at.exception


def test_login_form_when_password_set(ws, monkeypatch) -> None:
    monkeypatch.setenv("NYX_PASSWORD", "correct horse")
    at = _app().run()
    assert at.text_input[0].label == "Password"
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert at.session_state["nyx_authenticated"] is True


def test_refuses_public_bind_without_password(ws) -> None:
    from streamlit import config

    old = config.get_option("server.address")
    try:
        config.set_option("server.address", "0.0.0.0")
        at = _app().run()
        assert any("Set a password" in t.value for t in at.title)
    finally:
        config.set_option("server.address", old)


def test_settings_page_saves_and_masks(ws) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "settings.py"), default_timeout=30).run()
    assert not at.exception
    boxes = {t.label: t for t in at.text_input}
    boxes["Hugging Face token"].input("hf_secret_value_123")
    at.button[0].click().run()
    saved = (ws.root / "settings.toml").read_text()
    assert "hf_secret_value_123" in saved
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "settings.py"), default_timeout=30).run()
    assert all("hf_secret_value_123" not in (t.placeholder or "") for t in at.text_input)


def test_cli_info_json(ws) -> None:
    out = subprocess.run([sys.executable, "-m", "nyx_core", "info", "--json"], capture_output=True, text=True,
                         check=True, cwd=REPO_ROOT)
    info = json.loads(out.stdout)
    assert info["workspace"] == str(ws.root)
    assert info["sd_scripts"]["found"] in (True, False) and info["sd_scripts"]["detail"]
    assert info["sd_scripts"]["pinned"].startswith("48d368fa") and info["versions"]["streamlit"]


def test_home_page(ws) -> None:
    at = _app().run()  # Home is the default page; its links need the navigation app.py builds
    assert not at.exception
    assert at.title[0].value == "Nyx Trainer"
    assert any("No dataset yet" in m.value for m in at.markdown)


def test_every_page_imports_nyx_ui() -> None:
    """nyx_ui's import closes Streamlit's first-run pages/ bypass of the password gate (see
    nyx_ui/__init__.py); a page that never imports it would be reachable without signing in."""
    import re

    for page in sorted((REPO_ROOT / "pages").glob("*.py")):
        assert re.search(r"^(from|import) nyx_ui", page.read_text(), re.M), page.name


def test_nyx_core_never_imports_streamlit() -> None:
    import ast

    for path in (REPO_ROOT / "nyx_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "streamlit" for n in names), path


def test_import_nyx_core_stays_light() -> None:
    code = ("import sys, nyx_core, nyx_core.jobs, nyx_core.config, nyx_core.datasets, nyx_core.files; "
            "print(','.join(m for m in ('torch', 'onnxruntime', 'streamlit', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == ""


def test_home_links_to_settings_when_sd_scripts_is_missing(ws, monkeypatch) -> None:
    monkeypatch.setenv("NYX_SD_SCRIPTS", str(ws.root / "no-such-sd-scripts"))
    at = _app().run()
    assert not at.exception
    assert any("sd-scripts is not ready" in w.value for w in at.warning)
    assert not any(".sh" in w.value for w in at.warning)  # not a shell script: the Settings page
    links = [el for el in at.main if getattr(el, "proto", None) is not None and el.type == "page_link"]
    assert any("settings" in str(el.proto.page).lower() for el in links)


def test_home_scans_only_the_datasets_it_names(ws) -> None:
    # a workspace of many large datasets: Home names eight (with their image counts) and scans only those
    from nyx_core.datasets import layout
    from nyx_core.datasets.manager import create_dataset

    for i in range(11):
        create_dataset(ws, f"set{i:02d}", "c", 1)
    (ws.datasets / "set00" / "1_c" / "a.png").write_bytes(b"x")
    layout._SCANS.clear()
    misses = layout._SCANS.misses
    at = _app().run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**set00** (1 images)" in text and "**set07** (0 images)" in text and "and 3 more" in text
    assert "set08" not in text
    assert layout._SCANS.misses - misses == 8
