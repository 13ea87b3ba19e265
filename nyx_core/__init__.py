"""Nyx Trainer's core library: managers a notebook, the CLI and the Streamlit pages all call.

Nothing here imports streamlit; heavy libraries (torch, onnxruntime) are imported inside the
functions that need them, so ``import nyx_core`` stays fast.

    >>> from nyx_core import Workspace
    >>> ws = Workspace.open()          # NYX_WORKSPACE or ./workspace
    >>> ws.resolve("datasets/cats")    # a Path inside the workspace, or PathError

The names below load on first use: job programs that run in sd-scripts' own Python (which lacks
Nyx's dependencies) import stdlib-only modules such as ``nyx_core.jobs.task`` without pulling in
pydantic or tomlkit.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
_LAZY = {"NyxError": "nyx_core.errors", "PathError": "nyx_core.errors", "Settings": "nyx_core.settings",
         "Workspace": "nyx_core.workspace"}
__all__ = ["NyxError", "PathError", "Settings", "Workspace", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from nyx_core.errors import NyxError, PathError
    from nyx_core.settings import Settings
    from nyx_core.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nyx_core' has no attribute {name!r}")
