"""A WD tagger's label file (``selected_tags.csv``): one row per model output.

Columns are ``tag_id,name,category,count``; the category codes are Danbooru's: 9 = rating,
4 = character, 0 = general (other codes, e.g. 1 artist or 3 copyright, are kept but never chosen).
Stdlib only: the caption writer and the page read it without numpy.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nyx_core.errors import NyxError

RATING, GENERAL, CHARACTER = 9, 0, 4


class LabelError(NyxError):
    """The label file is missing or not a WD tagger's selected_tags.csv."""


@dataclass(frozen=True)
class Labels:
    names: tuple[str, ...]
    categories: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, category: int) -> list[int]:
        return [i for i, c in enumerate(self.categories) if c == category]


def read_labels(path: Path) -> Labels:
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise LabelError(f"{path.name} is missing in {path.parent}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelError(f"{path} cannot be read: {exc}") from None
    if not rows or [h.strip() for h in rows[0][:3]] != ["tag_id", "name", "category"]:
        raise LabelError(f"{path.name} is not a WD tagger label file (expected the header tag_id,name,category,count)")
    names, cats = [], []
    for n, row in enumerate(rows[1:], 2):
        if len(row) < 3:
            raise LabelError(f"{path.name} line {n} has fewer than 3 columns")
        try:
            cats.append(int(row[2]))
        except ValueError:
            raise LabelError(f"{path.name} line {n}: category {row[2]!r} is not a number") from None
        names.append(row[1])
    if not names:
        raise LabelError(f"{path.name} lists no tags")
    return Labels(tuple(names), tuple(cats))
