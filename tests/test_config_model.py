"""The typed config and its TOML file (tomlkit: comments and order survive edits)."""
from __future__ import annotations

import pytest

from nyx_core.config import ConfigError, TrainingConfig, dumps_config, load_config, new_config, parse_config_text, save_config
from nyx_core.config.enums import Family, NetworkType, Optimizer
from nyx_core.config.model import FAMILY_DEFAULTS, SamplePrompt


def test_new_config_applies_family_defaults():
    for fam in Family:
        cfg = new_config("x", fam)
        assert cfg.model.family is fam
        for group, values in FAMILY_DEFAULTS[fam].items():
            for key, value in values.items():
                got = getattr(getattr(cfg, group), key)
                assert (got.value if hasattr(got, "value") else got) == value, (fam, group, key)


def test_roundtrip_through_toml(tmp_path):
    cfg = new_config("round trip", "flux", network={"type": "lokr", "factor": 8},
                     optimizer={"optimizer": "Prodigy", "learning_rate": 1.0, "betas": (0.9, 0.99)},
                     samples={"prompts": [{"prompt": "a cat", "width": 512, "cfg": 3.5}]})
    path = save_config(cfg, tmp_path / "c.toml")
    back = load_config(path)
    assert back == cfg
    assert back.network.type is NetworkType.lokr
    assert back.optimizer.optimizer is Optimizer.prodigy
    assert back.samples.prompts[0] == SamplePrompt(prompt="a cat", width=512, cfg=3.5)


def test_save_keeps_comments_and_order(tmp_path):
    cfg = new_config("keep", "sd15")
    path = save_config(cfg, tmp_path / "c.toml")
    text = path.read_text()
    text = text.replace("[network]", "# my own note about the network\n[network]")
    text = text.replace("dim = 16", "dim = 16  # tried 32, too strong")
    path.write_text(text)
    order_before = [line.split("=")[0].strip() for line in text.splitlines() if "=" in line]
    cfg = load_config(path)
    cfg.network.dim = 24
    cfg.dataset.shuffle_caption = True
    save_config(cfg, path)
    after = path.read_text()
    assert "# my own note about the network" in after
    assert "dim = 24  # tried 32, too strong" in after
    assert "shuffle_caption = true" in after
    order_after = [line.split("=")[0].strip() for line in after.splitlines() if "=" in line]
    assert order_after == order_before
    assert load_config(path).network.dim == 24


def test_lists_of_tables_survive_edits(tmp_path):
    path = tmp_path / "c.toml"
    cfg = new_config("lists", "sdxl")
    save_config(cfg, path)
    cfg.samples.prompts = [SamplePrompt(prompt="one"), SamplePrompt(prompt="two", seed=3)]
    cfg.dataset.concepts = [{"folder": "10_cat", "class_tokens": "cat"}]
    save_config(cfg, path)
    assert load_config(path) == cfg
    cfg.samples.prompts = []
    save_config(cfg, path)
    assert load_config(path).samples.prompts == []


@pytest.mark.parametrize("text,field", [
    ("[network]\ndim = 'eight'\n", "network.dim"),
    ("[network]\nconv_dimm = 4\n", "network.conv_dimm"),
    ("[model]\nfamily = 'sd2'\n", "model.family"),
    ("[optimizer]\nlearning_rate = -1.0\n", "optimizer.learning_rate"),
    ("[bogus]\nx = 1\n", "bogus"),
])
def test_bad_values_are_refused_naming_the_field(text, field):
    with pytest.raises(ConfigError) as exc:
        parse_config_text(text, source="c.toml")
    assert field in str(exc.value)
    assert "\n" not in str(exc.value)


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config_text("[network\n")
    with pytest.raises(ConfigError, match="nyx config new"):
        load_config(tmp_path / "nope.toml")


def test_assignment_is_validated():
    cfg = TrainingConfig()
    with pytest.raises(Exception):
        cfg.network.dim = 0
    with pytest.raises(Exception):
        cfg.performance.gpu_ids = "0;1"


def test_defaults_file_is_minimal_but_complete():
    text = dumps_config(TrainingConfig())
    for group in ("project", "model", "dataset", "network", "optimizer", "performance", "advanced", "saving",
                  "samples", "logging"):
        assert f"[{group}]" in text
    assert parse_config_text(text) == TrainingConfig()


def test_output_name_and_extension_normalised():
    cfg = new_config("my lora", "sd15", dataset={"caption_extension": "txt"})
    assert cfg.output_name == "my_lora"
    assert cfg.dataset.caption_extension == ".txt"
    with pytest.raises(Exception):
        new_config("../escape", "sd15")
