"""Hugging Face publishing against a local fake Hub (HF_ENDPOINT): the token is checked before
anything is created, the repo is created (private, organisation), LoRAs go through the LFS upload
path, the model card carries the ss_* settings, trigger words, samples and licence."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nyx_core.models.publish import CardInput, build_card, card_for_paths
from tests.model_servers import FakeHub

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]


def _run_dir(ws, kohya_facts) -> Path:
    run = ws.outputs / "cat-run"
    (run / "sample").mkdir(parents=True)
    shutil.copy(kohya_facts / "lora" / "sd15_lora_dim4_samples.safetensors", run / "cat.safetensors")
    shutil.copy(kohya_facts / "lora" / "sd15_lora_dim8_bucket_ga2.safetensors", run / "cat-000001.safetensors")
    for i in range(2):
        (run / "sample" / f"cat_e00000{i}_00_2026.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 50)
    return run


def test_card_from_a_real_lora(kohya_facts, tmp_path):
    card = build_card(CardInput("alice/cat", [kohya_facts / "lora" / "sd15_lora_dim4_samples.safetensors"],
                                [tmp_path / "s1.png"], license="openrail++", trigger_words=["ohwx cat"]))
    head, body = card.split("\n---\n", 1)
    assert head.startswith("---\nlicense: openrail++\nbase_model:")
    assert 'instance_prompt: "ohwx cat"' in head and 'url: "samples/s1.png"' in head
    for row in ("| Rank (dim) | `4` |", "| Alpha | `1` |", "| Learning rate | `0.0001` |", "| Epochs | `2` |"):
        assert row in body
    assert "Use `ohwx cat` in the prompt." in body and "![s1.png](samples/s1.png)" in body


def _env(hub, tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(PYTHONPATH=str(REPO), HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf"),
               HF_HUB_DISABLE_TELEMETRY="1", **extra)
    return env


def _nyx(ws, env, *args):
    return subprocess.run([sys.executable, "-m", "nyx_core", "--workspace", str(ws.root), *args], env=env,
                          capture_output=True, text=True, timeout=100)


def test_publish_a_run_folder_with_the_cli(ws, kohya_facts, tmp_path):
    run = _run_dir(ws, kohya_facts)
    with FakeHub(tokens={"hf_write": "alice"}, orgs=("nyx-org",)) as hub:
        r = _nyx(ws, _env(hub, tmp_path, HF_TOKEN="hf_write"), "hub", "upload", "outputs/cat-run",
                 "--repo", "nyx-org/cat-lora", "--private", "--license", "openrail++", "--wait")
        assert r.returncode == 0, r.stderr
        calls = [(c["method"], c["path"]) for c in hub.calls]
        repo = hub.repos[("model", "nyx-org/cat-lora")]
    assert calls.index(("GET", "/api/whoami-v2")) < calls.index(("POST", "/api/repos/create"))
    create = next(c for c in hub.calls if c["path"] == "/api/repos/create")
    body = json.loads(create["body"])
    assert body["name"] == "cat-lora" and body["organization"] == "nyx-org"
    assert repo.private
    assert ("POST", "/nyx-org/cat-lora.git/info/lfs/objects/batch") in calls  # the LFS path for large files
    assert repo.files["cat.safetensors"] == (run / "cat.safetensors").read_bytes()
    assert repo.files["cat-000001.safetensors"] == (run / "cat-000001.safetensors").read_bytes()
    assert sorted(p for p in repo.files if p.startswith("samples/")) == [
        "samples/cat_e000000_00_2026.png", "samples/cat_e000001_00_2026.png"]
    card = repo.files["README.md"].decode()
    assert "license: openrail++" in card and "| Rank (dim) | `4` |" in card  # from the final LoRA first
    assert "samples/cat_e000001_00_2026.png" in card
    assert all(c["token"] for c in hub.calls if c["path"].startswith("/api/"))
    jobs = list(ws.jobs.iterdir())
    blob = "".join(p.read_text(errors="replace") for j in jobs for p in j.rglob("*") if p.is_file())
    assert "hf_write" not in blob and "hf_write" not in r.stdout + r.stderr


@pytest.mark.parametrize("token,expect", [
    ("hf_bad", "the Hugging Face token was refused (401)"),
    (None, "no Hugging Face token: set it in Settings"),
])
def test_a_bad_token_fails_before_anything_is_uploaded(ws, kohya_facts, tmp_path, token, expect):
    _run_dir(ws, kohya_facts)
    with FakeHub(tokens={"hf_write": "alice"}) as hub:
        extra = {"HF_TOKEN": token} if token else {}
        # the upload program as the job runs it (the CLI + runner path is proven above)
        r = subprocess.run([sys.executable, "-m", "nyx_core.models.publish", "--workspace", str(ws.root),
                            "--repo", "alice/x", "--path", "outputs/cat-run"], env=_env(hub, tmp_path, **extra),
                           capture_output=True, text=True, timeout=100)
        paths = hub.paths()
    assert r.returncode == 1
    errors = [json.loads(x[5:])["message"] for x in r.stdout.splitlines() if '"type": "error"' in x]
    assert len(errors) == 1 and errors[0].startswith(expect) and "\n" not in errors[0]
    assert "hf_bad" not in r.stdout + r.stderr
    assert not any(p in ("/api/repos/create",) or "preupload" in p or "commit" in p for p in paths)


def test_a_dataset_folder_goes_to_a_dataset_repo(ws, tmp_path):
    ds = ws.datasets / "cats"
    ds.mkdir()
    (ds / "1.png").write_bytes(b"\x89PNG....")
    (ds / "1.txt").write_text("ohwx cat")
    (ds / "1.npz").write_bytes(b"latents")
    (ds / ".nyx").mkdir()
    (ds / ".nyx" / "state.json").write_text("{}")
    with FakeHub(tokens={"hf_write": "alice"}) as hub:
        r = _nyx(ws, _env(hub, tmp_path, HF_TOKEN="hf_write"), "hub", "upload", "datasets/cats", "--repo", "cats",
                 "--dataset", "--wait")
        assert r.returncode == 0, r.stderr
        repo = hub.repos[("dataset", "alice/cats")]
        assert any(p.startswith("/api/datasets/alice/cats/commit/") for p in hub.paths("POST"))
    assert sorted(repo.files) == ["1.png", "1.txt", "README.md"]


def test_card_for_a_run_folder_puts_the_final_lora_first(ws, kohya_facts):
    _run_dir(ws, kohya_facts)
    card = card_for_paths(ws, ["outputs/cat-run"], "alice/cat", license="mit")
    assert card.index("`cat.safetensors`") < card.index("`cat-000001.safetensors`")
    assert hashlib.sha256(card.encode()).hexdigest()  # plain text, editable
