"""A stand-in for sd-scripts' inference scripts ``gen_img.py``, ``flux_minimal_inference.py`` and
``sd3_minimal_inference.py``, for tests, the notebook and the e2e: the same command line, the same
``--interactive`` dialogue, files named the way those scripts name them, cheap images, no model.

    python -m nyx_dev.standin_infer gen_img|flux|sd3 [the script's arguments]

``gen_img`` reads ``--from_file`` prompt lines with sd-scripts' per-prompt options (``--am``
strength, ``--f`` file name, ``--w``/``--h`` size) and writes one PNG per line whose colour
encodes the strength (red = strength, blue = 1 − strength).

The command line is parsed strictly (an argument the real script lacks is an error, exit 2),
the model, encoder and LoRA files must exist (the real scripts fail on a missing one), and each
image is written as ``output_dir/YYYYMMDD_HHMMSS.png`` — one-second names, as the real scripts do,
so a caller that lets two images land in the same second loses one, exactly as with sd-scripts.

The colour of an image encodes what produced it: red = the largest LoRA multiplier (0–1 → 0–255),
green = 40 × (1 + the index of that LoRA) when a multiplier is non-zero, blue = 255 − red. A test can
so check that each grid cell got its own strength and its own epoch file.

Environment: ``NYX_STANDIN_FAIL=1`` exits 3 after "loading"; ``NYX_STANDIN_FAIL_AT=N`` raises
on the N-th image (1-based), as a real out-of-memory would.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys

FLUX_SIZE = (1360, 768)  # what flux_minimal_inference.py's interactive loop starts from


def _parser(kind: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{kind}_minimal_inference.py")
    p.add_argument("--ckpt_path", required=True)
    p.add_argument("--clip_l")
    p.add_argument("--t5xxl")
    p.add_argument("--prompt", default="A photo of a cat")
    p.add_argument("--output_dir", default=".")
    p.add_argument("--seed", type=int, default=None if kind == "flux" else 1)
    p.add_argument("--steps", type=int, default=None if kind == "flux" else 50)
    p.add_argument("--negative_prompt", default=None if kind == "flux" else "")
    p.add_argument("--cfg_scale", type=float, default=1.0 if kind == "flux" else 5.0)
    p.add_argument("--offload", action="store_true")
    p.add_argument("--lora_weights", nargs="*", default=[])
    p.add_argument("--merge_lora_weights", action="store_true")
    p.add_argument("--width", type=int, default=FLUX_SIZE[0] if kind == "flux" else 1024)
    p.add_argument("--height", type=int, default=FLUX_SIZE[1] if kind == "flux" else 1024)
    p.add_argument("--interactive", action="store_true")
    if kind == "flux":
        p.add_argument("--model_type", choices=["flux", "chroma"], default="flux")
        p.add_argument("--ae")
        p.add_argument("--apply_t5_attn_mask", action="store_true")
        for name in ("--dtype", "--clip_l_dtype", "--ae_dtype", "--t5xxl_dtype", "--flux_dtype"):
            p.add_argument(name)
        p.add_argument("--guidance", type=float, default=3.5)
    else:
        p.add_argument("--clip_g")
        p.add_argument("--t5xxl_token_length", type=int, default=256)
        p.add_argument("--apply_lg_attn_mask", action="store_true")
        p.add_argument("--apply_t5_attn_mask", action="store_true")
        p.add_argument("--fp16", action="store_true")
        p.add_argument("--bf16", action="store_true")
    return p


def _need(path: str | None, what: str) -> None:
    if not path or not os.path.isfile(path):
        print(f"FileNotFoundError: {what}: {path!r}", flush=True)
        sys.exit(1)


def _save(out_dir: str, width: int, height: int, multipliers: list[float]) -> str:
    from PIL import Image

    top = max(multipliers, default=0.0)
    red = int(max(0.0, min(1.0, top)) * 255)
    green = 40 * (1 + multipliers.index(top)) if top else 0
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{datetime.datetime.now().strftime('%Y%m%d_%H%M%S')}.png")
    Image.new("RGB", (max(8, width // 16), max(8, height // 16)), (red, min(255, green), 255 - red)).save(path)
    return path


def gen_img(argv: list[str]) -> int:
    from PIL import Image

    p = argparse.ArgumentParser(prog="gen_img.py")
    for flag in ("--ckpt", "--outdir", "--from_file", "--network_module", "--network_weights", "--sampler"):
        p.add_argument(flag, required=flag in ("--ckpt", "--outdir", "--from_file"))
    p.add_argument("--network_mul", type=float, nargs="*")
    for flag in ("--images_per_prompt", "--steps", "--W", "--H", "--seed", "--batch_size"):
        p.add_argument(flag, type=int)
    p.add_argument("--sdxl", action="store_true")
    p.add_argument("--v2", action="store_true")
    args, _ = p.parse_known_args(argv)
    if os.environ.get("NYX_STANDIN_FAIL"):
        print("RuntimeError: stand-in asked to fail", flush=True)
        return 3
    _need(args.network_weights, "network_weights")
    with open(args.from_file, encoding="utf-8") as fh:
        lines = [line for line in fh.read().splitlines() if line.strip()]
    print(f"loading model {args.ckpt}", flush=True)
    for i, line in enumerate(lines):
        parts = line.split(" --")
        opts = dict((o.split(" ", 1) + [""])[:2] for o in parts[1:])
        am = float(opts.get("am", "1"))
        w, h = int(opts.get("w", args.W or 64)), int(opts.get("h", args.H or 64))
        shade = int(max(0.0, min(1.0, am)) * 255)
        Image.new("RGB", (w, h), (shade, 0, 255 - shade)).save(os.path.join(args.outdir, opts.get("f") or f"im_{i:06d}.png"))
        print(f"prompt {i + 1}/{len(lines)}: {parts[0]!r} mul {am}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    kind = argv[0]
    if kind == "gen_img":
        return gen_img(argv[1:])
    args = _parser(kind).parse_args(argv[1:])
    _need(args.ckpt_path, "ckpt_path")
    if kind == "flux":
        if args.model_type == "flux":
            _need(args.clip_l, "clip_l")
        _need(args.t5xxl, "t5xxl")
        _need(args.ae, "ae")
    else:
        for name in ("clip_l", "clip_g", "t5xxl"):
            if getattr(args, name) is not None:
                _need(getattr(args, name), name)
    if os.environ.get("NYX_STANDIN_FAIL"):
        print("RuntimeError: stand-in asked to fail", flush=True)
        return 3
    multipliers = []
    for item in args.lora_weights:
        path, _, mult = item.partition(";")
        _need(path, "lora_weights")
        multipliers.append(float(mult) if mult else 1.0)
        print(f"INFO Loaded LoRA weights from {path}: <All keys matched successfully>", flush=True)
    fail_at = int(os.environ.get("NYX_STANDIN_FAIL_AT", "0") or 0)
    count = 0

    def generate(width: int, height: int) -> None:
        nonlocal count
        count += 1
        if count == fail_at:
            raise RuntimeError("CUDA out of memory (stand-in)")
        print("INFO Generating image...", flush=True)
        print(f"INFO Saved image to {_save(args.output_dir, width, height, multipliers)}", flush=True)

    if not args.interactive:
        generate(args.width, args.height)
        print("INFO Done!", flush=True)
        return 0
    width, height = FLUX_SIZE if kind == "flux" else (args.width, args.height)
    while True:
        print("Enter prompt (empty to exit). Options: --w <width> --h <height> --s <steps> --d <seed> --m <multipliers>",
              flush=True)
        line = input()
        if line == "":
            break
        options = line.split("--")
        for opt in options[1:]:
            opt = opt.strip()
            letter, value = opt[:1], opt[1:].strip()
            try:
                if letter == "w":
                    width = int(value)
                elif letter == "h":
                    height = int(value)
                elif letter in ("s", "d"):
                    int(value)
                elif letter in ("g", "c") and (kind == "flux" or letter == "c"):
                    float(value)
                elif letter == "m":
                    values = value.split(",")
                    if len(values) != len(multipliers):
                        print(f"ERROR Invalid number of multipliers, expected {len(multipliers)}", flush=True)
                        continue
                    multipliers = [float(v) for v in values]
            except ValueError as exc:
                print(f"ERROR Invalid option: {opt}, {exc}", flush=True)
        generate(width, height)
    print("INFO Done!", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
