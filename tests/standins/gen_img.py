"""Stand-in for sd-scripts' gen_img.py (tests only): the same command line, cheap images.

Reads --from_file prompt lines with sd-scripts' per-prompt options (--am strength, --f file name,
--w/--h size, --d seed) and writes one PNG per line whose colour encodes the strength, so a test
can check that each grid cell got its own strength. NYX_STANDIN_FAIL=1 makes it exit 3.
"""
import argparse
import os
import sys

from PIL import Image

p = argparse.ArgumentParser()
for flag in ("--ckpt", "--outdir", "--from_file", "--network_module", "--network_weights", "--sampler"):
    p.add_argument(flag, required=flag in ("--ckpt", "--outdir", "--from_file"))
for flag in ("--network_mul",):
    p.add_argument(flag, type=float, nargs="*")
for flag in ("--images_per_prompt", "--steps", "--W", "--H", "--seed", "--batch_size"):
    p.add_argument(flag, type=int)
p.add_argument("--sdxl", action="store_true")
p.add_argument("--v2", action="store_true")
args, extra = p.parse_known_args()
if os.environ.get("NYX_STANDIN_FAIL"):
    print("RuntimeError: stand-in asked to fail", flush=True)
    sys.exit(3)
assert os.path.isfile(args.network_weights), args.network_weights
lines = [l for l in open(args.from_file, encoding="utf-8").read().splitlines() if l.strip()]
print(f"loading model {args.ckpt}", flush=True)
for i, line in enumerate(lines):
    parts = line.split(" --")
    opts = dict((o.split(" ", 1) + [""])[:2] for o in parts[1:])
    am = float(opts.get("am", "1"))
    w, h = int(opts.get("w", args.W or 64)), int(opts.get("h", args.H or 64))
    name = opts.get("f") or f"im_{i:06d}.png"
    shade = int(max(0.0, min(1.0, am)) * 255)
    Image.new("RGB", (w, h), (shade, 0, 255 - shade)).save(os.path.join(args.outdir, name))
    print(f"prompt {i + 1}/{len(lines)}: {parts[0]!r} mul {am}", flush=True)
