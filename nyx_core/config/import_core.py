"""What every importer shares: the per-key report, value parsing, and the starting config.

An import starts from what sd-scripts does when a file says nothing (its argument defaults), not
from Nyx's presets: a preset's "train the U-Net only" or "cache text-encoder outputs" would
silently change what the imported file trains. Every key of the source ends in exactly one
note: mapped to a Nyx field, kept as an extra sd-scripts option, or not carried over (and why).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import ValidationError

from nyx_core.config.enums import Family
from nyx_core.config.labels import where
from nyx_core.config.families import spec
from nyx_core.config.model import ModelConfig, ProjectConfig, TrainingConfig, merge_groups

#: "mapped": set on a Nyx field as given. "converted": set, but changed on the way (the note says
#: how). "extra": kept in advanced.extra. "ignored" / "unmapped": not carried over (no training
#: effect in Nyx / cannot be represented or refused), with the reason.
Status = str

_NOT_CARRIED = ("ignored", "unmapped")


@dataclass
class ImportNote:
    key: str
    value: str
    status: Status
    message: str
    target: str = ""

    @property
    def carried(self) -> bool:
        return self.status not in _NOT_CARRIED

    def plain(self) -> str:
        """One line in words: ``network_dim = 32 → Network › Dim (rank)``."""
        head = f"{self.key} = {self.value}"
        if self.status == "mapped":
            return f"{head} → {where(self.target)}"
        if self.status == "converted":
            dest = f" → {where(self.target)}" if self.target else ""
            return f"{head}{dest} (changed: {self.message})"
        if self.status == "extra":
            return f"{head} → kept as an extra sd-scripts option ({self.message})"
        return f"{head} → not carried over: {self.message}"

    def __str__(self) -> str:
        return self.plain()


@dataclass
class ImportResult:
    config: TrainingConfig
    notes: list[ImportNote] = field(default_factory=list)
    source: str = ""

    @property
    def unknown(self) -> list[ImportNote]:
        """Keys that did not make it into the config (ignored or unmapped)."""
        return [n for n in self.notes if not n.carried]

    def report(self) -> list[str]:
        """The per-key report, not-carried keys first (they need the user's attention)."""
        order = {"unmapped": 0, "ignored": 1, "converted": 2, "extra": 3, "mapped": 4}
        return [n.plain() for n in sorted(self.notes, key=lambda n: order.get(n.status, 5))]


def short(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    except (TypeError, ValueError):  # e.g. a NaN inside a nested structure is still printable by repr
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def empty(value: Any) -> bool:
    """The "off" value of a GUI/TOML key (kohya_ss passes these to sd-scripts as "not given")."""
    return value is None or value == "" or value is False or value == [] or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


class ValueProblem(ValueError):
    """A value that cannot be read as what the key needs; the message is user-facing."""


# Value parsing (kohya_ss JSON stores many numbers as text) --------------------------------------
def _finite(x: float, v: Any) -> float:
    if math.isnan(x) or math.isinf(x):
        raise ValueProblem(f"{short(v)} is not a finite number")
    return x


def to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueProblem("a true/false flag is not a number")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        _finite(v, v)
        if v.is_integer():
            return int(v)
        raise ValueProblem(f"{v!r} is not a whole number")
    if isinstance(v, str):
        try:
            x = _finite(float(v.strip()), v)
        except ValueError as exc:
            if isinstance(exc, ValueProblem):
                raise
            raise ValueProblem(f"{short(v)} is not a number") from None
        if not x.is_integer():
            raise ValueProblem(f"{short(v)} is not a whole number")
        return int(x)
    raise ValueProblem(f"{short(v)} is not a whole number")


def to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueProblem("a true/false flag is not a number")
    if isinstance(v, list) and len(v) == 1:  # text_encoder_lr is nargs="*"
        v = v[0]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            return _finite(float(v), v)
        except OverflowError:
            raise ValueProblem(f"{short(v)} is too large") from None
    if isinstance(v, str):
        try:
            return _finite(float(v.strip()), v)
        except ValueProblem:
            raise
        except ValueError:
            raise ValueProblem(f"{short(v)} is not a number") from None
    raise ValueProblem(f"{short(v)} is not a number")


def to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off", ""):
            return False
        raise ValueProblem(f"{short(v)} is not a true/false value")
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if v is None:
        return False
    raise ValueProblem(f"{short(v)} is not a true/false value")


def to_str(v: Any) -> str:
    if isinstance(v, (dict, list)):
        raise ValueProblem("a table or list is not text")
    return "" if v is None else str(v)


Converter = Callable[[Any], Any]


class Builder:
    """Applies values one field at a time, so one bad value is one note, never a traceback."""

    def __init__(self, cfg: TrainingConfig) -> None:
        self.cfg = cfg
        self.notes: list[ImportNote] = []
        self.extra: dict[str, Any] = {}
        self.network_extra: list[str] = []

    def note(self, key: str, value: Any, status: Status, message: str, target: str = "") -> None:
        self.notes.append(ImportNote(key, short(value), status, message, target))

    def noted(self, key: str) -> bool:
        return any(n.key == key or n.key.startswith(key + " ") for n in self.notes)

    def account_for(self, source: dict[str, Any], renamed: dict[str, str] | None = None,
                    explained: dict[str, str] | None = None) -> None:
        """Every key of ``source`` gets a line: those no step noted are either off/empty (one
        summary line listing them all) or were read under another name (said so)."""
        renamed = renamed or {}
        off: list[str] = []
        for key, value in source.items():
            if self.noted(key):
                continue
            if explained and key in explained and not empty(value):
                self.note(key, value, "converted", explained[key])
            elif key in renamed and self.noted(renamed[key]):
                self.note(key, value, "converted", f"passed to sd-scripts as {renamed[key]} (see that line)")
            elif empty(value) or value == "full":
                off.append(key)
            else:
                self.note(key, value, "converted", "read by the step-count, learning-rate or network decision above")
        if off:
            self.notes.append(ImportNote(f"{len(off)} more keys", ", ".join(off), "ignored",
                                         "off or empty in the file, so nothing is passed for them and sd-scripts "
                                         "uses its default"))

    def set(self, key: str, value: Any, target: str, *, quiet: bool = False, why: str = "") -> bool:
        """Set ``target`` ("group.field"); a note says where it went (``why`` = it was changed)."""
        group, name = target.split(".")
        try:
            setattr(getattr(self.cfg, group), name, value)
        except ValidationError as exc:
            from nyx_core.config.model import plain_error

            why = plain_error(exc.errors()[0]) if exc.errors() else "invalid"
            self.note(key, value, "unmapped", f"{where(target)} {why}, so it keeps {self._current(target)!r}")
            return False
        except (TypeError, ValueError) as exc:
            self.note(key, value, "unmapped", f"not a valid value for {where(target)} ({exc})")
            return False
        if not quiet:
            self.note(key, value, "converted" if why else "mapped", why, target)
        return True

    def convert_set(self, key: str, raw: Any, conv: Converter, target: str, *, why: str = "") -> bool:
        try:
            value = conv(raw)
        except (ValueError, TypeError, OverflowError) as exc:
            self.note(key, raw, "unmapped", f"{exc}; {where(target)} keeps {self._current(target)!r}")
            return False
        return self.set(key, value, target, why=why)

    def _current(self, target: str) -> Any:
        group, name = target.split(".")
        value = getattr(getattr(self.cfg, group), name)
        return getattr(value, "value", value)


# Where an import starts ------------------------------------------------------------------------
#: sd-scripts' own argument defaults (at the pinned commit) for the fields Nyx always writes or
#: that change what is trained. Numbers only; the argspec test keeps them honest.
SD_SCRIPTS_DEFAULTS: dict[str, dict[str, Any]] = {
    "network": {"dim": 4, "alpha": 1.0, "train_unet_only": False},
    "optimizer": {"optimizer": "AdamW", "learning_rate": 2e-6, "text_encoder_lr": None, "unet_lr": None,
                  "scheduler": "constant", "max_grad_norm": 1.0},
    "performance": {"mixed_precision": "no", "save_precision": "float", "gradient_checkpointing": False,
                    "cache_latents": False, "cache_latents_to_disk": False, "cache_text_encoder_outputs": False,
                    "cache_text_encoder_outputs_to_disk": False, "fp8_base": False, "attention": "none",
                    "max_data_loader_n_workers": 8, "persistent_data_loader_workers": False},
    "dataset": {"batch_size": 1, "min_bucket_reso": 256, "max_bucket_reso": 1024, "bucket_reso_steps": 64,
                "enable_bucket": False},
    "saving": {"save_every_n_epochs": 0},
    "samples": {"sampler": "ddim"},
}
def import_base(name: str, family: Family) -> TrainingConfig:
    """A config of ``family`` holding sd-scripts' defaults (resolution from the family: sd-scripts
    has none and refuses to start without one)."""
    try:
        project = ProjectConfig(name=name)
    except ValidationError:
        project = ProjectConfig(name="imported")
    cfg = TrainingConfig(project=project, model=ModelConfig(family=family))
    fam = spec(family)
    cfg = merge_groups(cfg, {"dataset": {"resolution": fam.resolution}})
    cfg = merge_groups(cfg, SD_SCRIPTS_DEFAULTS)
    return merge_groups(cfg, fam.sd_scripts_defaults)
