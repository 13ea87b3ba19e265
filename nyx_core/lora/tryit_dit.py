"""Try a Flux or SD3 LoRA with sd-scripts' own ``flux_minimal_inference.py`` /
``sd3_minimal_inference.py`` (the part of the try-it job that differs from ``gen_img.py``).

Those scripts take one ``--prompt`` per process, but their ``--interactive`` mode keeps the model
loaded and reads one prompt line at a time from stdin, with per-line options (``--w --h --s --d
--m --n``; ``--m`` sets each loaded LoRA's multiplier). So the job starts the script ONCE per grid:
every epoch file is loaded as its own LoRA (``--lora_weights a;1 b;1 …``) and each line turns one
of them on at the cell's strength and the others off (multiplier 0 adds exactly nothing). Cells
with strength 0 are the same image for every file, so each prompt's is rendered once.

The scripts name each image by the second it was saved (``YYYYMMDD_HHMMSS.png``): two images in
one second would overwrite each other. The driver therefore sends the next line only after the
script has asked for it again, and first moves the image it just wrote to the cell's name.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from nyx_core.errors import NyxError

SCRIPTS = {"Flux": "flux_minimal_inference.py", "SD3": "sd3_minimal_inference.py"}
#: The network modules each script can load (flux: lora_flux, or oft_flux by its "oft" keys).
MODULES = {"Flux": ("networks.lora_flux", "networks.oft_flux"), "SD3": ("networks.lora_sd3",)}
KINDS = {"Flux": ("LoRA", "OFT"), "SD3": ("LoRA",)}
#: Printed by both scripts each time their --interactive loop waits for a line.
PROMPT_MARK = "Enter prompt (empty to exit)"
PRECISIONS = ("bf16", "fp16", "fp32")
_STEP = re.compile(r"(\d+)/(\d+) \[")


def encoder_fields(family: str) -> tuple[tuple[str, str], ...]:
    """(config field, what it is) of the files the family needs besides the model (families table)."""
    from nyx_core.lora.tryit import family_spec

    return family_spec(family).encoders


def check_lora(info) -> None:  # noqa: ANN001 - a LoraInfo
    fam = info.family
    module = info.metadata.get("ss_network_module", "").strip()
    if module and module not in MODULES[fam]:
        raise NyxError(f"{SCRIPTS[fam]} loads only {' and '.join(MODULES[fam])} files; this one was trained "
                       f"with {module}")
    if info.kind not in KINDS[fam]:
        raise NyxError(f"{SCRIPTS[fam]} cannot load a {info.kind} file (only {' or '.join(KINDS[fam])})")


def _model_path(ws, value: str, what: str) -> str:  # noqa: ANN001
    from nyx_core.config.paths import resolve_model_ref

    ref = resolve_model_ref(ws, value)  # PathError (a NyxError) when it leaves the workspace
    if not ref.exists or ref.path is None or not ref.path.is_file():
        raise NyxError(f"{what}: {value!r} not found (looked in models/ and the workspace)")
    return str(ref.path)


def _checkpoint_keys(path: str) -> list[str]:
    from nyx_core.lora.st import read_header

    names = list(read_header(path).tensors)
    return [n.removeprefix("model.diffusion_model.") for n in names]


def plan_models(ws, family: str, base: str | None, given: dict[str, str | None], run: dict) -> dict:  # noqa: ANN001
    """The model and encoder files for the script: each from the request, else the run's config;
    all confined to the workspace. A missing one is a one-line error before any job starts."""
    flag = {"base": "--base"} | {f: "--" + f.replace("_", "-") for f, _ in encoder_fields(family)}
    value = base or run.get("pretrained_model_name_or_path")
    if not value:
        raise NyxError(f"give the {family} model file ({flag['base']}): it is not known from the run")
    ckpt = _model_path(ws, value, "base model")
    keys = _checkpoint_keys(ckpt)
    encoders: dict[str, str] = {}
    for name, what in encoder_fields(family):
        value = (given.get(name) or "").strip() or str(run.get(name) or "").strip()
        if value:
            encoders[name] = _model_path(ws, value, f"{what} ({name})")
        elif family == "SD3" and any(k.startswith(f"text_encoders.{name}.") for k in keys):
            continue  # sd3_minimal_inference.py loads it from the checkpoint
        else:
            where = " and the checkpoint has none" if family == "SD3" else ""
            raise NyxError(f"{SCRIPTS[family]} needs the {what}: not in the run's config{where}; "
                           f"give {flag[name]} FILE")
    schnell = family == "Flux" and not ({"guidance_in.in_layer.bias",
                                         "time_text_embed.guidance_embedder.linear_1.bias"} & set(keys))
    return {"base": ckpt, "encoders": encoders, "schnell": schnell}


# --- the job program side ----------------------------------------------------------------------

def _clean(text: str) -> str:
    """The scripts split each line on "--" and end it at a newline: keep both out of a prompt."""
    text = " ".join(text.split())
    while "--" in text:
        text = text.replace("--", "-")
    return text


def generations(recipe: dict) -> tuple[list[tuple[str, str]], dict[tuple[int, int, int], str]]:
    """The lines to send (image name, line) and which image each grid cell (file, prompt, strength)
    shows. One line per distinct (prompt, multipliers): strength 0 is shared by every file."""
    files, strengths = recipe["files"], recipe["strengths"]
    lines: list[tuple[str, str]] = []
    by_key: dict[tuple, str] = {}
    cells: dict[tuple[int, int, int], str] = {}
    for pi, prompt in enumerate(recipe["prompts"]):
        for fi in range(len(files)):
            for si, s in enumerate(strengths):
                mults = tuple(float(s) if j == fi else 0.0 for j in range(len(files)))
                key = (pi, mults)
                if key not in by_key:
                    name = f"p{pi:02d}_f{fi:02d}_s{si:02d}.png"
                    opts = [f"--w {recipe['width']}", f"--h {recipe['height']}", f"--d {recipe['seed']}",
                            "--m " + ",".join(f"{m:g}" for m in mults)]
                    if recipe.get("steps"):
                        opts.append(f"--s {recipe['steps']}")
                    if recipe.get("negative", "").strip():
                        opts.append(f"--n {_clean(recipe['negative'])}")
                    lines.append((name, " ".join([_clean(prompt)] + opts)))
                    by_key[key] = name
                cells[(fi, pi, si)] = by_key[key]
    return lines, cells


def script_argv(recipe: dict, raw_dir: Path) -> list[str]:
    """The script's own command line (every name is one of the script's arguments, see
    tests/data/inference_args.json)."""
    fam = recipe["family"]
    argv = [recipe["python"], str(Path(recipe["sd_scripts_dir"]) / recipe["script"]),
            "--ckpt_path", recipe["base"]]
    for name, path in recipe["encoders"].items():
        argv += [f"--{name}", path]
    argv += ["--output_dir", str(raw_dir), "--seed", str(recipe["seed"])]
    if recipe.get("steps"):
        argv += ["--steps", str(recipe["steps"])]
    argv += ["--width", str(recipe["width"]), "--height", str(recipe["height"])]
    if fam == "Flux":
        argv += ["--dtype", recipe["precision"], "--guidance", f"{recipe['guidance']:g}",
                 "--cfg_scale", f"{recipe['scale']:g}"]
    else:
        argv += {"bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": []}[recipe["precision"]]
        argv += ["--cfg_scale", f"{recipe['scale']:g}"]
    if recipe.get("offload"):
        argv.append("--offload")
    argv += ["--lora_weights"] + [f"{path};1" for _, path in recipe["files"]]
    argv.append("--interactive")
    return argv + list(recipe.get("extra_args", []))


def run(recipe: dict, rep, make_grid) -> int:  # noqa: ANN001
    out = Path(recipe["outdir"])
    raw, images = out / "raw", out / "images"
    raw.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    lines, cells = generations(recipe)
    rep.total = len(lines)
    rep.progress(0, len(lines), force=True, message="loading the model")
    argv = script_argv(recipe, raw)
    print("running: " + " ".join(argv), flush=True)
    env = {**os.environ, **recipe.get("env", {}), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, cwd=recipe["sd_scripts_dir"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            bufsize=1)
    assert proc.stdin is not None and proc.stdout is not None
    sent = done = 0
    pending: str | None = None
    missing: list[str] = []
    for text in proc.stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
        if PROMPT_MARK not in text:
            m = _STEP.search(text) if pending else None
            if m:
                rep.progress(done, message=f"image {sent}/{len(lines)}: step {m[1]}/{m[2]}")
            continue
        if pending is not None:  # the script is back at its prompt: the image is written
            written = sorted(raw.glob("*.png"), key=lambda p: p.stat().st_mtime)
            if written:
                os.replace(written[-1], images / pending)
                for extra in written[:-1]:
                    extra.unlink(missing_ok=True)
                done += 1
            else:
                missing.append(pending)
            rep.progress(done, force=True, message=f"{done}/{len(lines)} images")
        try:
            if sent < len(lines):
                pending, line = lines[sent]
                sent += 1
                print(f"> {line}", flush=True)  # the log shows what the script was asked for
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
                rep.progress(done, message=f"image {sent}/{len(lines)}")
            else:
                pending = None
                proc.stdin.write("\n")  # an empty line ends the script's loop
                proc.stdin.close()
        except (BrokenPipeError, OSError):
            break
    rc = proc.wait()
    if rc != 0:
        rep.error(f"{recipe['script']} failed (exit code {rc}) after {done} of {len(lines)} images; see the log")
        return 1
    if sent < len(lines) or pending is not None:
        rep.error(f"{recipe['script']} ended after {done} of {len(lines)} images without asking for the rest "
                  "(was --interactive kept?); see the log")
        return 1
    grid_cells = {cell: images / name for cell, name in cells.items()}
    if missing:
        rep.warning(f"{len(missing)} image(s) were not written, e.g. {missing[0]}")
    grid = make_grid(recipe, grid_cells, out / "grid.png")
    rep.result(grid=str(grid), images=sum(1 for p in grid_cells.values() if p.is_file()), generated=done,
               outdir=str(out), files=[label for label, _ in recipe["files"]], strengths=recipe["strengths"],
               prompts=recipe["prompts"])
    return 0
