"""`nyx doctor`: is this machine ready to train, and if not, what fixes it.

One list of ``Check``s (name, status, detail, fix) for the CLI, the Settings page and pre-flight.
Quick checks read files, NVML and the settings; the deep ones run sd-scripts' own Python (torch's
view of CUDA, the extras, ``train_network.py --help``) in subprocesses, so torch never loads here.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from nyx_core.settings import Settings
from nyx_core.workspace import Workspace

Status = Literal["ok", "warn", "fail", "info"]

#: Free space below which a check warns / fails: a base model is 2-24 GB, each LoRA save 10-300 MB.
DISK_WARN = 20 * 2**30
DISK_FAIL = 2 * 2**30
#: LyCORIS 4.1.3 crashes SD1.5 LoCon with "duplicated lora name"; 3.4.0 works.
LYCORIS_GOOD = "3.4.0"
LYCORIS_BAD = {"4.1.3"}
NYX_PACKAGES = ("streamlit", "pydantic", "pandas", "plotly", "pillow", "safetensors", "tomlkit", "psutil")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class GpuFacts:
    index: int
    name: str
    memory_total_mb: int
    driver: str
    compute_capability: tuple[int, int] | None

    @property
    def fp16(self) -> bool:
        return precision_supported("fp16", self.compute_capability)

    @property
    def bf16(self) -> bool:
        return precision_supported("bf16", self.compute_capability)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    gpus: list[GpuFacts] = field(default_factory=list)
    deep: bool = False

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "deep": self.deep,
            "checks": [asdict(c) for c in self.checks],
            "gpus": [asdict(g) | {"fp16": g.fp16, "bf16": g.bf16} for g in self.gpus],
        }


# Precision: the one rule pre-flight and the report share ---------------------------------------
def precision_supported(precision: str, cc: tuple[int, int] | None) -> bool:
    """Whether a GPU of compute capability ``cc`` can train in ``precision``.

    bf16 needs Ampere or newer (8.0+), what ``torch.cuda.is_bf16_supported()`` checks; fp16 needs
    native half arithmetic (5.3+). Unknown capability: assume yes rather than block a run.
    """
    if cc is None or precision not in ("fp16", "bf16"):
        return True
    return cc >= ((8, 0) if precision == "bf16" else (5, 3))


def precision_problems(precision: str, gpu_ids: str, num_gpus: int,
                       gpus: list[GpuFacts] | None = None) -> list[str]:
    """One message per GPU the run would use that cannot train in ``precision``. Empty when no GPU
    is visible here (NVML missing is not proof of anything) or all of them can."""
    gpus = gpu_facts() if gpus is None else gpus
    if precision not in ("fp16", "bf16") or not gpus:
        return []
    by_index = {g.index: g for g in gpus}
    wanted = [int(i) for i in gpu_ids.split(",") if i.strip().isdigit()] if gpu_ids.strip() else list(range(num_gpus))
    other = "fp16" if precision == "bf16" else "no"
    out = []
    for i in wanted:
        g = by_index.get(i)
        if g is not None and not precision_supported(precision, g.compute_capability):
            cc = ".".join(map(str, g.compute_capability or ()))
            need = "8.0 (Ampere)" if precision == "bf16" else "5.3"
            out.append(f"GPU {i} ({g.name}, compute capability {cc}) cannot train in {precision}: it needs {need} "
                       f"or newer; choose mixed precision {other}")
    return out


# GPUs through NVML -----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def gpu_facts() -> list[GpuFacts]:
    """The NVIDIA GPUs NVML sees (cached: they do not change while a process runs)."""
    from nyx_core.system import nvml, text

    with nvml() as pynvml:
        if pynvml is None:
            return []
        try:
            driver = text(pynvml.nvmlSystemGetDriverVersion())
            out = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                try:
                    cc = tuple(pynvml.nvmlDeviceGetCudaComputeCapability(h))
                except Exception:
                    cc = None
                out.append(GpuFacts(i, text(pynvml.nvmlDeviceGetName(h)),
                                    pynvml.nvmlDeviceGetMemoryInfo(h).total // 2**20, driver, cc))  # type: ignore[arg-type]
            return out
        except Exception:
            return []


# The checks ------------------------------------------------------------------------------------
def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def hf_home(env: dict[str, str] | None = None) -> Path:
    """Where Hugging Face (and accelerate's config) live: HF_HOME, else XDG cache, else ~/.cache."""
    env = os.environ if env is None else env
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser()
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "huggingface"


def _disk(label: str, path: Path) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the cache may not exist yet: its filesystem does
    free = shutil.disk_usage(probe).free
    text = f"{free / 2**30:.1f} GB free at {path}"
    if free < DISK_FAIL:
        return Check(f"disk: {label}", "fail", text, "free space: empty the trash (Files page), delete old outputs")
    if free < DISK_WARN:
        return Check(f"disk: {label}", "warn", text, "a base model takes 2-24 GB; free some space or use a larger volume")
    return Check(f"disk: {label}", "ok", text)


def _sd_scripts(s: Settings) -> list[Check]:
    from nyx_core.cli.info import PINNED_SD_SCRIPTS, sd_scripts_commit

    found, why = s.sd_scripts_status()
    if not found:
        return [Check("sd-scripts", "fail", why, "bash provisioning/setup.sh (or set NYX_SD_SCRIPTS / the Settings page)")]
    out = [Check("sd-scripts", "ok", why)]
    commit = sd_scripts_commit(Path(s.sd_scripts_dir))
    if commit is None:
        out.append(Check("sd-scripts commit", "warn", "not a git checkout: its commit is unknown",
                         f"use a checkout of {PINNED_SD_SCRIPTS[:10]} (option checks follow that commit)"))
    elif commit != PINNED_SD_SCRIPTS:
        out.append(Check("sd-scripts commit", "warn", f"at {commit[:10]}, not the pinned {PINNED_SD_SCRIPTS[:10]}",
                         f"git -C {s.sd_scripts_dir} checkout {PINNED_SD_SCRIPTS}"))
    else:
        out.append(Check("sd-scripts commit", "ok", f"at the pinned {commit[:10]}"))
    return out


def _password(s: Settings, env: dict[str, str]) -> Check:
    if env.get("NYX_PASSWORD"):
        return Check("password", "ok", "set by NYX_PASSWORD")
    if s.password or getattr(s, "password_hash", ""):
        return Check("password", "ok", "stored in the workspace settings")
    return Check("password", "info", "none: the dashboard only serves localhost (127.0.0.1)",
                 "nyx settings password (needed before binding beyond localhost, as pods do)")


def _accelerate(s: Settings, env: dict[str, str]) -> Check:
    if getattr(s, "launcher", "accelerate") == "python":
        return Check("accelerate config", "info", "not used: the launcher is 'python'")
    cfg = hf_home(env) / "accelerate" / "default_config.yaml"
    if cfg.is_file():
        return Check("accelerate config", "ok", f"{cfg}")
    return Check("accelerate config", "warn", f"no {cfg}: Nyx passes GPUs and precision itself, accelerate warns",
                 f"bash provisioning/setup.sh, or {s.python_for_sd_scripts} -m accelerate.commands.config default")


def quick_checks(ws: Workspace, s: Settings, env: dict[str, str] | None = None) -> Report:
    env = dict(os.environ if env is None else env)
    from nyx_core import __version__

    versions = ", ".join(f"{p} {v}" for p in NYX_PACKAGES if (v := _pkg(p)))
    rep = Report(gpus=gpu_facts())
    rep.checks.append(Check("versions", "info", f"Nyx {__version__}, Python {platform.python_version()}; {versions}"))
    if rep.gpus:
        for g in rep.gpus:
            cc = ".".join(map(str, g.compute_capability)) if g.compute_capability else "?"
            prec = "fp16 " + ("yes" if g.fp16 else "no") + ", bf16 " + ("yes" if g.bf16 else "no")
            rep.checks.append(Check(f"GPU {g.index}", "ok", f"{g.name}, {g.memory_total_mb / 1024:.0f} GB, "
                                    f"driver {g.driver}, compute capability {cc} ({prec})"))
    else:
        rep.checks.append(Check("GPU", "warn", "no NVIDIA GPU visible (NVML found none)",
                                "on a pod: rent a GPU instance and check `nvidia-smi`; on CPU training is very slow"))
    rep.checks.append(_disk("workspace", ws.root))
    rep.checks.append(_disk("model cache", hf_home(env)))
    rep.checks += _sd_scripts(s)
    rep.checks.append(_accelerate(s, env))
    rep.checks.append(_password(s, env))
    return rep


# Deep: sd-scripts' own Python ------------------------------------------------------------------
_PROBE = r"""
import json, importlib.util
from importlib.metadata import version, PackageNotFoundError
def v(name):
    try: return version(name)
    except PackageNotFoundError: return None
out = {"extras": {}}
for mod, dist in (("xformers", "xformers"), ("bitsandbytes", "bitsandbytes"), ("lycoris", "lycoris-lora"),
                  ("onnxruntime", "onnxruntime-gpu"), ("accelerate", "accelerate")):
    out["extras"][mod] = (v(dist) or v(mod)) if importlib.util.find_spec(mod) else None
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda_build"] = torch.version.cuda
    out["cuda"] = torch.cuda.is_available()
    out["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if out["cuda"] else []
    out["bf16"] = bool(out["cuda"] and torch.cuda.is_bf16_supported())
except Exception as exc:
    out["torch_error"] = f"{type(exc).__name__}: {exc}"
print("NYX-PROBE " + json.dumps(out))
"""


def _run(argv: list[str], cwd: Path | None, timeout: float) -> tuple[int, str]:
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    except OSError as exc:
        return -1, str(exc)
    return p.returncode, p.stdout + p.stderr


def deep_checks(s: Settings, timeout: float = 240) -> list[Check]:
    found, _ = s.sd_scripts_status()
    if not found:
        return [Check("sd-scripts' Python", "fail", "cannot run it: sd-scripts is not set up", "bash provisioning/setup.sh")]
    py = str(s.python_for_sd_scripts)
    out: list[Check] = []
    rc, text = _run([py, "-c", _PROBE], None, timeout)
    line = next((ln for ln in text.splitlines() if ln.startswith("NYX-PROBE ")), None)
    if line is None:
        return [Check("sd-scripts' Python", "fail", f"{py} did not run: {text.strip()[-300:]}",
                      "bash provisioning/setup.sh (re-creates sd-scripts' venv)")]
    probe = json.loads(line.removeprefix("NYX-PROBE "))
    if "torch" not in probe:
        out.append(Check("torch", "fail", f"sd-scripts' Python cannot import torch: {probe.get('torch_error')}",
                         "bash provisioning/setup.sh (installs the torch build for this machine)"))
    elif probe["cuda"]:
        out.append(Check("torch CUDA", "ok", f"torch {probe['torch']} sees {len(probe['devices'])} GPU(s): "
                         f"{', '.join(probe['devices'])} (bf16 {'yes' if probe['bf16'] else 'no'})"))
    elif gpu_facts():
        out.append(Check("torch CUDA", "fail", f"torch {probe['torch']} (CUDA build {probe['cuda_build']}) sees no GPU, "
                         "but the driver shows some", "reinstall torch for this driver: TORCH_SPEC=… bash provisioning/setup.sh"))
    else:
        out.append(Check("torch CUDA", "warn", f"torch {probe['torch']} runs on CPU only (no GPU on this machine)"))
    extras = probe["extras"]
    for mod in ("accelerate", "xformers", "bitsandbytes", "lycoris", "onnxruntime"):
        have = extras.get(mod)
        name = f"extra: {mod}"
        if mod == "accelerate":
            out.append(Check(name, "ok", f"accelerate {have}") if have else
                       Check(name, "fail", "accelerate is missing", "bash provisioning/setup.sh"))
        elif mod == "lycoris" and have in LYCORIS_BAD:
            out.append(Check(name, "warn", f"lycoris-lora {have} crashes SD1.5 LoCon (\"duplicated lora name\")",
                             f"bash provisioning/setup.sh --lycoris (installs {LYCORIS_GOOD})"))
        elif have:
            out.append(Check(name, "ok", f"{mod} {have}"))
        else:
            out.append(Check(name, "info", f"{mod} not installed (optional)", f"bash provisioning/setup.sh --{mod.replace('onnxruntime', 'onnxruntime-gpu')}"))
    rc, text = _run([py, "train_network.py", "--help"], Path(s.sd_scripts_dir), timeout)
    if rc == 0:
        out.append(Check("train_network.py --help", "ok", "sd-scripts imports and parses its arguments"))
    else:
        last = (text.strip().splitlines() or ["no output"])[-1][:300]
        out.append(Check("train_network.py --help", "fail", f"exit {rc}: {last}",
                         "bash provisioning/setup.sh (installs sd-scripts' requirements)"))
    return out


def run(ws: Workspace, s: Settings | None = None, *, deep: bool = True) -> Report:
    s = Settings.load(ws.root) if s is None else s
    rep = quick_checks(ws, s)
    if deep:
        rep.checks += deep_checks(s)
        rep.deep = True
    return rep
