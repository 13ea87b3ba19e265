"""Nyx Trainer's core library: managers a notebook, the CLI and the Streamlit pages all call.

Nothing here imports streamlit; heavy libraries (torch, onnxruntime) are imported inside the
functions that need them, so ``import nyx_core`` stays fast.

    >>> from nyx_core import Workspace
    >>> ws = Workspace.open()          # NYX_WORKSPACE or ./workspace
    >>> ws.resolve("datasets/cats")    # a Path inside the workspace, or PathError
"""
from nyx_core.errors import NyxError, PathError
from nyx_core.settings import Settings
from nyx_core.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["NyxError", "PathError", "Settings", "Workspace", "__version__"]
