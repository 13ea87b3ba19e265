"""Pay the server's heavy imports and first scans once, in the background, right after the first page.

Python caches a module after its first import, so pandas, plotly and the grid component cost
their ~1–2 s only once per server process; but without this, that once lands on whichever page
the user opens second. Started from app.py *after* the first page's script has run (so it never
competes with that page for the CPU), it imports the other views and then reads what pages
read first on a large workspace (every dataset's layout, the job list, past runs' speeds) into
nyx_core's modification-time caches, so a first visit to those pages is served from memory.
Only view modules and their libraries are imported: never torch, onnxruntime or transformers
(those live in job processes), and never a custom component (see ``COMPONENTS``).
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

LIBRARIES = ("pandas", "plotly.graph_objects", "plotly.express", "PIL.Image")
#: Streamlit custom components register with the runtime only when first imported on a script
#: thread (declare_component skips registration without a script context), so a component
#: imported here would show "Component not found" for the rest of the server's life.
COMPONENTS = ("st_aggrid",)
#: the warm-up steps aside while a page script runs, but never waits longer than this per step
MAX_WAIT_S = 30.0
_lock = threading.Lock()
_started = False
_pages_running = 0
_quiet = threading.Condition(_lock)


@contextmanager
def page_running() -> Iterator[None]:
    """Wrap a page's script run: the warm-up waits (between two imports or scans) while any page
    runs, so a user's page never shares the CPU with it. One import already under way finishes."""
    global _pages_running
    with _lock:
        _pages_running += 1
    try:
        yield
    finally:
        with _lock:
            _pages_running -= 1
            _quiet.notify_all()


def _wait_for_quiet(max_wait_s: float = MAX_WAIT_S) -> None:
    deadline = time.monotonic() + max_wait_s
    with _lock:
        while _pages_running > 0 and (left := deadline - time.monotonic()) > 0:
            _quiet.wait(left)


def view_modules() -> list[str]:
    import nyx_ui

    return [f"nyx_ui.{m.name}" for m in pkgutil.iter_modules(nyx_ui.__path__) if m.name != "warmup"]


def start() -> bool:
    """Start the warm-up thread once per process; False when it already ran or is running."""
    global _started
    with _lock:
        if _started:
            return False
        _started = True
    threading.Thread(target=_run, name="nyx-warmup", daemon=True).start()
    return True


def _run() -> None:
    for name in (*LIBRARIES, *view_modules()):
        _wait_for_quiet()
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional view must not matter here
            pass
    prefill_scans()


def prefill_scans() -> None:
    """Read into the stamp caches what the pages read first: the same calls, so the same keys.
    Reads only; a workspace that cannot be opened is simply left for the pages to report."""
    from nyx_core.datasets.layout import list_datasets
    from nyx_core.jobs.store import JobStore
    from nyx_core.steps import speeds_from_jobs
    from nyx_core.workspace import Workspace

    ws = Workspace.peek()  # the pages' workspace (Workspace.open() without a root); creates nothing
    if not ws.exists:
        return
    for read in (lambda: list_datasets(ws), lambda: JobStore(ws.jobs).list(), lambda: speeds_from_jobs(ws.jobs)):
        _wait_for_quiet()
        try:
            read()
        except Exception:  # noqa: BLE001 - warming is best effort; the page shows the real error
            pass
