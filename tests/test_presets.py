"""Presets set recipe fields only; user presets live in workspace/configs/presets."""
from __future__ import annotations

import pytest

from nyx_core.config import ConfigError, new_config, validate
from nyx_core.config.enums import Family
from nyx_core.config.presets import (
    NON_RECIPE, apply_preset, builtin_presets, delete_user_preset, get_preset, list_presets, list_user_presets,
    preset_for, save_user_preset,
)
from tests.test_config_support import ready_config


def test_builtins_cover_every_family_kind_and_low_vram():
    ids = {p.id for p in builtin_presets()}
    for fam in Family:
        for kind in ("character", "style", "concept"):
            assert f"builtin:{fam.value}-{kind}" in ids
            assert f"builtin:{fam.value}-{kind}-lowvram" in ids


def test_builtins_never_set_paths():
    for p in builtin_presets():
        for group, values in p.groups.items():
            assert not set(values) & NON_RECIPE.get(group, set()), (p.id, group)


def test_every_builtin_validates_cleanly(ws):
    for p in builtin_presets():
        cfg = apply_preset(ready_config(ws, p.family.value), p)
        errs = [x for x in validate(cfg, ws) if x.level == "error"]
        assert errs == [], (p.id, errs)


def test_apply_keeps_paths_dataset_and_prompts(ws):
    cfg = ready_config(ws, "sdxl", samples={"prompts": [{"prompt": "keep me"}]}, project={"trigger_word": "ohwx"})
    out = apply_preset(cfg, preset_for("sdxl", "style", low_vram=True))
    assert out.model == cfg.model and out.dataset.name == cfg.dataset.name
    assert out.samples.prompts == cfg.samples.prompts and out.project == cfg.project
    assert out.network.dim == 32 and out.performance.fp8_base is True and out.dataset.batch_size == 1


def test_family_mismatch_refused():
    with pytest.raises(ConfigError, match="sdxl"):
        apply_preset(new_config("x", "sd15"), preset_for("sdxl", "character"))
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("builtin:nope")


def test_user_presets_roundtrip(ws):
    cfg = ready_config(ws, "flux", network={"dim": 8, "alpha": 4.0}, optimizer={"learning_rate": 3e-4})
    p = save_user_preset(ws, "my flux", cfg, "small and fast")
    assert (ws.configs / "presets" / "my flux.toml").is_file()
    assert p.id == "user:my flux" and p.family is Family.flux
    assert "base_model" not in p.groups.get("model", {}) and "name" not in p.groups.get("dataset", {})
    assert [x.id for x in list_user_presets(ws)] == ["user:my flux"]
    assert "user:my flux" in {x.id for x in list_presets(ws, "flux")}
    assert "user:my flux" not in {x.id for x in list_presets(ws, "sd15")}
    other = ready_config(ws, "flux")
    applied = apply_preset(other, preset_for("flux", "user:my flux", ws=ws))
    assert applied.network.dim == 8 and applied.optimizer.learning_rate == 3e-4
    assert applied.model.base_model == other.model.base_model
    delete_user_preset(ws, "my flux")
    assert list_user_presets(ws) == []


def test_bad_user_preset_names(ws):
    with pytest.raises(ConfigError):
        save_user_preset(ws, "../evil", new_config("x"))
    (ws.configs / "presets").mkdir(parents=True)
    (ws.configs / "presets" / "broken.toml").write_text("[[[")
    assert list_user_presets(ws) == []
