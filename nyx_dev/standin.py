"""A stand-in for sd-scripts' ``train_network.py``, for tests, the e2e and the benchmarks.

It prints what sd-scripts prints (the same lines, ``\\r`` tqdm redraws included), writes real
files — LoRA ``.safetensors`` (numpy + safetensors), TensorBoard event files, sample PNGs — and
exits the way sd-scripts does. So the runner, parser, stop, crash and reattach paths all run on a
real process tree, without torch or a GPU.

Three ways to drive it::

    # replay a real log (../shared/kohya/logs/*.log) with its own timing, 20x faster
    python -m nyx_dev.standin --log X.log --speed 20 --output-dir D --output-name N [--tb-dir T]
    # synthesise sd-scripts-format output (no shared files needed)
    python -m nyx_dev.standin --synth --steps 20 --epochs 2 --step-time 0.1 --output-dir D ...
    # behave like train_network.py --config_file <rendered config.toml> (fake sd-scripts folders)
    python -m nyx_dev.standin --config_file render/config.toml

Env for the config mode: ``NYX_STANDIN_STEP_TIME`` (seconds per step, default 0.2),
``NYX_STANDIN_FAIL_AT`` (crash at that step), ``NYX_STANDIN_LOG`` (replay that log instead).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time
from datetime import datetime
from pathlib import Path

BAR_W = 10


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def write_lora(path: Path, *, dim: int = 4, alpha: float = 1.0, modules: int = 6, name: str = "standin") -> None:
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(len(name))
    tensors = {}
    for i in range(modules):
        key = f"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_{'qkvo'[i % 4]}_{i}"
        tensors[f"{key}.lora_down.weight"] = rng.standard_normal((dim, 320), dtype=np.float32).astype(np.float16)
        tensors[f"{key}.lora_up.weight"] = np.zeros((320, dim), dtype=np.float16)
        tensors[f"{key}.alpha"] = np.array(alpha, dtype=np.float16)
    meta = {
        "ss_network_module": "networks.lora", "ss_network_dim": str(dim), "ss_network_alpha": str(alpha),
        "ss_output_name": name, "ss_training_comment": "written by the Nyx stand-in (not a real LoRA)",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def write_sample(path: Path, seed: int) -> None:
    from PIL import Image

    rnd = random.Random(seed)
    color = tuple(rnd.randrange(256) for _ in range(3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), color).save(path)


def _bar(n: int, total: int, elapsed: float, per_step: float, loss: float | None) -> str:
    frac = n / total if total else 0
    pct = int(frac * 100)
    filled = int(frac * BAR_W)
    bar = "█" * filled + " " * (BAR_W - filled)
    eta = (total - n) * per_step
    rate = f"{per_step:.2f}s/it" if per_step >= 1 else f"{(1 / per_step if per_step else 0):.2f}it/s"
    if n == 0:
        rate, eta_t = "?it/s", "?"
    else:
        eta_t = _mmss(eta)
    tail = f", avr_loss={loss:.3g}" if loss is not None else ""
    return f"\rsteps: {pct:3d}%|{bar}| {n}/{total} [{_mmss(elapsed)}<{eta_t}, {rate}{tail}]"


def _mmss(s: float) -> str:
    s = int(s)
    return f"{s // 60:02d}:{s % 60:02d}"


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def _work(rounds: int) -> None:
    """A fixed amount of CPU work (not a fixed time): anything that competes for the CPU, the
    runner included, makes it take longer, so overhead shows in the wall time."""
    import hashlib

    buf = b"\0" * 65536
    for _ in range(rounds):
        buf = hashlib.sha256(buf).digest() * 2048


class Outputs:
    def __init__(self, output_dir: Path, output_name: str, tb_dir: Path | None, lr: float,
                 save_model_as: str = "safetensors") -> None:
        self.dir, self.name, self.lr = Path(output_dir), output_name, lr
        # like sd-scripts: every LoRA file gets "." + save_model_as (ckpt/pt files hold the same
        # safetensors bytes here: the stand-in has no torch; Nyx only checks names and existence)
        self.ext = "." + (save_model_as or "safetensors")
        self.tb = None
        if tb_dir:
            from nyx_core.jobs.tbevents import TBWriter

            self.tb = TBWriter(Path(tb_dir) / (time.strftime("%Y%m%d%H%M%S")) / "network_train")
        self._avg: list[float] = []

    def step_metrics(self, step: int, loss: float) -> float:
        self._avg.append(loss)
        avg = sum(self._avg[-10:]) / len(self._avg[-10:])
        if self.tb is not None:
            self.tb.add_scalars(step, {"loss/current": loss, "loss/average": avg, "lr/unet": self.lr})
        return avg

    def checkpoint_path(self, epoch: int | None) -> Path:
        suffix = f"-{epoch:06d}" if epoch is not None else ""
        return self.dir / f"{self.name}{suffix}{self.ext}"

    def sample_path(self, epoch: int, idx: int, seed: int) -> Path:
        ts = datetime.now().strftime("%Y%m%d%H%M%S")
        return self.dir / "sample" / f"{self.name}_e{epoch:06d}_{idx:02d}_{ts}_{seed}.png"


# Synthesised run -------------------------------------------------------------------------------
def write_state(folder: Path, step: int) -> None:
    """A folder shaped like an accelerate state (what sd-scripts' --save_state writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_state.json").write_text(json.dumps({"current_step": step}))


def synth(outs: Outputs, *, steps: int, epochs: int, step_time: float, cpu: bool = False,
          save_every: int | None = None, prompts: int = 0, fail_at: int | None = None, no_data: bool = False,
          save_state: bool = False, state_on_end: bool = False, resume: str | None = None,
          work: int = 0) -> int:
    ts = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    _out(f"{ts} INFO     Loading settings from config.toml...                    train_util.py:4744\n")
    _out("                    INFO     Loading dataset config from dataset.toml                 train_network.py:519\n")
    _out("                    INFO     prepare images.                                          train_util.py:2112\n")
    if resume:
        _out(f"                    INFO     resume training from local state: {resume}  train_util.py:4780\n")
    if no_data:
        _out("                    WARNING  not directory: datasets/missing/10_subject             train_util.py:1964\n")
        _out("                    ERROR    No data found. Please verify arguments (train_data_dir must be the "
             "parent of folders with images) train_network.py:576\n")
        return 0
    _out("                    INFO     loading model for process 0/1                            train_util.py:5574\n")
    _out("                    INFO     caching latents...                                       train_util.py:1170\n")
    _out("prepare optimizer, data loader etc.\n")
    per_epoch = max(1, math.ceil(steps / epochs))
    _out("running training / 学習開始\n")
    _out(f"  num train images * repeats / 学習画像の数×繰り返し回数: {per_epoch}\n")
    _out("  num reg images / 正則化画像の数: 0\n")
    _out(f"  num batches per epoch / 1epochのバッチ数: {per_epoch}\n")
    _out(f"  num epochs / epoch数: {epochs}\n")
    _out("  batch size per device / バッチサイズ: 1\n")
    _out("  gradient accumulation steps / 勾配を合計するステップ数 = 1\n")
    _out(f"  total optimization steps / 学習ステップ数: {steps}\n")
    _out(_bar(0, steps, 0, 0, None))
    t0 = time.monotonic()
    rnd = random.Random(1)
    step = 0
    for epoch in range(1, epochs + 1):
        _out(f"\nepoch {epoch}/{epochs}\n")
        for _ in range(per_epoch):
            if step >= steps:
                break
            if work:
                _work(work)
            else:
                (_busy if cpu else time.sleep)(step_time)
            step += 1
            if fail_at is not None and step >= fail_at:
                _out("\nTraceback (most recent call last):\n")
                _out('  File "train_network.py", line 1913, in <module>\n    trainer.train(args)\n')
                _out("torch.OutOfMemoryError: CUDA out of memory. (stand-in crash)\n")
                return 1
            loss = 0.12 + 0.05 * math.exp(-step / 50) + rnd.uniform(-0.02, 0.02)
            avg = outs.step_metrics(step, loss)
            el = time.monotonic() - t0
            _out(_bar(step, steps, el, el / step, None))
            _out(_bar(step, steps, el, el / step, avg))
        last = epoch == epochs or step >= steps
        if not last and save_every and epoch % save_every == 0:
            path = outs.checkpoint_path(epoch)
            _out(f"\nsaving checkpoint: {path}\n")
            write_lora(path, name=outs.name)
            if save_state:
                write_state(outs.dir / f"{outs.name}-{epoch:06d}-state", step)
        if prompts:
            _out(f"\n{datetime.now():%Y-%m-%d %H:%M:%S} INFO     generating sample images at step / "
                 f"サンプル画像生成 ステップ: {step} train_util.py:6394\n")
            for i in range(prompts):
                _out(f"                    INFO     prompt: prompt {i}{' ' * 35}train_util.py:6542\n")
                write_sample(outs.sample_path(epoch, i, i + 1), i + epoch)
        if last:
            break
    path = outs.checkpoint_path(None)
    _out(f"\nsaving checkpoint: {path}\n")
    write_lora(path, name=outs.name)
    if save_state or state_on_end:
        write_state(outs.dir / f"{outs.name}-state", step)
    _out(f"{datetime.now():%Y-%m-%d %H:%M:%S} INFO     model saved.                  train_network.py:1729\n")
    el = time.monotonic() - t0
    _out(_bar(step, steps, el, el / max(step, 1), outs._avg and sum(outs._avg[-10:]) / len(outs._avg[-10:])) + "\n")
    return 0


# Replayed run ---------------------------------------------------------------------------------
_TS = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_STEPS = re.compile(rb"^steps:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)\s*\[([\d:]+)<[^,]*,[^\],]*(?:, avr_loss=([-\d.e+]+|nan))?")
_SAVE = re.compile(rb"^saving checkpoint:\s*(\S+)")
_EPOCH = re.compile(rb"^epoch (\d+)/(\d+)")


def _secs(hms: bytes) -> float:
    s = 0.0
    for part in hms.split(b":"):
        s = s * 60 + float(part)
    return s


def replay(outs: Outputs, log: Path, speed: float = 1.0) -> int:
    data = log.read_bytes()
    tokens = re.findall(rb"[^\r\n]*(?:\r|\n)|[^\r\n]+$", data)
    logged_final = None
    for m in re.finditer(rb"saving checkpoint:\s*(\S+)", data):
        logged_final = Path(m.group(1).decode()).name
    logged_stem = logged_final.rsplit(".", 1)[0] if logged_final else None
    exit_code = 0
    sidecar = log.with_suffix(".json")
    if sidecar.is_file():
        try:
            exit_code = int(json.loads(sidecar.read_text()).get("exit_code") or 0)
        except (ValueError, TypeError):
            exit_code = 0
    elif b"CalledProcessError" in data or b"Traceback (most recent call last)" in data:
        exit_code = 1

    t = 0.0
    t0_abs = None
    bar_start = None
    epoch = 1
    sample_idx = 0
    start = time.monotonic()
    for tok in tokens:
        body = tok.lstrip(b"\r").rstrip(b"\r\n")
        target = t
        m = _TS.match(body)
        if m:
            abs_t = datetime.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S").timestamp()
            if t0_abs is None:
                t0_abs = abs_t
            target = abs_t - t0_abs
        ms = _STEPS.match(body)
        if ms:
            n = int(ms.group(1))
            if n == 0:
                bar_start = t
            elif bar_start is not None:
                target = bar_start + _secs(ms.group(3))
        t = max(t, target)
        delay = start + t / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        me = _EPOCH.match(body)
        if me:
            epoch = int(me.group(1))
        if b"generating sample images" in body:
            sample_idx = 0
        if b"INFO     prompt: " in body:
            write_sample(outs.sample_path(epoch, sample_idx, sample_idx + 1), sample_idx + epoch)
            sample_idx += 1
        if ms and ms.group(4) and ms.group(4) != b"nan":
            avr = float(ms.group(4))
            outs.step_metrics(int(ms.group(1)), avr + random.uniform(-0.05, 0.05))
        msave = _SAVE.match(body)
        if msave:
            name = Path(msave.group(1).decode()).name
            if logged_stem:
                name = name.replace(logged_stem, outs.name, 1)
            path = outs.dir / name
            write_lora(path, name=outs.name)
            tok = tok.replace(msave.group(1), str(path).encode())
        sys.stdout.buffer.write(tok)
        sys.stdout.buffer.flush()
    return exit_code


def make_fake_sd_scripts(folder: Path) -> Path:
    """A folder that looks like an sd-scripts checkout to Nyx, whose training scripts run this
    stand-in (and whose inference scripts run ``nyx_dev.standin_infer``) (use with ``Settings(launcher="python", sd_scripts_python=sys.executable)``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parents[1]
    body = (
        "# Nyx test stand-in for sd-scripts: replays/synthesises sd-scripts output.\n"
        "import sys\n"
        f"sys.path.insert(0, {str(repo)!r})\n"
        "from nyx_dev.standin import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for script in ("train_network.py", "sdxl_train_network.py", "flux_train_network.py", "sd3_train_network.py"):
        (folder / script).write_text(body, encoding="utf-8")
    # the inference scripts the LoRA try-it job runs (nyx_dev/standin_infer.py)
    for script, kind in (("gen_img.py", "gen_img"), ("flux_minimal_inference.py", "flux"),
                         ("sd3_minimal_inference.py", "sd3")):
        (folder / script).write_text(
            "# Nyx test stand-in for sd-scripts' inference scripts.\n"
            f"import sys\nsys.path.insert(0, {str(repo)!r})\n"
            "from nyx_dev.standin_infer import main\n"
            f"sys.exit(main([{kind!r}] + sys.argv[1:]))\n", encoding="utf-8")
    return folder


# Entry points --------------------------------------------------------------------------------
def _from_config(config_file: Path) -> int:
    import tomllib

    cfg = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
    flat: dict = {}
    for k, v in cfg.items():  # sd-scripts flattens every table into one namespace
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    out_dir = Path(flat.get("output_dir") or ".")
    name = flat.get("output_name") or "last"
    outs = Outputs(out_dir, name, Path(flat["logging_dir"]) if flat.get("logging_dir") else None,
                   float(flat.get("learning_rate") or 1e-4), str(flat.get("save_model_as") or "safetensors"))
    log = os.environ.get("NYX_STANDIN_LOG")
    if log:
        return replay(outs, Path(log), float(os.environ.get("NYX_STANDIN_SPEED", "20")))
    epochs = int(flat.get("max_train_epochs") or 0)
    steps = int(flat.get("max_train_steps") or 0)
    if not steps:
        steps = (epochs or 1) * 4
    epochs = epochs or 1
    prompts = 0
    if flat.get("sample_prompts") and Path(flat["sample_prompts"]).is_file():
        prompts = sum(1 for line in Path(flat["sample_prompts"]).read_text().splitlines()
                      if line.strip() and not line.startswith("#"))
    fail_at = os.environ.get("NYX_STANDIN_FAIL_AT")
    return synth(outs, steps=steps, epochs=epochs, step_time=float(os.environ.get("NYX_STANDIN_STEP_TIME", "0.2")),
                 save_every=flat.get("save_every_n_epochs"),
                 prompts=prompts if flat.get("sample_every_n_epochs") else 0,
                 fail_at=int(fail_at) if fail_at else None, save_state=bool(flat.get("save_state")),
                 state_on_end=bool(flat.get("save_state_on_train_end")), resume=flat.get("resume"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nyx-standin", description=__doc__.splitlines()[0])
    ap.add_argument("--config_file")
    ap.add_argument("--log")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--synth", action="store_true")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--step-time", type=float, default=0.1)
    ap.add_argument("--cpu", action="store_true", help="burn CPU for each step instead of sleeping")
    ap.add_argument("--work", type=int, default=0,
                    help="a fixed amount of CPU work per step (sha256 rounds of 64 KiB) instead of a fixed time")
    ap.add_argument("--save-every", type=int)
    ap.add_argument("--prompts", type=int, default=0)
    ap.add_argument("--fail-at", type=int)
    ap.add_argument("--no-data", action="store_true", help="exit 0 without training, like a missing image_dir")
    ap.add_argument("--output-dir", default="output")
    ap.add_argument("--output-name", default="standin")
    ap.add_argument("--tb-dir")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--save-model-as", default="safetensors", choices=("safetensors", "ckpt", "pt"))
    a, _unknown = ap.parse_known_args(argv)
    if a.config_file:
        return _from_config(Path(a.config_file))
    outs = Outputs(Path(a.output_dir), a.output_name, Path(a.tb_dir) if a.tb_dir else None, a.lr, a.save_model_as)
    if a.log:
        return replay(outs, Path(a.log), a.speed)
    return synth(outs, steps=a.steps, epochs=a.epochs, step_time=a.step_time, cpu=a.cpu, save_every=a.save_every,
                 prompts=a.prompts, fail_at=a.fail_at, no_data=a.no_data, work=a.work)


def _timed_main() -> int:
    t, c = time.perf_counter(), time.process_time()
    rc = main()
    if os.environ.get("NYX_STANDIN_REPORT"):
        # for bench/jobs.py: the program's own wall time and CPU time, free of process start/stop
        Path(os.environ["NYX_STANDIN_REPORT"]).write_text(f"{time.perf_counter() - t:.6f} {time.process_time() - c:.6f}")
    return rc


if __name__ == "__main__":
    sys.exit(_timed_main())
