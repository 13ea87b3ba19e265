"""Nyx training configs: the typed model, its TOML file, pre-flight checks and step counts.

Contract D (see the project briefs): ``TrainingConfig``, ``load_config``, ``save_config``,
``validate`` -> ``list[Problem]``, ``steps_for`` -> ``StepReport``.
"""
from __future__ import annotations

from nyx_core.config.enums import Family, NetworkType, Optimizer, Scheduler
from nyx_core.config.io import dumps_config, load_config, parse_config_text, save_config
from nyx_core.config.model import ConfigError, TrainingConfig, new_config


def validate(cfg, ws, settings=None):  # noqa: ANN001 - re-exported, typed in validate.py
    from nyx_core.config.validate import validate as _validate

    return _validate(cfg, ws, settings)


def steps_for(cfg, ws):  # noqa: ANN001 - typed in stepsglue.py
    from nyx_core.config.stepsglue import steps_for as _steps_for

    return _steps_for(cfg, ws)


def __getattr__(name: str):
    if name == "Problem":
        from nyx_core.config.validate import Problem

        return Problem
    raise AttributeError(name)


__all__ = [
    "ConfigError", "Family", "NetworkType", "Optimizer", "Problem", "Scheduler", "TrainingConfig",
    "dumps_config", "load_config", "new_config", "parse_config_text", "save_config", "steps_for", "validate",
]
