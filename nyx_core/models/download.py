"""Downloads into workspace/models as jobs.

``submit_download(ws, source, kind=…)`` queues a job (kind ``download``, no GPU: it starts at once
beside a training run) that runs ``python -m nyx_core.models.download``. The program:

1. resolves the source to files with their size and SHA-256 when the server publishes them (the
   Hub's file metadata / repo listing, Civitai's version API); a bad token, a gated repo, a 404 or
   no network fail here, before anything is written;
2. checks the free disk space against what is still to come;
3. downloads into ``models/.downloads/<key>/`` (a dot folder: never listed) — huggingface_hub for
   the Hub (its resumable download, ``hf_xet`` when present), a resumable Range download with a
   ``.part`` file for Civitai and plain URLs;
4. verifies size and SHA-256, proves the file is a valid safetensors/ckpt of the expected kind,
   records hash and provenance in the model index, and renames it into ``models/<kind>/``.

Re-running the same download (after a cancel, a dropped connection or a pod restart) continues from
the bytes already on disk: the staging folder's name depends only on the source.
Tokens come from Settings (or HF_TOKEN / CIVITAI_TOKEN) inside the program; they are never on the
command line, in job files or in the log.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nyx_core.errors import NyxError
from nyx_core.jobs.task import TaskReporter
from nyx_core.models import http, index
from nyx_core.models.detect import KIND_DIRS
from nyx_core.models.sources import Source, parse

STAGING = ".downloads"
#: kept free on the disk beyond the download itself (logs, latents, the OS)
DISK_RESERVE = 256 * 1024 * 1024
KINDS = tuple(k for k in KIND_DIRS)
_KIND_GROUPS = ({"checkpoint"}, {"vae", "ae"}, {"clip_l", "clip_g", "t5"}, {"lora"})


class ByteReporter(TaskReporter):
    """Progress in bytes whose speed and ETA count only the bytes that arrived in this run: the
    gigabytes a resumed download already had on disk are not speed."""

    def __init__(self, **kw) -> None:
        super().__init__(unit="bytes", **kw)
        self._base: int | None = None
        self._t0 = 0.0

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 force: bool = False) -> None:
        now = time.monotonic()
        if self._base is None or done < self._base:
            self._base, self._t0 = done, now  # first report of this run (or of the next file set)
        self.done = done
        if total is not None:
            self.total = total
        finished = self.total is not None and done >= self.total
        if not (force or finished) and now - self._last_sent < self.min_interval_s:
            return
        self._last_sent = now
        fields: dict = {"done": done, "total": self.total, "unit": self.unit,
                        "elapsed_s": round(now - self.started, 3)}
        got, secs = done - self._base, now - self._t0
        if got > 0 and secs > 0:
            rate = got / secs
            fields["rate"] = round(rate, 1)
            if self.total is not None:
                fields["eta_s"] = round(max(0.0, (self.total - done) / rate), 1)
        if message:
            fields["message"] = message[:300]
        self.send("task", **fields)


class Refused(Exception):
    """One line for the user; the job fails with it."""


@dataclass
class Item:
    name: str                       # path inside the destination (file name, or repo-relative path)
    size: int | None = None
    sha256: str | None = None
    size_exact: bool = True
    kind: str | None = None
    license: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hub: dict | None = None         # repo, file, revision, repo_type
    token_hint: str = ""


@dataclass
class Plan:
    items: list[Item]
    folder: str | None = None       # whole Hub repo: the folder the files land in
    kind: str | None = None
    revision: str | None = None     # the Hub commit it resolved to


# Resolution ------------------------------------------------------------------------------------
def _hub_error(exc: BaseException, src_repo: str, token: bool, what: str = "") -> Refused:
    from huggingface_hub import errors as e

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, e.GatedRepoError):
        tail = "" if token else " and set your Hugging Face token in Settings"
        return Refused(f"{src_repo} is gated: accept its licence on huggingface.co/{src_repo} with your account{tail}")
    if status == 401 and token:
        return Refused("the Hugging Face token was refused (401): check it in Settings")
    if isinstance(exc, e.RevisionNotFoundError):
        return Refused(f"revision not found in {src_repo}")
    if isinstance(exc, e.RepositoryNotFoundError):
        hint = "" if token else " (if it is private, set your Hugging Face token in Settings)"
        return Refused(f"repository {src_repo} not found on the Hub{hint}")
    if isinstance(exc, e.RemoteEntryNotFoundError) or status == 404:
        return Refused(f"{what or 'file'} not found in {src_repo} (404)")
    if isinstance(exc, (e.LocalEntryNotFoundError, e.OfflineModeIsEnabled, ConnectionError)) or \
            type(exc).__name__ in ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException"):
        from huggingface_hub import constants

        return Refused(f"no network: cannot reach {http.host_of(constants.ENDPOINT)}")
    if status:
        return Refused(f"the Hub answered HTTP {status} for {src_repo}")
    return Refused(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")


def _etag_sha(etag: str | None) -> str | None:
    if not etag:
        return None
    tag = etag.removeprefix("W/").strip('"')
    return tag.lower() if len(tag) == 64 and all(c in "0123456789abcdefABCDEF" for c in tag) else None


def _resolve_hub(src: Source, token: str | None, kind: str | None, license: str | None = None) -> Plan:
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    if src.file:
        try:
            meta = get_hf_file_metadata(hf_hub_url(src.repo, src.file, repo_type=src.repo_type, revision=src.revision),
                                        token=token)
        except Exception as exc:  # noqa: BLE001 - every Hub failure becomes one line
            raise _hub_error(exc, src.repo, bool(token), src.file) from None
        item = Item(src.file.rsplit("/", 1)[-1], meta.size, _etag_sha(meta.etag), kind=kind, license=license,
                    hub={"repo": src.repo, "file": src.file, "revision": meta.commit_hash or src.revision,
                         "repo_type": src.repo_type})
        return Plan([item], kind=kind, revision=meta.commit_hash)
    api = HfApi()
    try:
        info = api.repo_info(src.repo, repo_type=src.repo_type, revision=src.revision, files_metadata=True, token=token)
    except Exception as exc:  # noqa: BLE001
        raise _hub_error(exc, src.repo, bool(token)) from None
    items = []
    names = [s.rfilename for s in info.siblings or []]
    keep = set(prune_repo_files(names))
    for s in info.siblings or []:
        if s.rfilename not in keep:
            continue
        sha = s.lfs.sha256 if s.lfs else None
        items.append(Item(s.rfilename, s.size, sha, hub={"repo": src.repo, "file": s.rfilename,
                                                          "revision": info.sha or src.revision,
                                                          "repo_type": src.repo_type}))
    if not items:
        raise Refused(f"{src.repo} has no files")
    lic = license or _card_license(info)
    for it in items:
        it.license = lic
    if kind is None:
        kind = "checkpoint" if "model_index.json" in names else "other"
    return Plan(items, folder=src.repo.split("/")[-1], kind=kind, revision=info.sha)


_OTHER_FORMATS = (".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".onnx_data", ".pb", ".ot")


def prune_repo_files(names: list[str]) -> list[str]:
    """The files of a whole-repo download worth fetching. Model repos carry the same weights
    several times (a diffusers SDXL repo is ~70 GB, its pipeline ~14 GB): keep safetensors where a
    folder has them (drop .bin/.ckpt/Flax/TF/ONNX copies), the full-precision file where an
    ``.fp16.`` variant sits beside it, and in a diffusers repo (``model_index.json``) skip the
    single-file checkpoints at the top (download those by file when you want them)."""
    names = [n for n in names if not n.startswith(".") and "/." not in n]
    folders: dict[str, list[str]] = {}
    for n in names:
        folders.setdefault(n.rsplit("/", 1)[0] if "/" in n else "", []).append(n)
    diffusers = "model_index.json" in names
    out = []
    for folder, files in folders.items():
        has_st = any(f.endswith(".safetensors") for f in files)
        for f in files:
            low = f.lower()
            if has_st and low.endswith(_OTHER_FORMATS):
                continue
            if ".fp16." in low and low.replace(".fp16.", ".") in {x.lower() for x in files}:
                continue
            if diffusers and folder == "" and low.endswith((".safetensors", ".ckpt", ".bin")):
                continue
            out.append(f)
    return sorted(out)


def _card_license(info) -> str | None:
    data = getattr(info, "card_data", None) or getattr(info, "cardData", None)
    try:
        return str(data.get("license")) if data and data.get("license") else None
    except AttributeError:
        return None


def civitai_endpoint() -> str:
    return os.environ.get("NYX_CIVITAI_ENDPOINT", "https://civitai.com").rstrip("/")


_CIVITAI_TYPES = {"checkpoint": "checkpoint", "lora": "lora", "locon": "lora", "dora": "lora", "vae": "vae",
                  "lycoris": "lora"}


def _civitai_json(url: str, token: str | None) -> dict:
    headers = {"User-Agent": "nyx-trainer", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise Refused("Civitai has no such model or version (404): check the link") from None
        if exc.code in (401, 403):
            raise Refused("Civitai refused the token: check the Civitai token in Settings" if token else
                          "Civitai needs a token for this model: set the Civitai token in Settings") from None
        raise Refused(f"Civitai answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Refused(http.network_message(exc, url)) from None
    except ValueError:
        raise Refused("Civitai sent something that is not JSON") from None


def _resolve_civitai(src: Source, token: str | None, kind: str | None) -> Plan:
    base = civitai_endpoint()
    if src.version_id:
        ver = _civitai_json(f"{base}/api/v1/model-versions/{src.version_id}", token)
        mtype = str((ver.get("model") or {}).get("type", ""))
    else:
        model = _civitai_json(f"{base}/api/v1/models/{src.model_id}", token)
        versions = model.get("modelVersions") or []
        if not versions:
            raise Refused("this Civitai model has no versions to download")
        ver, mtype = versions[0], str(model.get("type", ""))
    files = [f for f in ver.get("files") or [] if isinstance(f, dict) and f.get("downloadUrl")]
    if not files:
        raise Refused("this Civitai version has no downloadable file")
    pick = next((f for f in files if f.get("primary")), None) or \
        next((f for f in files if f.get("type") == "Model"), files[0])
    size_kb = pick.get("sizeKB")
    hint = "" if token else " (set the Civitai token in Settings)"
    item = Item(_safe_name(str(pick.get("name") or f"civitai-{ver.get('id')}.safetensors")),
                int(float(size_kb) * 1024) if size_kb else None,
                str((pick.get("hashes") or {}).get("SHA256") or "").lower() or None, size_exact=False,
                kind=kind or _CIVITAI_TYPES.get(mtype.lower()), url=str(pick["downloadUrl"]),
                headers={"Authorization": f"Bearer {token}"} if token else {}, token_hint=hint)
    return Plan([item], kind=item.kind)


def _safe_name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", "..") or name.startswith("."):
        raise Refused(f"the server named the file {name!r}, which is not a usable file name")
    return name


def _resolve_url(src: Source, kind: str | None) -> Plan:
    path = urllib.parse.urlsplit(src.url).path
    name = urllib.parse.unquote(path.rsplit("/", 1)[-1]) or "download.bin"
    return Plan([Item(name, kind=kind, url=src.url, size_exact=True)], kind=kind)


def resolve(src: Source, kind: str | None, hf_token: str | None, civitai_token: str | None) -> Plan:
    if src.type == "hub":
        return _resolve_hub(src, hf_token, kind)
    if src.type == "civitai":
        return _resolve_civitai(src, civitai_token, kind)
    if src.type == "url":
        return _resolve_url(src, kind)
    raise Refused(f"cannot resolve {src.label}")


# The program -----------------------------------------------------------------------------------
def staging_key(source_label: str, file: str | None = None) -> str:
    return hashlib.sha1(f"{source_label}\n{file or ''}".encode()).hexdigest()[:16]


def _free(path: Path) -> int:
    return shutil.disk_usage(path).free


def _need_space(models: Path, need: int) -> None:
    free = _free(models)
    if need + DISK_RESERVE > free:
        from nyx_core.fsutil import human_size

        raise Refused(f"not enough disk space: the download needs {human_size(need)}, "
                      f"{human_size(free)} is free on the workspace disk")


def _part_size(staging: Path, item: Item) -> int:
    p = staging / (item.name + ".part")
    return p.stat().st_size if p.exists() else 0


def _check_kind(path: Path, expected: str | None, name: str) -> str:
    """Prove the file (``name`` once in place) is valid weights; return its kind (refuse a mismatch)."""
    from nyx_core.models.detect import detect
    from nyx_core.models.safetensors_header import InvalidWeights, check_weights, read_header

    suffix = Path(name).suffix.lower()
    try:
        fmt = check_weights(path, suffix) if suffix in (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".gguf",
                                                        ".onnx") else None
    except InvalidWeights as exc:
        raise Refused(f"{name} refused: {exc}") from None
    if fmt != "safetensors":
        return expected or ("checkpoint" if fmt == "ckpt" else "other")
    det = detect(read_header(path))
    if det.kind == "unknown":
        return expected or "other"
    if expected and expected != "other":
        same = any(expected in g and det.kind in g for g in _KIND_GROUPS)
        if not same:
            raise Refused(f"{name} refused: it is a {det.label} ({det.reason}), not a {expected}")
    return det.kind if not expected or expected == "other" else expected


class _HubProgress:
    """huggingface_hub writes ``*.incomplete`` under the local dir while it downloads; its size is
    our progress (works for plain HTTP and hf_xet alike)."""

    def __init__(self, staging: Path, report) -> None:
        self.staging, self.report = staging, report
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            size = 0
            for p in self.staging.rglob("*.incomplete"):
                try:
                    size += p.stat().st_size
                except OSError:
                    pass
            self.report(size)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(2)


def run(ws_root: Path, src: Source, kind: str | None, rep: TaskReporter) -> list[dict]:
    from nyx_core.settings import Settings

    settings = Settings.load(ws_root)
    hf_token = settings.hf_token.reveal() or None
    cv_token = settings.civitai_token.reveal() or None
    if src.type == "catalog":
        from nyx_core.models import catalog

        entry = catalog.get(src.entry)
        out = []
        for f in entry.files:
            sub = Source("hub", f"{f.repo}/{f.file}", repo=f.repo, file=f.file)
            out += run_plan(ws_root, sub, _resolve_hub(sub, hf_token, f.kind, f.license), rep,
                            f"{len(out) + 1}/{len(entry.files)} ", hf_token)
        return out
    rep.send("task", done=0, unit="bytes", message=f"resolving {src.label}")
    return run_plan(ws_root, src, resolve(src, kind, hf_token, cv_token), rep, hf_token=hf_token)


def run_plan(ws_root: Path, src: Source, plan: Plan, rep: TaskReporter, prefix: str = "",
             hf_token: str | None = None) -> list[dict]:
    models = ws_root / "models"
    staging = models / STAGING / staging_key(src.label, src.file)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "request.json").write_text(json.dumps({"source": src.text, "file": src.file, "revision": src.revision,
                                                      "kind": plan.kind, "label": src.label}), encoding="utf-8")
    # Already in place (same name, known hash matches the index)? then nothing to do.
    known = index.load(ws_root)
    todo: list[Item] = []
    done_files: list[dict] = []
    for it in plan.items:
        final = _final_path(models, plan, it, it.kind or plan.kind)
        if final is not None and final.exists():
            rel = final.relative_to(models).as_posix()
            cached = index.cached_sha256(known.get(rel), final)
            if (it.sha256 and cached == it.sha256) or (not it.sha256 and it.size and final.stat().st_size == it.size):
                done_files.append({"path": rel, "size": final.stat().st_size, "sha256": cached, "skipped": True})
                continue
            if plan.folder is None:
                raise Refused(f"models/{rel} already exists with other content: rename or delete it first")
        todo.append(it)
    sizes_known = all(it.size for it in todo)
    total = sum(it.size or 0 for it in todo) or None
    need = sum(max(0, (it.size or 0) - _part_size(staging, it)) for it in todo)
    _need_space(models, need)
    reporter_total = total if sizes_known else None
    rep.total, rep.unit = reporter_total, "bytes"
    base = 0
    fetched: list[tuple[Item, Path, str, int]] = []
    for n, it in enumerate(todo, 1):
        msg = f"{prefix}{it.name}" + (f" ({n}/{len(todo)})" if len(todo) > 1 else "")

        def progress(have: int, item_total: int | None, _base=base, _msg=msg) -> None:
            # a plain URL's size is known once the server answers
            tot = reporter_total if sizes_known else (_base + item_total if item_total and len(todo) == 1 else None)
            rep.progress(_base + have, total=tot, message=_msg)

        if it.hub:
            path, sha, size = _fetch_hub(staging, it, progress, hf_token)
        else:
            def on_size(item_total: int | None, have: int) -> None:
                if item_total:
                    _need_space(models, item_total - have)

            part = staging / (it.name + ".part")
            try:
                got = http.download(it.url, part, headers=it.headers,
                                    expected_size=it.size if it.size_exact else None,
                                    progress=progress, token_hint=it.token_hint, on_size=on_size)
            except http.DownloadError as exc:
                raise Refused(str(exc)) from None
            if got.filename and src.type == "url":
                it.name = _safe_name(got.filename)  # the server's name beats the URL's last segment
            path, sha, size = part, got.sha256, got.size
        if it.size and it.size_exact and size != it.size:
            path.unlink(missing_ok=True)
            raise Refused(f"{it.name}: got {size:,} bytes, the server said {it.size:,}; run the download again")
        if it.sha256 and sha != it.sha256.lower():
            path.unlink(missing_ok=True)
            raise Refused(f"{it.name}: SHA-256 mismatch (got {sha[:12]}…, expected {it.sha256[:12]}…); "
                          "the file was corrupted in transit, run the download again")
        fetched.append((it, path, sha, size))
        base += size
    results = done_files
    license_ = next((it.license for it in plan.items if it.license), None)
    prov = {"source": src.label, "revision": plan.revision, "license": license_,
            "url": _clean_url(plan.items[0].url) if plan.items[0].url else None,
            "downloaded_at": round(time.time(), 3)}
    try:
        _place(ws_root, staging, plan, fetched, prov, license_, results)
    except Refused:
        shutil.rmtree(staging, ignore_errors=True)  # complete but refused: nothing worth resuming
        raise
    shutil.rmtree(staging, ignore_errors=True)  # everything is in place: nothing left to resume
    return results


def _place(ws_root: Path, staging: Path, plan: Plan, fetched, prov: dict, license_, results: list) -> None:
    models = ws_root / "models"
    if plan.folder is not None:
        results += _place_folder(ws_root, staging, plan, fetched, prov)
    else:
        for it, path, sha, size in fetched:
            real_kind = _check_kind(path, it.kind, it.name)
            final = models / KIND_DIRS.get(real_kind, "other") / it.name
            rel = final.relative_to(models).as_posix()
            if final.exists():
                same = final.stat().st_size == size and (
                    index.cached_sha256(index.load(ws_root).get(rel), final) or index.sha256_file(final)) == sha
                if not same:
                    raise Refused(f"models/{rel} already exists with other content: rename or delete it first")
                path.unlink(missing_ok=True)  # the same file is already in place
                results.append({"path": rel, "size": size, "sha256": sha, "kind": real_kind, "skipped": True})
                continue
            http.finish(path, final)
            index.record_hash(ws_root, rel, final, sha)
            index.update(ws_root, rel, **{**prov, "license": it.license or license_})
            results.append({"path": rel, "size": size, "sha256": sha, "kind": real_kind})


def _final_path(models: Path, plan: Plan, it: Item, kind: str | None) -> Path | None:
    if plan.folder is not None:
        return models / KIND_DIRS.get(plan.kind or "other", "other") / plan.folder / it.name
    if kind:
        return models / KIND_DIRS.get(kind, "other") / it.name
    return None


def _clean_url(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, "", ""))


def _fetch_hub(staging: Path, it: Item, progress, token: str | None) -> tuple[Path, str, int]:
    from huggingface_hub import hf_hub_download

    hub = it.hub
    with _HubProgress(staging, lambda n: progress(n, it.size)):
        try:
            local = hf_hub_download(hub["repo"], hub["file"], repo_type=hub["repo_type"], revision=hub["revision"],
                                    local_dir=staging, token=token)
        except OSError as exc:
            if getattr(exc, "errno", None) == 28:
                raise Refused(f"disk full while downloading {it.name}; free space and run the download again "
                              "(it resumes)") from None
            raise _hub_error(exc, hub["repo"], bool(token), hub["file"]) from None
        except Exception as exc:  # noqa: BLE001
            raise _hub_error(exc, hub["repo"], bool(token), hub["file"]) from None
    path = Path(local)
    size = path.stat().st_size
    progress(size, it.size)
    sha = index.sha256_file(path)
    return path, sha, size


def _place_folder(ws_root: Path, staging: Path, plan: Plan, fetched, prov) -> list[dict]:
    models = ws_root / "models"
    for it, path, _sha, _size in fetched:
        if it.name.lower().endswith((".safetensors", ".sft")):
            try:
                from nyx_core.models.safetensors_header import InvalidWeights, read_header

                read_header(path)
            except InvalidWeights as exc:
                raise Refused(f"{it.name} refused: {exc}") from None
    final = models / KIND_DIRS.get(plan.kind or "other", "other") / plan.folder
    src_dir = staging
    tmp = final.with_name(f".{final.name}.incoming")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for it, path, sha, size in fetched:
        dest = tmp / it.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    if final.exists():
        # fill in what the earlier download lacked; keep what is there
        for p in tmp.rglob("*"):
            if p.is_file():
                target = final / p.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, target)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, final)
    shutil.rmtree(src_dir, ignore_errors=True)
    rel = final.relative_to(models).as_posix()
    index.update(ws_root, rel, **prov)
    out = []
    for it, _path, sha, size in fetched:
        frel = f"{rel}/{it.name}"
        index.record_hash(ws_root, frel, final / it.name, sha)
        out.append({"path": frel, "size": size, "sha256": sha})
    return out


# Submitting and the entry point -----------------------------------------------------------------
def submit_download(ws, source: str, *, kind: str | None = None, file: str | None = None,
                    revision: str | None = None, settings=None):
    """Queue a download job (it starts at once: no GPU); returns the Job. Bad sources fail here."""
    from nyx_core.jobs import JobManager, JobSpec
    from nyx_core.jobs.task import task_argv

    src = parse(source, file=file, revision=revision)
    if kind is not None and kind not in KINDS:
        raise NyxError(f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")
    args = ["--workspace", str(ws.root), "--source", src.text]  # src.text: without a pasted token
    if file:
        args += ["--file", file]
    if revision:
        args += ["--revision", revision]
    if kind:
        args += ["--kind", kind]
    argv, env = task_argv("nyx_core.models.download", *args)
    jm = JobManager(ws, settings)
    return jm.submit(JobSpec(argv=argv, env=env, kind="download", gpu_set="none"), f"download {src.label}"[:120])


def discard_unfinished(ws, key: str) -> None:
    """Drop the bytes of an unfinished download (Nyx's own staging folder, not a user file)."""
    if not key or "/" in key or key.startswith("."):
        raise NyxError(f"not a download key: {key!r}")
    shutil.rmtree(Path(ws.models) / STAGING / key, ignore_errors=True)


def unfinished(ws) -> list[dict]:
    """Downloads that stopped before finishing (cancel, crash, pod restart): their request and how
    many bytes are already on disk. Resuming one is submitting its request again."""
    out = []
    root = Path(ws.models) / STAGING
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        req = d / "request.json"
        try:
            data = json.loads(req.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        have = sum(p.stat().st_size for p in d.rglob("*") if p.is_file() and p.name.endswith((".part", ".incomplete")))
        out.append({**data, "bytes": have, "key": d.name})
    return out


def _on_term(signum, frame):  # noqa: ANN001
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nyx_core.models.download")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--file")
    ap.add_argument("--revision")
    ap.add_argument("--kind", choices=KINDS)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_term)
    rep = ByteReporter(min_interval_s=0.5)
    try:
        src = parse(args.source, file=args.file, revision=args.revision)
        files = run(Path(args.workspace), src, args.kind, rep)
    except (Refused, NyxError) as exc:
        rep.error(str(exc))
        print(f"download failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        rep.warning("download cancelled; what arrived is kept, run it again to resume")
        return 130
    rep.progress(rep.done, force=True)
    rep.result(files=files, source=src.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
