"""`nyx doctor`, the Settings page's System section, pre-flight's precision rule, `nyx settings`."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nyx_core import doctor
from nyx_core.config import validate
from nyx_core.config.model import new_config
from nyx_core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
T4 = doctor.GpuFacts(0, "Tesla T4", 15360, "570.86", (7, 5))
A100 = doctor.GpuFacts(1, "A100", 81920, "570.86", (8, 0))
K80 = doctor.GpuFacts(2, "Tesla K80", 11441, "470.1", (3, 7))


def nyx(ws_root: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("NYX_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "nyx_core", "--workspace", str(ws_root), *args], cwd=REPO,
                          env=full, capture_output=True, text=True, timeout=120, input=stdin)


@pytest.mark.parametrize("gpu,fp16,bf16", [(T4, True, False), (A100, True, True), (K80, False, False)])
def test_precision_rule(gpu, fp16, bf16):
    assert (gpu.fp16, gpu.bf16) == (fp16, bf16)


def test_precision_problems_name_the_gpus_the_run_uses():
    gpus = [T4, A100]
    assert doctor.precision_problems("bf16", "", 1, gpus) == [
        "GPU 0 (Tesla T4, compute capability 7.5) cannot train in bf16: it needs 8.0 (Ampere) or newer; "
        "choose mixed precision fp16"]
    assert doctor.precision_problems("bf16", "1", 1, gpus) == []  # only the A100 is used
    assert doctor.precision_problems("fp16", "", 2, gpus) == []
    assert len(doctor.precision_problems("fp16", "2", 1, [K80])) == 1
    assert doctor.precision_problems("no", "2", 1, [K80]) == []
    assert doctor.precision_problems("bf16", "", 1, []) == []  # no GPU visible here: nothing to say


def test_preflight_refuses_bf16_on_a_t4(ws, monkeypatch):
    monkeypatch.setattr(doctor, "gpu_facts", lambda: [T4])
    cfg = new_config("t4", performance={"mixed_precision": "bf16"})
    problems = validate(cfg, ws, Settings())
    assert any(p.level == "error" and p.field == "performance.mixed_precision" and "Tesla T4" in p.message
               for p in problems)
    cfg = new_config("t4", performance={"mixed_precision": "fp16"})
    assert not [p for p in validate(cfg, ws, Settings()) if p.field == "performance.mixed_precision"]


def _fake_torch(root: Path, cuda: bool) -> Path:
    """A `torch` package that answers what the probe asks, like a CUDA pod's would."""
    pkg = root / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "__version__ = '2.8.0+cu128'\n"
        "class version: cuda = '12.8'\n"
        "class cuda:\n"
        f"    is_available = staticmethod(lambda: {cuda})\n"
        "    device_count = staticmethod(lambda: 1)\n"
        "    get_device_name = staticmethod(lambda i: 'NVIDIA A100')\n"
        "    is_bf16_supported = staticmethod(lambda: True)\n")
    return root


def test_doctor_json_says_what_is_missing_with_the_fix(ws):
    r = nyx(ws.root, "doctor", "--json")
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    by = {c["name"]: c for c in rep["checks"]}
    assert rep["ok"] is False
    assert by["sd-scripts"]["status"] == "fail" and "setup.sh" in by["sd-scripts"]["fix"]
    assert by["password"]["status"] == "info" and "nyx settings password" in by["password"]["fix"]
    assert by["disk: workspace"]["status"] in ("ok", "warn") and str(ws.root) in by["disk: workspace"]["detail"]
    assert "disk: model cache" in by and "versions" in by


def test_doctor_runs_sd_scripts_python(ws, tmp_path):
    from nyx_dev.standin import make_fake_sd_scripts

    sd = make_fake_sd_scripts(tmp_path / "sd")
    site = _fake_torch(tmp_path / "site", cuda=True)
    env = {"NYX_SD_SCRIPTS": str(sd), "NYX_SD_SCRIPTS_PYTHON": sys.executable, "PYTHONPATH": str(site),
           "NYX_PASSWORD": "a long passphrase", "HF_HOME": str(tmp_path / "hf")}
    r = nyx(ws.root, "doctor", env=env)
    lines = {m.group(2): (m.group(1), m.group(3)) for m in re.finditer(r"^(ok|WARN|FAIL|info)\s+(.+?)\s{2,}(.*)$",
                                                                       r.stdout, re.M)}
    assert lines["torch CUDA"][0] == "ok" and "NVIDIA A100 (bf16 yes)" in lines["torch CUDA"][1]
    assert lines["train_network.py --help"][0] == "ok"
    assert lines["password"] == ("ok", "set by NYX_PASSWORD")
    assert lines["accelerate config"][0] == "WARN" and "accelerate.commands.config default" in r.stdout
    assert lines["extra: accelerate"][0] == "FAIL"  # the test Python has no accelerate: training would fail
    assert r.stdout.rstrip().endswith("NOT ready to train: fix the FAIL lines above")

    (site / "torch" / "__init__.py").write_text("raise ImportError('libcudart.so.12: cannot open shared object file')\n")
    r = nyx(ws.root, "doctor", "--json", env=env)
    torch_check = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "torch")
    assert torch_check["status"] == "fail" and "libcudart" in torch_check["detail"]


def test_settings_page_system_section(ws, tmp_path, monkeypatch):
    at = AppTest.from_file(str(REPO / "pages" / "settings.py"), default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    rows = {r["check"]: r for r in table.to_dict("records")}
    assert rows["sd-scripts"][""] == "FAIL" and "setup.sh" in rows["sd-scripts"]["fix"]
    assert any("Not ready to train" in e.value for e in at.error)

    from nyx_dev.standin import make_fake_sd_scripts

    monkeypatch.setenv("NYX_SD_SCRIPTS", str(make_fake_sd_scripts(tmp_path / "sd")))
    monkeypatch.setenv("NYX_SD_SCRIPTS_PYTHON", sys.executable)
    monkeypatch.setenv("PYTHONPATH", str(_fake_torch(tmp_path / "site", cuda=False)))
    at = AppTest.from_file(str(REPO / "pages" / "settings.py"), default_timeout=60).run()
    at.button(key="doctor_deep").click().run()
    assert not at.exception
    rows = {r["check"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert rows["sd-scripts"][""] == "ok"
    assert rows["torch CUDA"][""] == "WARN" and "CPU only" in rows["torch CUDA"]["detail"]
    assert rows["train_network.py --help"][""] == "ok"


def test_settings_cli_set_and_password(ws, capsys, monkeypatch):
    from nyx_core.cli import main

    def nyx(root, *args, env=None, stdin=None):  # in-process: ten subprocesses would cost seconds
        import io

        monkeypatch.delenv("NYX_PASSWORD", raising=False)
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        rc = main(["--workspace", str(root), *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, rc, out, err)

    assert nyx(ws.root, "settings", "set", "sd_scripts_dir", "/opt/sd").returncode == 0
    assert nyx(ws.root, "settings", "set", "launcher", "python").returncode == 0
    assert nyx(ws.root, "settings", "set", "launcher", "bash").returncode == 1
    r = nyx(ws.root, "settings", "password", "--stdin", stdin="a new passphrase\n", env={"HF_TOKEN": "hf_from_env"})
    assert r.returncode == 0
    s = Settings.load(ws.root, env={})
    assert Path(s.sd_scripts_dir) == Path("/opt/sd") and s.launcher == "python"
    # stored as a salted hash, never as text (issue 14)
    assert s.check_password("a new passphrase") and "a new passphrase" not in (ws.root / "settings.toml").read_text()
    assert "hf_from_env" not in (ws.root / "settings.toml").read_text()  # the environment stays out of the file


def test_pod_start_generates_a_password_once(tmp_path):
    """No NYX_PASSWORD and none stored: generated, printed, stored; the next start keeps it."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NYX_")}
    env.update(NYX_WORKSPACE=str(tmp_path / "ws"), NYX_PYTHON=sys.executable)
    script = "source provisioning/lib.sh; ensure_password"
    first = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    password = re.search(r"Generated dashboard password \(shown only now[^)]*\): (\S+)", first.stdout).group(1)
    again = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert "the one stored in the workspace settings" in again.stdout and password not in again.stdout
    env["NYX_PASSWORD"] = "from the environment"
    assert "from NYX_PASSWORD" in subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True,
                                                 text=True, timeout=60).stdout
