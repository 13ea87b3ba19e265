"""Tables for st.dataframe, with pandas imported only when a table is drawn.

pandas costs ~0.5 s (more on a busy machine) the first time a server imports it. A page that
imports it at the top pays that before its title; through ``frame`` it is paid where a table is
shown, further down the page (and usually never, since nyx_ui.warmup has loaded it by then).
"""
from __future__ import annotations

from typing import Any


def frame(data: Any, columns: list[str] | None = None) -> Any:
    """``pandas.DataFrame(data, columns=columns)``."""
    import pandas as pd

    return pd.DataFrame(data, columns=columns)
