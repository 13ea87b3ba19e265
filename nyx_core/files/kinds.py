"""What kind of file a name is, from its extension alone (listing 10,000 files opens none)."""
from __future__ import annotations

import os

KIND_BY_EXT: dict[str, str] = {}
for _kind, _exts in {
    "image": ".jpg .jpeg .png .webp .bmp .gif .tif .tiff .avif .heic",
    "text": ".txt .caption .md .log .csv .tsv .py .sh .rst .html .css .js .env .tags",
    "config": ".toml .json .yaml .yml .ini .cfg .conf",
    "model": ".safetensors .ckpt .pt .pth .bin .onnx .gguf .sft",
    "archive": ".zip .tar .gz .tgz .7z .rar .xz .bz2 .zst",
}.items():
    for _ext in _exts.split():
        KIND_BY_EXT[_ext] = _kind

ICONS = {"folder": "📁", "image": "🖼️", "text": "📄", "config": "⚙️", "model": "🧠", "archive": "🗜️",
         "other": "📦"}

#: Formats checked before a save, by extension.
VALIDATED = {".toml": "TOML", ".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}


def kind_of(name: str, is_dir: bool = False) -> str:
    if is_dir:
        return "folder"
    return KIND_BY_EXT.get(os.path.splitext(name)[1].lower(), "other")


def icon(kind: str) -> str:
    return ICONS.get(kind, ICONS["other"])
