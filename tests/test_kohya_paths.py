"""Every sd-scripts option that takes a path stays inside the workspace, wherever it comes from.

The list of path options is derived from the argument spec; these tests check the derivation
against the full spec files and then throw hostile values at every one of them through
validation, rendering, an import and a hand-edited config file.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from nyx_core.config import ConfigError
from nyx_core.config.importers import import_sd_scripts
from nyx_core.config.io import load_config, save_config
from nyx_core.config.validate import validate
from nyx_core.kohya import catalog, paths
from nyx_core.kohya.render import render
from nyx_core.settings import Settings
from tests.conftest import load_json
from tests.test_config_support import ready_config

SCRIPTS = ["train_network.py", "sdxl_train_network.py", "flux_train_network.py", "sd3_train_network.py"]
FAMILY = {"train_network.py": "sd15", "sdxl_train_network.py": "sdxl", "flux_train_network.py": "flux",
          "sd3_train_network.py": "sd3"}

#: The options the security review found passing unchanged (issue 14), named one by one.
FOUND_ESCAPING = {"console_log_file", "tokenizer_cache_dir", "offload_optimizer_nvme_path", "offload_param_nvme_path",
                  "vae", "network_weights", "resume", "base_weights", "train_data_dir", "reg_data_dir",
                  "conditioning_data_dir", "log_tracker_config", "sample_prompts"}


def _render(ws, cfg):
    return render(cfg, ws=ws, settings=Settings(sd_scripts_dir=Path("/opt/sd-scripts")),
                  render_dir=ws.jobs / "j1" / "render", logging_dir=ws.jobs / "j1" / "tb")


def _hostile(opt: paths.PathOption, value: str):
    return [value] if opt.many else value


@pytest.mark.parametrize("script", SCRIPTS)
def test_path_options_are_derived_from_the_full_argument_spec(kohya_facts, script):
    spec = load_json(kohya_facts / "argspec" / script.replace(".py", ".json"))
    full = {a["dest"]: a for a in spec["arguments"] if not a.get("positional")}
    from_spec = {d for d, a in full.items() if paths.is_path_option(d, a)}
    assert from_spec == set(paths.script_path_options(script)), "known_args.json and the spec disagree"
    assert FOUND_ESCAPING <= from_spec
    for dest, a in full.items():
        if a["type"] == "Path":
            assert dest in from_spec
        if paths.PATH_NAME.search(dest) and "str" in a["value_type"] and not a["choices"] and dest not in paths.NOT_LOCAL:
            assert dest in from_spec, dest


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_path_option_outside_the_workspace_is_a_problem_and_never_rendered(ws, tmp_path, script):
    (ws.root / "out").symlink_to(tmp_path, target_is_directory=True)  # a link leading out
    cfg = ready_config(ws, FAMILY[script])
    opts = paths.script_path_options(script)
    assert len(opts) >= 20
    hostile = ["/etc/passwd", "../outside.txt", "out/stolen", "models/../../x", "/tmp/nyx-evil"]
    for i, (name, opt) in enumerate(sorted(opts.items())):
        # All hostile values through the pure check (fast) …
        for value in hostile:
            problems = paths.option_problems(ws, {name: _hostile(opt, value)}, script)
            assert problems and problems[0][0] == name, (name, value)
        # … and one per option through the real pre-flight and renderer.
        value = hostile[i % len(hostile)]
        bad = cfg.model_copy(deep=True)
        bad.advanced.extra = {name: _hostile(opt, value)}
        found = [p for p in validate(bad, ws) if p.level == "error" and name in p.message]
        assert found, f"pre-flight let {name}={value!r} through"
        with pytest.raises(ConfigError, match=name):
            _render(ws, bad)


def test_in_workspace_paths_are_written_absolute_and_hub_ids_kept(ws):
    cfg = ready_config(ws, "sdxl")
    cfg.advanced.extra = {
        "console_log_file": "outputs/console.log",
        "base_weights": ["models/base-sdxl.safetensors"],
        "tokenizer_cache_dir": str(ws.models / "tok"),
        "vae": "madebyollin/sdxl-vae-fp16-fix",
        "metadata_thumbnail": "data:image/png;base64,AAAA",
    }
    assert [p for p in validate(cfg, ws) if "advanced.extra" in p.field] == []
    extra = tomllib.loads(_render(ws, cfg).config_toml)["extra_arguments"]
    assert extra["console_log_file"] == str(ws.outputs / "console.log")
    assert extra["base_weights"] == [str(ws.models / "base-sdxl.safetensors")]
    assert extra["tokenizer_cache_dir"] == str(ws.models / "tok")
    assert extra["vae"] == "madebyollin/sdxl-vae-fp16-fix"
    assert extra["metadata_thumbnail"].startswith("data:")


def test_a_hub_looking_value_is_only_a_hub_id_where_sd_scripts_takes_one(ws):
    problems = paths.option_problems(ws, {"network_weights": "owner/name"}, "train_network.py")
    assert problems == []  # a workspace-relative path (…/owner/name), written absolute
    assert paths.confine_args(ws, {"network_weights": "owner/name"}, "train_network.py")["network_weights"] == \
        str(ws.root / "owner" / "name")
    kept = paths.confine_args(ws, {"resume": "me/state-repo/run1:main", "resume_from_huggingface": True},
                              "train_network.py")
    assert kept["resume"] == "me/state-repo/run1:main"


def test_options_that_import_code_are_refused(ws):
    cfg = ready_config(ws, "sd15")
    cfg.advanced.extra = {"dataset_class": "evil.module.Dataset"}
    assert any("dataset_class" in p.message for p in validate(cfg, ws) if p.level == "error")
    with pytest.raises(ConfigError, match="dataset_class"):
        _render(ws, cfg)


def test_imported_sd_scripts_config_cannot_smuggle_a_path(ws):
    ready_config(ws, "sd15")
    text = ('pretrained_model_name_or_path = "base-sd15.safetensors"\n'
            'console_log_file = "/tmp/nyx-truncate-me"\nlog_tracker_config = "/etc/passwd"\n')
    result = import_sd_scripts(ws, text, name="imp")
    assert result.config.advanced.extra == {}
    notes = {n.key: n for n in result.notes}
    assert notes["console_log_file"].status in ("unmapped", "ignored")
    assert notes["log_tracker_config"].status == "unmapped" and "outside" in notes["log_tracker_config"].message


def test_hand_edited_config_file_cannot_smuggle_a_path(ws, tmp_path):
    cfg = ready_config(ws, "flux")
    path = save_config(cfg, ws.configs / "x.toml")
    text = path.read_text(encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    assert "[advanced.extra]" in text
    path.write_text(text.replace("[advanced.extra]", f'[advanced.extra]\nconsole_log_file = "{victim}"'),
                    encoding="utf-8")
    edited = load_config(path)
    assert edited.advanced.extra == {"console_log_file": str(victim)}
    with pytest.raises(ConfigError, match="console_log_file"):
        _render(ws, edited)
    assert victim.read_text(encoding="utf-8") == "precious"


def test_dataset_toml_folder_keys_are_confined(ws, tmp_path):
    data = {"datasets": [{"subsets": [{"image_dir": str(ws.datasets / "cats")},
                                      {"image_dir": "/etc", "conditioning_data_dir": "../x"},
                                      {"metadata_file": str(tmp_path / "meta.json")}]}]}
    bad = {k for k, _ in paths.dataset_problems(ws, data)}
    assert bad == {"datasets[0].subsets[1].image_dir", "datasets[0].subsets[1].conditioning_data_dir",
                   "datasets[0].subsets[2].metadata_file"}
    with pytest.raises(ConfigError, match="image_dir"):
        paths.confine_dataset(ws, data)


def test_catalog_and_paths_agree_on_the_dataset_keys():
    for variant in ("dreambooth", "fine_tuning", "controlnet"):
        subset = catalog.dataset_keys("subset", variant)
        for key in subset:
            if key.endswith(("_dir", "_file")):
                assert key in paths.DATASET_PATH_KEYS, key


def test_symlinked_workspace_file_pointing_out_is_refused(ws, tmp_path):
    os.symlink(tmp_path / "elsewhere.toml", ws.root / "tracker.toml")
    assert paths.option_problems(ws, {"log_tracker_config": "tracker.toml"}, "train_network.py")
