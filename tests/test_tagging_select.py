"""Scores → tags (nyx_core/tagging/select.py) and the option parsing, on hand-made score vectors:
thresholds, MCut, categories, ordering, undesired, replacements, first tags, caption modes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nyx_core.tagging.labels import LabelError, Labels, read_labels
from nyx_core.tagging.options import TagOptions, TaggingError, parse_list, parse_replacements
from nyx_core.tagging.output import merge_prose, merge_tags
from nyx_core.tagging.select import mcut_threshold, prepare, select, top_scores

LABELS = Labels(
    names=("general", "sensitive", "questionable", "explicit", "1girl", "long_hair", "^_^", "red_(theme)",
           "smile", "hatsune_miku", "saber_(fate)"),
    categories=(9, 9, 9, 9, 0, 0, 0, 0, 0, 4, 4),
)
#                    ratings              1girl long  ^_^  red  smile miku saber
SCORES = np.array([0.1, 0.7, 0.1, 0.1, 0.90, 0.40, 0.36, 0.20, 0.95, 0.86, 0.84], dtype=np.float32)


def tags(**kw) -> list[str]:
    opts = TagOptions(**kw).check()
    return select(SCORES, prepare(LABELS, opts), opts)


def test_default_thresholds_categories_and_label_order():
    # general ≥ 0.35, character ≥ 0.85, label-file order, ratings never unless asked, and
    # underscores → spaces except in tags of ≤ 3 characters (sd-scripts' rule, for ^_^)
    assert tags() == ["1girl", "long hair", "^_^", "smile", "hatsune miku"]


def test_thresholds_move_tags_in_and_out():
    assert tags(general_threshold=0.9, character_threshold=0.8) == ["1girl", "smile", "hatsune miku", "saber (fate)"]
    assert tags(general_threshold=0.1, character_threshold=1.0) == ["1girl", "long hair", "^_^", "red (theme)", "smile"]


def test_score_order_character_first_rating_and_max_tags():
    assert tags(order="score") == ["smile", "1girl", "hatsune miku", "long hair", "^_^"]
    assert tags(character_first=True) == ["hatsune miku", "1girl", "long hair", "^_^", "smile"]
    assert tags(rating=True)[0] == "sensitive"
    assert tags(order="score", max_tags=2) == ["smile", "1girl"]
    assert tags(order="score", max_tags=2, first=["ohwx"]) == ["ohwx", "smile", "1girl"]


def test_undesired_replacements_first_escape_and_underscores():
    # undesired matches the raw name or the written one
    assert tags(undesired=["long_hair", "smile"]) == ["1girl", "^_^", "hatsune miku"]
    assert tags(replacements={"1girl": "woman"}) == ["woman", "long hair", "^_^", "smile", "hatsune miku"]
    # first tags go first in the given order, added when not detected, moved when detected
    assert tags(first=["ohwx", "smile"]) == ["ohwx", "smile", "1girl", "long hair", "^_^", "hatsune miku"]
    assert tags(general_threshold=0.1, escape_brackets=True)[3] == r"red \(theme\)"
    assert tags(underscores_to_spaces=False)[1] == "long_hair"


def test_mcut_picks_the_largest_gap():
    assert mcut_threshold(np.array([0.9, 0.85, 0.3, 0.2])) == pytest.approx(0.575)
    assert mcut_threshold(np.array([0.5])) == 1.0
    # general MCut on this image: scores .95 .90 | .40 .36 .20 → threshold .65
    assert tags(general_mcut=True) == ["1girl", "smile", "hatsune miku"]
    # character MCut is floored at 0.15; .86/.84 have no gap worth cutting between them and nothing
    # else, so the cut falls between them
    assert tags(character_mcut=True)[-1] == "hatsune miku"


def test_top_scores_keep_general_and_character_only_highest_first():
    opts = TagOptions()
    top = top_scores(SCORES, prepare(LABELS, opts), floor=0.3)
    assert list(top) == ["smile", "1girl", "hatsune miku", "saber (fate)", "long hair", "^_^"]
    assert "sensitive" not in top


def test_caption_modes():
    assert merge_tags("old, smile", ["smile", "new"], "overwrite") == "smile, new"
    assert merge_tags("old, smile", ["smile", "new"], "append") == "old, smile, new"
    assert merge_tags("old\nsecond line", ["new"], "append") == "old, new\nsecond line"
    assert merge_tags("old", ["new"], "skip") is None
    assert merge_tags("  \n", ["new"], "skip") == "new"
    assert merge_tags(None, ["new"], "append") == "new"
    assert merge_prose("ohwx", "a cat on a sofa", "append") == "ohwx, a cat on a sofa"
    assert merge_prose("ohwx, a cat on a sofa", "a cat on a sofa", "append") == "ohwx, a cat on a sofa"
    assert merge_prose("x", "a cat", "skip") is None


def test_option_checks_and_parsing():
    with pytest.raises(TaggingError, match="between 0 and 1"):
        TagOptions(general_threshold=1.5).check()
    with pytest.raises(TaggingError, match="mode"):
        TagOptions(mode="merge").check()
    with pytest.raises(TaggingError, match="unknown option"):
        TagOptions.from_dict({"threshold": 0.3})
    assert parse_list(" a, ,b ,") == ["a", "b"]
    assert parse_replacements("a=b; c = d\ne=") == {"a": "b", "c": "d", "e": ""}
    with pytest.raises(TaggingError, match="old=new"):
        parse_replacements("nonsense")


def test_label_file_must_be_a_wd_tagger_csv(tmp_path):
    (tmp_path / "selected_tags.csv").write_text("id,tag\n1,x\n")
    with pytest.raises(LabelError, match="header"):
        read_labels(tmp_path / "selected_tags.csv")
    with pytest.raises(LabelError, match="missing"):
        read_labels(tmp_path / "nope.csv")
    (tmp_path / "selected_tags.csv").write_text("tag_id,name,category,count\n1,a_b,0,5\n2,c,4,3\n")
    assert read_labels(tmp_path / "selected_tags.csv") == Labels(("a_b", "c"), (0, 4))


def test_a_cut_download_leaves_no_model_folder(ws, monkeypatch):
    """huggingface_hub fails after the first file: nothing under models/taggers/ looks like a model
    (the files went to a hidden .partial folder, which is removed), and a later complete download
    is renamed into place."""
    import huggingface_hub

    from nyx_core.tagging.catalog import ensure_downloaded, resolve_model

    calls = []

    def cut(repo_id, filename, local_dir, **kw):  # noqa: ANN001, ANN003
        calls.append(filename)
        if filename == "selected_tags.csv":
            raise OSError("connection reset")
        (Path(local_dir) / filename).write_bytes(b"onnx")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", cut)
    ref = resolve_model(ws, "taggers", "wd-vit-tagger-v3")
    with pytest.raises(OSError):
        ensure_downloaded(ref)
    assert calls == ["model.onnx", "selected_tags.csv"]
    assert not ref.present and list((ws.models / "taggers").iterdir()) == []

    def full(repo_id, filename, local_dir, **kw):  # noqa: ANN001, ANN003
        (Path(local_dir) / filename).write_bytes(b"x")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", full)
    assert ensure_downloaded(ref) == ref.folder and ref.present
    assert [p.name for p in (ws.models / "taggers").iterdir()] == ["wd-vit-tagger-v3"]
