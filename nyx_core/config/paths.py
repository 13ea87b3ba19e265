"""Turning the model/encoder fields of a config into what sd-scripts gets.

A value is, in order: a file or folder under ``workspace/models`` (by name or relative path), a
workspace path (relative to the root, or absolute inside it), or a Hugging Face Hub id
(``owner/name``) for the base model. Everything on disk goes through ``Workspace.resolve``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nyx_core.errors import PathError
from nyx_core.workspace import Workspace

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")


@dataclass(frozen=True)
class ModelRef:
    value: str  # what to write for sd-scripts (absolute path or Hub id)
    path: Path | None  # the local file/folder, None for a Hub id
    exists: bool
    is_hub_id: bool = False


def resolve_model_ref(ws: Workspace, value: str, *, allow_hub: bool = False) -> ModelRef:
    """Raises ``PathError`` for a path that leaves the workspace."""
    value = value.strip()
    candidates: list[Path] = []
    if not value.startswith("/"):
        candidates.append(ws.resolve(f"{ws.relative(ws.models)}/{value}"))
    candidates.append(ws.resolve(value))
    for cand in candidates:
        if cand.exists():
            return ModelRef(str(cand), cand, True)
    if allow_hub and _HUB_ID.match(value) and not value.lower().endswith(_WEIGHT_SUFFIXES) \
            and not value.startswith(("models/", "datasets/", "outputs/")):
        return ModelRef(value, None, True, is_hub_id=True)
    # Not there: report the most likely location (under models/ for a bare name).
    return ModelRef(str(candidates[0]), candidates[0], False)


def safe_resolve(ws: Workspace, value: str, *, allow_hub: bool = False) -> ModelRef | PathError:
    try:
        return resolve_model_ref(ws, value, allow_hub=allow_hub)
    except PathError as exc:
        return exc
