"""Benchmark: resize the shared dim-8 SD1.5 LoRA to rank 4, Nyx vs sd-scripts' resize_lora.py.

    python bench/lora.py                      # Nyx's time (always); sd-scripts' when it is set up
    python bench/lora.py --repeat 5
    python bench/lora.py --sd-scripts /tmp/kohya-cpu/sd-scripts --python /tmp/kohya-cpu/venv/bin/python
    python bench/lora.py --no-sd-scripts      # Nyx only

sd-scripts is found from --sd-scripts/--python, else NYX_SD_SCRIPTS/NYX_SD_SCRIPTS_PYTHON, else
$KOHYA_WORK (default /tmp/kohya-cpu) as ../shared/tools/real_sdscripts_cpu.sh lays it out. It
runs under ``flock /tmp/kohya-run.lock`` (one heavy sd-scripts process at a time on a shared
machine). Nyx's figure is the median of --repeat runs, in a fresh process each (import time
included), wall and CPU; sd-scripts runs once (it takes minutes). The output files are compared
module by module (relative Frobenius error of up·down·alpha/rank) so the ratio is between two
programs that produced the same result.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LORA = REPO.parent / "shared" / "kohya" / "lora" / "sd15_lora_dim8_bucket_ga2.safetensors"
RANK = 4

NYX_ONE = """
import sys, time, resource
t0 = time.perf_counter()
from nyx_core.lora.resize import ResizeOptions, resize_file
resize_file(sys.argv[1], sys.argv[2], ResizeOptions(rank=int(sys.argv[3]), precision="fp32"))
ru = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - t0, ru.ru_utime + ru.ru_stime)
"""


def nyx_times(src: Path, out: Path, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for _ in range(repeat):
        r = subprocess.run([sys.executable, "-c", NYX_ONE, str(src), str(out), str(RANK)], capture_output=True,
                           text=True, env=env, check=True)
        wall, cpu = (float(x) for x in r.stdout.split())
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def find_sd_scripts(args) -> tuple[Path, Path] | None:
    work = Path(os.environ.get("KOHYA_WORK", "/tmp/kohya-cpu"))
    sd = Path(args.sd_scripts or os.environ.get("NYX_SD_SCRIPTS") or work / "sd-scripts")
    py = Path(args.python or os.environ.get("NYX_SD_SCRIPTS_PYTHON") or work / "venv" / "bin" / "python")
    if (sd / "networks" / "resize_lora.py").is_file() and py.is_file():
        return sd, py
    return None


def sd_scripts_time(sd: Path, py: Path, src: Path, out: Path) -> float:
    work = Path(os.environ.get("KOHYA_WORK", "/tmp/kohya-cpu"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(sd), str(work / "shim")) if p))
    argv = [str(py), "networks/resize_lora.py", "--model", str(src), "--save_to", str(out), "--new_rank", str(RANK)]
    if shutil.which("flock"):
        argv = ["flock", "/tmp/kohya-run.lock", *argv]
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=sd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"sd-scripts failed ({r.returncode}): {r.stderr[-800:]}")
    return wall


def max_rel_error(a: Path, b: Path) -> float:
    import numpy as np

    from nyx_core.lora import st
    from nyx_core.lora.resize import lora_pairs

    ha, hb = st.read_header(a), st.read_header(b)
    worst = 0.0
    for mod, (dk, uk) in lora_pairs(hb.tensors).items():
        def w(h):
            d = st.read_tensor(h, dk).astype(np.float64)
            u = st.read_tensor(h, uk).astype(np.float64)
            r = d.shape[0]
            alpha = float(st.read_tensor(h, f"{mod}.alpha").reshape(-1)[0])
            return u.reshape(u.shape[0], r) @ d.reshape(r, -1) * (alpha / r)
        wa, wb = w(ha), w(hb)
        worst = max(worst, float(np.linalg.norm(wa - wb) / max(np.linalg.norm(wb), 1e-30)))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=LORA)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sd-scripts")
    ap.add_argument("--python")
    ap.add_argument("--no-sd-scripts", action="store_true")
    ap.add_argument("--sd-scripts-seconds", type=float,
                    help="use this recorded sd-scripts time instead of running it (e.g. from a busy machine)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.input.is_file():
        print(f"no input LoRA at {args.input} (../shared/kohya/lora)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="nyx-bench-lora-"))
    try:
        ours = tmp / "nyx.safetensors"
        wall, cpu = nyx_times(args.input, ours, args.repeat)
        report = {"input": args.input.name, "rank": RANK, "nyx_wall_s": round(wall, 3), "nyx_cpu_s": round(cpu, 3),
                  "nproc": os.cpu_count(), "load_avg": os.getloadavg()[0]}
        print(f"Nyx: resize {args.input.name} to rank {RANK}: {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"(median of {args.repeat}, fresh process each; load average {report['load_avg']:.1f})")
        sd_wall = args.sd_scripts_seconds
        found = None if args.no_sd_scripts else find_sd_scripts(args)
        if sd_wall is None and found:
            theirs = tmp / "sd.safetensors"
            print("sd-scripts: running networks/resize_lora.py (minutes) …", flush=True)
            sd_wall = sd_scripts_time(*found, args.input, theirs)
            err = max_rel_error(ours, theirs)
            report["max_rel_fro_error"] = err
            print(f"sd-scripts: {sd_wall:.1f} s wall; largest per-module relative Frobenius difference {err:.2e}")
        elif sd_wall is None:
            print("sd-scripts: not set up here (no side-by-side ratio); see ../shared/tools/README.md")
        if sd_wall:
            report["sd_scripts_wall_s"] = round(sd_wall, 2)
            report["ratio"] = round(sd_wall / wall, 1)
            print(f"side by side: sd-scripts {sd_wall:.1f} s vs Nyx {wall:.2f} s → {sd_wall / wall:.0f}× faster")
        if args.json:
            print(json.dumps(report))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
