from __future__ import annotations

import stat
from pathlib import Path

from nyx_core.auth import LoginThrottle, is_loopback, password_matches
from nyx_core.settings import Secret, Settings


def test_secret_never_shows() -> None:
    s = Secret("hf_abcdefghijklmnop")
    assert "abcdef" not in str(s) and "abcdef" not in repr(s)
    assert s.reveal() == "hf_abcdefghijklmnop"
    assert not Secret("")


def test_env_overrides_file_and_save_is_private(tmp_path: Path) -> None:
    s = Settings.load(tmp_path, env={})
    s.hf_token = Secret("hf_from_file_123456")
    s.sd_scripts_dir = tmp_path / "sd"
    path = s.save(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Settings.load(tmp_path, env={})
    assert again.hf_token.reveal() == "hf_from_file_123456"
    assert again.sd_scripts_dir == tmp_path / "sd"
    env = Settings.load(tmp_path, env={"HF_TOKEN": "hf_env", "NYX_SD_SCRIPTS": "/opt/sd"})
    assert env.hf_token.reveal() == "hf_env" and env.sd_scripts_dir == Path("/opt/sd")
    assert "hf_from_file" not in str(again.public_dict()) and "hf_from_file" not in repr(again)


def test_sd_scripts_status_says_why(tmp_path: Path) -> None:
    s = Settings(sd_scripts_dir=tmp_path)
    found, why = s.sd_scripts_status()
    assert not found and "train_network.py" in why
    (tmp_path / "train_network.py").write_text("")
    found, why = s.sd_scripts_status()
    assert not found and "Python" in why
    s.sd_scripts_python = Path("/bin/sh")
    assert s.sd_scripts_status()[0]


def test_auth_helpers() -> None:
    assert password_matches("pw", "pw") and not password_matches("pw", "pW")
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback(None)
    t = LoginThrottle()
    assert [t.record_failure() for _ in range(4)] == [1, 2, 4, 8]
    t.reset()
    assert t.delay() == 0
