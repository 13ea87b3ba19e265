"""Pure functions on caption text: tags split on commas, transformed, joined back.

No I/O here, so every transform is testable with plain strings and fast enough for bulk work
(``caption_ops`` applies them over a dataset). A caption may hold sd-scripts' keep-token
separator (``a, b ||| c, d``: tags before it are never shuffled); the separator is carried in the
tag list as the item ``KEEP_SEP`` so every transform keeps it in place.

sd-scripts reads only the first line of a caption file (a random line with ``enable_wildcard``),
so bulk transforms work line by line; ``split_tags`` on a whole file treats newlines as commas,
which is what tag counts and filters want.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from nyx_core.errors import NyxError

KEEP_SEP = "|||"
#: Longest regex a user may run over captions; long patterns are where pathological ones hide.
MAX_PATTERN_LEN = 200
#: Wall-clock limit for one regex over one caption (the `regex` module enforces it while matching).
REGEX_TIMEOUT_S = 0.25

_SPACES = re.compile(r"\s+")
#: the line breaks Python's text mode turns into "\n" (what sd-scripts' ``readlines()`` splits on)
_NEWLINES = re.compile(r"\r\n|\r|\n")


class CaptionError(NyxError):
    """A caption operation was refused (bad pattern, runaway regex, bad arguments)."""


# -- split / join --------------------------------------------------------------------------------
def split_tags(text: str | None) -> list[str]:
    """``"a, b ,, c\\n"`` -> ``["a", "b", "c"]``; a ``|||`` separator stays as its own item."""
    if not text:
        return []
    text = text.replace("\r\n", "\n").replace("\n", ",")
    if KEEP_SEP in text:
        fixed, flex = text.split(KEEP_SEP, 1)
        flex = flex.replace(KEEP_SEP, ",")  # sd-scripts splits on the first separator only
        return _split(fixed) + [KEEP_SEP] + _split(flex)
    return _split(text)


def trained_caption(text: str | None) -> str | None:
    """The caption sd-scripts trains on for a caption file holding ``text``: its first line, stripped
    (``read_caption`` without ``enable_wildcard``). A file whose first line is blank trains as an
    empty caption whatever follows. None when there is no caption file."""
    if text is None:
        return None
    return _NEWLINES.split(text.lstrip("\ufeff"), 1)[0].strip()


def untrained_lines(text: str | None) -> int:
    """How many non-blank lines after the first sd-scripts never reads (without enable_wildcard)."""
    if not text:
        return 0
    return sum(1 for line in _NEWLINES.split(text.lstrip("\ufeff"))[1:] if line.strip())


def normalize_caption(text: str) -> str:
    """The caption to store so the file trains on what the editor showed: blank lines dropped (a
    leading one would make it train as empty), each line trimmed, and several lines joined into one
    with commas (sd-scripts reads only the first line)."""
    lines = [line.strip() for line in _NEWLINES.split(text.replace("\ufeff", ""))]
    lines = [line for line in lines if line]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return ", ".join(part for part in (line.strip(" ,") for line in lines) if part)


def _split(text: str) -> list[str]:
    return [t for t in (p.strip() for p in text.split(",")) if t]


def join_tags(tags: Iterable[str]) -> str:
    """Inverse of split_tags: ``a, b ||| c`` (no comma next to the separator, as sd-scripts writes it)."""
    out = ""
    prev_sep = True
    for tag in tags:
        if tag == KEEP_SEP:
            out += (" " if out else "") + KEEP_SEP
            prev_sep = True
            continue
        out += (" " if prev_sep else ", ") + tag if out else tag
        prev_sep = False
    return out


def _content(tags: list[str]) -> list[str]:
    return [t for t in tags if t != KEEP_SEP]


# -- tag transforms (list in, new list out) ------------------------------------------------------
def add_tags(tags: list[str], new: Iterable[str], *, front: bool = False) -> list[str]:
    """Add tags that are not there yet. With ``front`` they go first, in the given order, and a tag
    already present elsewhere is moved to the front (so a trigger word ends up first)."""
    new = [t.strip() for t in new if t and t.strip() and t.strip() != KEEP_SEP]
    new = list(dict.fromkeys(new))
    if not front:
        have = set(tags)
        return list(tags) + [t for t in new if t not in have]
    wanted = set(new)
    return new + [t for t in tags if t not in wanted]


def remove_tags(tags: list[str], remove: Iterable[str]) -> list[str]:
    drop = {t.strip() for t in remove} - {KEEP_SEP}
    return [t for t in tags if t not in drop]


def replace_tags(tags: list[str], mapping: dict[str, str]) -> list[str]:
    """Exact tag replacement; a replacement may be empty (removes) or hold commas (several tags).
    A result that duplicates an existing tag is dropped so no caption gains a double."""
    mapping = {k.strip(): v for k, v in mapping.items() if k.strip() and k.strip() != KEEP_SEP}
    out: list[str] = []
    for tag in tags:
        if tag in mapping:
            out.extend(_split(mapping[tag]))
        else:
            out.append(tag)
    return dedupe_tags(out)


def move_to_front(tags: list[str], chosen: Iterable[str]) -> list[str]:
    """Move the chosen tags that the caption has to the front, in the given order."""
    present = [t for t in dict.fromkeys(t.strip() for t in chosen) if t in tags and t != KEEP_SEP]
    if not present:
        return list(tags)
    return present + [t for t in tags if t not in set(present)]


def dedupe_tags(tags: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in tags:
        if t == KEEP_SEP or t not in seen:
            out.append(t)
            seen.add(t)
    return out


def sort_tags(tags: list[str]) -> list[str]:
    """Alphabetical (case-blind), each side of a keep separator sorted on its own so kept tags stay kept."""
    if KEEP_SEP in tags:
        i = tags.index(KEEP_SEP)
        return sorted(tags[:i], key=str.casefold) + [KEEP_SEP] + sort_tags(tags[i + 1:])
    return sorted(tags, key=str.casefold)


def normalize_tags(tags: list[str], *, underscores: bool = True) -> list[str]:
    """Collapse runs of whitespace; ``long_hair`` -> ``long hair`` (booru style to prose style).
    Emoticon-like tags made only of punctuation (``^_^``) keep their underscores."""
    out = []
    for t in tags:
        if t == KEEP_SEP:
            out.append(t)
            continue
        if underscores and any(c.isalnum() for c in t):
            t = t.replace("_", " ")
        t = _SPACES.sub(" ", t).strip()
        if t:
            out.append(t)
    return dedupe_tags(out)


def keep_first(tags: list[str], n: int) -> list[str]:
    """Put the keep separator after the first ``n`` tags (0 removes it)."""
    if n < 0:
        raise CaptionError("the number of tags to keep cannot be negative")
    plain = _content(tags)
    if n == 0:
        return plain
    return plain[:n] + [KEEP_SEP] + plain[n:]


# -- regex replace with a time guard ----------------------------------------------------------------
# a group ending in a quantifier, itself repeated without bound: (a+)+  (x*)*  (\w+){2,}
_NESTED_QUANT = re.compile(r"\((?:[^()\\]|\\.)*[+*}]\)(?:[+*]|\{\d*,\d*\})")


def compile_pattern(pattern: str):  # noqa: ANN201 - returns a regex.Pattern
    """Compile a user regex with the third-party ``regex`` engine, which can stop a match after a
    timeout. Refused up front: over-long patterns and nested quantifiers like ``(a+)+``, the classic
    shape of catastrophic backtracking."""
    import regex

    if not pattern:
        raise CaptionError("the pattern is empty; type what to look for")
    if len(pattern) > MAX_PATTERN_LEN:
        raise CaptionError(f"the pattern is longer than {MAX_PATTERN_LEN} characters; shorten it")
    if _NESTED_QUANT.search(pattern):
        raise CaptionError("the pattern repeats a repeated group, e.g. (a+)+, which can run for hours; simplify it")
    try:
        return regex.compile(pattern, regex.V0)
    except regex.error as exc:
        raise CaptionError(f"the pattern is not a valid regular expression: {exc}") from exc


def regex_replace_tags(tags: list[str], compiled, repl: str, *, timeout: float = REGEX_TIMEOUT_S) -> list[str]:  # noqa: ANN001
    """Run ``compiled.sub(repl, tag)`` on each tag; a result may hold commas (split again) or be empty
    (dropped). Raises CaptionError when one substitution exceeds ``timeout`` seconds."""
    out: list[str] = []
    for tag in tags:
        if tag == KEEP_SEP:
            out.append(tag)
            continue
        try:
            new = compiled.sub(repl, tag, timeout=timeout)
        except TimeoutError as exc:
            raise CaptionError(f"the pattern took over {timeout}s on the tag {tag[:40]!r}; simplify it") from exc
        except (IndexError, Exception) as exc:  # bad group reference in repl, etc.
            if isinstance(exc, CaptionError):
                raise
            raise CaptionError(f"the replacement {repl!r} does not fit the pattern: {exc}") from exc
        out.extend(_split(new))
    return dedupe_tags(out)


# -- operations as values ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TagOp:
    """One bulk operation, described by data so it can be previewed, applied, and logged.

    kind: add | remove | replace | regex | move_front | sort | dedupe | normalize | keep_first
    """

    kind: str
    tags: tuple[str, ...] = ()
    mapping: tuple[tuple[str, str], ...] = ()
    pattern: str = ""
    repl: str = ""
    front: bool = False
    n: int = 0
    create_missing: bool = field(default=False)

    def describe(self) -> str:
        if self.kind == "add":
            return f"add {', '.join(self.tags)} at the {'front' if self.front else 'end'}"
        if self.kind == "remove":
            return f"remove {', '.join(self.tags)}"
        if self.kind == "replace":
            return "replace " + ", ".join(f"{a} → {b or '(nothing)'}" for a, b in self.mapping)
        if self.kind == "regex":
            return f"regex {self.pattern!r} → {self.repl!r}"
        if self.kind == "move_front":
            return f"move {', '.join(self.tags)} to the front"
        if self.kind == "keep_first":
            return f"keep the first {self.n} tags"
        return self.kind


KINDS = ("add", "remove", "replace", "regex", "move_front", "sort", "dedupe", "normalize", "keep_first")


def build_transform(op: TagOp) -> Callable[[list[str]], list[str]]:
    """The tag-list function for ``op``; validates arguments once (a bad regex fails here, not per file)."""
    if op.kind not in KINDS:
        raise CaptionError(f"unknown tag operation {op.kind!r}; use one of {', '.join(KINDS)}")
    for text in [*op.tags, *(x for pair in op.mapping for x in pair), op.pattern or "", op.repl or ""]:
        try:
            str(text).encode("utf-8")
        except UnicodeEncodeError:
            raise CaptionError(f"a tag has bytes that are not UTF-8 text: {str(text).encode('utf-8', 'backslashreplace').decode()!r}") from None
    if op.kind in ("add", "remove", "move_front") and not [t for t in op.tags if t.strip()]:
        raise CaptionError(f"'{op.kind}' needs at least one tag")
    if op.kind == "add":
        return lambda tags: add_tags(tags, op.tags, front=op.front)
    if op.kind == "remove":
        return lambda tags: remove_tags(tags, op.tags)
    if op.kind == "replace":
        mapping = dict(op.mapping)
        if not mapping:
            raise CaptionError("'replace' needs OLD=NEW")
        return lambda tags: replace_tags(tags, mapping)
    if op.kind == "regex":
        compiled = compile_pattern(op.pattern)
        return lambda tags: regex_replace_tags(tags, compiled, op.repl)
    if op.kind == "move_front":
        return lambda tags: move_to_front(tags, op.tags)
    if op.kind == "sort":
        return sort_tags
    if op.kind == "dedupe":
        return dedupe_tags
    if op.kind == "normalize":
        return normalize_tags
    return lambda tags: keep_first(tags, op.n)


def apply_to_text(transform: Callable[[list[str]], list[str]], text: str | None) -> str:
    """New caption text, or the original text untouched when no tag changed (so a no-op never
    rewrites a hand-formatted caption). Each non-empty line is transformed on its own: sd-scripts
    trains on the first line, or on a random line with ``enable_wildcard``, so lines are variants."""
    if text is None or not text.strip():
        new = join_tags(transform([]))
        return text if text is not None and not new else new
    newline = "\r\n" if "\r\n" in text else "\n"
    out: list[str] = []
    changed = False
    for line in text.splitlines():
        tags = split_tags(line)
        if not tags:
            out.append(line)
            continue
        new_tags = transform(tags)
        if new_tags == tags:
            out.append(line)
        else:
            out.append(join_tags(new_tags))
            changed = True
    if not changed:
        return text
    result = newline.join(out)
    return result + newline if text.endswith(("\n", "\r")) else result


def tag_frequency(captions: Iterable[str | None]) -> Counter[str]:
    """How many captions contain each tag (a tag repeated in one caption counts once)."""
    counts: Counter[str] = Counter()
    for text in captions:
        if text:
            counts.update(set(split_tags(text)) - {KEEP_SEP})
    return counts


def has_word(text: str | None, word: str) -> bool:
    """Whether ``word`` appears as a whole word/tag (``ohwx`` matches ``ohwx woman``, not ``ohwxy``)."""
    if not text or not word:
        return False
    return re.search(rf"(?<!\w){re.escape(word.strip())}(?!\w)", text) is not None
