"""Downloads as jobs, against local servers only: a Range-capable file server that drops
connections mid-file (resume proven byte-exact), a fake Hugging Face endpoint (download by repo id,
gated/bad token/404 as one line), and a fake Civitai API."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nyx_core.jobs import JobManager, JobState
from nyx_core.models import http, index, scan
from nyx_core.models.download import submit_download, unfinished
from nyx_core.settings import Settings
from tests import model_fixtures as fx
from tests.model_servers import FakeHub, FileServer

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]


def _bytes_of(tmp_path: Path, tensors, name="m.safetensors", metadata=None) -> bytes:
    return fx.write_safetensors(tmp_path / "src" / name, tensors, metadata, sparse=False).read_bytes()


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CIVITAI", "NYX_CIVITAI"))}
    env.update(PYTHONPATH=str(REPO), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1")
    env.update(extra)
    return env


def run_get(ws, source, *args, env=None):
    """The download program exactly as a job runs it; returns (rc, events, stderr)."""
    r = subprocess.run([sys.executable, "-m", "nyx_core.models.download", "--workspace", str(ws.root),
                        "--source", source, *args], env=env or _env(), capture_output=True, text=True, timeout=90)
    events = [json.loads(line[5:]) for line in r.stdout.splitlines() if line.startswith("@nyx ")]
    return r.returncode, events, r.stderr


def _error(events) -> str:
    return next(e["message"] for e in events if e["type"] == "error")


def test_url_download_survives_dropped_connections_byte_exact(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.sd15_checkpoint())
    assert len(data) > 1_500_000
    with FileServer(files={"/f/sd15.safetensors": data}, drops=[600_000, 500_000]) as srv:
        rc, events, err = run_get(ws, srv.url("/f/sd15.safetensors"), env=_env(HF_HOME=str(tmp_path / "hf")))
        ranges = [r for m, p, r in srv.requests if m == "GET"]
    assert rc == 0, err
    final = ws.models / "checkpoints" / "sd15.safetensors"
    assert final.read_bytes() == data
    assert ranges == [None, "bytes=600000-", "bytes=1100000-"]
    result = next(e for e in events if e["type"] == "result")
    assert result["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    tasks = [e for e in events if e["type"] == "task" and e.get("unit") == "bytes"]
    assert tasks[-1]["done"] == len(data) and tasks[-1]["total"] == len(data)
    entry = index.load(ws.root)["checkpoints/sd15.safetensors"]
    assert entry["source"].endswith("/f/sd15.safetensors") and entry["sha256"] == hashlib.sha256(data).hexdigest()
    [m] = scan(ws)
    assert m.sha256 == entry["sha256"] and m.arch == "sd1" and m.source == entry["source"]
    assert not (ws.models / ".downloads").exists() or not any((ws.models / ".downloads").iterdir())


def test_a_download_cut_by_a_restart_resumes_from_the_part_file(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.sdxl_checkpoint())
    with FileServer(files={"/sdxl.safetensors": data}, drops=[2_000_000]) as srv:
        url = srv.url("/sdxl.safetensors")
        from nyx_core.models.download import STAGING, staging_key

        part = ws.models / STAGING / staging_key(url) / "sdxl.safetensors.part"
        with pytest.raises(http.DownloadError, match="kept dropping"):
            http.download(url, part, retries=0)  # the pod went away here
        assert part.stat().st_size == 2_000_000
        (part.parent / "request.json").write_text(json.dumps({"source": url, "label": url, "kind": None}))
        assert unfinished(ws)[0]["bytes"] >= 2_000_000
        assert scan(ws) == []  # nothing half-written is listed
        rc, events, err = run_get(ws, url)
        assert rc == 0, err
        assert [r for m, p, r in srv.requests if m == "GET"][-1] == "bytes=2000000-"
    assert (ws.models / "checkpoints" / "sdxl.safetensors").read_bytes() == data
    assert unfinished(ws) == []


def test_a_changed_file_on_the_server_restarts_from_zero(tmp_path):
    old, new = b"a" * 500_000, b"b" * 600_000
    part = tmp_path / "x.bin.part"
    with FileServer(files={"/x.bin": old}, drops=[100_000]) as srv:
        with pytest.raises(http.DownloadError):
            http.download(srv.url("/x.bin"), part, retries=0)
        srv.files["/x.bin"] = new  # new ETag: If-Range fails, the server sends the whole new file
        got = http.download(srv.url("/x.bin"), part)
    assert part.read_bytes() == new and got.sha256 == hashlib.sha256(new).hexdigest()


def test_not_a_model_is_refused_and_never_listed(ws):
    with FileServer(files={"/m.safetensors": b"<!DOCTYPE html><html>Please log in</html>"}) as srv:
        rc, events, _ = run_get(ws, srv.url("/m.safetensors"))
    assert rc == 1
    assert "web page" in _error(events)
    assert scan(ws) == []


def test_a_file_of_the_wrong_kind_is_refused(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.flux_lora(), "lora.safetensors")
    with FileServer(files={"/lora.safetensors": data}) as srv:
        rc, events, _ = run_get(ws, srv.url("/lora.safetensors"), "--kind", "checkpoint")
    assert rc == 1
    assert _error(events).startswith("lora.safetensors refused: it is a Flux LoRA")
    assert scan(ws) == []


def test_hub_download_by_repo_id_verifies_and_records_provenance(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.flux_ae(), "ae.safetensors")
    with FakeHub() as hub:
        hub.add("black-forest-labs/FLUX.1-schnell", {"ae.safetensors": data, "README.md": b"x"}, license="apache-2.0")
        env = _env(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf"))
        r = subprocess.run([sys.executable, "-m", "nyx_core", "--workspace", str(ws.root), "models", "get",
                            "black-forest-labs/FLUX.1-schnell", "--file", "ae.safetensors", "--wait"],
                           env=env, capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == "vae/ae.safetensors"
        assert "/black-forest-labs/FLUX.1-schnell/resolve/main/ae.safetensors" in hub.paths("HEAD")
    final = ws.models / "vae" / "ae.safetensors"
    assert final.read_bytes() == data
    ls = subprocess.run([sys.executable, "-m", "nyx_core", "--workspace", str(ws.root), "models", "ls", "--json"],
                        env=env, capture_output=True, text=True, timeout=60)
    [row] = json.loads(ls.stdout)
    assert (row["path"], row["kind"], row["families"], row["sha256"]) == (
        "vae/ae.safetensors", "ae", ["flux", "sd3"], hashlib.sha256(data).hexdigest())
    m = {x.path: x for x in scan(ws)}["vae/ae.safetensors"]
    assert m.kind == "ae" and m.sha256 == hashlib.sha256(data).hexdigest()
    assert m.source == "black-forest-labs/FLUX.1-schnell/ae.safetensors"


def test_hub_whole_repo_lands_as_one_folder(ws, tmp_path):
    files = {"model_index.json": json.dumps({"_class_name": "StableDiffusionXLPipeline"}).encode(),
             "unet/config.json": b"{}", "vae/diffusion_pytorch_model.safetensors": _bytes_of(tmp_path, fx.sd_vae())}
    with FakeHub() as hub:
        hub.add("someone/tiny-sdxl", files)
        rc, events, err = run_get(ws, "someone/tiny-sdxl", env=_env(HF_ENDPOINT=hub.endpoint,
                                                                    HF_HOME=str(tmp_path / "hf")))
    assert rc == 0, err
    folder = ws.models / "checkpoints" / "tiny-sdxl"
    assert (folder / "vae" / "diffusion_pytorch_model.safetensors").read_bytes() == files["vae/diffusion_pytorch_model.safetensors"]
    [m] = scan(ws)
    assert (m.path, m.format, m.arch) == ("checkpoints/tiny-sdxl", "diffusers", "sdxl")


@pytest.mark.parametrize("case,expect", [
    ("gated", "is gated: accept its licence"),
    ("bad_token", "the Hugging Face token was refused (401)"),
    ("missing_file", "nope.safetensors not found in org/model (404)"),
    ("no_network", "no network: cannot reach 127.0.0.1"),
])
def test_hub_failures_are_one_line(ws, tmp_path, case, expect):
    with FakeHub(tokens={"hf_good": "alice"}) as hub:
        hub.add("org/model", {"m.safetensors": b"x"})
        hub.add("bfl/gated", {"m.safetensors": b"x"}, gated=True)
        endpoint = hub.endpoint
        source, args, extra = "org/model", ["--file", "m.safetensors"], {}
        if case == "gated":
            source = "bfl/gated"
        elif case == "bad_token":
            extra = {"HF_TOKEN": "hf_wrong"}
        elif case == "missing_file":
            args = ["--file", "nope.safetensors"]
    if case == "no_network":
        pass  # the server is closed now: nothing listens on that port
    else:
        hub.__enter__()
        endpoint = hub.endpoint
    try:
        rc, events, err = run_get(ws, source, *args, env=_env(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf"),
                                                              HF_HUB_ETAG_TIMEOUT="3", **extra))
    finally:
        if case != "no_network":
            hub.__exit__()
    assert rc == 1
    msg = _error(events)
    assert expect in msg and "\n" not in msg
    assert "hf_wrong" not in err and "hf_wrong" not in json.dumps(events)
    assert scan(ws) == []


def _civitai(data: bytes, sha: str | None = None, size_kb: float | None = None):
    return {"/api/v1/model-versions/77": {
        "id": 77, "model": {"name": "Cute", "type": "LORA"},
        "files": [{"name": "cute.safetensors", "primary": True, "type": "Model",
                   "sizeKB": size_kb if size_kb is not None else len(data) / 1024,
                   "hashes": {"SHA256": (sha or hashlib.sha256(data).hexdigest()).upper()},
                   "downloadUrl": "__URL__/api/download/models/77"}]}}


def _civitai_server(data, **kw):
    # Civitai answers the download with a redirect to signed storage on another host, which
    # refuses a request that still carries the token
    storage = FileServer(files={"/bucket/cute.safetensors": data}, refuse_auth=True, host="localhost")
    storage.__enter__()
    srv = FileServer(redirects={"/api/download/models/77": storage.url("/bucket/cute.safetensors")},
                     require_auth={"/api/download/models/77": "Bearer cv-token"})
    srv.__enter__()
    srv.storage = storage
    routes = _civitai(data, **kw)
    routes["/api/v1/model-versions/77"]["files"][0]["downloadUrl"] = srv.url("/api/download/models/77")
    srv.json_routes.update(routes)
    return srv


def test_civitai_link_with_token_and_hash(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.sdxl_lora())
    srv = _civitai_server(data)
    try:
        link = "https://civitai.com/models/123/cute?modelVersionId=77"
        env = _env(NYX_CIVITAI_ENDPOINT=srv.url(""))
        rc, events, _ = run_get(ws, link, env=env)
        assert rc == 1 and "set the Civitai token in Settings" in _error(events)
        (ws.root / "settings.toml").write_text('civitai_token = "cv-token"\n')  # as Settings saves it
        rc, events, err = run_get(ws, link, env=env)
        assert rc == 0, err
    finally:
        srv.__exit__()
        srv.storage.__exit__()
    assert (ws.models / "loras" / "cute.safetensors").read_bytes() == data
    assert "cv-token" not in json.dumps(events) and "cv-token" not in err


def test_civitai_hash_mismatch_is_refused(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.sdxl_lora())
    srv = _civitai_server(data, sha="ab" * 32)
    try:
        rc, events, _ = run_get(ws, "https://civitai.com/api/download/models/77",
                                env=_env(NYX_CIVITAI_ENDPOINT=srv.url(""), CIVITAI_TOKEN="cv-token"))
    finally:
        srv.__exit__()
        srv.storage.__exit__()
    assert rc == 1 and "SHA-256 mismatch" in _error(events)
    assert scan(ws) == []


def test_not_enough_disk_is_refused_before_downloading(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.sdxl_lora())
    srv = _civitai_server(data, size_kb=2 ** 40)  # a petabyte
    try:
        rc, events, _ = run_get(ws, "https://civitai.com/api/download/models/77",
                                env=_env(NYX_CIVITAI_ENDPOINT=srv.url(""), CIVITAI_TOKEN="cv-token"))
        downloads = [p for m, p, r in srv.requests if p.startswith("/api/download")]
    finally:
        srv.__exit__()
        srv.storage.__exit__()
    assert rc == 1 and _error(events).startswith("not enough disk space: the download needs 1024.0 TB")
    assert downloads == []


def test_download_runs_as_a_job_and_can_be_cancelled_then_resumed(ws, tmp_path):
    import time

    data = _bytes_of(tmp_path, fx.sdxl_checkpoint())  # ~20 MB at 64 KB per 10 ms: ~3 s
    jm = JobManager(ws, Settings())
    with FileServer(files={"/slow.safetensors": data}, chunk_delay=0.01) as srv:
        job = submit_download(ws, srv.url("/slow.safetensors"), kind="checkpoint")
        assert job.spec.kind == "download" and job.spec.gpu_set == "none"
        deadline = time.monotonic() + 30
        while (jm.progress(job.id).task or {}).get("done", 0) < 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        state = jm.progress(job.id).task
        assert state["unit"] == "bytes" and state["total"] == len(data) and state.get("rate")
        jm.stop(job.id)
        assert jm.wait(job.id, 30).state == JobState.STOPPED
        [u] = unfinished(ws)
        assert 1_000_000 <= u["bytes"] < len(data) and scan(ws) == []
        srv.chunk_delay = 0
        again = jm.wait(submit_download(ws, u["source"], kind=u["kind"]).id, 60)
        assert again.state == JobState.COMPLETED, again.status.reason
        assert [r for m, p, r in srv.requests if m == "GET"][-1] == f"bytes={u['bytes']}-"
    assert (ws.models / "checkpoints" / "slow.safetensors").read_bytes() == data
    assert jm.progress(again.id).result["files"][0]["path"] == "checkpoints/slow.safetensors"
    assert "token" not in json.dumps(again.spec.to_dict()).lower()


def test_bad_sources_fail_at_submit_with_one_line(ws):
    from nyx_core.errors import NyxError

    for bad, why in [("not a repo", "no spaces"), ("justone", "repo id looks like"),
                     ("https://civitai.com/images/5", "not a Civitai model link"), ("catalog:nope", "no catalogue entry")]:
        with pytest.raises(NyxError, match=why):
            submit_download(ws, bad)


def test_a_task_programs_error_line_is_the_jobs_failure_reason(ws, tmp_path):
    """A download that fails says why on the Monitor (was: 'exited with code 1: see the log')."""
    from nyx_core.jobs import JobSpec

    prog = tmp_path / "p.py"
    prog.write_text("import sys\nfrom nyx_core.jobs.task import TaskReporter\n"
                    "TaskReporter().error('not found (404) on example.org: check the link')\nsys.exit(1)\n")
    jm = JobManager(ws, Settings())
    job = jm.submit(JobSpec(argv=[sys.executable, str(prog)], env={"PYTHONPATH": str(REPO)}, kind="download",
                            gpu_set="none"), "dl")
    job = jm.wait(job.id, 60)
    assert job.status.reason == "exited with code 1: not found (404) on example.org: check the link"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_disk_full_while_writing_is_one_line(tmp_path):
    """/dev/full answers every write with ENOSPC: the .part file points there."""
    part = tmp_path / "big.safetensors.part"
    with FileServer(files={"/big.safetensors": b"x" * 300_000}) as srv:
        url = srv.url("/big.safetensors")
        (tmp_path / "big.safetensors.part.json").write_text(json.dumps({"url": url}))
        part.symlink_to("/dev/full")
        with pytest.raises(http.DownloadError) as exc:
            http.download(url, part)
    assert str(exc.value).startswith("disk full after 0 bytes of big.safetensors; free space and run the download")


def test_whole_repo_downloads_skip_duplicate_weights():
    from nyx_core.models.download import prune_repo_files

    names = ["model_index.json", "sd_xl_base_1.0.safetensors", "sd_xl_offset_example-lora_1.0.safetensors",
             "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
             "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin",
             "unet/diffusion_flax_model.msgpack", "vae/diffusion_pytorch_model.safetensors",
             "text_encoder/model.safetensors", "text_encoder/pytorch_model.bin", "text_encoder/model.onnx",
             "tokenizer/vocab.json", ".gitattributes", "README.md"]
    assert prune_repo_files(names) == ["README.md", "model_index.json", "text_encoder/model.safetensors",
                                       "tokenizer/vocab.json", "unet/config.json",
                                       "unet/diffusion_pytorch_model.safetensors",
                                       "vae/diffusion_pytorch_model.safetensors"]
    # a folder with only .bin weights keeps them
    assert prune_repo_files(["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]


def test_the_same_file_twice_is_fine_another_file_of_that_name_is_refused(ws, tmp_path):
    data = _bytes_of(tmp_path, fx.sd_vae(), "vae.safetensors")
    other = _bytes_of(tmp_path, fx.sd_vae(), "other.safetensors")[:-1] + b"\x01"
    with FileServer(files={"/a/vae.safetensors": data, "/b/vae.safetensors": other}) as srv:
        assert run_get(ws, srv.url("/a/vae.safetensors"))[0] == 0
        rc, events, _ = run_get(ws, srv.url("/a/vae.safetensors"))  # again: nothing changes
        assert rc == 0 and next(e for e in events if e["type"] == "result")["files"][0]["skipped"]
        rc, events, _ = run_get(ws, srv.url("/b/vae.safetensors"))
    assert rc == 1 and _error(events) == "models/vae/vae.safetensors already exists with other content: rename or delete it first"
    assert (ws.models / "vae" / "vae.safetensors").read_bytes() == data


@pytest.mark.parametrize("text,expect", [
    ("stabilityai/sdxl-vae", dict(type="hub", repo="stabilityai/sdxl-vae", file=None)),
    ("black-forest-labs/FLUX.1-dev/ae.safetensors", dict(repo="black-forest-labs/FLUX.1-dev", file="ae.safetensors")),
    ("owner/name@v2/sub/x.safetensors", dict(repo="owner/name", revision="v2", file="sub/x.safetensors")),
    ("datasets/me/cats", dict(repo="me/cats", repo_type="dataset")),
    ("https://huggingface.co/owner/name/resolve/abc123/text_encoders/clip_g.safetensors?download=true",
     dict(repo="owner/name", revision="abc123", file="text_encoders/clip_g.safetensors")),
    ("https://civitai.com/models/123/cute?modelVersionId=77", dict(type="civitai", model_id=123, version_id=77)),
    ("https://civitai.com/models/123", dict(type="civitai", model_id=123, version_id=None)),
    ("https://civitai.com/api/download/models/77?type=Model&token=SECRET",
     dict(type="civitai", version_id=77, text="https://civitai.com/api/download/models/77?type=Model")),
    ("https://example.org/x.safetensors", dict(type="url", url="https://example.org/x.safetensors")),
])
def test_sources_parse_and_reparse_the_same(text, expect):
    from nyx_core.models.sources import parse

    src = parse(text)
    for k, v in expect.items():
        assert getattr(src, k) == v, k
    again = parse(src.text)  # what the job's command line carries
    assert (again.type, again.repo, again.file, again.revision, again.repo_type, again.version_id) == (
        src.type, src.repo, src.file, src.revision, src.repo_type, src.version_id)
    assert "SECRET" not in src.text and "SECRET" not in src.label


def test_speed_and_eta_count_only_this_runs_bytes(monkeypatch):
    """A download resumed at 1 GB of 2 GB that fetched 100 MB in 1 s runs at 100 MB/s, not 1.1 GB/s."""
    import io

    from nyx_core.models import download as dl

    clock = iter([0.0, 0.0, 1.0, 1.0])
    monkeypatch.setattr(dl.time, "monotonic", lambda: next(clock))
    buf = io.StringIO()
    rep = dl.ByteReporter(stream=buf, min_interval_s=0)
    rep.progress(1_000_000_000, total=2_000_000_000)
    rep.progress(1_100_000_000)
    last = json.loads(buf.getvalue().splitlines()[-1][5:])
    assert last["rate"] == 100_000_000 and last["eta_s"] == 9.0
