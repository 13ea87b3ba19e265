"""Imports train what the source would have trained (issue 9): every kohya_ss preset, each
measured defect, and a mutation run that must never raise a traceback."""
from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nyx_core.config import ConfigError, validate
from nyx_core.config.enums import Family, NetworkType
from nyx_core.config.importers import import_kohya_gui, import_sd_scripts
from nyx_core.config.model import merge_groups
from nyx_core.kohya.render import render
from nyx_core.settings import Settings
from tests.sdscripts_checks import kohya_ss_passes, startup_refusals
from tests.test_config_support import fake_checkpoint, make_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "kohya_ss_presets.json"
#: Every preset JSON shipped in bmaltais/kohya_ss's presets/ (same keys and values).
PRESETS: dict[str, dict] = json.loads(FIXTURE.read_text(encoding="utf-8"))


def _notes(result):
    out: dict[str, list] = {}
    for n in result.notes:
        out.setdefault(n.key, []).append(n)
    return out


def _runnable(ws, cfg):
    """The imported recipe with this workspace's model files and dataset filled in."""
    fam = cfg.model.family.value
    fake_checkpoint(ws.models / f"base-{fam}.safetensors", fam)
    model = {"base_model": f"base-{fam}.safetensors", "network_weights": ""}
    for enc in ("clip_l", "clip_g", "t5xxl", "ae"):
        fake_checkpoint(ws.models / f"{enc}.safetensors", "other")
    if fam == "flux":
        model.update(clip_l="clip_l.safetensors", t5xxl="t5xxl.safetensors", ae="ae.safetensors")
    if fam == "sd3":
        model.update(clip_l="clip_l.safetensors", clip_g="clip_g.safetensors", t5xxl="t5xxl.safetensors")
    if not (ws.datasets / "cats").exists():
        make_dataset(ws, "cats")
    return merge_groups(cfg, {"model": model, "dataset": {"name": "cats"}, "samples": {"prompts": []}})


def _render(ws, cfg):
    return render(cfg, ws=ws, settings=Settings(), render_dir=ws.jobs / "r", logging_dir=ws.jobs / "tb")


def test_fixture_holds_every_kohya_ss_preset():
    kinds = [name.split("/")[0] for name in PRESETS]
    assert (kinds.count("lora"), kinds.count("finetune"), kinds.count("dreambooth")) == (31, 4, 2)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_kohya_ss_preset_renders_what_kohya_ss_would_pass(ws, name):
    preset = PRESETS[name]
    want = kohya_ss_passes(preset)
    result = import_kohya_gui(ws, json.dumps(preset), name="p")
    notes = _notes(result)
    cfg = _runnable(ws, result.config)
    run = _render(ws, cfg)
    args = run.args
    assert run.script == want["script"]
    if want["is_lora"]:
        assert bool(args.get("network_train_unet_only")) == want["unet_only"], "which parts train"
        assert bool(args.get("network_train_text_encoder_only")) == want["text_encoder_only"]
        if want["text_encoder_lr"] is not None and not want["unet_only"]:
            assert args["text_encoder_lr"] == [pytest.approx(want["text_encoder_lr"])]
        assert args["network_dim"] == want["network_dim"]
    else:
        assert "(kohya_ss tab)" in notes  # a fine-tuning/DreamBooth config says it became a LoRA
    kind, count = want["duration"]
    assert args.get(f"max_train_{kind}") == count and f"max_train_{'steps' if kind == 'epochs' else 'epochs'}" not in args
    assert args.get("noise_offset") == (pytest.approx(want["noise_offset"]) if want["noise_offset"] else None)
    if want["adaptive_noise_scale"] and want["noise_offset"]:
        assert args["adaptive_noise_scale"] == pytest.approx(want["adaptive_noise_scale"])
    elif want["adaptive_noise_scale"]:
        # kohya_ss would pass it alone and sd-scripts would stop at start: not carried, and said so
        assert "adaptive_noise_scale" not in args and not notes["adaptive_noise_scale"][0].carried
    else:
        assert "adaptive_noise_scale" not in args
    assert args.get("multires_noise_iterations") == want["multires_noise_iterations"]
    for switch in want["lycoris_switches"]:
        assert switch in args["network_args"]
    if want["seed"] is None:
        assert "random" in notes["seed"][0].message
    else:
        assert args["seed"] == want["seed"]
    # What Nyx renders passes sd-scripts' start-up checks, and pre-flight does not refuse it.
    assert startup_refusals(run.script, args, run.dataset) == []
    errors = [str(p) for p in validate(cfg, ws) if p.level == "error"]
    assert errors == []
    # Every key of the file is accounted for in the report.
    reported = {n.key for n in result.notes} | {k for n in result.notes if n.key.endswith("more keys")
                                                for k in n.value.split(", ")}
    assert [k for k in preset if k not in reported and not any(r.startswith(k + " ") for r in reported)] == []


def test_sdxl_text_encoder_lr_trains_the_text_encoder(ws):
    # Nyx's SDXL default is "U-Net only"; an sd-scripts file with a text-encoder LR trains it.
    r = import_sd_scripts(ws, "max_train_steps = 10\nlearning_rate = 1e-4\ntext_encoder_lr = 5e-5\n", name="x",
                          family="sdxl")
    run = _render(ws, _runnable(ws, r.config))
    assert "network_train_unet_only" not in run.args and run.args["text_encoder_lr"] == [5e-5]
    gui = import_kohya_gui(ws, json.dumps({"LoRA_type": "Standard", "sdxl": True, "learning_rate": 1e-4,
                                           "text_encoder_lr": 1e-4, "unet_lr": 1e-4, "epoch": 2}), name="g")
    assert not gui.config.network.train_unet_only and gui.config.optimizer.text_encoder_lr == 1e-4


def test_kohya_ss_steps_win_over_its_epoch(ws):
    r = import_kohya_gui(ws, json.dumps({"LoRA_type": "Standard", "epoch": 100, "max_train_epochs": "",
                                         "max_train_steps": "160"}), name="x")
    assert (r.config.dataset.duration.value, r.config.dataset.max_train_steps) == ("steps", 160)
    assert "explicit max_train_steps" in _notes(r)["epoch"][0].message


def test_kohya_ss_epoch_becomes_its_own_step_count_for_a_workspace_dataset(ws):
    # 2 folders: 3 images x 10 repeats + 2 images x 1 (+ a .bmp kohya_ss does not count), batch 2, 4 epochs
    root = make_dataset(ws, "cats", {"10_ohwx cat": [(64, 64)] * 3, "1_cat": [(64, 64)] * 2})
    (root / "1_cat" / "x.bmp").write_bytes(b"BM")
    r = import_kohya_gui(ws, json.dumps({"LoRA_type": "Standard", "epoch": 4, "max_train_steps": 0,
                                         "train_batch_size": 2, "train_data_dir": str(root)}), name="x")
    assert r.config.dataset.max_train_steps == math.ceil((30 + 2) / 2 * 4) and r.config.dataset.name == "cats"


def test_adaptive_noise_scale_is_not_kept_without_noise_offset(ws):
    multires = {"LoRA_type": "Standard", "noise_offset_type": "Multires", "noise_offset": 0,
                "adaptive_noise_scale": 0.005, "multires_noise_iterations": 6, "max_train_steps": 10}
    r = import_kohya_gui(ws, json.dumps(multires), name="x")
    assert "adaptive_noise_scale" not in r.config.advanced.extra
    toml = import_sd_scripts(ws, "max_train_steps = 10\nadaptive_noise_scale = 0.01\n", name="t")
    assert "adaptive_noise_scale" not in toml.config.advanced.extra
    assert "requires" in _notes(toml)["adaptive_noise_scale"][0].message or "refuses" in _notes(
        toml)["adaptive_noise_scale"][0].message
    ok = import_sd_scripts(ws, "max_train_steps = 10\nnoise_offset = 0.05\nadaptive_noise_scale = 0.01\n", name="o")
    assert ok.config.advanced.extra["adaptive_noise_scale"] == 0.01 and ok.config.advanced.noise_offset == 0.05


def test_lycoris_switches_reach_lycoris(ws):
    data = {"LoRA_type": "LyCORIS/LoKr", "use_cp": True, "train_norm": True, "decompose_both": True,
            "use_tucker": False, "factor": 8, "network_dim": 100000, "max_train_steps": 10}
    r = import_kohya_gui(ws, json.dumps(data), name="x")
    run = _render(ws, _runnable(ws, r.config))
    for arg in ("use_cp=True", "train_norm=True", "decompose_both=True", "algo=lokr", "factor=8"):
        assert arg in run.args["network_args"]
    assert "use_tucker=True" not in run.args["network_args"]


def test_fine_tuning_and_dreambooth_say_so_and_sdxl_checkbox_picks_sdxl(ws):
    r = import_kohya_gui(ws, json.dumps(PRESETS["finetune/SDXL - AI_Now PagedAdamW8bit v1.0.json"]), name="x")
    assert r.config.model.family is Family.sdxl
    note = _notes(r)["(kohya_ss tab)"][0]
    assert "fine-tuning" in note.message and "LoRA" in note.message
    db = import_kohya_gui(ws, json.dumps(PRESETS["dreambooth/sd3_bdsqlsz_v1.json"]), name="d")
    assert "DreamBooth" in _notes(db)["(kohya_ss tab)"][0].message and db.config.model.family is Family.sd3


def test_random_seed_is_noted(ws):
    for seed in ("", 0, None):
        data = {"LoRA_type": "Standard", "max_train_steps": 10}
        if seed is not None:
            data["seed"] = seed
        r = import_kohya_gui(ws, json.dumps(data), name="x")
        assert "random" in _notes(r)["seed"][0].message
    assert "random" in _notes(import_sd_scripts(ws, "max_train_steps = 5\n", name="t"))["seed"][0].message


@pytest.mark.parametrize("bad", ["abc", "inf", "1e999", "Infinity", "NaN", "-inf", [1, 2], {"a": 1}, True])
def test_non_numeric_values_give_one_line_problems(ws, bad):
    keys = ("network_dim", "learning_rate", "max_train_steps", "epoch", "seed", "lr_warmup", "train_batch_size",
            "noise_offset", "max_resolution", "conv_dim", "text_encoder_lr", "unet_lr", "num_processes",
            "min_bucket_reso", "adaptive_noise_scale", "lr_warmup_steps", "gradient_accumulation_steps")
    data = {"LoRA_type": "LyCORIS/LoKr", **{k: bad for k in keys}}
    r = import_kohya_gui(ws, json.dumps(data), name="x")  # no exception
    assert all("\n" not in n.plain() for n in r.notes)
    cfg = r.config.model_dump(mode="json")
    assert "Infinity" not in json.dumps(cfg) and "NaN" not in json.dumps(cfg)
    text = json.dumps({"x": bad})[5:-1]
    toml = f"network_dim = {text}\nlearning_rate = {text}\nmax_train_steps = 5\n" if not isinstance(bad, (list, dict)) \
        else "max_train_steps = 5\n"
    try:
        import_sd_scripts(ws, toml.replace("Infinity", "inf").replace("NaN", "nan"), name="t")
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_json_1e999_and_infinity_literals(ws):
    text = '{"LoRA_type": "Standard", "network_dim": 1e999, "learning_rate": Infinity, "noise_offset": NaN}'
    r = import_kohya_gui(ws, text, name="x")
    bad = {n.key for n in r.notes if not n.carried}
    assert {"network_dim", "learning_rate", "noise_offset"} <= bad


def test_cli_import_resolves_a_relative_path_against_the_current_directory(ws, tmp_path):
    here = tmp_path / "elsewhere"
    here.mkdir()
    (here / "preset.json").write_text(json.dumps({"LoRA_type": "Standard", "max_train_steps": 7}))
    env = {**os.environ, "NYX_WORKSPACE": str(ws.root), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-m", "nyx_core", "config", "import", "./preset.json", "--name", "rel"],
                         cwd=here, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (ws.configs / "rel.toml").is_file() and "max_train_steps = 7 → Dataset › Steps" in out.stdout


def test_report_says_where_each_key_went_in_words(ws):
    r = import_kohya_gui(ws, json.dumps({"LoRA_type": "Standard", "network_dim": 8, "mystery": 1,
                                         "wandb_api_key": "s3cret", "max_train_steps": 10,
                                         "scale_weight_norms": 1.0}), name="x")
    lines = "\n".join(r.report())
    assert "network_dim = 8 → Network › Dim (rank)" in lines
    assert "scale_weight_norms = 1.0 → kept as an extra sd-scripts option" in lines
    assert "mystery = 1 → not carried over: not an option of train_network.py" in lines
    assert "wandb_api_key" in lines and "s3cret" not in json.dumps(r.config.to_data())
    assert lines.index("not carried over") < lines.index("→ Network › Dim")  # what needs attention first


def test_several_dataset_blocks_are_refused_clearly(ws):
    ds = """
[[datasets]]
resolution = 512
batch_size = 2
  [[datasets.subsets]]
  image_dir = "datasets/cats/10_a"
[[datasets]]
resolution = 768
batch_size = 1
  [[datasets.subsets]]
  image_dir = "datasets/cats/5_b"
"""
    with pytest.raises(ConfigError, match=r"2 \[\[datasets\]\] blocks"):
        import_sd_scripts(ws, "max_train_steps = 10\n", ds, name="x")


def test_fine_tuning_subsets_with_the_same_file_name_are_warned(ws):
    for folder in ("a", "b"):
        d = ws.datasets / "ft" / folder
        d.mkdir(parents=True)
        (d / "img001.png").write_bytes(b"x")
    ds = f"""
[[datasets]]
resolution = 512
  [[datasets.subsets]]
  image_dir = "{ws.datasets / 'ft' / 'a'}"
  metadata_file = "a.json"
  [[datasets.subsets]]
  image_dir = "{ws.datasets / 'ft' / 'b'}"
  metadata_file = "b.json"
"""
    r = import_sd_scripts(ws, "max_train_steps = 10\n", ds, name="x")
    assert any("more than one fine-tuning folder" in n.message for n in r.notes)


def _mutations(rng: random.Random, preset: dict) -> dict:
    weird = ["", "abc", "inf", "-inf", "nan", "1e999", -1, 0, 1, 2**70, -(2**70), 1.5, 1e-320, None, True, False,
             [], {}, [1, "x"], {"k": [None]}, "1,2,3", "--x", "a=b=c", "\x00", "😀", "C:\\x\\y.safetensors",
             "/etc/passwd", "../../x", 3.0, "3.0", "Standard", "LyCORIS/LoKr", "Flux1", "Kohya DyLoRA"]
    data = dict(preset)
    for _ in range(rng.randint(1, 6)):
        key = rng.choice(list(data) + ["LoRA_type", "epoch", "max_train_steps", "sdxl", "seed", "network_args"])
        choice = rng.random()
        if choice < 0.15:
            data.pop(key, None)
        else:
            data[key] = rng.choice(weird)
    return data


def test_a_thousand_edited_presets_never_raise_a_traceback(ws):
    rng = random.Random(9)
    names = sorted(PRESETS)
    for i in range(1000):
        data = _mutations(rng, PRESETS[names[i % len(names)]])
        text = json.dumps(data)
        try:
            result = import_kohya_gui(ws, text, name="m")
        except ConfigError as exc:  # a refusal is fine when it is one line
            assert "\n" not in str(exc)
            continue
        assert all("\n" not in n.plain() for n in result.notes), text
        result.config.to_data()  # the config is complete and serialisable
