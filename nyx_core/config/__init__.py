"""Nyx training configs: the typed model, its TOML file, pre-flight checks and step counts.

Contract D (see the project briefs): ``TrainingConfig``, ``load_config``, ``save_config``,
``validate`` -> ``list[Problem]``, ``steps_for`` -> ``StepReport``.
"""
from __future__ import annotations

from nyx_core.config.enums import Family, NetworkType, Optimizer, Scheduler
from nyx_core.config.io import dumps_config, load_config, parse_config_text, save_config
from nyx_core.config.model import ConfigError, TrainingConfig, new_config
# Bound after the submodules load, so `nyx_core.config.validate` is the function, not the module.
from nyx_core.config.stepsglue import steps_for
from nyx_core.config.validate import Problem, validate

__all__ = [
    "ConfigError", "Family", "NetworkType", "Optimizer", "Problem", "Scheduler", "TrainingConfig",
    "dumps_config", "load_config", "new_config", "parse_config_text", "save_config", "steps_for", "validate",
]
