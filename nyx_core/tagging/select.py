"""Scores → tags: thresholds or MCut, categories, order, undesired, replacements, first tags.

Pure functions over one image's score vector, so every option is tested without a model.
With the default options the result equals sd-scripts' WD14 script (label-file order; a
character tag is chosen at its own threshold; ``remove_underscore`` spares tags of ≤ 3
characters, which are emoticons like ``^_^``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nyx_core.tagging.labels import CHARACTER, GENERAL, RATING, Labels
from nyx_core.tagging.options import TagOptions


def display_name(raw: str, opts: TagOptions) -> str:
    name = raw.replace("_", " ") if opts.underscores_to_spaces and len(raw) > 3 else raw
    name = opts.replacements.get(name, opts.replacements.get(raw, name))
    if opts.escape_brackets:
        name = name.replace("(", r"\(").replace(")", r"\)")
    return name


def mcut_threshold(scores: np.ndarray) -> float:
    """Maximum Cut Thresholding (Largeron et al. 2012): the middle of the largest gap between
    consecutive sorted scores. With fewer than two scores nothing can be cut: 1.0 keeps none."""
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if len(s) < 2:
        return 1.0
    gaps = s[:-1] - s[1:]
    i = int(np.argmax(gaps))
    return float((s[i] + s[i + 1]) / 2)


@dataclass(frozen=True)
class Prepared:
    """Per-label data computed once per run (names as written, category masks)."""

    names: tuple[str, ...]
    general: np.ndarray
    character: np.ndarray
    rating: np.ndarray
    undesired: np.ndarray  # bool mask


def prepare(labels: Labels, opts: TagOptions) -> Prepared:
    names = tuple(display_name(n, opts) for n in labels.names)
    cats = np.asarray(labels.categories)
    unwanted = {u.strip() for u in opts.undesired if u.strip()}
    undesired = np.array([n in unwanted or raw in unwanted or raw.replace("_", " ") in unwanted
                          for n, raw in zip(names, labels.names)], dtype=bool)
    return Prepared(names, np.flatnonzero(cats == GENERAL), np.flatnonzero(cats == CHARACTER),
                    np.flatnonzero(cats == RATING), undesired)


def select(scores: np.ndarray, prep: Prepared, opts: TagOptions) -> list[str]:
    scores = np.asarray(scores, dtype=np.float32)
    g_thr = mcut_threshold(scores[prep.general]) if opts.general_mcut else opts.general_threshold
    # SmilingWolf's reference tagger floors the character MCut at 0.15: one clear gap among
    # near-zero character scores must not make a character appear.
    c_thr = max(0.15, mcut_threshold(scores[prep.character])) if opts.character_mcut else opts.character_threshold
    # vectorised: a real tagger has ~10,000 labels, and this runs once per image
    g, c = prep.general, prep.character
    chosen_g = g[(scores[g] >= g_thr) & ~prep.undesired[g]]
    chosen_c = c[(scores[c] >= c_thr) & ~prep.undesired[c]]
    if opts.character_first:
        picked = np.concatenate([_ordered(chosen_c, scores, opts), _ordered(chosen_g, scores, opts)])
    else:
        picked = _ordered(np.concatenate([chosen_g, chosen_c]), scores, opts)
    if opts.max_tags:
        picked = picked[: opts.max_tags]
    tags = [prep.names[i] for i in picked.tolist()]
    if opts.rating and len(prep.rating):
        best = int(prep.rating[int(np.argmax(scores[prep.rating]))])
        if not prep.undesired[best]:
            tags.insert(0, prep.names[best])
    return with_first(tags, opts.first)


def _ordered(idx: np.ndarray, scores: np.ndarray, opts: TagOptions) -> np.ndarray:
    """Label-file order, or surest first with ties in label-file order."""
    if opts.order == "score":
        return idx[np.lexsort((idx, -scores[idx]))]
    return np.sort(idx)


def with_first(tags: list[str], first: list[str]) -> list[str]:
    first = list(dict.fromkeys(t.strip() for t in first if t.strip()))
    wanted = set(first)
    return first + [t for t in dict.fromkeys(tags) if t not in wanted]


def top_scores(scores: np.ndarray, prep: Prepared, floor: float = 0.05, limit: int = 200) -> dict[str, float]:
    """The scores worth keeping per image (for 'tags just under the threshold'): general and
    character tags at or above ``floor``, at most ``limit``, highest first."""
    idx = np.concatenate([prep.general, prep.character])
    idx = idx[scores[idx] >= floor]
    idx = idx[np.argsort(-scores[idx], kind="stable")][:limit]
    return {prep.names[i]: round(float(scores[i]), 4) for i in idx}
