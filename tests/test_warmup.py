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
