"""Record the numbers tests/test_lora_resize.py checks, from resize_lora.py's output files.

    python tests/data/record_lora_reference.py /tmp/i12-ref > tests/data/lora_resize_reference.json

The folder holds ``<case>.safetensors`` written by sd-scripts' ``networks/resize_lora.py`` at the
pinned commit (the commands are in tests/data/README_lora.md). Only numbers are kept, no code.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nyx_core.lora import st  # noqa: E402
from tests.lora_fixtures import module_facts  # noqa: E402
from tests.test_lora_resize import CASES  # noqa: E402


def main(folder: str) -> None:
    out = {"sd_scripts_commit": "48d368fa557731ad0488c07304dfeba8c07910eb", "cases": {}}
    times = {}
    tf = Path(folder) / "times.jsonl"
    if tf.is_file():
        for line in tf.read_text().splitlines():
            d = json.loads(line)
            times[d["name"]] = d["wall_s"]
    for case in CASES:
        f = Path(folder) / f"{case}.safetensors"
        if not f.is_file():
            continue
        h = st.read_header(f)
        facts = module_facts(h)
        for v in facts.values():
            v["sv"] = [float(f"{x:.9g}") for x in v["sv"]]
            v["probes"] = [float(f"{x:.9g}") for x in v["probes"]]
            v["fro"] = float(f"{v['fro']:.9g}")
            v.pop("probe_scale", None)
        out["cases"][case] = {
            "sd_scripts_wall_s": times.get(case),
            "metadata": {k: h.metadata.get(k) for k in ("ss_network_dim", "ss_network_alpha", "ss_training_comment")},
            "dtypes": sorted({e.dtype for e in h.tensors.values()}),
            "modules": facts}
    json.dump(out, sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
