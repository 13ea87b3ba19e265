"""What a tagging or captioning run is asked to do: plain dataclasses that travel as JSON from the
page/CLI to the job program (stdlib only, so the captioner can read them in sd-scripts' Python)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from nyx_core.errors import NyxError

MODES = ("overwrite", "append", "skip")


class TaggingError(NyxError):
    """A tagging/captioning request was refused (bad option, missing model, no images)."""


def _from_dict(cls, d: dict[str, Any]):  # noqa: ANN001, ANN202
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise TaggingError(f"unknown option(s): {', '.join(unknown)}")
    return cls(**d)


@dataclass
class TagOptions:
    """WD14 options. Defaults are sd-scripts' and kohya_ss' usual ones (0.35 / 0.85)."""

    general_threshold: float = 0.35
    character_threshold: float = 0.85
    #: MCut (the largest gap between sorted scores) decides the threshold per image instead
    general_mcut: bool = False
    character_mcut: bool = False
    undesired: list[str] = field(default_factory=list)
    #: tag → replacement (applied to the tag as written, after underscores are replaced)
    replacements: dict[str, str] = field(default_factory=dict)
    #: always first, in this order, added when the model did not find them (a trigger word)
    first: list[str] = field(default_factory=list)
    character_first: bool = False
    rating: bool = False
    underscores_to_spaces: bool = True
    escape_brackets: bool = False
    #: at most this many model tags (0 = no limit); the ``first`` tags are not counted
    max_tags: int = 0
    #: "model" keeps the label file's order (as sd-scripts writes); "score" puts the surest first
    order: str = "model"
    mode: str = "overwrite"

    def check(self) -> "TagOptions":
        for name in ("general_threshold", "character_threshold"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise TaggingError(f"{name.replace('_', ' ')} must be between 0 and 1, got {v!r}")
        if self.mode not in MODES:
            raise TaggingError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.order not in ("model", "score"):
            raise TaggingError(f"order must be 'model' or 'score', got {self.order!r}")
        if not isinstance(self.max_tags, int) or self.max_tags < 0:
            raise TaggingError(f"max tags must be a whole number ≥ 0, got {self.max_tags!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TagOptions":
        return _from_dict(cls, d).check()


@dataclass
class CaptionOptions:
    """Natural-language captioner options."""

    #: a text the caption continues (BLIP's conditional captioning, e.g. "a photo of"); empty = none
    prompt: str = ""
    prefix: str = ""
    suffix: str = ""
    max_length: int = 60
    beams: int = 3
    batch: int = 4
    mode: str = "overwrite"
    #: "cpu", "cuda" or "" (cuda when torch sees a GPU)
    device: str = ""

    def check(self) -> "CaptionOptions":
        if self.mode not in MODES:
            raise TaggingError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name, lo in (("max_length", 4), ("beams", 1), ("batch", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise TaggingError(f"{name.replace('_', ' ')} must be a whole number ≥ {lo}, got {v!r}")
        if self.device not in ("", "cpu", "cuda"):
            raise TaggingError(f"device must be cpu or cuda, got {self.device!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CaptionOptions":
        return _from_dict(cls, d).check()


def parse_list(text: str | list[str] | None) -> list[str]:
    """``"a, b ,c"`` → ``["a", "b", "c"]`` (lists pass through, stripped)."""
    if not text:
        return []
    items = text.split(",") if isinstance(text, str) else text
    return [t.strip() for t in items if t and t.strip()]


def parse_replacements(text: str | dict[str, str] | None) -> dict[str, str]:
    """``"a=b; c=d"`` (or one pair per line) → ``{"a": "b", "c": "d"}``."""
    if not text:
        return {}
    if isinstance(text, dict):
        return {str(k).strip(): str(v).strip() for k, v in text.items() if str(k).strip()}
    out = {}
    for part in text.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise TaggingError(f"a tag replacement is written old=new, got {part.strip()!r}")
        old, new = part.split("=", 1)
        if not old.strip():
            raise TaggingError(f"a tag replacement needs the tag to replace, got {part.strip()!r}")
        out[old.strip()] = new.strip()
    return out
