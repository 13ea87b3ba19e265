"""Settings: environment variables over an optional ``settings.toml`` in the workspace.

Secrets (HF token, Civitai token, password) are wrapped in ``Secret`` so that no repr, log
line or page ever shows them whole.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomlkit

from nyx_core.fsutil import atomic_write_text

SETTINGS_FILE = "settings.toml"
REPO_ROOT = Path(__file__).resolve().parent.parent


class Secret:
    """A string that never shows itself: ``str()``/``repr()`` give a masked form."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or ""

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def masked(self) -> str:
        if not self._value:
            return ""
        tail = self._value[-2:] if len(self._value) >= 12 else ""
        return "•" * 8 + tail

    __str__ = masked

    def __repr__(self) -> str:
        return f"Secret({self.masked()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# name -> (env var, is secret). Env wins over the file so pods can inject values.
_FIELDS: dict[str, tuple[str, bool]] = {
    "sd_scripts_dir": ("NYX_SD_SCRIPTS", False),
    "sd_scripts_python": ("NYX_SD_SCRIPTS_PYTHON", False),
    "hf_token": ("HF_TOKEN", True),
    "civitai_token": ("CIVITAI_TOKEN", True),
    "password": ("NYX_PASSWORD", True),
    "webhook_url": ("NYX_WEBHOOK_URL", False),
    "launcher": ("NYX_LAUNCHER", False),
}


@dataclass
class Settings:
    """Everything Nyx needs to know that is not a training config.

    ``sd_scripts_dir`` is the checkout (the repo's ``sd-scripts`` submodule by default);
    ``sd_scripts_python`` the interpreter of its own venv (default ``<dir>/venv/bin/python``).
    """

    sd_scripts_dir: Path = field(default_factory=lambda: REPO_ROOT / "sd-scripts")
    sd_scripts_python: Path | None = None
    hf_token: Secret = field(default_factory=lambda: Secret(""))
    civitai_token: Secret = field(default_factory=lambda: Secret(""))
    password: Secret = field(default_factory=lambda: Secret(""))
    webhook_url: str = ""
    #: "accelerate" (``python -m accelerate.commands.launch``, the normal way) or "python" (run the
    #: script directly: single process, no accelerate needed; used on CPU test rigs).
    launcher: str = "accelerate"

    @property
    def python_for_sd_scripts(self) -> Path:
        if self.sd_scripts_python:
            return Path(self.sd_scripts_python)
        return Path(self.sd_scripts_dir) / "venv" / "bin" / "python"

    def sd_scripts_status(self) -> tuple[bool, str]:
        """(found, why): whether sd-scripts and its Python can be used, in words."""
        root = Path(self.sd_scripts_dir)
        if not (root / "train_network.py").is_file():
            return False, f"no train_network.py in {root} (run provisioning/setup_sd_scripts.sh or set NYX_SD_SCRIPTS)"
        py = self.python_for_sd_scripts
        if not py.exists():
            return False, f"sd-scripts found at {root}, but its Python {py} does not exist (set NYX_SD_SCRIPTS_PYTHON)"
        return True, f"sd-scripts at {root}, Python {py}"

    # Loading and saving --------------------------------------------------------------------
    @classmethod
    def load(cls, workspace_root: Path | None = None, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data: dict[str, object] = {}
        if workspace_root is not None:
            path = Path(workspace_root) / SETTINGS_FILE
            if path.is_file():
                data = dict(tomlkit.parse(path.read_text(encoding="utf-8")).unwrap())
        values: dict[str, object] = {}
        for name, (var, secret) in _FIELDS.items():
            raw = env.get(var) or data.get(name)
            if raw in (None, ""):
                continue
            values[name] = Secret(str(raw)) if secret else raw
        s = cls()
        for name, value in values.items():
            if name in ("sd_scripts_dir", "sd_scripts_python"):
                value = Path(str(value)).expanduser()
            setattr(s, name, value)
        return s

    def save(self, workspace_root: Path) -> Path:
        """Write every non-empty field to ``settings.toml`` (mode 600: it may hold tokens)."""
        doc = tomlkit.document()
        doc.add(tomlkit.comment("Nyx Trainer settings. Environment variables override these."))
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = value.reveal()
            if value in (None, ""):
                continue
            doc[f.name] = str(value)
        path = Path(workspace_root) / SETTINGS_FILE
        atomic_write_text(path, tomlkit.dumps(doc), mode=0o600)
        return path

    def public_dict(self) -> dict[str, str]:
        """Every setting as display text, secrets masked."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.masked() if isinstance(value, Secret) else ("" if value is None else str(value))
        out["python_for_sd_scripts"] = str(self.python_for_sd_scripts)
        return out


def python_version() -> str:
    return sys.version.split()[0]
