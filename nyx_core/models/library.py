"""The model library: what is in workspace/models, and what fits a training family.

``scan(ws)`` lists every model (a weights file, or a diffusers / tagger / captioner folder as one
entry) with its kind, detected family, size, precision, cached SHA-256 and provenance. Files being
downloaded (``.part``, huggingface_hub's ``.incomplete``, temp files, anything under a dot folder)
are never listed, so nothing half-written can be offered as a model.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nyx_core.models import index
from nyx_core.models.detect import ARCH_FAMILY, SLOT_KINDS, Detection, detect
from nyx_core.models.safetensors_header import InvalidWeights, read_header

WEIGHT_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx")
#: names a download in progress (ours, huggingface_hub's, atomic temp files) can have
PARTIAL_SUFFIXES = (".part", ".incomplete", ".tmp", ".lock", ".aria2")


@dataclass
class ModelInfo:
    path: str                      # relative to workspace/models (POSIX)
    kind: str                      # see detect.KIND_DIRS; "unknown" when not recognised
    arch: str | None
    families: tuple[str, ...]
    size: int
    format: str                    # safetensors, ckpt, diffusers, onnx, folder …
    precision: str | None = None
    variant: str | None = None
    reason: str = ""               # why this kind/family (or why it could not be read)
    sha256: str | None = None
    source: str | None = None      # where it came from (Hub id, URL, Civitai link), when downloaded by Nyx
    license: str | None = None
    error: str | None = None       # the file is damaged / not a model
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def family(self) -> str | None:
        return ARCH_FAMILY.get(self.arch or "") or (self.families[0] if len(self.families) == 1 else None)

    @property
    def label(self) -> str:
        return Detection(self.kind, self.arch, self.families, self.variant).label

    def fits(self, family: str) -> bool | None:
        """True/False when known; None when the family could not be detected."""
        if not self.families:
            return None
        return family in self.families

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["families"] = list(self.families)
        d["label"] = self.label
        d.pop("metadata")
        return d


def is_partial(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES)


# In-process cache of parsed headers: a page rerun must not re-read every header.
_HEADER_CACHE: dict[tuple[str, int, int], tuple[Detection, str | None, str | None, dict[str, str]]] = {}


def _inspect_file(path: Path, size: int, mtime: int) -> tuple[Detection, str | None, str | None, dict[str, str]]:
    key = (str(path), size, mtime)
    hit = _HEADER_CACHE.get(key)
    if hit:
        return hit
    suffix = path.suffix.lower()
    err = None
    meta: dict[str, str] = {}
    precision = None
    if suffix in (".safetensors", ".sft"):
        try:
            h = read_header(path)
            det = detect(h)
            precision = h.precision
            meta = {k: v for k, v in h.metadata.items() if len(v) < 4000}
        except InvalidWeights as exc:
            det, err = Detection("unknown", reason=str(exc)), str(exc)
    elif suffix == ".onnx":
        det = Detection("tagger", reason="ONNX model")
    else:
        det = Detection("unknown", reason=f"{suffix} files are not inspected (only safetensors headers are)")
    out = (det, precision, err, meta)
    if len(_HEADER_CACHE) > 512:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[key] = out
    return out


def _folder_model(d: Path) -> tuple[Detection, str] | None:
    """A folder that is one model: diffusers pipeline, WD14-style tagger, transformers captioner."""
    mi = d / "model_index.json"
    if mi.is_file():
        try:
            cls = str(json.loads(mi.read_text(encoding="utf-8")).get("_class_name", ""))
        except (OSError, ValueError):
            cls = ""
        arch = None
        if "XL" in cls:
            arch = "sdxl"
        elif cls.startswith("Flux"):
            arch = "flux"
        elif "3" in cls:
            arch = "sd3"
        elif cls.startswith("StableDiffusion"):
            arch = "sd1"
            try:
                unet = json.loads((d / "unet" / "config.json").read_text(encoding="utf-8"))
                if unet.get("cross_attention_dim") == 1024:
                    arch = "sd2"
            except (OSError, ValueError):
                pass
        fams = (ARCH_FAMILY[arch],) if arch else ()
        return Detection("checkpoint", arch, fams, reason=f"diffusers folder ({cls or 'unknown pipeline'})"), "diffusers"
    if any(p.suffix == ".onnx" for p in d.iterdir() if p.is_file()) and (d / "selected_tags.csv").is_file():
        return Detection("tagger", reason="ONNX tagger folder (selected_tags.csv)"), "onnx"
    if (d / "config.json").is_file() and any(p.suffix in (".safetensors", ".bin") for p in d.iterdir()):
        return Detection("captioner", reason="transformers model folder (config.json)"), "transformers"
    return None


def _tree_size(d: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(d):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:
                pass
    return total


def scan(ws) -> list[ModelInfo]:
    """Every model under workspace/models, sorted by path."""
    root = Path(ws.models)
    idx = index.load(ws.root)
    out: list[ModelInfo] = []
    if not root.is_dir():
        return out
    for cur, dirs, files in os.walk(root):
        curp = Path(cur)
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        keep = []
        for d in dirs:
            folder = _folder_model(curp / d)
            if folder is None:
                keep.append(d)
                continue
            det, fmt = folder
            rel = (curp / d).relative_to(root).as_posix()
            entry = idx.get(rel) or {}
            out.append(ModelInfo(rel, det.kind, det.arch, det.families, _tree_size(curp / d), fmt,
                                 variant=det.variant, reason=det.reason, source=entry.get("source"),
                                 license=entry.get("license")))
        dirs[:] = keep
        for f in sorted(files):
            if is_partial(f) or not f.lower().endswith(WEIGHT_SUFFIXES):
                continue
            p = curp / f
            try:
                st = p.stat()
            except OSError:
                continue
            det, precision, err, meta = _inspect_file(p, st.st_size, st.st_mtime_ns)
            rel = p.relative_to(root).as_posix()
            entry = idx.get(rel) or {}
            out.append(ModelInfo(rel, det.kind, det.arch, det.families, st.st_size, p.suffix.lower().lstrip("."),
                                 precision=precision, variant=det.variant, reason=det.reason,
                                 sha256=index.cached_sha256(entry, p), source=entry.get("source"),
                                 license=entry.get("license"), error=err, metadata=meta))
    out.sort(key=lambda m: m.path)
    return out


@dataclass
class PickerOptions:
    offered: list[str]                 # paths that fit (or whose family is unknown)
    hidden: list[tuple[str, str]]      # (path, why): right kind but wrong family, or damaged
    other_kinds: int = 0               # models of other kinds (a VAE in the base-model picker …)

    def hidden_note(self, limit: int = 6) -> str:
        parts = []
        if self.hidden:
            shown = "; ".join(f"{p} ({why})" for p, why in self.hidden[:limit])
            more = f" and {len(self.hidden) - limit} more" if len(self.hidden) > limit else ""
            parts.append(f"Hidden: {shown}{more}.")
        if self.other_kinds:
            parts.append(f"{self.other_kinds} model(s) of other kinds are offered in their own pickers.")
        return " ".join(parts)


def picker_options(models: list[ModelInfo], slot: str, family: str) -> PickerOptions:
    """What a Training-page picker (``slot``: base_model, vae, clip_l, …) offers for ``family``.

    Offered: models of the slot's kind that fit the family, and unreadable/unknown files (Nyx cannot
    prove they don't fit). Hidden, each with the reason: other kinds, other families, damaged files.
    """
    kinds = SLOT_KINDS.get(slot, ())
    offered: list[str] = []
    hidden: list[tuple[str, str]] = []
    other = 0
    fam_label = {"sd15": "SD1.5/2", "sdxl": "SDXL", "flux": "Flux", "sd3": "SD3"}.get(family, family)
    for m in models:
        if m.kind in ("tagger", "captioner"):
            continue  # never a training input; not worth a "hidden" line
        if m.error:
            hidden.append((m.path, f"unreadable: {m.error}"))
            continue
        if m.kind == "unknown":
            offered.append(m.path)
            continue
        if m.kind not in kinds:
            other += 1
            continue
        fits = m.fits(family)
        if fits is False:
            hidden.append((m.path, f"{m.label}, not {fam_label}"))
            continue
        offered.append(m.path)
    return PickerOptions(offered, hidden, other)
