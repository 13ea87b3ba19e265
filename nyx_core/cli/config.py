"""`nyx config …`: create, validate, render, count steps, import, list presets."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nyx_core.cli.common import print_json, settings, workspace
from nyx_core.config import load_config, new_config, save_config, steps_for, validate
from nyx_core.config.enums import Family
from nyx_core.config.io import config_path
from nyx_core.config.model import ConfigError
from nyx_core.errors import PathError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="training configs: create, check, render for sd-scripts, import")
    cs = p.add_subparsers(dest="config_command", required=True)

    q = cs.add_parser("new", help="create configs/NAME.toml")
    q.add_argument("name")
    q.add_argument("--family", choices=[f.value for f in Family], default="sd15")
    q.add_argument("--preset", help="character, style, concept, a preset id, or user:<name>")
    q.add_argument("--low-vram", action="store_true", help="use the preset's low-VRAM variant")
    q.add_argument("--dataset", help="dataset name (a folder in workspace/datasets)")
    q.add_argument("--base-model", help="checkpoint in workspace/models (or a workspace path / Hub id)")
    q.add_argument("--force", action="store_true", help="overwrite an existing config")
    q.set_defaults(func=cmd_new)

    q = cs.add_parser("validate", help="pre-flight check; exit 1 listing every error")
    q.add_argument("file", help="config name or workspace path")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_validate)

    q = cs.add_parser("render", help="write sd-scripts' config.toml, dataset.toml, prompts and argv.json")
    q.add_argument("file")
    q.add_argument("--out", required=True, help="folder inside the workspace")
    q.set_defaults(func=cmd_render)

    q = cs.add_parser("steps", help="the exact number of steps sd-scripts will run")
    q.add_argument("file")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_steps)

    q = cs.add_parser("import", help="import an sd-scripts .toml (+ dataset .toml) or a kohya_ss .json")
    q.add_argument("file")
    q.add_argument("--dataset-config", help="the sd-scripts --dataset_config TOML")
    q.add_argument("--name", required=True, help="name of the new Nyx config")
    q.add_argument("--family", choices=[f.value for f in Family], help="default: guessed")
    q.add_argument("--force", action="store_true")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_import)

    q = cs.add_parser("presets", help="list presets")
    q.add_argument("--family", choices=[f.value for f in Family])
    q.set_defaults(func=cmd_presets)


def _target(ws, name: str, force: bool) -> Path:  # noqa: ANN001
    path = config_path(ws, name)
    if path.exists() and not force:
        raise ConfigError(f"{ws.relative(path)} already exists; pick another name or pass --force")
    return path


def cmd_new(args: argparse.Namespace) -> int:
    from nyx_core.config.presets import apply_preset, preset_for

    ws = workspace(args)
    path = _target(ws, args.name, args.force)
    groups: dict = {}
    if args.dataset:
        groups["dataset"] = {"name": args.dataset}
    if args.base_model:
        groups["model"] = {"base_model": args.base_model}
    cfg = new_config(Path(args.name).stem, args.family, **groups)
    if args.preset:
        cfg = apply_preset(cfg, preset_for(args.family, args.preset, low_vram=args.low_vram, ws=ws))
    save_config(cfg, path)
    print(f"wrote {ws.relative(path)}")
    problems = validate(cfg, ws, settings(ws))
    if problems:
        print(f"{sum(p.level == 'error' for p in problems)} error(s) to fix before training "
              f"(`nyx config validate {ws.relative(path)}`)")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from nyx_core.config.validate import check_text

    ws = workspace(args)
    path = config_path(ws, args.file, must_exist=True)
    # Schema problems (wrong types, unknown keys) and pre-flight problems, listed together.
    _cfg, problems = check_text(path.read_text(encoding="utf-8"), ws, settings(ws), source=path.name)
    if args.json:
        print_json([{"level": p.level, "field": p.field, "label": p.label, "message": p.message} for p in problems])
    else:
        for p in problems:
            print(f"{p.level}: {p.label} [{p.field}]: {p.message}")
        errs = sum(p.level == "error" for p in problems)
        print(f"{errs} error(s), {len(problems) - errs} warning(s)" if problems else "ok: no problems found")
    return 1 if any(p.level == "error" for p in problems) else 0


def cmd_render(args: argparse.Namespace) -> int:
    from nyx_core.kohya.render import export_rendered

    ws = workspace(args)
    cfg = load_config(config_path(ws, args.file, must_exist=True))
    out = ws.resolve(args.out)
    run = export_rendered(cfg, ws=ws, settings=settings(ws), folder=out)
    print(f"wrote {ws.relative(out)}/: config.toml, dataset.toml"
          + (", sample_prompts.txt" if run.sample_prompts else "") + ", argv.json")
    print("run: " + " ".join(_quote(a) for a in run.argv))
    return 0


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def cmd_steps(args: argparse.Namespace) -> int:
    ws = workspace(args)
    cfg = load_config(config_path(ws, args.file, must_exist=True))
    r = steps_for(cfg, ws)
    if args.json:
        print_json({"total_optimization_steps": r.total_optimization_steps, "num_epochs": r.num_epochs,
                    "num_batches_per_epoch": r.num_batches_per_epoch,
                    "num_train_images_x_repeats": r.num_train_images_x_repeats, "num_reg_images": r.num_reg_images,
                    "buckets": [{"resolution": list(b.resolution), "count": b.count, "batches": b.batches}
                                for d in r.datasets for b in d.buckets],
                    "warnings": [str(w) for w in r.warnings]})
        return 0
    print(f"{r.total_optimization_steps} steps = {r.num_epochs} epoch(s) x "
          f"{r.num_update_steps_per_epoch} step(s) per epoch")
    print(f"images x repeats: {r.num_train_images_x_repeats}, reg images: {r.num_reg_images}, "
          f"batches per epoch: {r.num_batches_per_epoch}")
    for d in r.datasets:
        for b in d.buckets:
            print(f"  bucket {b.resolution[0]}x{b.resolution[1]}: {b.count} image(s), {b.batches} batch(es)")
    for w in r.warnings:
        print(f"warning: {w}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from nyx_core.config.importers import import_file

    ws = workspace(args)
    path = _target(ws, args.name, args.force)
    src = _source(ws, args.file)
    ds = _source(ws, args.dataset_config) if args.dataset_config else None
    result = import_file(ws, src, name=Path(args.name).stem, dataset_config=ds, family=args.family)
    save_config(result.config, path)
    if args.json:
        print_json({"config": ws.relative(path), "source": result.source,
                    "notes": [{**n.__dict__, "text": n.plain()} for n in result.notes]})
        return 0
    print(f"wrote {ws.relative(path)} (from a {result.source} config); per key:")
    for line in result.report():
        print(f"  {line}")
    if result.unknown:
        print(f"{len(result.unknown)} setting(s) were not carried over; see above", file=sys.stderr)
    return 0


def _source(ws, value: str) -> Path:  # noqa: ANN001
    """A file to import (read only): relative to the current directory first, as on any command
    line, then a workspace path; an absolute path anywhere on this machine."""
    raw = Path(value).expanduser()
    here = raw if raw.is_absolute() else Path.cwd() / raw
    if here.is_file():
        return here
    try:
        path = ws.resolve(value)
    except PathError:
        path = here
    if not path.is_file():
        raise ConfigError(f"no file {value!r} (looked in {Path.cwd()} and the workspace)")
    return path


def cmd_presets(args: argparse.Namespace) -> int:
    from nyx_core.config.presets import list_presets

    ws = workspace(args)
    for p in list_presets(ws, args.family):
        print(f"{p.id:40} {p.description}")
    return 0
