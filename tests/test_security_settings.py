"""Settings that choose programs, secrets, the password hash, settings.toml out of Files' reach,
and a trash restore that trusts nothing in entry.json (issue 14)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nyx_core import trash
from nyx_core.auth import hash_password, is_password_hash, verify_password
from nyx_core.errors import NyxError
from nyx_core.files.manager import FileManager
from nyx_core.settings import Secret, Settings, find_sd_scripts
from tests.conftest import REPO_ROOT


# Settings.save writes only what the user set -------------------------------------------------
def test_environment_values_are_never_persisted(ws) -> None:
    env = {"HF_TOKEN": "hf_env_secret_123456", "NYX_PASSWORD": "env-pass", "NYX_LAUNCHER": "python",
           "NYX_SD_SCRIPTS": "/opt/from-env", "NYX_SD_SCRIPTS_PYTHON": "/opt/from-env/py"}
    s = Settings.load(ws.root, env=env)
    assert s.origin["hf_token"] == "env" and s.origin["launcher"] == "env"
    s.set("webhook_url", "http://127.0.0.1:9/hook")
    s.save(ws.root)
    text = (ws.root / "settings.toml").read_text()
    for leaked in ("hf_env_secret", "env-pass", "from-env", "launcher", "sd_scripts"):
        assert leaked not in text, leaked
    assert "webhook_url" in text
    again = Settings.load(ws.root, env={})
    assert again.launcher == "accelerate" and not again.hf_token and not again.has_password


def test_defaults_are_not_written_and_file_values_are_kept(ws) -> None:
    (ws.root / "settings.toml").write_text('# mine\ncivitai_token = "civ_file_token_123"\nwebhook_url = "x"\n')
    s = Settings.load(ws.root, env={})
    s.set("hf_token", "hf_typed_on_page")
    s.save(ws.root)
    text = (ws.root / "settings.toml").read_text()
    assert "# mine" in text and "civ_file_token_123" in text and "hf_typed_on_page" in text
    assert "sd_scripts_dir" not in text and "launcher" not in text
    s = Settings.load(ws.root, env={})
    s.set("civitai_token", "")  # removed from the page
    s.save(ws.root)
    assert "civitai_token" not in (ws.root / "settings.toml").read_text()


# The password is a salted scrypt hash -----------------------------------------------------------
def test_password_is_stored_as_salted_scrypt_hash(ws) -> None:
    s = Settings.load(ws.root, env={})
    s.set_password("correct horse battery")
    s.save(ws.root)
    text = (ws.root / "settings.toml").read_text()
    assert "correct horse" not in text
    stored = Settings.load(ws.root, env={}).password_hash
    assert stored.startswith("scrypt$") and is_password_hash(stored)
    assert stored != hash_password("correct horse battery")  # salted: never the same twice
    again = Settings.load(ws.root, env={})
    assert again.check_password("correct horse battery") and not again.check_password("wrong")


def test_plain_password_in_the_file_is_migrated_to_a_hash(ws) -> None:
    (ws.root / "settings.toml").write_text('password = "old plain pw"\nhf_token = "hf_keep_me"\n')
    s = Settings.load(ws.root, env={})
    text = (ws.root / "settings.toml").read_text()
    assert "old plain pw" not in text and "password_hash" in text and "hf_keep_me" in text
    assert s.check_password("old plain pw") and Settings.load(ws.root, env={}).check_password("old plain pw")


def test_damaged_or_costly_hash_is_not_a_password() -> None:
    assert not is_password_hash("scrypt$1048576$8$1$AAAA$AAAA")  # 1 GiB per check: refused
    assert not verify_password("x", "garbage")


def test_secrets_are_never_shown(ws) -> None:
    s = Settings.load(ws.root, env={"HF_TOKEN": "hf_abcdefghijklmnopqrstuv"})
    assert Secret("hf_abcdefghijklmnopqrstuv").masked() == "•" * 8  # not even a tail
    shown = s.public_dict()
    assert shown["hf_token"] == "•" * 8 and "qrstuv" not in json.dumps(shown) and "qrstuv" not in repr(s)


# settings.toml is out of the Files page's reach ---------------------------------------------------
def test_files_never_show_read_write_or_zip_settings_toml(ws) -> None:
    Settings.load(ws.root, env={}).set_password  # noqa: B018 - the API exists
    s = Settings.load(ws.root, env={})
    s.set("hf_token", "hf_do_not_leak_123")
    s.save(ws.root)
    fm = FileManager(ws)
    assert "settings.toml" not in [e.name for e in fm.list_dir("")]
    assert fm.search("settings").hits == []
    for action in (lambda: fm.read_text("settings.toml"), lambda: fm.open_file("settings.toml"),
                   lambda: fm.save_text("settings.toml", 'sd_scripts_dir = "/tmp/evil"\n'),
                   lambda: fm.delete(["settings.toml"]), lambda: fm.rename("settings.toml", "s.txt"),
                   lambda: fm.copy(["settings.toml"], "configs"), lambda: fm.info("settings.toml")):
        with pytest.raises(NyxError, match="settings"):
            action()
    # Planting one: upload, rename onto it, copy/move into the root.
    (ws.configs / "settings.toml").write_text('launcher = "python"\n')
    (ws.configs / "evil.toml").write_text('launcher = "python"\n')
    with pytest.raises(NyxError, match="settings"):
        fm.save_upload("", "settings.toml", io.BytesIO(b'sd_scripts_dir = "/tmp/x"\n'), on_clash="replace")
    with pytest.raises(NyxError, match="settings"):
        fm.move(["configs/settings.toml"], "", on_clash="replace")
    with pytest.raises(NyxError, match="settings"):
        fm.copy(["configs/settings.toml"], "", on_clash="replace")
    # A link to it is refused too.
    os.symlink(ws.root / "settings.toml", ws.configs / "link.toml")
    with pytest.raises(NyxError, match="settings"):
        fm.read_text("configs/link.toml")
    zipped = b"".join(fm.iter_zip(""))
    names = zipfile.ZipFile(io.BytesIO(zipped)).namelist()
    assert not any(n.endswith("/settings.toml") and n.count("/") == 1 for n in names)
    assert b"hf_do_not_leak" not in zipped
    assert "hf_do_not_leak_123" in (ws.root / "settings.toml").read_text()


def test_cli_files_cannot_reach_settings_toml(ws) -> None:
    Settings.load(ws.root, env={}).save(ws.root)
    out = subprocess.run([sys.executable, "-m", "nyx_core", "files", "rm", "settings.toml"], capture_output=True,
                         text=True, cwd=REPO_ROOT)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "settings" in out.stderr
    assert (ws.root / "settings.toml").exists()


# Trash restore validates entry.json's `original` --------------------------------------------------
@pytest.mark.parametrize("original", ["", ".", "./", "..", "../x", "/etc/x", "a/../../x", "a//./"])
def test_tampered_trash_entry_never_restores_next_to_the_workspace(ws, original) -> None:
    (ws.root / "victim.txt").write_text("v")
    entry = trash.move_to_trash(ws, ws.root / "victim.txt")
    sidecar = ws.trash / entry.id / "entry.json"
    data = json.loads(sidecar.read_text())
    data["original"] = original
    sidecar.write_text(json.dumps(data))
    before = set(os.listdir(ws.root.parent))
    with pytest.raises(NyxError):
        trash.restore(ws, entry.id)
    assert set(os.listdir(ws.root.parent)) == before
    assert entry.id not in [e.id for e in trash.list_trash(ws)]


# The Settings page -----------------------------------------------------------------------------
def _settings_page() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / "settings.py"), default_timeout=30)


def _fake_sd_scripts(folder: Path) -> Path:
    (folder / "venv" / "bin").mkdir(parents=True)
    (folder / "train_network.py").write_text("")
    os.symlink(sys.executable, folder / "venv" / "bin" / "python")
    return folder


def test_page_has_no_free_text_program_paths_and_only_offers_found_environments(ws, tmp_path, monkeypatch) -> None:
    _fake_sd_scripts(ws.root / "uploaded-sd")  # uploadable through Files: never offered
    outside = _fake_sd_scripts(tmp_path / "sd-outside")
    monkeypatch.setenv("NYX_SD_SCRIPTS", str(outside))
    found = [e.dir for e in find_sd_scripts(Settings.load(ws.root), ws.root)]
    assert outside.resolve() in found and (ws.root / "uploaded-sd").resolve() not in found
    monkeypatch.delenv("NYX_SD_SCRIPTS")
    at = _settings_page().run()
    assert not at.exception
    labels = [t.label for t in at.text_input]
    assert not any("sd-scripts" in lab or "Python" in lab or "launcher" in lab.lower() for lab in labels)
    (ws.root / "settings.toml").write_text(f'sd_scripts_dir = "{outside}"\n')
    at = _settings_page().run()
    options = at.selectbox[0].options
    assert any(str(outside.resolve()) in o for o in options)
    assert not any("uploaded-sd" in o for o in options)


def test_page_sets_password_keeps_user_in_and_removes_secrets(ws) -> None:
    (ws.root / "settings.toml").write_text('hf_token = "hf_saved_token_abcdef"\n')
    at = _settings_page().run()
    assert all("hf_saved" not in (t.placeholder or "") and "ef" != (t.placeholder or "")[-2:] for t in at.text_input)
    boxes = {t.label: t for t in at.text_input}
    boxes["New password"].input("pw one two")
    boxes["New password again"].input("pw one two")
    next(b for b in at.button if b.label == "Set password").click().run()
    assert not at.exception
    assert at.session_state["nyx_authenticated"] is True  # still on the page, signed in
    assert Settings.load(ws.root, env={}).check_password("pw one two")
    # Changing it needs the current one.
    boxes = {t.label: t for t in at.text_input}
    boxes["Current password"].input("wrong")
    boxes["New password"].input("x")
    boxes["New password again"].input("x")
    next(b for b in at.button if b.label == "Set password").click().run()
    assert any("current password is wrong" in e.value for e in at.error)
    assert Settings.load(ws.root, env={}).check_password("pw one two")
    # Remove the token.
    at.checkbox(key="rm_hf_token").check()
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert "hf_saved_token" not in (ws.root / "settings.toml").read_text()
    # Remove the password (current one given).
    {t.label: t for t in at.text_input}["Current password"].input("pw one two")
    next(b for b in at.button if b.label == "Remove password").click().run()
    assert not Settings.load(ws.root, env={}).has_password


def test_sign_in_field_is_a_current_password(ws, monkeypatch) -> None:
    from nyx_core.auth import GUARD

    GUARD.reset()
    monkeypatch.setenv("NYX_PASSWORD", "correct horse")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=30).run()
    assert at.text_input[0].proto.autocomplete == "current-password"
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert at.session_state["nyx_authenticated"] is True
    assert [b.label for b in at.sidebar.button] == ["Sign out"]


def _signed_in_shell() -> None:
    import streamlit as st

    from nyx_ui.access import sign_out_control

    sign_out_control()
    st.write("in" if st.session_state.get("nyx_authenticated") else "out")


def test_sign_out_control_signs_out(ws, monkeypatch) -> None:
    monkeypatch.setenv("NYX_PASSWORD", "correct horse")
    at = AppTest.from_function(_signed_in_shell, default_timeout=30)
    at.session_state["nyx_authenticated"] = True
    at.run()
    assert at.markdown[0].value == "in"
    at.sidebar.button[0].click().run()
    assert "nyx_authenticated" not in at.session_state and at.markdown[0].value == "out"
