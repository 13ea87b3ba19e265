"""Progress for counted work done inside a page run (writing captions, checking images …).

A callback that redraws a Streamlit progress bar on every file costs a message per file (10,000
captions: 10,000 redraws); ``counted`` redraws at most ``every_s`` apart, and always at the end.
"""
from __future__ import annotations

import time
from typing import Any, Callable


def counted(bar: Any, label: str, every_s: float = 0.1,
            clock: Callable[[], float] = time.monotonic) -> Callable[..., None]:
    """A ``progress(done, total[, name])`` callback drawing on ``bar`` (``st.progress(...)``)."""
    last = [float("-inf")]

    def tick(done: int, total: int, *rest: Any) -> None:
        now = clock()
        if done < total and now - last[0] < every_s:
            return
        last[0] = now
        extra = f" · {rest[0]}" if rest and rest[0] else ""
        bar.progress(min(done / max(total, 1), 1.0), text=f"{label} {done}/{total}{extra}")

    return tick
