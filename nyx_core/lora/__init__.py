"""LoRA tools: look inside a ``.safetensors`` file, edit its metadata, resize, merge, bake, try it.

Pure numpy (no torch): the header reader and the factor algebra run anywhere; heavy work is
submitted as jobs by ``nyx_core.lora.jobs``.
"""
from nyx_core.lora.info import LoraInfo, inspect
from nyx_core.lora.metadata import EDITABLE, edited, write_with_metadata

__all__ = ["LoraInfo", "inspect", "EDITABLE", "edited", "write_with_metadata"]
