"""`nyx lora …`: look inside, edit, resize, merge, bake and try LoRA files.

    nyx lora info FILE [--json]
    nyx lora edit FILE [OUT] --set title=… --set trigger=…
    nyx lora resize IN OUT --rank N [--dynamic sv_ratio|sv_fro|sv_cumulative --param X] [--precision fp16]
    nyx lora merge OUT IN[:WEIGHT] … [--rank N]
    nyx lora bake CKPT LORA[:WEIGHT] … OUT
    nyx lora try FILE --prompt … [--strength 0,0.5,1] [--epochs all] [--wait]
                  [--t5xxl FILE --clip-l FILE --ae FILE (Flux) / --clip-g FILE (SD3)]
"""
from __future__ import annotations

import argparse
import sys

from nyx_core.cli.common import print_json, settings, workspace
from nyx_core.errors import NyxError
from nyx_core.fsutil import human_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lora", help="inspect, edit, resize, merge, bake and try LoRA files")
    lsub = p.add_subparsers(dest="lora_command", required=True)

    i = lsub.add_parser("info", help="metadata, tags, tensors and kind of a .safetensors file (header only)")
    i.add_argument("file")
    i.add_argument("--json", action="store_true", help="every metadata key, the tensor count and the kind")
    i.add_argument("--tensors", action="store_true", help="also list every tensor")
    i.set_defaults(func=_info)

    e = lsub.add_parser("edit", help="write a copy with edited user metadata (the original is kept)")
    e.add_argument("file")
    e.add_argument("out", nargs="?", help="new file (default: NAME-edited.safetensors)")
    e.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="title, author, description, trigger, license, tags or comment (empty value removes)")
    e.set_defaults(func=_edit)

    r = lsub.add_parser("resize", help="reduce a LoRA's rank (as sd-scripts' resize_lora.py, faster)")
    r.add_argument("input")
    r.add_argument("output")
    r.add_argument("--rank", type=int, required=True, help="new rank (the upper bound with --dynamic)")
    r.add_argument("--conv-rank", type=int, help="rank for conv modules (default: --rank)")
    r.add_argument("--dynamic", choices=("sv_ratio", "sv_fro", "sv_cumulative"))
    r.add_argument("--param", type=float, help="the dynamic method's parameter")
    r.add_argument("--precision", choices=("fp16", "bf16", "fp32"), default="fp16")
    r.add_argument("--verbose", action="store_true", help="print every module's kept rank and retention")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_resize)

    m = lsub.add_parser("merge", help="merge LoRAs of one family (concatenate ranks, or SVD to --rank)")
    m.add_argument("output")
    m.add_argument("inputs", nargs="+", metavar="IN[:WEIGHT]")
    m.add_argument("--rank", type=int, help="SVD to this rank (default: concatenate, exact)")
    m.add_argument("--conv-rank", type=int)
    m.add_argument("--precision", choices=("fp16", "bf16", "fp32"), default="fp16")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_merge)

    b = lsub.add_parser("bake", help="bake LoRAs into an SD1.5/SDXL checkpoint at a strength")
    b.add_argument("checkpoint")
    b.add_argument("items", nargs="+", metavar="LORA[:WEIGHT] … OUT")
    b.add_argument("--precision", choices=("fp16", "bf16", "fp32"), help="default: keep each tensor's dtype")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_bake)

    t = lsub.add_parser("try", help="render a grid of prompts × strengths (× epochs) as a job")
    t.add_argument("file")
    t.add_argument("--prompt", action="append", default=[], help="a prompt (repeat; default: the run's sample prompts)")
    t.add_argument("--strength", default="0,0.5,0.75,1", help="comma-separated LoRA strengths")
    t.add_argument("--epochs", default="", help="'all' for every epoch file of the run, or a comma list of epochs")
    t.add_argument("--base", help="base model (default: the run's pretrained model)")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--steps", type=int, help="default 20 (Flux schnell: 4)")
    t.add_argument("--size", help="WxH (default: 512x512 SD1.5/SD2, 1024x1024 SDXL/Flux/SD3)")
    t.add_argument("--cfg", type=float, help="CFG scale (default: 7; Flux 1 = none; SD3 5)")
    t.add_argument("--negative", default="", help="negative prompt")
    enc = t.add_argument_group("Flux and SD3 (default: the run's own files)")
    for name, what in (("clip-l", "CLIP-L text encoder"), ("clip-g", "CLIP-G text encoder (SD3)"),
                       ("t5xxl", "T5-XXL text encoder"), ("ae", "Flux autoencoder")):
        enc.add_argument(f"--{name}", metavar="FILE", help=what)
    enc.add_argument("--guidance", type=float, help="Flux guidance (default 3.5)")
    enc.add_argument("--precision", choices=("bf16", "fp16", "fp32"), default="bf16")
    enc.add_argument("--offload", action="store_true", help="keep models on the CPU between uses (less GPU memory)")
    t.add_argument("--wait", action="store_true")
    t.set_defaults(func=_try)


def _path(ws, text: str, must_exist: bool = True):
    return ws.resolve(text, must_exist=must_exist)


def _out_path(ws, text: str):
    p = ws.resolve(text)
    if not p.parent.is_dir():
        raise NyxError(f"folder does not exist: {ws.relative(p.parent)}")
    if p.suffix != ".safetensors":
        raise NyxError(f"the output must be a .safetensors file: {text}")
    return p


def _info(args) -> int:
    from nyx_core.lora import inspect

    ws = workspace(args)
    info = inspect(_path(ws, args.file))
    if args.json:
        data = info.to_json()
        if not args.tensors:
            data.pop("tensors")
        print_json(data)
        return 0
    rank = f", rank {info.rank}" if info.rank else ""
    conv = f", conv rank {info.conv_rank}" if info.conv_rank else ""
    print(f"{info.path.name}: {info.kind} for {info.family}{rank}{conv} — {info.modules} modules, "
          f"{len(info.tensors)} tensors, {info.params:,} parameters, {human_size(info.file_size)}")
    for k, v in info.summary.items():
        print(f"  {k:22} {v}")
    if info.tags:
        print("  tags: " + ", ".join(f"{t} ({n})" for t, n in info.tags[:30]))
    if args.tensors:
        for t in info.tensors:
            print(f"  {t.name}\t{t.dtype}\t{list(t.shape)}")
    return 0


def _edit(args) -> int:
    from nyx_core.lora import edited, write_with_metadata
    from nyx_core.lora.metadata import default_edited_name
    from nyx_core.lora.st import read_header

    ws = workspace(args)
    src = _path(ws, args.file)
    changes = {}
    for item in args.set:
        field, sep, value = item.partition("=")
        if not sep:
            raise NyxError(f"--set needs FIELD=VALUE, got {item!r}")
        changes[field.strip()] = value
    if not changes:
        raise NyxError("nothing to change: give --set FIELD=VALUE")
    dest = _out_path(ws, args.out) if args.out else default_edited_name(src)
    md = edited(read_header(src).metadata, changes)
    write_with_metadata(src, dest, md)
    print(ws.relative(dest))
    return 0


def _progress_printer(enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None

    def show(done, total, msg=""):
        sys.stderr.write(f"\r{done}/{total} {msg[:60]:60}")
        if done >= total:
            sys.stderr.write("\n")
    return show


def _resize(args) -> int:
    from nyx_core.lora.resize import ResizeOptions, resize_file

    ws = workspace(args)
    src = _path(ws, args.input)
    dest = _out_path(ws, args.output)
    if dest == src:
        raise NyxError("write the resized LoRA to a new file: the original is kept")
    opts = ResizeOptions(rank=args.rank, conv_rank=args.conv_rank, dynamic=args.dynamic, param=args.param,
                         precision=args.precision)
    res = resize_file(src, dest, opts, progress=_progress_printer(not args.json))
    if args.json:
        print_json(res.to_json())
        return 0
    if args.verbose:
        for m in res.modules:
            print(f"{m.name:75} rank {m.old_rank}→{m.new_rank} alpha {m.alpha:g} fro {m.fro_retained:.1%}")
    ranks = sorted({m.new_rank for m in res.modules})
    print(f"{ws.relative(dest)}: {len(res.modules)} modules, rank {res.old_rank} → "
          f"{ranks[0] if len(ranks) == 1 else f'{ranks[0]}–{ranks[-1]}'}, mean Frobenius retained "
          f"{res.mean_fro:.1%}, {res.seconds:.2f} s")
    return 0


def _merge(args) -> int:
    from nyx_core.lora.merge import MergeInput, merge_files, parse_inputs

    ws = workspace(args)
    dest = _out_path(ws, args.output)
    inputs = [MergeInput(str(_path(ws, i.path)), i.weight) for i in parse_inputs(args.inputs)]
    if any(dest == ws.resolve(i.path) for i in inputs):
        raise NyxError("the output must be a new file, not one of the inputs")
    res = merge_files(inputs, dest, rank=args.rank, conv_rank=args.conv_rank, precision=args.precision,
                      progress=_progress_printer(not args.json))
    if args.json:
        print_json(res)
    else:
        print(f"{ws.relative(dest)}: {res['method']} of {len(inputs)} LoRAs, {res['modules']} modules, "
              f"rank {res['rank']}, {res['seconds']:.2f} s")
    return 0


def _bake(args) -> int:
    from nyx_core.lora.bake import bake
    from nyx_core.lora.merge import parse_inputs

    ws = workspace(args)
    if len(args.items) < 2:
        raise NyxError("give at least one LORA[:WEIGHT] and the output file")
    ckpt = _path(ws, args.checkpoint)
    dest = _out_path(ws, args.items[-1])
    loras = [(str(_path(ws, i.path)), i.weight) for i in parse_inputs(args.items[:-1])]
    if dest == ckpt:
        raise NyxError("the output must be a new file: the checkpoint is kept")
    res = bake(ckpt, loras, dest, precision=args.precision, progress=_progress_printer(not args.json))
    if args.json:
        print_json(res)
    else:
        parts = ", ".join(f"{p} {n}" for p, n in sorted(res["baked_by_part"].items()))
        print(f"{ws.relative(dest)}: {res['modules_baked']} LoRA modules baked ({parts}) into "
              f"{res['layers_changed']} layers, {res['seconds']:.1f} s")
        if res["not_found_count"]:
            more = res["not_found_count"] - len(res["modules_not_found"])
            print(f"{res['not_found_count']} LoRA module(s) match no layer of this checkpoint and were left out:")
            for name in res["modules_not_found"]:
                print(f"  {name}")
            if more:
                print(f"  … and {more} more")
    return 0


def _try(args) -> int:
    from nyx_core.jobs import JobManager
    from nyx_core.lora.tryit import TryRequest, submit_try

    ws = workspace(args)
    jm = JobManager(ws, settings(ws))
    try:
        strengths = [float(s) for s in args.strength.split(",") if s.strip()]
        w, h = (int(x) for x in args.size.lower().split("x")) if args.size else (None, None)
    except ValueError:
        raise NyxError("--strength is a comma list of numbers and --size is WxH, e.g. 512x512") from None
    req = TryRequest(lora=str(_path(ws, args.file)), prompts=args.prompt, strengths=strengths,
                     epochs=args.epochs, base=args.base, seed=args.seed, steps=args.steps, width=w, height=h,
                     scale=args.cfg, negative=args.negative, clip_l=args.clip_l, clip_g=args.clip_g,
                     t5xxl=args.t5xxl, ae=args.ae, guidance=args.guidance, precision=args.precision,
                     offload=args.offload)
    job = submit_try(jm, req)
    print(f"{job.id}\t{job.state.value}")
    if not args.wait:
        return 0
    job = jm.wait(job.id, None)
    st = jm.progress(job.id)
    if st.result:
        print(st.result.get("grid", ""))
    if job.state.value != "completed":
        reason = st.errors[-1].get("message") if st.errors else (job.status.reason or job.state.value)
        print(f"error: {reason}", file=sys.stderr)
        return 1
    return 0
