"""The server's background warm-up imports views and their libraries, never the heavy ML ones and
never a custom component (it would not register with the runtime off the script thread)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_warmup_loads_views_but_no_ml_library():
    code = (
        "import sys, time\n"
        "from nyx_ui import warmup\n"
        "assert warmup.start() and not warmup.start()\n"
        "t = [x for x in __import__('threading').enumerate() if x.name == 'nyx-warmup'][0]\n"
        "t.join(120)\n"
        "missing = [m for m in warmup.view_modules() + list(warmup.LIBRARIES) if m not in sys.modules]\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'transformers') + warmup.COMPONENTS if m in sys.modules]\n"
        "print(missing, heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[] []"


def test_warmup_reads_the_workspace_scans_into_the_caches_the_pages_use(tmp_path):
    # a first visit to Home or Datasets on a large workspace is served from memory: the warm-up
    # read every dataset's layout and the job list with the same calls (same cache keys)
    import os
    import time

    from nyx_core.datasets.manager import create_dataset
    from nyx_core.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    for name in ("alpha", "beta"):
        folder = create_dataset(ws, name, "thing", 3).concepts[0].folder
        (folder / "a.png").write_bytes(b"x")
    old = time.time() - 3600  # past the cache's same-tick guard (nyx_core/cache.py RACY_S)
    for p in ws.root.rglob("*"):
        os.utime(p, (old, old))
    code = (
        "import threading\n"
        "from nyx_ui import warmup\n"
        "warmup.start()\n"
        "[t for t in threading.enumerate() if t.name == 'nyx-warmup'][0].join(120)\n"
        "from nyx_core.datasets import layout\n"
        "from nyx_core.workspace import Workspace\n"
        "misses = layout._SCANS.misses\n"
        "found = layout.list_datasets(Workspace.open())\n"
        "print([d.image_count for d in found], layout._SCANS.misses - misses)\n"
    )
    env = {**os.environ, "NYX_WORKSPACE": str(ws.root)}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[1, 1] 0"


def test_warmup_creates_no_workspace(tmp_path):
    import os

    env = {**os.environ, "NYX_WORKSPACE": str(tmp_path / "none")}
    code = ("import threading\nfrom nyx_ui import warmup\nwarmup.start()\n"
            "[t for t in threading.enumerate() if t.name == 'nyx-warmup'][0].join(120)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "none").exists()


def test_warmup_waits_while_a_page_runs_and_goes_on_when_it_ends():
    import threading

    from nyx_ui import warmup

    done = threading.Event()
    with warmup.page_running():
        waiter = threading.Thread(target=lambda: (warmup._wait_for_quiet(max_wait_s=600), done.set()), daemon=True)
        waiter.start()
        waiter.join(0.3)
        assert not done.is_set()  # cannot be set: it may only go on once no page is running
    waiter.join(60)
    assert done.is_set()
