"""The step count of a config: its dataset folders read as sd-scripts will, through the exact
arithmetic of ``nyx_core.steps.compute_steps`` (computed by ``nyx_core.config.plan``)."""
from __future__ import annotations

from nyx_core.config.model import TrainingConfig
from nyx_core.config.plan import bucket_spec, folder_image_sizes, plan, training_plan
from nyx_core.steps import StepReport
from nyx_core.workspace import Workspace

__all__ = ["bucket_spec", "folder_image_sizes", "steps_for", "training_plan"]


def steps_for(cfg: TrainingConfig, ws: Workspace) -> StepReport:
    """Raises ``ConfigError`` when the config has no dataset to count (one line, naming the field)."""
    return plan(cfg, ws).require_steps()
