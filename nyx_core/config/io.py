"""Reading and writing Nyx config files with tomlkit, so comments and key order survive edits.

``save_config`` over an existing file changes only the values that differ: a user's comments,
blank lines and ordering stay where they were. A new file gets a short header and one table
per group.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from nyx_core.config.model import GROUPS, ConfigError, TrainingConfig, config_from_data
from nyx_core.fsutil import atomic_write_text

HEADER = (
    "Nyx Trainer training config. Edit here or on the Training page; comments you add are kept.",
    "Paths are relative to the workspace. `nyx config validate <file>` checks it.",
)

GROUP_COMMENTS = {
    "project": "Name, output and seed",
    "model": "Base model and the encoders its family needs",
    "dataset": "Which dataset, resolution, buckets, captions, batch size, epochs or steps",
    "network": "LoRA / LyCORIS structure",
    "optimizer": "Optimizer, learning rates and schedule",
    "performance": "Precision, caching, memory savers, GPUs",
    "advanced": "Noise, loss and timestep options",
    "saving": "Checkpoints",
    "samples": "Sample images during training",
    "logging": "TensorBoard is always on; wandb optional",
}


def parse_config_text(text: str, *, source: str = "") -> TrainingConfig:
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{source or 'config'} is not valid TOML: {exc}") from None
    return config_from_data(doc.unwrap(), source=source)


def load_config(path: Path) -> TrainingConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file at {path}; create one with `nyx config new NAME`")
    return parse_config_text(path.read_text(encoding="utf-8"), source=path.name)


def dumps_config(cfg: TrainingConfig, existing: str | None = None) -> str:
    """The TOML text for ``cfg``; with ``existing`` text, an in-place edit of it."""
    data = cfg.to_data()
    if existing is not None:
        try:
            doc = tomlkit.parse(existing)
        except TOMLKitError:
            doc = None
        if doc is not None:
            _update(doc, data)
            return tomlkit.dumps(doc)
    doc = tomlkit.document()
    for line in HEADER:
        doc.add(tomlkit.comment(line))
    doc.add(tomlkit.nl())
    doc["version"] = data.pop("version")
    for group in GROUPS:
        values = data.get(group, {})
        table = tomlkit.table()
        table.comment(GROUP_COMMENTS.get(group, ""))
        for key, value in values.items():
            table[key] = _item(value)
        doc.add(tomlkit.nl())
        doc[group] = table
    return tomlkit.dumps(doc)


def save_config(cfg: TrainingConfig, path: Path) -> Path:
    """Write ``cfg`` to ``path`` atomically, editing the existing file in place if there is one."""
    path = Path(path)
    existing = path.read_text(encoding="utf-8") if path.is_file() else None
    atomic_write_text(path, dumps_config(cfg, existing))
    return path


# In-place editing ---------------------------------------------------------------------------
def _item(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        aot = tomlkit.aot()
        for v in value:
            t = tomlkit.table()
            for k, x in v.items():
                t[k] = _item(x)
            aot.append(t)
        return aot
    if isinstance(value, dict):
        t = tomlkit.table()
        for k, x in value.items():
            t[k] = _item(x)
        return t
    return value


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _update(container: Any, data: dict[str, Any]) -> None:
    for key in [k for k in list(container.keys()) if k not in data]:
        del container[key]
    for key, value in data.items():
        if key not in container:
            container[key] = _item(value)
            continue
        current = container[key]
        if isinstance(value, dict) and isinstance(current, (Table, dict)) and not isinstance(current, AoT):
            _update(current, value)
        elif _plain(current) != value:
            container[key] = _item(value)


# Where configs live ---------------------------------------------------------------------------
def config_path(ws, value: str, *, must_exist: bool = False) -> Path:  # noqa: ANN001 - Workspace
    """A config given as a bare name (``my-lora`` -> ``configs/my-lora.toml``) or a workspace path."""
    from nyx_core.errors import PathError

    value = value.strip()
    if not value:
        raise ConfigError("no config given; pass a name or a path like configs/my-lora.toml")
    name = value if value.endswith(".toml") else value + ".toml"
    candidates = []
    if "/" not in value:
        candidates.append(f"{ws.relative(ws.configs)}/{name}")
    candidates.append(value)
    if not value.endswith(".toml"):
        candidates.append(name)
    first: Path | None = None
    for cand in candidates:
        try:
            p = ws.resolve(cand)
        except PathError:
            if cand == value and first is None:
                raise
            continue
        first = first or p
        if p.is_file():
            return p
    if must_exist:
        raise ConfigError(f"no config {value!r} (looked in configs/); list them with `ls {ws.configs}`")
    assert first is not None
    return first


def list_configs(ws) -> list[Path]:  # noqa: ANN001
    return sorted((p for p in ws.configs.glob("*.toml") if p.is_file()), key=lambda p: p.name.lower())
