"""Settings: environment variables over an optional ``settings.toml`` in the workspace.

Secrets (HF token, Civitai token, password) are wrapped in ``Secret`` so that no repr, log
line or page ever shows them. The dashboard password is stored only as a salted scrypt hash
(``password_hash``); a plain ``password`` found in the file is replaced by its hash on load.

Each value remembers where it came from (``origin``): ``save`` writes what the file already
held plus what was changed since loading, never a value that came from the environment or a
default. The settings that choose which programs run (``PROGRAM_FIELDS``) are set from the
shell (environment, ``nyx settings``, or the file edited outside Nyx); the Files page can neither
show nor write ``settings.toml``.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomlkit

from nyx_core.auth import hash_password, is_password_hash, verify_password
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
        # Not even a tail: a secret is "set" or "not set", nothing more.
        return "•" * 8 if self._value else ""

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
    "password_hash": ("", False),  # file only: the salted hash the page/CLI store
}

#: Settings that decide which programs Nyx runs. The web page only picks among sd-scripts
#: environments Nyx found itself (``find_sd_scripts``); free text comes from the shell.
PROGRAM_FIELDS = ("sd_scripts_dir", "sd_scripts_python", "launcher")
LAUNCHERS = ("accelerate", "python")

Origin = str  # "default" | "env" | "file" | "set"


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
    password_hash: str = ""
    #: name -> where the value came from; filled by ``load``, updated by ``set``.
    origin: dict[str, Origin] = field(default_factory=dict, repr=False, compare=False)
    _loaded: dict[str, object] = field(default_factory=dict, repr=False, compare=False)
    _file_doc: object = field(default=None, repr=False, compare=False)

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

    # The password ----------------------------------------------------------------------
    @property
    def has_password(self) -> bool:
        return bool(self.password) or bool(self.password_hash)

    def check_password(self, given: str) -> bool:
        """Constant-time check against the environment's password, else the stored hash."""
        from nyx_core.auth import password_matches

        if self.password:
            return password_matches(given, self.password.reveal())
        return bool(self.password_hash) and verify_password(given, self.password_hash)

    def set_password(self, new: str) -> None:
        """Store ``new`` as a salted hash (call ``save``). Refused while NYX_PASSWORD sets it."""
        if self.origin.get("password") == "env":
            raise ValueError("the password is set by NYX_PASSWORD in the environment; change it there")
        if not new:
            raise ValueError("a password cannot be empty; remove it instead")
        self.password = Secret("")
        self.password_hash = hash_password(new)
        self.origin["password_hash"] = "set"

    def clear_password(self) -> None:
        if self.origin.get("password") == "env":
            raise ValueError("the password is set by NYX_PASSWORD in the environment; unset it there")
        self.password = Secret("")
        self.password_hash = ""
        self.origin["password_hash"] = "set"

    def set(self, name: str, value: object) -> None:
        """Change one setting as the user's own choice (``save`` will write it)."""
        if name not in _FIELDS:
            raise KeyError(f"no setting {name!r}; one of {', '.join(_FIELDS)}")
        if name == "password":
            self.set_password(str(value)) if value else self.clear_password()
            return
        if name == "launcher" and value not in ("", None) and value not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}")
        _, secret = _FIELDS[name]
        if secret:
            value = Secret(str(value or ""))
        elif name in ("sd_scripts_dir", "sd_scripts_python"):
            value = Path(str(value)).expanduser() if value not in (None, "") else (
                None if name == "sd_scripts_python" else REPO_ROOT / "sd-scripts")
        elif value is None:
            value = ""
        setattr(self, name, value)
        self.origin[name] = "set"

    # Loading and saving --------------------------------------------------------------------
    @classmethod
    def load(cls, workspace_root: Path | None = None, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data: dict[str, object] = {}
        doc = None
        path = Path(workspace_root) / SETTINGS_FILE if workspace_root is not None else None
        if path is not None and path.is_file():
            try:
                doc = tomlkit.parse(path.read_text(encoding="utf-8"))
                data = dict(doc.unwrap())
            except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError):
                doc, data = None, {}  # a damaged file: defaults (nothing is overwritten)
        s = cls()
        s._file_doc = doc
        for name, (var, secret) in _FIELDS.items():
            raw: object = env.get(var) if var else None
            origin = "env"
            if raw in (None, ""):
                raw, origin = data.get(name), "file"
            if raw in (None, ""):
                s.origin[name] = "default"
                continue
            value: object = Secret(str(raw)) if secret else raw
            if name in ("sd_scripts_dir", "sd_scripts_python"):
                value = Path(str(value)).expanduser()
            elif not secret:
                value = str(value)
            setattr(s, name, value)
            s.origin[name] = origin
        if s.password_hash and not is_password_hash(s.password_hash):
            s.password_hash, s.origin["password_hash"] = "", "default"  # garbage: treat as unset
        if s.origin.get("password") == "file" and path is not None:
            # A plain password left in the file (an older Nyx, or typed by hand): keep only its hash.
            s.set_password(s.password.reveal())
            s.origin["password"] = "default"
            try:
                s.save(Path(workspace_root))
            except OSError:
                pass
        s._loaded = {f.name: getattr(s, f.name) for f in fields(s) if f.name in _FIELDS}
        return s

    def changed(self) -> set[str]:
        """Names changed since ``load`` (by ``set`` or by assignment)."""
        out = {n for n, o in self.origin.items() if o == "set"}
        for name in _FIELDS:
            if name in self._loaded and getattr(self, name) != self._loaded[name]:
                out.add(name)
            elif not self._loaded and getattr(self, name) != getattr(Settings(), name) and \
                    self.origin.get(name) != "env":
                out.add(name)
        return out

    def save(self, workspace_root: Path) -> Path:
        """Write ``settings.toml`` (mode 600): what the file held plus what the user changed.

        Values from the environment or defaults are never written; an emptied value is removed;
        a plain password is never written (only its hash).
        """
        path = Path(workspace_root) / SETTINGS_FILE
        doc = self._file_doc
        if doc is None:
            doc = tomlkit.document()
            doc.add(tomlkit.comment("Nyx Trainer settings. Environment variables override these. "
                                    "The password is stored as a salted hash (nyx settings password)."))
        doc.pop("password", None)  # only ever its hash
        for name in sorted(self.changed()):
            if name == "password":
                continue
            value = getattr(self, name)
            if isinstance(value, Secret):
                value = value.reveal()
            if value in (None, ""):
                doc.pop(name, None)
            else:
                doc[name] = str(value)
            self.origin[name] = "file" if value not in (None, "") else "default"
        atomic_write_text(path, tomlkit.dumps(doc), mode=0o600)
        self._file_doc = doc
        self._loaded = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _FIELDS}
        return path

    def public_dict(self) -> dict[str, str]:
        """Every setting as display text, secrets masked."""
        out = {}
        for f in fields(self):
            if f.name not in _FIELDS or f.name == "password_hash":
                continue
            value = getattr(self, f.name)
            out[f.name] = value.masked() if isinstance(value, Secret) else ("" if value is None else str(value))
        out["password"] = "set" if self.has_password else ""
        out["python_for_sd_scripts"] = str(self.python_for_sd_scripts)
        return out


@dataclass(frozen=True)
class SdScriptsEnv:
    """An sd-scripts checkout with its own Python that Nyx found on this machine."""

    dir: Path
    python: Path
    where: str  # how it was found, in words


def find_sd_scripts(settings: Settings | None = None, workspace_root: Path | None = None) -> list[SdScriptsEnv]:
    """sd-scripts environments on this machine that the page may offer: the repo's submodule,
    the usual pod/home locations and whatever the shell configured. Folders inside the
    workspace are left out: anything there can be replaced through the Files page."""
    candidates: list[tuple[Path, Path | None, str]] = []
    if settings is not None and settings.origin.get("sd_scripts_dir") in ("env", "file"):
        candidates.append((Path(settings.sd_scripts_dir), settings.sd_scripts_python,
                           "set from the shell" if settings.origin["sd_scripts_dir"] == "env" else "settings.toml"))
    candidates.append((REPO_ROOT / "sd-scripts", None, "Nyx's own submodule"))
    for extra in (Path.home() / "sd-scripts", Path("/opt/sd-scripts"), Path("/workspace/sd-scripts"),
                  Path.home() / "kohya_ss" / "sd-scripts"):
        candidates.append((extra, None, "found on this machine"))
    ws_real = Path(workspace_root).resolve() if workspace_root is not None else None
    out: list[SdScriptsEnv] = []
    seen: set[Path] = set()
    for folder, python, where in candidates:
        try:
            real = folder.resolve()
            if real in seen or not (real / "train_network.py").is_file():
                continue
            if ws_real is not None and (real == ws_real or ws_real in real.parents):
                continue
            py = Path(python) if python else real / "venv" / "bin" / "python"
            if not py.exists():
                continue
        except OSError:
            continue
        seen.add(real)
        out.append(SdScriptsEnv(real, py, where))
    return out


def python_version() -> str:
    return sys.version.split()[0]
