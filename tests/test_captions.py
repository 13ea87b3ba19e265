"""Pure caption-text functions: split/join, every transform, the regex time guard, frequency."""
from __future__ import annotations

import time

import pytest
from hypothesis import given, strategies as st

from nyx_core.datasets.captions import (
    KEEP_SEP,
    CaptionError,
    TagOp,
    add_tags,
    apply_to_text,
    build_transform,
    compile_pattern,
    dedupe_tags,
    has_word,
    join_tags,
    keep_first,
    move_to_front,
    normalize_tags,
    regex_replace_tags,
    remove_tags,
    replace_tags,
    sort_tags,
    split_tags,
    tag_frequency,
)


def test_split_and_join():
    assert split_tags(" a, b ,, c\n") == ["a", "b", "c"]
    assert split_tags("a, b\r\nc") == ["a", "b", "c"]
    assert split_tags("") == [] and split_tags(None) == []
    assert split_tags("a, b ||| c, d") == ["a", "b", KEEP_SEP, "c", "d"]
    assert join_tags(["a", "b", KEEP_SEP, "c", "d"]) == "a, b ||| c, d"
    assert join_tags([KEEP_SEP, "c"]) == "||| c"
    assert join_tags(["a", KEEP_SEP]) == "a |||"


tag = st.text(alphabet="abcxyz _-()", min_size=1, max_size=8).map(str.strip).filter(bool)


@given(st.lists(tag, max_size=8))
def test_split_join_roundtrip(tags):
    assert split_tags(join_tags(tags)) == tags


def test_add_front_back_no_duplicates():
    assert add_tags(["a", "b"], ["b", "c"]) == ["a", "b", "c"]
    assert add_tags(["a", "b"], ["ohwx"], front=True) == ["ohwx", "a", "b"]
    assert add_tags(["a", "ohwx"], ["ohwx"], front=True) == ["ohwx", "a"]
    assert add_tags(["a"], [" ", "c", "c"]) == ["a", "c"]


def test_remove_replace_move():
    assert remove_tags(["a", "b", KEEP_SEP, "c"], ["b", KEEP_SEP]) == ["a", KEEP_SEP, "c"]
    assert replace_tags(["a", "b", "c"], {"b": "x, y"}) == ["a", "x", "y", "c"]
    assert replace_tags(["a", "b", "c"], {"b": ""}) == ["a", "c"]
    assert replace_tags(["a", "b"], {"b": "a"}) == ["a"]
    assert move_to_front(["a", "b", "c"], ["c", "zz"]) == ["c", "a", "b"]


def test_sort_dedupe_normalize_keep():
    assert sort_tags(["b", "A", KEEP_SEP, "z", "c"]) == ["A", "b", KEEP_SEP, "c", "z"]
    assert dedupe_tags(["a", "b", "a"]) == ["a", "b"]
    assert normalize_tags(["long_hair", "  two   words ", "^_^", "long hair"]) == ["long hair", "two words", "^_^"]
    assert keep_first(["a", "b", "c"], 1) == ["a", KEEP_SEP, "b", "c"]
    assert keep_first(["a", KEEP_SEP, "b", "c"], 2) == ["a", "b", KEEP_SEP, "c"]
    assert keep_first(["a", KEEP_SEP, "b"], 0) == ["a", "b"]
    with pytest.raises(CaptionError):
        keep_first(["a"], -1)


def test_apply_to_text_keeps_untouched_text():
    t = build_transform(TagOp("remove", tags=("zzz",)))
    assert apply_to_text(t, "a,b  ,c") == "a,b  ,c"
    t = build_transform(TagOp("add", tags=("ohwx",), front=True))
    assert apply_to_text(t, "a, b\n") == "ohwx, a, b\n"
    assert apply_to_text(t, None) == "ohwx"
    assert apply_to_text(t, "") == "ohwx"
    # wildcard captions: each line is a variant and keeps its line; CRLF stays CRLF
    assert apply_to_text(t, "a, b\r\n\r\nc\r\n") == "ohwx, a, b\r\n\r\nohwx, c\r\n"
    r = build_transform(TagOp("remove", tags=("b",)))
    assert apply_to_text(r, "") == ""
    assert apply_to_text(r, "a, b\nb, c") == "a\nc"


def test_regex_replace():
    c = compile_pattern(r"^(\w+) hair$")
    assert regex_replace_tags(["blue hair", "red eyes"], c, r"\1-hair") == ["blue-hair", "red eyes"]
    c = compile_pattern(r"^red.*")
    assert regex_replace_tags(["red eyes", "a"], c, "") == ["a"]


@pytest.mark.parametrize("bad", ["", "(a+)+", "(x*)*y", "([a-z]+)*", r"(\w+){2,}", r"(?:a{1,3})+", "a" * 201, "(unclosed"])
def test_regex_refused_up_front(bad):
    with pytest.raises(CaptionError):
        compile_pattern(bad)


@pytest.mark.parametrize("ok", [r"(\w+){2}", r"(a|b)+", r"^(\w+) hair$", r"\(x+\)+"])
def test_regex_harmless_patterns_allowed(ok):
    compile_pattern(ok)


def test_regex_catastrophic_pattern_is_stopped_by_timeout():
    # Passes the static check (no nested quantifier) but backtracks exponentially on a non-match.
    c = compile_pattern(r"(.*?a){25}z")
    start = time.monotonic()
    with pytest.raises(CaptionError, match="took over"):
        regex_replace_tags(["a" * 40 + "!"], c, "x", timeout=0.2)
    assert time.monotonic() - start < 5


def test_bad_ops():
    with pytest.raises(CaptionError):
        build_transform(TagOp("explode"))
    with pytest.raises(CaptionError):
        build_transform(TagOp("add"))
    with pytest.raises(CaptionError):
        build_transform(TagOp("replace"))
    with pytest.raises(CaptionError):
        build_transform(TagOp("regex", pattern=r"\1(", repl="x"))


def test_tag_frequency_and_has_word():
    f = tag_frequency(["a, b, a", "b ||| c", None, ""])
    assert f == {"a": 1, "b": 2, "c": 1}
    assert has_word("ohwx woman, smiling", "ohwx")
    assert not has_word("ohwxy woman", "ohwx")
    assert not has_word(None, "ohwx")


def test_trained_caption_is_sd_scripts_first_line():
    from nyx_core.datasets.captions import normalize_caption, trained_caption, untrained_lines

    assert trained_caption(None) is None
    assert trained_caption("") == ""
    assert trained_caption("\nohwx, red") == ""  # a blank first line trains as empty
    assert trained_caption("  a, b \r\nc") == "a, b"
    assert trained_caption("a\rb") == "a"  # text mode turns a lone CR into a line break too
    assert untrained_lines("a\n\nb\nc\n") == 2
    assert normalize_caption("\n a, b,\r\n c \n\n") == "a, b, c"
    assert normalize_caption(" x ") == "x" and normalize_caption("\n\n") == ""
