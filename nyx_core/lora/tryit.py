"""Try a LoRA: a grid of prompts × strengths (× epochs of the same run) rendered by sd-scripts'
own inference scripts in sd-scripts' Python, as a ``generate`` job: ``gen_img.py`` for SD1.5, SD2
and SDXL, ``flux_minimal_inference.py`` for Flux and ``sd3_minimal_inference.py`` for SD3
(``tryit_dit``).

This module is both the planner (UI/CLI side: ``TryRequest`` → ``submit_try``) and the job
program (``python -m nyx_core.lora.tryit RECIPE.json``). The program runs in Nyx's Python (it
needs only Pillow for the grid). ``gen_img.py`` starts once per LoRA file: the strengths ride on
each prompt line (``--am``), so the base model loads once per file, not once per image; the Flux
and SD3 scripts start once per grid (their ``--interactive`` mode, see ``tryit_dit``).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nyx_core.jobs.task import TaskReporter

EPOCH_FILE = re.compile(r"^(?P<base>.+)-(?P<epoch>\d{6})$")
SCRIPTS = {"SD1.5": "gen_img.py", "SD2": "gen_img.py", "SDXL": "gen_img.py"}


#: ``lora.info``'s family names → the families table's (SD2 LoRAs belong to "SD 1.5 / 2.x")
CONFIG_FAMILY = {"SD1.5": "sd15", "SD2": "sd15", "SDXL": "sdxl", "Flux": "flux", "SD3": "sd3"}


def family_spec(lora_family: str):  # noqa: ANN201 - a FamilySpec
    """The families table's entry for a LoRA of ``lora_family``: its usual size, its encoders."""
    from nyx_core.config.families import spec

    return spec(CONFIG_FAMILY[lora_family])


def default_size(lora_family: str) -> int:
    """The family's usual training size (512 for a family Nyx cannot try)."""
    return family_spec(lora_family).resolution if lora_family in CONFIG_FAMILY else 512


@dataclass
class TryRequest:
    lora: str
    prompts: list[str] = field(default_factory=list)
    strengths: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.75, 1.0])
    epochs: str = ""  # "" → only this file; "all" → every epoch file of the run; "2,4" → those
    base: str | None = None
    seed: int = 42
    steps: int | None = None  # None: 20 (Flux schnell: 4)
    width: int | None = None  # None: the family's usual size (512 SD1.5/SD2, 1024 SDXL/Flux/SD3)
    height: int | None = None
    sampler: str = "euler_a"  # gen_img.py only (the Flux/SD3 scripts have one sampler)
    scale: float | None = None  # CFG; None: 7 (gen_img.py), 1 (Flux: no CFG), 5 (SD3)
    negative: str = ""
    # Flux / SD3 only: encoder files (default: the run's config), Flux guidance, precision, offload
    clip_l: str | None = None
    clip_g: str | None = None
    t5xxl: str | None = None
    ae: str | None = None
    guidance: float | None = None  # Flux; None: 3.5, the script's default
    precision: str = "bf16"
    offload: bool = False
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def run_files(lora: Path, epochs: str) -> list[tuple[str, Path]]:
    """(label, file) for the LoRA and, when asked, the same run's epoch files (``NAME-000002``)."""
    m = EPOCH_FILE.match(lora.stem)
    base = m["base"] if m else lora.stem
    if not epochs:
        return [(f"epoch {int(m['epoch'])}" if m else "final", lora)]
    found: dict[int, Path] = {}
    for p in lora.parent.glob(f"{glob_escape(base)}-*{lora.suffix}"):
        mm = EPOCH_FILE.match(p.stem)
        if mm and mm["base"] == base:
            found[int(mm["epoch"])] = p
    final = lora.parent / f"{base}{lora.suffix}"
    picked: list[tuple[str, Path]] = []
    if epochs.strip().lower() == "all":
        picked = [(f"epoch {e}", p) for e, p in sorted(found.items())]
        if final.is_file():
            picked.append(("final", final))
    else:
        from nyx_core.errors import NyxError

        for part in epochs.split(","):
            part = part.strip()
            if not part:
                continue
            if part == "final":
                if final.is_file():
                    picked.append(("final", final))
                continue
            if not part.isdigit() or int(part) not in found:
                have = ", ".join(str(e) for e in sorted(found)) or "none"
                raise NyxError(f"no epoch {part} file for {base} (epochs saved: {have})")
            picked.append((f"epoch {int(part)}", found[int(part)]))
    return picked or [("final", lora)]


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def find_run(ws, lora: Path) -> Path | None:
    """The job folder of the training run that wrote ``lora`` (by its output folder), if any."""
    jobs = ws.jobs
    if not jobs.is_dir():
        return None
    for d in sorted(jobs.iterdir(), reverse=True):
        try:
            meta = json.loads((d / "job.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        spec = meta.get("spec", meta) if isinstance(meta, dict) else {}
        out = spec.get("output_dir") if isinstance(spec, dict) else None
        if out and Path(out).resolve() == lora.parent.resolve():
            return d
    return None


def defaults_from_run(run_dir: Path | None) -> tuple[list[str], str | None]:
    """The run's sample prompts (without their ``--`` options) and its base model."""
    if run_dir is None:
        return [], None
    prompts: list[str] = []
    sp = run_dir / "render" / "sample_prompts.txt"
    if sp.is_file():
        for line in sp.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                prompts.append(line.split(" --")[0].strip())
    return prompts, run_models(run_dir).get("pretrained_model_name_or_path")


MODEL_KEYS = ("pretrained_model_name_or_path", "clip_l", "clip_g", "t5xxl", "ae")


def run_models(run_dir: Path | None) -> dict[str, str]:
    """The model files of the run's rendered config (base model and encoders), as sd-scripts got them."""
    cfg = run_dir / "render" / "config.toml" if run_dir else None
    if cfg is None or not cfg.is_file():
        return {}
    import tomllib

    try:
        flat: dict = {}
        for v in tomllib.loads(cfg.read_text(encoding="utf-8")).values():
            if isinstance(v, dict):
                flat.update(v)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return {}
    return {k: str(flat[k]) for k in MODEL_KEYS if isinstance(flat.get(k), str) and flat[k].strip()}


def plan(ws, settings, req: TryRequest) -> dict:
    """Check the request and turn it into the program's recipe (absolute paths, every default filled)."""
    from nyx_core.errors import NyxError
    from nyx_core.lora.info import inspect

    from nyx_core.lora import tryit_dit

    lora = Path(req.lora)
    info = inspect(lora)
    if info.kind == "full model":
        raise NyxError(f"{lora.name} is a full model, not a LoRA")
    dit = info.family in tryit_dit.SCRIPTS
    script = tryit_dit.SCRIPTS.get(info.family) or SCRIPTS.get(info.family)
    if script is None:
        raise NyxError(f"trying {info.family} LoRAs is not supported (SD1.5, SD2, SDXL, Flux and SD3 are)")
    if dit:
        tryit_dit.check_lora(info)
    run_dir = find_run(ws, lora)
    run_prompts, run_base = defaults_from_run(run_dir)
    prompts = [p.strip() for p in req.prompts if p.strip()] or run_prompts
    trigger = info.metadata.get("modelspec.trigger_phrase", "").strip()
    if not prompts:
        prompts = [trigger or (info.tags[0][0] if info.tags else "")]
        if not prompts[0]:
            raise NyxError("give a prompt: the LoRA has no trigger word, tags or run sample prompts")
    elif trigger:
        prompts = [p if trigger.lower() in p.lower() else f"{trigger}, {p}" for p in prompts]
    models: dict = {}
    if dit:
        models = tryit_dit.plan_models(ws, info.family, req.base, {"clip_l": req.clip_l, "clip_g": req.clip_g,
                                                                  "t5xxl": req.t5xxl, "ae": req.ae},
                                       run_models(run_dir))
        base = models["base"]
    elif req.base:
        # a user's path is confined to the workspace; "owner/name" is a Hub id sd-scripts may load
        hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", req.base) and not (ws.root / req.base).exists()
        base = req.base if hub_id else str(ws.resolve(req.base, must_exist=True))
    else:
        base = run_base  # the run's own model, already checked when the run started
    if not base:
        raise NyxError("give the base model (--base): it is not known from the run")
    if not req.strengths:
        raise NyxError("give at least one strength")
    width = req.width or default_size(info.family)
    height = req.height or default_size(info.family)
    multiple = 16 if dit else 8  # Flux/SD3 latents are 8× smaller and packed/patched in 2×2
    if not (64 <= width <= 4096 and 64 <= height <= 4096 and width % multiple == 0 and height % multiple == 0):
        raise NyxError(f"width and height must be multiples of {multiple} between 64 and 4096")
    steps = req.steps or (4 if models.get("schnell") else 20)
    if not (1 <= steps <= 500):
        raise NyxError("steps must be between 1 and 500")
    if req.precision not in tryit_dit.PRECISIONS:
        raise NyxError(f"precision must be one of {', '.join(tryit_dit.PRECISIONS)}")
    files = run_files(lora, req.epochs)
    if dit and any(";" in str(p) for _, p in files):
        # the scripts read each --lora_weights item as "path;multiplier"
        raise NyxError(f"{script} cannot load a LoRA whose path contains ';': rename the file or its folder")
    module = info.metadata.get("ss_network_module") or "networks.lora"
    sd_dir = Path(settings.sd_scripts_dir)
    if not (sd_dir / script).is_file():
        raise NyxError(f"no {script} in {sd_dir}: set up sd-scripts first (Settings)")
    scale = req.scale if req.scale is not None else {"Flux": 1.0, "SD3": 5.0}.get(info.family, 7.0)
    recipe = {"lora": str(lora), "files": [[label, str(p)] for label, p in files], "prompts": prompts,
              "strengths": list(req.strengths), "seed": req.seed, "steps": steps, "width": width,
              "height": height, "sampler": req.sampler, "scale": scale, "negative": req.negative,
              "base": base, "family": info.family, "network_module": module, "script": script,
              "sd_scripts_dir": str(sd_dir), "python": str(settings.python_for_sd_scripts),
              "extra_args": list(req.extra_args), "env": dict(req.env), "request": asdict(req)}
    if dit:
        recipe.update(encoders=models["encoders"], precision=req.precision, offload=bool(req.offload),
                      guidance=3.5 if req.guidance is None else float(req.guidance))
        recipe.pop("sampler")
    return recipe


def submit_try(jm, req: TryRequest, out_dir: Path | None = None):
    from nyx_core.jobs import JobSpec
    from nyx_core.jobs.task import task_argv

    recipe = plan(jm.ws, jm.settings, req)
    lora = Path(req.lora)
    out = out_dir or (lora.parent / "try" / f"{lora.stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    recipe["outdir"] = str(out)
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1) + "\n", encoding="utf-8")
    argv, env = task_argv("nyx_core.lora.tryit", str(out / "recipe.json"))
    spec = JobSpec(argv=argv, env=env, kind="generate", gpu_set="all", expected_output=str(out / "grid.png"),
                   output_dir=str(out))
    return jm.submit(spec, f"try {lora.stem}")


# --- the job program ------------------------------------------------------------------------

def prompt_lines(recipe: dict) -> list[tuple[str, str]]:
    """(file name, gen_img prompt line) for every prompt × strength: the strength is ``--am``."""
    lines = []
    for pi, prompt in enumerate(recipe["prompts"]):
        for si, s in enumerate(recipe["strengths"]):
            name = f"p{pi:02d}_s{si:02d}.png"
            opts = [f"--am {s:g}", f"--d {recipe['seed']}", f"--w {recipe['width']}", f"--h {recipe['height']}",
                    f"--s {recipe['steps']}", f"--l {recipe['scale']:g}", f"--f {name}"]
            if recipe.get("negative"):
                opts.insert(0, f"--n {recipe['negative']}")
            lines.append((name, " ".join([prompt.replace("\n", " ").replace(" --", " -")] + opts)))
    return lines


def gen_argv(recipe: dict, lora_file: str, outdir: Path, prompts_file: Path) -> list[str]:
    argv = [recipe["python"], str(Path(recipe["sd_scripts_dir"]) / recipe["script"]),
            "--ckpt", recipe["base"], "--outdir", str(outdir), "--from_file", str(prompts_file),
            "--network_module", recipe["network_module"], "--network_weights", lora_file,
            "--network_mul", "1.0", "--images_per_prompt", "1", "--sampler", recipe["sampler"],
            "--steps", str(recipe["steps"]), "--W", str(recipe["width"]), "--H", str(recipe["height"]),
            "--seed", str(recipe["seed"]), "--batch_size", "1"]
    if recipe["family"] == "SDXL":
        argv.append("--sdxl")
    elif recipe["family"] == "SD2":
        argv.append("--v2")
    return argv + list(recipe.get("extra_args", []))


def make_grid(recipe: dict, cells: dict[tuple[int, int, int], Path], out: Path) -> Path:
    """Rows: file × prompt; columns: strength. Labels on the top and left."""
    from PIL import Image, ImageDraw, ImageFont

    files, prompts, strengths = recipe["files"], recipe["prompts"], recipe["strengths"]
    cw, ch = min(recipe["width"], 512), min(recipe["height"], 512)
    if recipe["width"] > 512 or recipe["height"] > 512:
        f = 512 / max(recipe["width"], recipe["height"])
        cw, ch = int(recipe["width"] * f), int(recipe["height"] * f)
    left, top = 260, 40
    grid = Image.new("RGB", (left + cw * len(strengths), top + ch * len(files) * len(prompts)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for si, s in enumerate(strengths):
        draw.text((left + si * cw + 8, 12), f"strength {s:g}", fill="black", font=font)
    row = 0
    for fi, (label, _) in enumerate(files):
        for pi, prompt in enumerate(prompts):
            y = top + row * ch
            text = f"{label}\n" + "\n".join(_wrap(prompt, 36)[:8])
            draw.multiline_text((8, y + 8), text, fill="black", font=font)
            for si in range(len(strengths)):
                p = cells.get((fi, pi, si))
                if p and p.is_file():
                    with Image.open(p) as im:
                        grid.paste(im.convert("RGB").resize((cw, ch)), (left + si * cw, y))
                else:
                    draw.rectangle([left + si * cw, y, left + (si + 1) * cw - 1, y + ch - 1], outline="red")
                    draw.text((left + si * cw + 8, y + ch // 2), "missing", fill="red", font=font)
            row += 1
    tmp = out.with_name(f".{out.name}.tmp.png")
    grid.save(tmp)
    os.replace(tmp, out)
    return out


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return lines + ([cur] if cur else [])


def run(recipe: dict) -> int:
    from nyx_core.lora import tryit_dit

    if recipe["script"] in tryit_dit.SCRIPTS.values():
        return tryit_dit.run(recipe, TaskReporter(unit="images"), make_grid)
    out = Path(recipe["outdir"])
    lines = prompt_lines(recipe)
    total = len(lines) * len(recipe["files"])
    rep = TaskReporter(total=total, unit="images")
    rep.progress(0, force=True, message="loading the model")
    cells: dict[tuple[int, int, int], Path] = {}
    env = {**os.environ, **recipe.get("env", {})}
    done_before = 0
    for fi, (label, lora_file) in enumerate(recipe["files"]):
        sub = out / f"f{fi:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        pf = sub / "prompts.txt"
        pf.write_text("\n".join(line for _, line in lines) + "\n", encoding="utf-8")
        argv = gen_argv(recipe, lora_file, sub, pf)
        print("running: " + " ".join(argv), flush=True)
        proc = subprocess.Popen(argv, cwd=recipe["sd_scripts_dir"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
        names = [n for n, _ in lines]
        assert proc.stdout is not None
        for text in proc.stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
            n = sum(1 for name in names if (sub / name).is_file())
            rep.progress(done_before + n, message=f"{label}: {n}/{len(names)}")
        rc = proc.wait()
        if rc != 0:
            rep.error(f"{recipe['script']} failed on {Path(lora_file).name} (exit code {rc}); see the log")
            return 1
        for pi in range(len(recipe["prompts"])):
            for si in range(len(recipe["strengths"])):
                cells[(fi, pi, si)] = sub / f"p{pi:02d}_s{si:02d}.png"
        done_before += len(names)
        rep.progress(done_before, force=True, message=f"{label} done")
    missing = [str(p) for p in cells.values() if not p.is_file()]
    if missing:
        rep.warning(f"{len(missing)} image(s) were not written, e.g. {missing[0]}")
    grid = make_grid(recipe, cells, out / "grid.png")
    rep.result(grid=str(grid), images=len(cells) - len(missing), outdir=str(out),
               files=[label for label, _ in recipe["files"]], strengths=recipe["strengths"],
               prompts=recipe["prompts"])
    return 0


def main(argv: list[str]) -> int:
    try:
        recipe = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError, IndexError) as exc:
        print(f"error: cannot read the recipe: {exc}", file=sys.stderr)
        return 2
    return run(recipe)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
