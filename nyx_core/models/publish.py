"""Publishing to the Hugging Face Hub: LoRAs (or a run's output folder) to a model repo with a
generated, editable model card; a dataset folder to a dataset repo. Uploads run as jobs (kind
``upload``, no GPU) through huggingface_hub's own upload path (LFS / hf_xet for large files).

The token comes from Settings or ``HF_TOKEN`` inside the job program; it is never on the command
line, in job files or in the log. It is checked (``whoami``) before anything is created or sent,
so a bad or read-only token fails first, with one line.
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nyx_core.errors import NyxError
from nyx_core.jobs.task import TaskReporter

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
LORA_SUFFIXES = (".safetensors", ".ckpt", ".pt")
LICENSES = ("openrail++", "creativeml-openrail-m", "apache-2.0", "mit", "cc-by-4.0", "cc-by-nc-4.0",
            "flux-1-dev-non-commercial-license", "other")
_REPO = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[\w.-]{1,96}$")
_FAMILY_TAGS = {"sd1": "stable-diffusion", "sd2": "stable-diffusion", "sdxl": "stable-diffusion-xl",
                "flux": "flux", "sd3": "sd3"}
_BASE_HUB = {"sd1": "stable-diffusion-v1-5/stable-diffusion-v1-5", "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
             "flux": "black-forest-labs/FLUX.1-dev", "sd3": "stabilityai/stable-diffusion-3.5-medium"}
#: ss_* keys shown in the card's settings table, with their labels
SETTINGS_ROWS = (
    ("ss_network_module", "Network"), ("ss_network_dim", "Rank (dim)"), ("ss_network_alpha", "Alpha"),
    ("ss_network_args", "Network args"), ("ss_optimizer", "Optimizer"), ("ss_learning_rate", "Learning rate"),
    ("ss_unet_lr", "UNet LR"), ("ss_text_encoder_lr", "Text encoder LR"), ("ss_lr_scheduler", "Scheduler"),
    ("ss_num_epochs", "Epochs"), ("ss_max_train_steps", "Steps"), ("ss_num_train_images", "Training images"),
    ("ss_resolution", "Resolution"), ("ss_mixed_precision", "Mixed precision"), ("ss_seed", "Seed"),
    ("ss_noise_offset", "Noise offset"), ("ss_min_snr_gamma", "Min-SNR gamma"), ("ss_clip_skip", "CLIP skip"),
)


@dataclass
class CardInput:
    repo_id: str
    loras: list[Path]
    samples: list[Path] = field(default_factory=list)
    license: str = "other"
    base_model: str | None = None
    trigger_words: list[str] = field(default_factory=list)
    title: str | None = None


def lora_metadata(path: Path) -> dict[str, str]:
    from nyx_core.models.safetensors_header import InvalidWeights, read_header

    try:
        return read_header(path, check_size=False).metadata
    except (InvalidWeights, OSError):
        return {}


def triggers_from_metadata(meta: dict[str, str]) -> list[str]:
    """kohya's folder convention ``<repeats>_<trigger words>`` (ss_dataset_dirs / ss_datasets)."""
    names: list[str] = []
    for key in ("ss_dataset_dirs",):
        try:
            dirs = json.loads(meta.get(key) or "{}")
        except ValueError:
            continue
        if isinstance(dirs, dict):
            names += list(dirs)
    try:
        for ds in json.loads(meta.get("ss_datasets") or "[]"):
            for sub in ds.get("subsets", []) if isinstance(ds, dict) else []:
                if isinstance(sub, dict) and sub.get("image_dir"):
                    names.append(str(sub["image_dir"]).rstrip("/").rsplit("/", 1)[-1])
                if isinstance(sub, dict) and sub.get("class_tokens"):
                    names.append(f"1_{sub['class_tokens']}")
    except (ValueError, TypeError, AttributeError):
        pass
    out = []
    for n in names:
        m = re.match(r"^\d+_(.+)$", n)
        if m and m.group(1).strip() and m.group(1).strip() not in out:
            out.append(m.group(1).strip())
    if not out:
        # no trigger in the folder names: the tag found in the most captions, first seen on ties
        # (captions usually start with the trigger). The card is editable before upload.
        try:
            freq = json.loads(meta.get("ss_tag_frequency") or "{}")
            counts: dict[str, int] = {}
            for tags in freq.values():
                for tag, n in (tags or {}).items():
                    counts[tag] = counts.get(tag, 0) + int(n)
            if counts:
                top = max(counts.values())
                out = [next(t for t, n in counts.items() if n == top)]
        except (ValueError, TypeError, AttributeError):
            pass
    return out


def _yaml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # JSON strings are valid YAML scalars


def build_card(inp: CardInput) -> str:
    """The model card (README.md): YAML metadata (licence, base model, tags, the sample gallery as
    ``widget``) and a readable body with trigger words and the training settings from ss_*."""
    from nyx_core.models.detect import detect
    from nyx_core.models.safetensors_header import InvalidWeights, read_header

    meta = lora_metadata(inp.loras[0]) if inp.loras else {}
    arch = None
    if inp.loras:
        try:
            arch = detect(read_header(inp.loras[0], check_size=False)).arch
        except (InvalidWeights, OSError):
            arch = None
    trained_on = meta.get("ss_sd_model_name", "")
    # the base the LoRA was trained on when it was a Hub id; else the family's usual base (editable)
    hub_like = re.match(r"^[\w.-]+/[\w.-]+$", trained_on) and not trained_on.startswith((".", "/"))
    base = inp.base_model or (trained_on if hub_like else None) or _BASE_HUB.get(arch or "")
    triggers = inp.trigger_words or triggers_from_metadata(meta)
    name = inp.title or meta.get("ss_output_name") or inp.repo_id.split("/")[-1]
    tags = ["lora", "text-to-image", "kohya-ss", "nyx-trainer"]
    if arch in _FAMILY_TAGS:
        tags.insert(2, _FAMILY_TAGS[arch])
    y = ["---", f"license: {inp.license}"]
    if base:
        y.append(f"base_model: {_yaml_str(base)}")
    y.append("tags:")
    y += [f"- {t}" for t in tags]
    if triggers:
        y.append(f"instance_prompt: {_yaml_str(', '.join(triggers))}")
    if inp.samples:
        y.append("widget:")
        for s in inp.samples:
            y += [f"- text: {_yaml_str(_prompt_for(s) or name)}", "  output:", f"    url: {_yaml_str('samples/' + s.name)}"]
    y.append("---")
    body = [f"# {name}", "", f"A LoRA trained with Nyx Trainer on kohya-ss sd-scripts"
            + (f", for `{base}`." if base else "."), ""]
    body += ["## Trigger words", ""]
    body += ([f"Use `{', '.join(triggers)}` in the prompt."] if triggers else ["(none recorded — add them here)"])
    body += ["", "## Files", ""] + [f"- `{p.name}`" for p in inp.loras]
    rows = [(label, meta[k]) for k, label in SETTINGS_ROWS if meta.get(k) not in (None, "", "None")]
    if rows:
        body += ["", "## Training settings", "", "| setting | value |", "|---|---|"]
        body += [f"| {label} | `{str(v)[:120].replace('|', '/')}` |" for label, v in rows]
    if inp.samples:
        body += ["", "## Samples", ""] + [f"![{s.name}](samples/{s.name})" for s in inp.samples]
    body += ["", "## Licence", "", f"`{inp.license}`" + (f" (the base model's licence also applies: `{base}`)" if base else ""), ""]
    return "\n".join(y + [""] + body)


def _prompt_for(sample: Path) -> str | None:
    """sd-scripts writes ``<name>_<step>_<idx>_<time>.png``; a sibling .txt (if any) has the prompt."""
    txt = sample.with_suffix(".txt")
    try:
        return txt.read_text(encoding="utf-8").strip()[:300] or None if txt.is_file() else None
    except OSError:
        return None


def run_files(run_dir: Path) -> tuple[list[Path], list[Path]]:
    """(LoRAs, sample images) of a run's output folder: final LoRA first, then the rest."""
    loras = sorted((p for p in run_dir.iterdir() if p.is_file() and p.suffix.lower() in LORA_SUFFIXES),
                   key=lambda p: (bool(re.search(r"-\d{6}$|-step\d+$", p.stem)), p.name))
    sample_dir = run_dir / "sample"
    samples = sorted(p for p in sample_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if sample_dir.is_dir() else []
    return loras, samples[-8:]


def card_for_paths(ws, paths: list[str], repo: str, *, license: str = "other", triggers: list[str] | None = None,
                   dataset: bool = False, base_model: str | None = None) -> str:
    """The default card for what ``paths`` name (LoRAs / a run folder / a dataset folder)."""
    if dataset:
        name = repo.split("/")[-1]
        return "\n".join(["---", f"license: {license}", "tags:", "- lora-training-data", "- nyx-trainer", "---", "",
                          f"# {name}", "", "Images and captions (one .txt per image, same name) used to train a "
                          "LoRA with Nyx Trainer.", ""])
    loras: list[Path] = []
    samples: list[Path] = []
    for raw in paths:
        p = ws.resolve(raw, must_exist=True)
        if p.is_dir():
            lo, sa = run_files(p)
            loras += lo
            samples += sa
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            samples.append(p)
        else:
            loras.append(p)
    return build_card(CardInput(repo, loras, samples, license, base_model, list(triggers or [])))


# The job program -------------------------------------------------------------------------------
class Refused(Exception):
    pass


def _hub_message(exc: BaseException, repo: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return "the Hugging Face token was refused (401): check it in Settings"
    if status == 403:
        return f"the Hugging Face token may not write to {repo} (403): use a write token of an account that may"
    if type(exc).__name__ in ("ConnectError", "ConnectTimeout") or isinstance(exc, ConnectionError):
        from huggingface_hub import constants

        return f"no network: cannot reach {constants.ENDPOINT}"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"the Hub refused the upload: {first[:200]}"


def check_token(token: str | None) -> dict:
    """whoami with ``token``; one-line ``Refused`` for none, bad, or read-only tokens."""
    if not token:
        raise Refused("no Hugging Face token: set it in Settings (or HF_TOKEN) — a write token is needed to upload")
    from huggingface_hub import HfApi

    try:
        who = HfApi().whoami(token=token)
    except Exception as exc:  # noqa: BLE001
        if getattr(getattr(exc, "response", None), "status_code", None) == 401 or "Invalid user token" in str(exc):
            raise Refused("the Hugging Face token was refused (401): check it in Settings") from None
        raise Refused(_hub_message(exc, "")) from None
    role = ((who.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise Refused("the Hugging Face token is read-only: create a write token and put it in Settings")
    return who


def upload(ws_root: Path, repo: str, paths: list[str], *, card: str | None, private: bool, dataset: bool,
           rep: TaskReporter) -> dict:
    from huggingface_hub import CommitOperationAdd, HfApi

    from nyx_core.settings import Settings
    from nyx_core.workspace import Workspace

    ws = Workspace.open(ws_root)
    token = Settings.load(ws.root).hf_token.reveal() or None
    rep.send("task", done=0, unit="bytes", message="checking the Hugging Face token")
    who = check_token(token)
    user = who.get("name")
    if "/" not in repo:
        repo = f"{user}/{repo}"
    owner = repo.split("/")[0]
    orgs = {o.get("name") for o in who.get("orgs") or [] if isinstance(o, dict)}
    if owner != user and owner not in orgs:
        raise Refused(f"the token's account ({user}) is not a member of {owner}: pick your name or one of your "
                      f"organisations ({', '.join(sorted(o for o in orgs if o)) or 'none'})")
    files = collect(ws, paths, dataset)
    repo_type = "dataset" if dataset else "model"
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo, private=private, exist_ok=True, repo_type=repo_type)
    except Exception as exc:  # noqa: BLE001
        raise Refused(_hub_message(exc, repo)) from None
    ops = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files]
    if card is not None:
        ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8")))
    total = sum(p.stat().st_size for _n, p in files)
    rep.total = total
    done = 0
    try:
        for op, (name, path) in zip(ops, files):
            rep.progress(done, message=f"uploading {name}", force=True)
            # one file at a time through huggingface_hub's upload path (LFS or hf_xet), so the
            # progress moves per file; the commit below then references what is already there
            api.preupload_lfs_files(repo, additions=[op], repo_type=repo_type)
            done += path.stat().st_size
            rep.progress(done, message=f"uploaded {name}", force=True)
        info = api.create_commit(repo, operations=ops, repo_type=repo_type,
                                 commit_message=f"Upload {len(files)} file(s) with Nyx Trainer")
    except Exception as exc:  # noqa: BLE001
        raise Refused(_hub_message(exc, repo)) from None
    return {"repo": repo, "repo_type": repo_type, "url": str(url), "commit": getattr(info, "oid", None),
            "files": [n for n, _ in files] + (["README.md"] if card is not None else [])}


def collect(ws, paths: list[str], dataset: bool) -> list[tuple[str, Path]]:
    """(name in repo, local path) for every file to upload. A folder: its LoRAs and sample images
    (a run) or all its files but dot files and latent caches (a dataset)."""
    out: list[tuple[str, Path]] = []
    for raw in paths:
        p = ws.resolve(raw, must_exist=True)
        if p.is_file():
            out.append((("samples/" if p.suffix.lower() in IMAGE_SUFFIXES and not dataset else "") + p.name, p))
        elif dataset:
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if f.is_file() and not any(x.startswith(".") for x in rel.parts) and f.suffix != ".npz":
                    out.append((rel.as_posix(), f))
        else:
            loras, samples = run_files(p)
            out += [(f.name, f) for f in loras] + [("samples/" + s.name, s) for s in samples]
    if not out:
        raise Refused("nothing to upload: no LoRA, sample or dataset file in " + ", ".join(paths))
    names = [n for n, _ in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise Refused(f"two files would have the same name in the repo: {', '.join(sorted(dup))}")
    return out


def submit_upload(ws, paths: list[str], repo: str, *, private: bool = False, dataset: bool = False,
                  card: str | None = None, settings=None):
    """Queue an upload job; paths are workspace paths. ``card``: the README.md text (None = no card)."""
    from nyx_core.jobs import JobManager, JobSpec
    from nyx_core.jobs.task import task_argv

    repo = (repo or "").strip()
    if not _REPO.match(repo):
        raise NyxError(f"not a repo name: {repo!r} (owner/name, or just name for your own account)")
    if not paths:
        raise NyxError("choose at least one file or folder to upload")
    for p in paths:
        ws.resolve(p, must_exist=True)
    args = ["--workspace", str(ws.root), "--repo", repo]
    if private:
        args.append("--private")
    if dataset:
        args.append("--dataset")
    files = {}
    if card is not None:
        files["README.md"] = card
        args += ["--card", "render/README.md"]
    for p in paths:
        args += ["--path", p]
    argv, env = task_argv("nyx_core.models.publish", *args)
    spec = JobSpec(argv=argv, env=env, kind="upload", gpu_set="none", files=files)
    return JobManager(ws, settings).submit(spec, f"upload to {repo}"[:120])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nyx_core.models.publish")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--path", action="append", default=[])
    ap.add_argument("--card", help="README.md to upload (a file path)")
    ap.add_argument("--private", action="store_true")
    ap.add_argument("--dataset", action="store_true")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rep = TaskReporter(unit="bytes", min_interval_s=0.5)
    try:
        card = Path(args.card).read_text(encoding="utf-8") if args.card else None
        result = upload(Path(args.workspace), args.repo, args.path, card=card, private=args.private,
                        dataset=args.dataset, rep=rep)
    except (Refused, NyxError) as exc:
        rep.error(str(exc))
        print(f"upload failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        rep.warning("upload cancelled; nothing was committed")
        return 130
    rep.result(**result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
