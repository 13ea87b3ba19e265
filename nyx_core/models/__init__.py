"""The model library (what is in workspace/models, what fits a family), the built-in catalogue,
downloads as jobs, and Hugging Face publishing. See docs/models.md.

Light to import: the job programs (``nyx_core.models.download``, ``.hashjob``, ``.publish``) and
huggingface_hub load only inside the functions that need them.
"""
from nyx_core.models.catalog import CATALOG, CatalogEntry, CatalogFile
from nyx_core.models.detect import Detection, detect
from nyx_core.models.library import ModelInfo, PickerOptions, picker_options, scan
from nyx_core.models.safetensors_header import Header, InvalidWeights, check_weights, read_header

__all__ = ["CATALOG", "CatalogEntry", "CatalogFile", "Detection", "detect", "ModelInfo", "PickerOptions",
           "picker_options", "scan", "Header", "InvalidWeights", "check_weights", "read_header"]
