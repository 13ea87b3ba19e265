"""Where pages get the workspace and settings from. Cheap, so not cached: settings edits show at once."""
from __future__ import annotations

from nyx_core.settings import Settings
from nyx_core.workspace import Workspace


def get_workspace() -> Workspace:
    return Workspace.open()


def get_settings() -> Settings:
    return Settings.load(get_workspace().root)
