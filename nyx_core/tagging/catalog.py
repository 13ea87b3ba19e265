"""Which taggers/captioners Nyx knows, where their files live, and the one-time download.

A WD tagger is a folder with ``model.onnx`` + ``selected_tags.csv`` under
``workspace/models/taggers/<name>/``; a captioner is a transformers folder (``config.json`` …)
under ``workspace/models/captioners/<name>/``. A user may also name any folder in the workspace.
A download goes to a hidden temp folder beside the target and is renamed into place only when
every file arrived, so a partial download is never mistaken for a model.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nyx_core.tagging.options import TaggingError
from nyx_core.workspace import Workspace

TAGGERS: dict[str, str] = {
    "wd-eva02-large-tagger-v3": "SmilingWolf/wd-eva02-large-tagger-v3",
    "wd-vit-large-tagger-v3": "SmilingWolf/wd-vit-large-tagger-v3",
    "wd-swinv2-tagger-v3": "SmilingWolf/wd-swinv2-tagger-v3",
    "wd-vit-tagger-v3": "SmilingWolf/wd-vit-tagger-v3",
    "wd-convnext-tagger-v3": "SmilingWolf/wd-convnext-tagger-v3",
    "wd-v1-4-swinv2-tagger-v2": "SmilingWolf/wd-v1-4-swinv2-tagger-v2",
    "wd-v1-4-convnext-tagger-v2": "SmilingWolf/wd-v1-4-convnext-tagger-v2",
    "wd-v1-4-vit-tagger-v2": "SmilingWolf/wd-v1-4-vit-tagger-v2",
    "wd-v1-4-moat-tagger-v2": "SmilingWolf/wd-v1-4-moat-tagger-v2",
}
DEFAULT_TAGGER = "wd-eva02-large-tagger-v3"
TAGGER_FILES = ("model.onnx", "selected_tags.csv")

#: BLIP is native in the transformers that sd-scripts pins (Florence-2 needs trust_remote_code,
#: i.e. running code downloaded with the weights, which Nyx does not do).
CAPTIONERS: dict[str, str] = {
    "blip-large": "Salesforce/blip-image-captioning-large",
    "blip-base": "Salesforce/blip-image-captioning-base",
}
DEFAULT_CAPTIONER = "blip-large"
CAPTIONER_FILES = ("config.json",)


@dataclass(frozen=True)
class ModelRef:
    kind: str  # "taggers" | "captioners"
    name: str
    folder: Path
    repo_id: str | None  # where to download it from when the folder is not there

    @property
    def present(self) -> bool:
        return is_complete(self.folder, self.kind)


def is_complete(folder: Path, kind: str) -> bool:
    files = TAGGER_FILES if kind == "taggers" else CAPTIONER_FILES
    return folder.is_dir() and all((folder / f).is_file() for f in files)


def _known(kind: str) -> dict[str, str]:
    return TAGGERS if kind == "taggers" else CAPTIONERS


def resolve_model(ws: Workspace, kind: str, name_or_folder: str) -> ModelRef:
    """A known name (``wd-vit-tagger-v3``), a folder name under ``models/<kind>/``, or a folder path
    in the workspace (``models/my-tagger``)."""
    if kind not in ("taggers", "captioners"):
        raise ValueError(kind)
    text = (name_or_folder or "").strip()
    if not text:
        raise TaggingError("no model given")
    known = _known(kind)
    base = ws.models / kind
    if text in known:
        return ModelRef(kind, text, base / text, known[text])
    if "/" not in text and (base / text).is_dir():
        folder = ws.resolve(f"models/{kind}/{text}")
    else:
        folder = ws.resolve(text)
    if not is_complete(folder, kind):
        need = " + ".join(TAGGER_FILES if kind == "taggers" else CAPTIONER_FILES)
        raise TaggingError(f"{text!r} is neither a known model ({', '.join(known)}) nor a folder with {need}")
    return ModelRef(kind, folder.name, folder, None)


def local_models(ws: Workspace, kind: str) -> list[str]:
    """Known names plus complete folders already under ``models/<kind>/``."""
    base = ws.models / kind
    found = sorted(p.name for p in base.iterdir() if not p.name.startswith(".") and is_complete(p, kind)) if base.is_dir() else []
    return list(dict.fromkeys(list(_known(kind)) + found))


def ensure_downloaded(ref: ModelRef, progress: Callable[[str], None] | None = None) -> Path:
    """The model folder, downloading it once from the Hugging Face Hub when it is missing.

    Only the job process calls this (huggingface_hub is imported here, lazily). The files land in
    ``.<name>.partial-*`` beside the target and the folder is renamed into place when complete.
    """
    if ref.present:
        return ref.folder
    if ref.repo_id is None:
        raise TaggingError(f"model folder {ref.folder} is incomplete")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise TaggingError(f"{ref.name} is not in {ref.folder} and downloads are off (HF_HUB_OFFLINE=1)")
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
    except ImportError:
        raise TaggingError("huggingface_hub is not installed here; put the model folder in "
                           f"{ref.folder} by hand") from None
    ref.folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ref.name}.partial-", dir=ref.folder.parent))
    try:
        if ref.kind == "taggers":
            for f in TAGGER_FILES:
                if progress:
                    progress(f"downloading {ref.repo_id}/{f}")
                hf_hub_download(repo_id=ref.repo_id, filename=f, local_dir=tmp)
        else:
            if progress:
                progress(f"downloading {ref.repo_id}")
            snapshot_download(repo_id=ref.repo_id, local_dir=tmp,
                              allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model"])
        shutil.rmtree(tmp / ".cache", ignore_errors=True)
        if not is_complete(tmp, ref.kind):
            raise TaggingError(f"the download of {ref.repo_id} is incomplete")
        if ref.folder.exists():  # another job finished the same download first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, ref.folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ref.folder
