"""The ``k=v`` lists sd-scripts reads as ``network_args`` and ``optimizer_args``.

Nyx's own entries first (from the network/optimizer fields), then the user's extras; an extra may
not silently override one of Nyx's (sd-scripts would take whichever comes last).
"""
from __future__ import annotations

from typing import Any

from nyx_core.config.enums import Family, NetworkType
from nyx_core.config.model import ConfigError, TrainingConfig
from nyx_core.kohya import catalog


def _kv(key: str, value: Any) -> str:
    return f"{key}={value}"


def network_args(cfg: TrainingConfig) -> list[str]:
    n, fam = cfg.network, cfg.model.family
    args: list[str] = []
    if n.type is NetworkType.lora:
        if n.conv_dim and fam in (Family.sd15, Family.sdxl):  # kohya LoRA's conv extension (C3Lier)
            args += [_kv("conv_dim", n.conv_dim), _kv("conv_alpha", _num(n.conv_alpha or n.conv_dim))]
        if n.rank_dropout:
            args.append(_kv("rank_dropout", _num(n.rank_dropout)))
        if n.module_dropout:
            args.append(_kv("module_dropout", _num(n.module_dropout)))
    else:
        args.append(_kv("algo", catalog.LYCORIS_ALGO[n.type]))
        if n.conv_dim and n.type in (NetworkType.locon, NetworkType.loha, NetworkType.lokr, NetworkType.dora):
            args += [_kv("conv_dim", n.conv_dim), _kv("conv_alpha", _num(n.conv_alpha or n.conv_dim))]
        if n.type is NetworkType.lokr:
            args.append(_kv("factor", n.factor))
        if n.type is NetworkType.dora:
            args.append(_kv("dora_wd", "True"))
        if n.dropout:
            args.append(_kv("dropout", _num(n.dropout)))
        if n.rank_dropout:
            args.append(_kv("rank_dropout", _num(n.rank_dropout)))
        if n.module_dropout:
            args.append(_kv("module_dropout", _num(n.module_dropout)))
    return _with_extras(args, n.extra_args, "network.extra_args", "by Nyx from the network fields")


def optimizer_args(cfg: TrainingConfig) -> list[str]:
    o = cfg.optimizer
    args: list[str] = []
    if o.weight_decay is not None:
        args.append(_kv("weight_decay", _num(o.weight_decay)))
    if o.betas is not None:
        args.append(_kv("betas", f"{_num(o.betas[0])},{_num(o.betas[1])}"))
    return _with_extras(args, o.extra_args, "optimizer.extra_args", "by an optimizer field")


def _with_extras(args: list[str], extras: list[str], field: str, set_by: str) -> list[str]:
    """Nyx's own ``k=v`` args, then the user's extras; an extra may not silently override one of ours."""
    own = {a.split("=", 1)[0] for a in args}
    for extra in extras:
        key = extra.split("=", 1)[0].strip()
        if key in own:
            raise ConfigError(f"{field}: {key!r} is already set {set_by}; change it there")
        args.append(extra.strip())
    return args


def _num(x: float) -> str:
    """Short text for a number inside a "k=v" string (sd-scripts literal_evals it)."""
    return repr(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))
