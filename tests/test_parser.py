"""The sd-scripts output parser against every real log in ../shared/kohya (skipped when absent),
plus synthetic edge cases that need no shared files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nyx_core.jobs.parser import OutputParser, strip_ansi


def parse_text(text: str) -> tuple[OutputParser, list[dict]]:
    p = OutputParser()
    evs = []
    for seg in re.split(r"[\r\n]", text):
        evs += p.feed(seg)
    evs += p.flush()
    return p, evs


def parse_file(path: Path) -> tuple[OutputParser, list[dict]]:
    return parse_text(path.read_bytes().decode("utf-8", "replace"))


def _logs(kohya: Path) -> list[Path]:
    return sorted((kohya / "logs").glob("*.log"))


def test_every_real_log_matches_its_sidecar(kohya_facts):
    logs = _logs(kohya_facts)
    assert len(logs) >= 16
    for log in logs:
        side = json.loads(log.with_suffix(".json").read_text())
        p, evs = parse_file(log)
        assert all(e["v"] == 1 for e in evs)
        if side.get("step_count_printed") is not None:
            assert p.total == side["step_count_printed"], log.name
            assert p.last_step == side["last_step_reached"], log.name
            summary = [e for e in evs if e["type"] == "summary"][-1]
            printed = side["printed"]
            assert summary["total"] == printed["total_optimization_steps"], log.name
            assert summary["batches_per_epoch"] == printed["num_batches_per_epoch"], log.name
            assert summary["epochs"] == printed["num_epochs"], log.name
            assert summary["images"] == printed["num_train_images_x_repeats"], log.name
            epochs = [f"{e['epoch']}/{e['epochs']}" for e in evs if e["type"] == "epoch"]
            assert epochs == printed["epoch_lines"], log.name
            ckpts = [e["path"] for e in evs if e["type"] == "checkpoint"]
            assert ckpts == printed["saved"], log.name
            assert ckpts[-1].endswith(".safetensors") and [e for e in evs if e["type"] == "checkpoint"][-1]["final"]
            losses = [e["avr_loss"] for e in evs if e["type"] == "step" and e["avr_loss"] is not None]
            assert losses and f"{losses[-1]:.3g}" == f"{float(printed['last_avr_loss']):.3g}", log.name
            assert not [e for e in evs if e["type"] == "error"], log.name
            assert p.steps_seen
        else:
            assert not p.steps_seen, log.name


def test_failed_logs_give_the_real_error(kohya_facts):
    logs = kohya_facts / "logs"
    _, evs = parse_file(logs / "fail_dataset_unknown_key.log")
    msgs = [e["message"] for e in evs if e["type"] == "error"]
    assert any("extra keys not allowed" in m and "caption_ext" in m for m in msgs)
    _, evs = parse_file(logs / "fail_lycoris_4.1.3_locon_sd15.log")
    assert any("duplicated lora name" in e["message"] for e in evs if e["type"] == "error")
    _, evs = parse_file(logs / "fail_missing_image_dir.log")
    err = [e for e in evs if e["type"] == "error"]
    assert err and err[0]["message"].startswith("No data found. Please verify arguments (train_data_dir must be the")
    assert any("not directory" in e["message"] for e in evs if e["type"] == "warning")
    _, evs = parse_file(logs / "fail_config_not_found.log")
    assert [e for e in evs if e["type"] == "error"]


def test_ansi_lycoris_and_wrapped_records(kohya_facts):
    p, evs = parse_file(kohya_facts / "logs" / "sd15_locon_lycoris.log")
    assert p.total == 4
    assert all("\x1b" not in json.dumps(e) for e in evs)


def test_verification_runs_summary_and_bar_total(kohya_facts):
    for log in sorted((kohya_facts / "steps" / "real_runs").glob("verify_*.log")):
        p, evs = parse_file(log)
        summary = [e for e in evs if e["type"] == "summary"][-1]
        bar = [e for e in evs if e["type"] == "step"][0]
        assert bar["total"] == summary["total"], log.name
        assert [e for e in evs if e["type"] == "epoch"][0]["epoch"] == 1


def test_samples_phase_and_sample_records(kohya_facts):
    _, evs = parse_file(kohya_facts / "logs" / "sd15_lora_dim4_samples.log")
    phases = [e["phase"] for e in evs if e["type"] == "phase"]
    assert phases.count("sampling") == 2 and phases[:2] == ["preparing dataset", "loading model"]
    assert phases[-1] == "saving"  # the final bar reprint after the save is not a new training phase


# Without shared files -------------------------------------------------------------------------
def test_tqdm_line_glued_to_a_record_and_rates():
    text = ("steps:  50%|█████     | 4/8 [00:12<00:12,  3.05s/it, avr_loss=1.09]"
            "2026-11-26 14:30:37 INFO   x  a.py:1\r"
            "steps:  62%|██████▎   | 5/8 [00:14<00:08,  2.5it/s, avr_loss=nan]\n")
    _, evs = parse_text(text)
    steps = [e for e in evs if e["type"] == "step"]
    assert steps[0]["step"] == 4 and abs(steps[0]["it_per_s"] - 1 / 3.05) < 1e-4
    assert steps[0]["eta_s"] == 12 and steps[0]["elapsed_s"] == 12 and steps[0]["avr_loss"] == 1.09
    assert steps[1]["it_per_s"] == 2.5
    import math
    assert math.isnan(steps[1]["avr_loss"])


def test_other_bars_are_not_steps_and_duplicates_collapse():
    text = ("\rread caption:  50%|█  | 2/4 [00:00<00:00, 10.0it/s]\r  0%|  | 0/4 [00:00<?, ?it/s]"
            "\rLoading pipeline components...:  25%| | 1/4 [00:00<00:00,  4.00it/s]"
            "\rsteps: 100%|██████████| 8/8 [00:23<00:00,  2.90s/it, avr_loss=1.13]"
            "\rsteps: 100%|██████████| 8/8 [00:23<00:00,  2.90s/it, avr_loss=1.13]\n")
    _, evs = parse_text(text)
    assert [e["step"] for e in evs if e["type"] == "step"] == [8]


def test_wrapped_error_record_is_joined_and_traceback_is_one_error():
    text = (
        "                    ERROR    No data found. Please verify   train_network.py:576\n"
        "                             arguments (train_data_dir must                     \n"
        "                             be the parent of folders with                      \n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    boom()\n"
        "RuntimeError: boom\n"
    )
    _, evs = parse_text(text)
    errs = [e for e in evs if e["type"] == "error"]
    assert errs[0]["message"] == ("No data found. Please verify arguments (train_data_dir must be the parent "
                                  "of folders with")
    assert errs[1]["message"] == "RuntimeError: boom" and errs[1]["lines"][0].startswith("Traceback")


def test_strip_ansi():
    assert strip_ansi("\x1b[0;33mWARNING\x1b[0m: x") == "WARNING: x"
