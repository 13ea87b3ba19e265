"""The names sd-scripts gives what it saves (train_util at the pinned commit), in one place.

``save_model_as`` decides the extension of every LoRA file (``"." + save_model_as``); the final
file is ``<output_name><ext>``, epoch checkpoints ``<output_name>-<epoch:06d><ext>``, step
checkpoints ``<output_name>-step<step:08d><ext>``; saved training states are folders
``<output_name>-<epoch:06d>-state``, ``<output_name>-step<step:08d>-state`` and
``<output_name>-state`` (``save_state_on_train_end``).
"""
from __future__ import annotations

from pathlib import Path

#: what ``save_model_as`` may be for a LoRA (sd-scripts also knows diffusers formats, which only
#: full fine-tuning writes)
LORA_FORMATS = ("safetensors", "ckpt", "pt")
LORA_EXTENSIONS = tuple("." + f for f in LORA_FORMATS)


def lora_ext(save_model_as: object) -> str:
    fmt = str(getattr(save_model_as, "value", save_model_as) or "safetensors")
    if fmt not in LORA_FORMATS:
        raise ValueError(f"save_model_as must be one of {', '.join(LORA_FORMATS)}, not {fmt!r}")
    return "." + fmt


def final_lora(output_dir: Path, output_name: str, save_model_as: object = "safetensors") -> Path:
    """The file whose existence proves a run finished: ``<output_dir>/<output_name><ext>``."""
    return Path(output_dir) / f"{output_name}{lora_ext(save_model_as)}"


def epoch_lora(output_dir: Path, output_name: str, epoch: int, save_model_as: object = "safetensors") -> Path:
    return Path(output_dir) / f"{output_name}-{epoch:06d}{lora_ext(save_model_as)}"


def is_state_dir(path: Path) -> bool:
    """A training state sd-scripts saved (``--save_state``): what ``resume`` takes."""
    return Path(path).name.endswith("-state") and Path(path).is_dir()
