"""Provisioning: setup.sh on its offline path (report asserted, re-run skips what is done), the pod
entry points, the Docker files, and shellcheck over every shell script."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nyx_core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(REPO.glob("provisioning/*.sh")) + [REPO / "tests" / "run.sh", REPO / ".ci" / "run"]


def _rows(report: str) -> dict[str, tuple[str, str]]:
    """The table after '== Nyx set-up report': step -> (result, detail)."""
    table = report.split("== Nyx set-up report", 1)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        m = re.match(r"^(\S.{0,23}?)\s+(done|skipped|failed|missing)\s+(.*)$", line)
        if m:
            rows[m.group(1).strip()] = (m.group(2), m.group(3))
        elif not line.strip():
            break
    return rows


def _setup(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NYX_", "TORCH_"))}
    base.update(NYX_OFFLINE="1", NYX_PYTHON=sys.executable, NYX_WORKSPACE=str(tmp / "ws"), **env)
    return subprocess.run(["bash", str(REPO / "provisioning" / "setup.sh"), *args], env=base,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def fake_gpu_driver(tmp_path: Path) -> str:
    """A PATH where `nvidia-smi` prints a CUDA 12.8 driver header, as on a pod."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '| NVIDIA-SMI 570.86  Driver Version: 570.86  CUDA Version: 12.8 |'\n")
    smi.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_offline_setup_finishes_nyx_and_says_what_training_needs(tmp_path, fake_gpu_driver):
    if (REPO / "sd-scripts" / "train_network.py").exists():
        pytest.skip("this checkout has the sd-scripts submodule: the offline path needs it absent")
    r = _setup(tmp_path, "--xformers", PATH=fake_gpu_driver)
    assert r.returncode == 0, r.stdout + r.stderr  # nothing failed; the rest needs the network
    rows = _rows(r.stdout)
    assert rows["nyx requirements"][0] == "skipped"
    assert rows["sd-scripts checkout"] == ("missing", f"no checkout at {REPO}/sd-scripts and no network")
    # the torch build follows the driver nvidia-smi reports
    assert rows["torch"][0] == "missing" and "CUDA 12.8 (cu128)" in rows["torch"][1]
    for step in ("sd-scripts venv", "sd-scripts requirements", "extra: xformers", "accelerate config", "settings"):
        assert rows[step][0] == "missing", step
    needs = r.stdout.split("Training still needs:", 1)[1]
    assert "sd-scripts checkout: no checkout" in needs and "NYX_SD_SCRIPTS=<checkout>" in needs
    assert r.stdout.rstrip().endswith("failed: 0, missing: 7")
    assert "failed: 0, missing: 7" in (tmp_path / "ws" / "logs" / "setup.log").read_text()


def test_setup_reuses_the_image_torch_records_settings_and_skips_on_rerun(tmp_path):
    from nyx_dev.standin import make_fake_sd_scripts

    sd = make_fake_sd_scripts(tmp_path / "sd")
    (sd / "requirements.txt").write_text("toml==0.10.2\nnyx-no-such-package==1.0\n-e .\n")
    image = tmp_path / "image-site"  # a pod image's torch, visible to every Python there
    (image / "torch").mkdir(parents=True)
    (image / "torch" / "__init__.py").write_text('__version__ = "2.8.0+cu128"\n')
    env = dict(NYX_SD_SCRIPTS=str(sd), PYTHONPATH=str(image))

    first = _rows(_setup(tmp_path, "--lycoris", **env).stdout)
    assert first["sd-scripts checkout"][0] == "skipped" and "not the pinned 48d368fa55" in first["sd-scripts checkout"][1]
    assert first["sd-scripts venv"] == ("done", f"created {sd}/venv (reuses torch 2.8.0+cu128 from the image)")
    assert first["torch"][0] == "skipped" and "2.8.0+cu128" in first["torch"][1]
    assert first["sd-scripts requirements"][0] == "missing" and "lacks 2 requirement(s)" in first["sd-scripts requirements"][1]
    assert first["extra: lycoris"] == ("missing", "no network: lycoris-lora==3.4.0")
    assert first["settings"][0] == "done"
    s = Settings.load(tmp_path / "ws", env={})
    assert Path(s.sd_scripts_dir) == sd and s.python_for_sd_scripts == sd / "venv" / "bin" / "python"

    again = _setup(tmp_path, **env)
    rows = _rows(again.stdout)
    assert rows["sd-scripts venv"] == ("skipped", f"{sd}/venv/bin/python exists")
    assert rows["settings"][0] == "skipped"
    assert "done" not in {result for result, _ in rows.values()}, again.stdout  # nothing redone


def test_setup_refuses_a_named_checkout_that_is_not_one(tmp_path):
    r = _setup(tmp_path, NYX_SD_SCRIPTS=str(tmp_path / "nowhere"))
    assert r.returncode == 1
    assert _rows(r.stdout)["sd-scripts checkout"][0] == "failed"
    assert "fix: point NYX_SD_SCRIPTS at an sd-scripts checkout" in r.stdout
    assert _setup(tmp_path, "--bogus").returncode == 2


@pytest.mark.parametrize("cuda,index", [("13.0", "cu130"), ("12.9", "cu128"), ("12.8", "cu128"), ("12.6", "cu126"),
                                        ("12.4", ""), ("11.8", "")])
def test_torch_build_for_the_driver(cuda, index):
    out = subprocess.run(["bash", "-c", f'source provisioning/lib.sh; torch_index_for_cuda {cuda}'], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == index


def test_pin_file_matches_the_submodule():
    line = subprocess.run(["git", "ls-tree", "HEAD", "sd-scripts"], cwd=REPO, capture_output=True, text=True).stdout
    if not line:
        pytest.skip("not a git checkout")
    from nyx_core.cli.info import PINNED_SD_SCRIPTS

    pin = (REPO / "provisioning" / "sd-scripts.pin").read_text().strip()
    assert line.split()[2] == pin == PINNED_SD_SCRIPTS


def test_pod_entries_share_one_script():
    for name in ("runpod.sh", "vastai.sh"):
        text = (REPO / "provisioning" / name).read_text()
        assert re.search(r'^exec bash "\$\(dirname "\$0"\)/pod_start.sh"$', text, re.M), name


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_copies_what_exists_and_runs_the_pod_script():
    instructions = _dockerfile_instructions((REPO / "Dockerfile").read_text())
    copies = [rest for word, rest in instructions if word == "COPY"]
    assert copies
    for rest in copies:
        parts = [p for p in rest.split() if not p.startswith("--")]
        for src in parts[:-1]:
            assert (REPO / src).exists() or list(REPO.glob(src)), f"Dockerfile copies {src}, which does not exist"
    ignored = (REPO / ".dockerignore").read_text().split()
    # no .git in the image: setup.sh clones sd-scripts at the commit in the pin file
    assert "workspace" in ignored and ".git" in ignored
    assert any("provisioning" in c for c in copies)
    [entry] = [rest for word, rest in instructions if word == "ENTRYPOINT"]
    assert "provisioning/pod_start.sh" in entry
    assert any(word == "HEALTHCHECK" for word, _ in instructions)
    assert any(word == "USER" and rest not in ("root", "0") for word, rest in instructions)
    assert any(word == "VOLUME" and "/workspace" in rest for word, rest in instructions)
    compose = (REPO / "compose.yaml").read_text()
    assert "build: ." in compose and "/workspace" in compose and "NYX_PASSWORD" in compose


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck missing (tests/run.sh installs it)")
def test_shellcheck_every_script():
    assert len(SCRIPTS) >= 7
    r = subprocess.run(["shellcheck", "-x", *map(str, SCRIPTS)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
