"""Import configs from other tools into a Nyx ``TrainingConfig``, reporting every key.

Two sources: a plain sd-scripts ``--config_file`` TOML (optionally with its ``--dataset_config``
TOML), and a kohya_ss GUI JSON config (translated the way kohya_ss's GUI would launch it, see
``import_kohya_ss``). Every key ends in exactly one place: a Nyx field, the ``advanced.extra``
table (a real sd-scripts option Nyx has no field for), or the report as not carried over, with
the reason. The starting point is sd-scripts' own defaults (``import_core.import_base``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from nyx_core.config.enums import Family
from nyx_core.config.import_args import (
    SIMPLE,
    apply_args,
    guess_family,
    parse_prompt_line,
    set_resolution,
)
from nyx_core.config.import_core import Builder, ImportNote, ImportResult, import_base
from nyx_core.config.import_kohya_ss import EXPLAINED, RENAMED, gui_family, gui_to_args, parse_gui_json
from nyx_core.config.model import ConfigError
from nyx_core.errors import PathError
from nyx_core.kohya import catalog
from nyx_core.workspace import Workspace

__all__ = ["ImportNote", "ImportResult", "guess_family", "import_file", "import_kohya_gui", "import_sd_scripts",
           "parse_prompt_line"]


def _finish(b: Builder, source: str) -> ImportResult:
    if b.extra:
        merged = {**b.cfg.advanced.extra, **b.extra}
        b.set("extra", merged, "advanced.extra", quiet=True)
    _drop_refused_warmup(b)
    return ImportResult(b.cfg, b.notes, source)


def _drop_refused_warmup(b: Builder) -> None:
    """sd-scripts refuses a warmup with a schedule that has none (constant, Adafactor's own
    relative-step schedule, a custom lr_scheduler_type): the source could not have trained with it."""
    from nyx_core.config.enums import Scheduler, WarmupMode
    from nyx_core.config.validate import adafactor_relative_step

    o = b.cfg.optimizer
    warm = o.warmup_steps if o.warmup_mode is WarmupMode.steps else o.warmup_ratio
    if not warm:
        return
    if adafactor_relative_step(b.cfg):
        which = "Adafactor's own relative-step schedule"
    elif "lr_scheduler_type" in b.cfg.advanced.extra:
        which = "a custom lr_scheduler_type"
    elif o.scheduler is Scheduler.constant:
        which = "the constant scheduler"
    else:
        return
    b.set("lr_warmup_steps", 0, "optimizer.warmup_steps", quiet=True)
    b.set("lr_warmup_steps", 0.0, "optimizer.warmup_ratio", quiet=True)
    b.note("lr_warmup_steps", warm, "unmapped", f"sd-scripts refuses a warmup with {which} (it stops at start), so "
           "the warmup is not carried over")


def _flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """sd-scripts flattens every table into one namespace; a later table wins."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            flat.update(_flatten(value))
        else:
            flat[key] = value
    return flat


def _parse_toml(text: str, what: str) -> dict[str, Any]:
    try:
        return tomlkit.parse(text).unwrap()
    except (TOMLKitError, ValueError, OverflowError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"the {what} is not valid TOML: {first}") from None


def import_sd_scripts(ws: Workspace, config_text: str, dataset_text: str | None = None, *, name: str,
                      family: Family | str | None = None) -> ImportResult:
    args = _flatten(_parse_toml(config_text, "sd-scripts config"))
    fam = Family(family) if family else guess_family(args, ws)
    b = Builder(import_base(name, fam))
    apply_args(b, args, ws, script=catalog.script_for(fam))
    if "seed" not in args:
        b.note("seed", "(not set)", "converted", "without a seed sd-scripts picks a random one each run; Nyx uses "
               f"the fixed seed {b.cfg.project.seed} so runs repeat", "project.seed")
    if dataset_text is None and isinstance(args.get("dataset_config"), str) and args["dataset_config"].strip():
        try:
            dataset_text = ws.resolve(args["dataset_config"], must_exist=True).read_text(encoding="utf-8")
        except (PathError, OSError, UnicodeDecodeError):
            b.note("dataset_config", args["dataset_config"], "unmapped",
                   "dataset file not readable in the workspace; pass it with --dataset-config")
    if dataset_text is not None:
        _apply_dataset_toml(b, ws, _parse_toml(dataset_text, "dataset config"))
    result = _finish(b, "sd-scripts")
    b.account_for(args)
    return result


def import_kohya_gui(ws: Workspace, json_text: str, *, name: str, family: Family | str | None = None) -> ImportResult:
    data = parse_gui_json(json_text)
    fam = Family(family) if family else gui_family(data)
    b = Builder(import_base(name, fam))
    args = gui_to_args(data, b, ws)
    apply_args(b, args, ws, script=catalog.script_for(fam))
    result = _finish(b, "kohya_ss")
    b.account_for(data, RENAMED, EXPLAINED)
    return result


def import_file(ws: Workspace, path: Path, *, name: str, dataset_config: Path | None = None,
                family: Family | str | None = None) -> ImportResult:
    """By extension: ``.json`` = kohya_ss GUI config, ``.toml`` = sd-scripts config. ``path`` is a
    real path (the CLI resolves it against the current directory)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no file at {path}")
    text = _read(path)
    if path.suffix.lower() == ".json":
        if dataset_config is not None:
            raise ConfigError("--dataset-config goes with an sd-scripts .toml config, not a kohya_ss .json")
        return import_kohya_gui(ws, text, name=name, family=family)
    ds_text = _read(Path(dataset_config)) if dataset_config else None
    return import_sd_scripts(ws, text, ds_text, name=name, family=family)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


# Dataset TOML ---------------------------------------------------------------------------------
def _apply_dataset_toml(b: Builder, ws: Workspace, data: dict[str, Any]) -> None:
    for problem in catalog.check_dataset_config(data):
        b.note("dataset_config", problem, "unmapped", "sd-scripts' validator would reject this")
    general = data.get("general") if isinstance(data.get("general"), dict) else {}
    datasets = [d for d in (data.get("datasets") or []) if isinstance(d, dict)] if isinstance(
        data.get("datasets"), list) else []
    if len(datasets) > 1:
        # sd-scripts batches and buckets each [[datasets]] block on its own; folding them into one
        # dataset trains a different number of steps, so the import is refused rather than guessed.
        raise ConfigError(f"the dataset file has {len(datasets)} [[datasets]] blocks, but a Nyx config trains one "
                          "dataset (one resolution and batch size); import each block as its own config, or merge "
                          "the folders into one block if they share resolution and batch size")
    ds = dict(datasets[0]) if datasets else {}
    subsets = ds.pop("subsets", []) or []
    if not isinstance(subsets, list):
        subsets = []
    for key, value in {**general, **ds}.items():
        _dataset_level(b, key, value)
    _subsets(b, ws, [s for s in subsets if isinstance(s, dict)])


def _dataset_level(b: Builder, key: str, value: Any) -> None:
    if key == "resolution":
        set_resolution(b, key, value)
    elif key == "num_repeats":
        b.note(key, value, "converted", "repeats come from each concept folder's name (or its override)")
    elif key == "class_tokens":
        b.note(key, value, "converted", "class tokens come from each concept (set per concept)")
    elif key in SIMPLE and SIMPLE[key][0].startswith("dataset."):
        target, conv = SIMPLE[key]
        b.convert_set(key, value, conv, target)
    else:
        b.note(key, value, "unmapped", "a dataset option Nyx has no field for")


def _subsets(b: Builder, ws: Workspace, subsets: list[dict[str, Any]]) -> None:
    from nyx_core.datasets.layout import parse_concept_folder

    concepts = []
    chosen: str | None = None
    fine_tuning = [s for s in subsets if "metadata_file" in s]
    if fine_tuning:
        _fine_tuning_collisions(b, ws, fine_tuning)
    for sub in subsets:
        if sub in fine_tuning:
            b.note("metadata_file", sub.get("metadata_file"), "unmapped", "a fine-tuning subset (captions in a "
                   "metadata file); Nyx trains concept folders with caption files")
            continue
        for key, value in sub.items():
            if key in ("image_dir", "num_repeats", "class_tokens", "is_reg"):
                continue
            if key in SIMPLE and SIMPLE[key][0].startswith("dataset."):
                target, conv = SIMPLE[key]
                b.convert_set(key, value, conv, target, why="a per-folder value; Nyx applies it to the whole dataset")
            else:
                b.note(key, value, "unmapped", "a subset option Nyx has no field for")
        image_dir = sub.get("image_dir", "")
        if not isinstance(image_dir, str):
            b.note("image_dir", image_dir, "unmapped", "a folder must be text")
            continue
        try:
            folder = ws.resolve(image_dir)
        except PathError:
            b.note("image_dir", image_dir, "unmapped", f"outside the workspace (repeats {sub.get('num_repeats', 1)}); "
                   "import the images on the Datasets page, then pick the dataset")
            continue
        if folder.parent.parent != ws.datasets:
            b.note("image_dir", image_dir, "unmapped", "not a concept folder under workspace/datasets/<dataset>/")
            continue
        if chosen and folder.parent.name != chosen:
            b.note("image_dir", image_dir, "unmapped", f"in another dataset than {chosen!r}; Nyx trains one dataset")
            continue
        chosen = folder.parent.name
        parsed = parse_concept_folder(folder.name)
        override: dict[str, Any] = {"folder": folder.name}
        try:
            repeats = int(sub["num_repeats"]) if "num_repeats" in sub else None
        except (TypeError, ValueError, OverflowError):
            b.note("num_repeats", sub["num_repeats"], "unmapped", "not a whole number")
            repeats = None
        if repeats is not None and (parsed is None or parsed[0] != repeats):
            override["repeats"] = repeats
        if isinstance(sub.get("class_tokens"), str) and (parsed is None or parsed[1] != sub["class_tokens"]):
            override["class_tokens"] = sub["class_tokens"]
        if sub.get("is_reg") is True:
            override["is_reg"] = True
        b.note("image_dir", image_dir, "mapped", "", "dataset.concepts")
        if len(override) > 1:
            concepts.append(override)
    if chosen:
        b.set("image_dir", chosen, "dataset.name", quiet=True)
    if concepts:
        b.set("subsets", concepts, "dataset.concepts", quiet=True)


def _fine_tuning_collisions(b: Builder, ws: Workspace, subsets: list[dict[str, Any]]) -> None:
    """sd-scripts keys fine-tuning images by file name: a later subset's same-named image replaces
    the earlier one in the buckets while its printed total still counts both."""
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for sub in subsets:
        image_dir = sub.get("image_dir")
        if not isinstance(image_dir, str):
            continue
        try:
            folder = ws.resolve(image_dir)
        except PathError:
            continue
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if not f.is_file():
                continue
            key = f.stem
            if key in seen and seen[key] != image_dir:
                clashes.append(f.name)
            seen.setdefault(key, image_dir)
    if clashes:
        b.note("image_dir", ", ".join(clashes[:5]), "unmapped", f"{len(clashes)} file name(s) appear in more than "
               "one fine-tuning folder: sd-scripts keeps only the later image of each name (while its printed "
               "total counts both); rename them")

