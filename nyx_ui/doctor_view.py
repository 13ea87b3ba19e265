"""The System section of the Settings page: `nyx doctor`'s checks as a table with the fixes."""
from __future__ import annotations

import streamlit as st

from nyx_core import doctor
from nyx_core.settings import Settings
from nyx_core.workspace import Workspace

# Words, not emoji: a pod's browser may have no emoji font.
ICON = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "info": "info"}


def quick(ws: Workspace, settings: Settings) -> list[doctor.Check]:
    return doctor.quick_checks(ws, settings).checks


def deep(settings: Settings) -> list[doctor.Check]:
    return doctor.deep_checks(settings)


def show(checks: list[doctor.Check]) -> None:
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        st.error(f"Not ready to train: {len(failed)} check(s) failed. The fix is next to each.")
    rows = [{"": ICON[c.status], "check": c.name, "detail": c.detail, "fix": c.fix if c.status != "ok" else ""}
            for c in checks]
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={"detail": st.column_config.TextColumn(width="large"),
                                "fix": st.column_config.TextColumn(width="large")})
