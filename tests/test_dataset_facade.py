"""The notebook facade: a whole workflow as plain method calls on real files."""
from __future__ import annotations

import io
import zipfile

from PIL import Image

from nyx_core.datasets import Dataset, TagOp


def _png(color) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (512, 512), color).save(b, "PNG")
    return b.getvalue()


def test_notebook_workflow(ws, tmp_path):
    ds = Dataset.create(ws, "cats", concept="ohwx cat", repeats=3, trigger_word="ohwx")
    z = tmp_path / "c.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.png", _png("red"))
        zf.writestr("a.txt", "cat")
        zf.writestr("b.png", _png("blue"))
    assert len(ds.ingest_zip(z).taken) == 2
    assert ds.summary().captioned_count == 1
    report = ds.check(resolution=512)
    assert {p.kind for p in report.problems} == {"missing_caption", "missing_trigger"}
    before = {p: ds.caption(p) for p in ds.images()}
    assert ds.preview(TagOp("add", tags=("ohwx",), front=True)).changed == 2
    assert ds.apply(TagOp("add", tags=("ohwx",), front=True)) == 2
    assert ds.check(resolution=512).problems == []
    assert ds.tag_frequency()["ohwx"] == 2
    assert ds.undo().restored == 2
    assert {p: ds.caption(p) for p in ds.images()} == before
    ds.set_repeats("ohwx cat", 5)
    assert ds.rename("kitties").layout.concepts[0].folder.name == "5_ohwx cat"
    assert [d.name for d in Dataset.all(ws)] == ["kitties"]
