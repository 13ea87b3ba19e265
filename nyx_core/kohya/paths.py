"""Which sd-scripts options name a file or folder, and keeping every one of them in the workspace.

sd-scripts opens whatever a path option says: ``console_log_file`` is opened with mode "w" (it
truncates any file), ``tokenizer_cache_dir`` and ``offload_*_nvme_path`` write there, ``vae``,
``network_weights``, ``resume``, ``log_tracker_config``, ``sample_prompts`` … read from there.
So a path option is confined through ``Workspace.resolve`` wherever its value came from (a
config field, ``advanced.extra``, an import, a hand-edited config file, a dataset TOML).

Which options are paths is derived from the argument spec (``known_args.json``, a copy of
``../shared/kohya/argspec``): every text option whose spec type is ``Path`` or whose name says
so (``*_dir``, ``*_path``, ``*_file``, ``*_config``, ``*_json``, ``*_name_or_path``), plus the
plain ``str`` options that sd-scripts' source (commit 48d368fa) opens as a path although the
name does not say it. The test checks this against the full spec files.

Nothing here imports streamlit, and the validation and rendering hooks stay one call each.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from nyx_core.errors import PathError
from nyx_core.workspace import Workspace

#: A name that says "path".
PATH_NAME = re.compile(r"(_dir|_path|_file|_config|_json|_name_or_path)$")

#: Plain-``str`` options sd-scripts opens as a file or folder (checked in its source at 48d368fa:
#: model loaders, ``accelerator.load_state(args.resume)``, the sample prompt reader, the
#: metadata thumbnail reader …) although their names do not end like a path.
PLAIN_STR_PATHS: frozenset[str] = frozenset({
    "vae", "network_weights", "resume", "base_weights", "sample_prompts",
    "clip_l", "clip_g", "t5xxl", "ae", "metadata_thumbnail",
})

#: Names that look like a path but are not a local one.
NOT_LOCAL: dict[str, str] = {
    "huggingface_path_in_repo": "a folder inside a Hub repository; never opened locally",
}

#: Options that may name a Hugging Face Hub repository (``owner/name``) instead of a local path.
HUB_OK: frozenset[str] = frozenset({"pretrained_model_name_or_path", "vae", "controlnet_model_name_or_path"})

#: Keys of a dataset TOML (``--dataset_config``) that sd-scripts reads as folders or files.
DATASET_PATH_KEYS: tuple[str, ...] = ("image_dir", "conditioning_data_dir", "metadata_file")

#: Options whose value names Python code for sd-scripts to import (``package.module.Class``).
#: Nyx never needs them from a user: they would let a config run a program of its choosing.
CODE_OPTIONS: dict[str, str] = {
    "dataset_class": "imports a Python class named by the config",
    "lr_scheduler_type": "imports a Python class named by the config; pick a scheduler field instead",
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")
# The Hub layout ``owner/repo/path/in/repo[:revision]`` sd-scripts accepts with resume_from_huggingface.
_HUB_RESUME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(/[\w.-]+)*(:[\w.-]+)?$")


@dataclass(frozen=True)
class PathOption:
    name: str
    many: bool  # a list of paths (nargs="*")
    hub: bool   # may be a Hub id instead of a local path


def is_path_option(name: str, spec: Mapping[str, Any]) -> bool:
    """Whether an argument (its spec entry from the argument spec) takes a local path."""
    if name in NOT_LOCAL:
        return False
    vt = str(spec.get("value_type", ""))
    if "str" not in vt or spec.get("choices"):
        return False
    return spec.get("type") == "Path" or "path" in vt or bool(PATH_NAME.search(name)) or name in PLAIN_STR_PATHS


def path_options(script_args: Mapping[str, Mapping[str, Any]]) -> dict[str, PathOption]:
    """The path options among one script's arguments (``catalog.script_args(script)``)."""
    return {
        name: PathOption(name, str(spec.get("value_type", "")).startswith("["), name in HUB_OK)
        for name, spec in script_args.items() if is_path_option(name, spec)
    }


def script_path_options(script: str) -> dict[str, PathOption]:
    from nyx_core.kohya import catalog

    return path_options(catalog.script_args(script))


def confine(ws: Workspace, value: Any, *, hub: bool = False, hub_layout: re.Pattern[str] = _HUB_ID) -> str:
    """The absolute in-workspace path sd-scripts should get for ``value``, or a Hub id unchanged.

    Raises ``PathError`` (one line) for anything that is not text or would leave the workspace.
    A relative path is relative to the workspace root (sd-scripts runs in its own folder, so it
    would otherwise read the value relative to that).
    """
    if not isinstance(value, str):
        raise PathError(f"must be a path (text), not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise PathError("is empty; remove the option or give a workspace path")
    real = ws.resolve(text)
    if hub and not real.exists() and not text.startswith("/") and hub_layout.match(text) \
            and not text.lower().endswith(_WEIGHT_SUFFIXES):
        return text
    return str(real)


def _values(opt: PathOption, value: Any) -> list[Any]:
    if opt.many:
        return list(value) if isinstance(value, (list, tuple)) else [value]
    return [value]


def option_problems(ws: Workspace, args: Mapping[str, Any], script: str) -> list[tuple[str, str]]:
    """(option, reason) for every path option in ``args`` that is not a workspace path, and every
    option that would make sd-scripts import code. Empty when all is well."""
    opts = script_path_options(script)
    out: list[tuple[str, str]] = []
    for key, value in args.items():
        if key in CODE_OPTIONS and value not in (None, ""):
            out.append((key, f"not allowed: {CODE_OPTIONS[key]}"))
            continue
        opt = opts.get(key)
        if opt is None or value is None:
            continue
        for item in _values(opt, value):
            try:
                _confine_option(ws, opt, item, args)
            except PathError as exc:
                out.append((key, f"{exc}; use a path inside the workspace"))
                break
    return out


def _confine_option(ws: Workspace, opt: PathOption, value: Any, args: Mapping[str, Any]) -> str:
    if opt.name == "metadata_thumbnail" and isinstance(value, str) and value.startswith("data:"):
        return value  # sd-scripts also takes the image itself as a data URL
    if opt.name == "resume" and args.get("resume_from_huggingface"):
        return confine(ws, value, hub=True, hub_layout=_HUB_RESUME)
    return confine(ws, value, hub=opt.hub)


def confine_args(ws: Workspace, args: Mapping[str, Any], script: str, *, trusted: Iterable[str] = (),
                 where: str = "advanced.extra") -> dict[str, Any]:
    """``args`` with every path option made an absolute workspace path (Hub ids kept).

    Raises ``PathError`` naming ``where`` and the option for the first one that escapes or names
    code. ``trusted`` are keys Nyx itself filled from its own job folders.
    """
    from nyx_core.config.model import ConfigError

    skip = set(trusted)
    problems = [(k, why) for k, why in option_problems(ws, {k: v for k, v in args.items() if k not in skip}, script)]
    if problems:
        key, why = problems[0]
        raise ConfigError(f"{where}: {key}: {why}")
    opts = script_path_options(script)
    out = dict(args)
    for key, value in args.items():
        opt = opts.get(key)
        if opt is None or key in skip or value is None:
            continue
        if opt.many:
            out[key] = [_confine_option(ws, opt, v, args) for v in _values(opt, value)]
        else:
            out[key] = _confine_option(ws, opt, value, args)
    return out


def dataset_problems(ws: Workspace, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, reason) for every folder/file key of a dataset TOML that leaves the workspace."""
    out: list[tuple[str, str]] = []
    for where, table in _dataset_tables(data):
        for key in DATASET_PATH_KEYS:
            if key in table and table[key] is not None:
                try:
                    confine(ws, table[key])
                except PathError as exc:
                    out.append((f"{where}.{key}", f"{exc}; use a folder inside the workspace"))
    return out


def confine_dataset(ws: Workspace, data: dict[str, Any]) -> None:
    """Refuse (``ConfigError``) a dataset TOML mapping with a path outside the workspace."""
    from nyx_core.config.model import ConfigError

    bad = dataset_problems(ws, data)
    if bad:
        key, why = bad[0]
        raise ConfigError(f"dataset: {key}: {why}")


def _dataset_tables(data: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if isinstance(data.get("general"), Mapping):
        yield "general", data["general"]
    datasets = data.get("datasets")
    for i, ds in enumerate(datasets if isinstance(datasets, list) else []):
        if not isinstance(ds, Mapping):
            continue
        yield f"datasets[{i}]", ds
        subsets = ds.get("subsets")
        for j, sub in enumerate(subsets if isinstance(subsets, list) else []):
            if isinstance(sub, Mapping):
                yield f"datasets[{i}].subsets[{j}]", sub

