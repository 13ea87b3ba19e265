"""Writing what a tagging/captioning job produced: one caption at a time, atomically, by mode.

Stdlib only (the captioner runs in sd-scripts' Python). A caption file is replaced by rename of a
temp file in the same folder, so a job stopped at any moment leaves every caption either as it
was or fully written; that is what lets a re-run with ``skip`` resume where it stopped.

sd-scripts trains on the first line of a caption file only, so ``append`` merges into the first
line and keeps any further lines as they were.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nyx_core.datasets.captions import join_tags, split_tags
from nyx_core.fsutil import atomic_output

SCORES_FILE = "scores.jsonl"
CAPTIONS_FILE = "captions.jsonl"


def read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig", errors="replace")
    except FileNotFoundError:
        return None


def has_caption(text: str | None) -> bool:
    return bool(text and text.strip())


def merge_tags(existing: str | None, new: list[str], mode: str) -> str | None:
    """The caption to write for a tag list, or None to leave the file alone."""
    if mode == "skip" and has_caption(existing):
        return None
    if mode == "append" and has_caption(existing):
        first, _, rest = existing.replace("\r\n", "\n").partition("\n")
        have = split_tags(first)
        merged = join_tags(have + [t for t in new if t not in set(have)])
        return merged + ("\n" + rest if rest.strip() else "")
    return join_tags(new)


def merge_prose(existing: str | None, new: str, mode: str) -> str | None:
    """Like ``merge_tags`` for a sentence: ``append`` adds it after the first line's text unless
    that line already contains it."""
    if mode == "skip" and has_caption(existing):
        return None
    if mode == "append" and has_caption(existing):
        first, _, rest = existing.replace("\r\n", "\n").partition("\n")
        first = first.rstrip()
        if new.strip() and new.strip() not in first:
            first = f"{first.rstrip(',')}, {new.strip()}" if first else new.strip()
        return first + ("\n" + rest if rest.strip() else "")
    return new.strip()


def write_caption_atomic(path: Path, text: str) -> None:
    """Temp file + rename in the same folder (no fsync: a bulk job writes thousands; readers never
    see a torn file). An empty caption is one newline: sd-scripts refuses a zero-byte caption."""
    with atomic_output(path, fsync=False) as fh:
        fh.write(text.encode("utf-8") or b"\n")


@dataclass
class Outcome:
    image: str
    caption: str
    before: str | None
    after: str | None  # None: left alone (skip)


class Ledger:
    """Appends one JSON line per image to the job folder: what was written (``captions.jsonl``)
    and, for the tagger, the kept scores (``scores.jsonl``). Line-buffered appends, so a stopped
    job's files hold every finished image."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._captions = open(folder / CAPTIONS_FILE, "a", encoding="utf-8", buffering=1)
        self._scores = None
        self.folder = folder

    def caption(self, o: Outcome) -> None:
        self._captions.write(json.dumps({"image": o.image, "before": o.before, "after": o.after},
                                        ensure_ascii=False) + "\n")

    def scores(self, image: str, scores: dict[str, float]) -> None:
        if self._scores is None:
            self._scores = open(self.folder / SCORES_FILE, "a", encoding="utf-8", buffering=1)
        self._scores.write(json.dumps({"image": image, "scores": scores}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        for fh in (self._captions, self._scores):
            if fh is not None:
                fh.close()


def apply_caption(image: Path, caption_ext: str, new_caption: str, mode: str, *, prose: bool = False) -> Outcome:
    """Read the image's caption, merge by mode, write atomically when it changes."""
    path = image.with_name(image.stem + caption_ext)
    before = read_text(path)
    if prose:
        after = merge_prose(before, new_caption, mode)
    else:
        after = merge_tags(before, split_tags(new_caption), mode)
    if after is not None and after != before:
        write_caption_atomic(path, after)
    return Outcome(str(image), new_caption, before, after)


def read_jsonl(path: Path) -> list[dict]:
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill mid-write
                if isinstance(obj, dict):
                    out.append(obj)
    except FileNotFoundError:
        pass
    return out


def caption_sha256(text: str) -> str:
    """The SHA-256 of the bytes ``write_caption_atomic`` stores for ``text``."""
    return hashlib.sha256(text.encode("utf-8") or b"\n").hexdigest()


def seal_journal(journal: str | None, written: dict[str, str]) -> None:
    """When a job ends (completed or stopped), complete the undo journal written before it started:
    each caption it wrote gets the SHA-256 of what it wrote (so an undo leaves alone a caption edited
    by hand since), and the captions it did not change are dropped (undo must not touch them).
    ``written`` maps the caption's dataset-relative path to that hash. A journal already undone or
    pruned is left alone."""
    if not journal:
        return
    path = Path(journal)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    data["entries"] = {rel: {**e, "after_sha256": written[rel]} for rel, e in entries.items() if rel in written}
    with atomic_output(path) as fh:
        fh.write(json.dumps(data).encode("utf-8"))
