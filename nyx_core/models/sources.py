"""What the user typed as a download source, parsed (no network): a Hub repo id (+ file,
revision), a huggingface.co link, a Civitai model/version link, a direct URL, or a catalogue id."""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from nyx_core.errors import NyxError

_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")
_HF_HOSTS = ("huggingface.co", "hf.co", "www.huggingface.co")


@dataclass(frozen=True)
class Source:
    type: str                   # hub | civitai | url | catalog
    text: str                   # what the user gave (for provenance and the job's name)
    repo: str | None = None     # hub
    file: str | None = None     # hub: one file in the repo (None = whole repo)
    revision: str | None = None
    repo_type: str = "model"
    model_id: int | None = None      # civitai
    version_id: int | None = None    # civitai
    url: str | None = None           # url
    entry: str | None = None         # catalog

    @property
    def label(self) -> str:
        if self.type == "hub":
            rev = f"@{self.revision}" if self.revision and self.revision != "main" else ""
            return f"{self.repo}{rev}" + (f"/{self.file}" if self.file else "")
        if self.type == "catalog":
            return f"catalog:{self.entry}"
        return self.text


def parse(text: str, *, file: str | None = None, revision: str | None = None) -> Source:
    """Parse a source; raise ``NyxError`` with one line when it is not one."""
    text = (text or "").strip()
    if not text:
        raise NyxError("give a source: a Hub repo id (owner/name), a Civitai link, a URL or catalog:<id>")
    if any(c.isspace() for c in text) or "\x00" in text:
        raise NyxError(f"a source has no spaces: {text[:80]!r}")
    file = (file or "").strip().strip("/") or None
    if file and (".." in file.split("/") or "\\" in file):
        raise NyxError(f"not a file path in a repo: {file!r}")
    revision = (revision or "").strip() or None
    if text.startswith("catalog:"):
        from nyx_core.models import catalog

        return Source("catalog", text, entry=catalog.get(text.split(":", 1)[1]).id)
    if text.startswith(("http://", "https://")):
        u = urllib.parse.urlsplit(text)
        host = (u.hostname or "").lower()
        if not host:
            raise NyxError(f"not a URL: {text[:120]!r}")
        if host in _HF_HOSTS:
            return _hf_url(text, u, file, revision)
        if host.endswith("civitai.com"):
            return _civitai(text, u)
        return Source("url", text, url=text)
    given = text
    if text.startswith(("hf://", "hf:")):
        text = text.split(":", 1)[1].lstrip("/")
    repo_type = "model"
    if text.startswith("datasets/"):
        repo_type, text = "dataset", text[len("datasets/"):]
    parts = text.split("/")
    repo = "/".join(parts[:2])
    if "@" in repo:
        repo, rev = repo.split("@", 1)
        revision = revision or rev
    if len(parts) > 2:
        file = file or "/".join(parts[2:])
    if not _REPO.match(repo):
        raise NyxError(f"not a Hub repo id, Civitai link or URL: {text[:120]!r} (a repo id looks like owner/name)")
    return Source("hub", given, repo=repo, file=file, revision=revision, repo_type=repo_type)


def _hf_url(text: str, u: urllib.parse.SplitResult, file: str | None, revision: str | None) -> Source:
    parts = [urllib.parse.unquote(p) for p in u.path.strip("/").split("/") if p]
    repo_type = "model"
    if parts and parts[0] in ("datasets", "spaces"):
        repo_type = parts.pop(0)[:-1]
    if len(parts) < 2:
        raise NyxError(f"not a Hugging Face repo link: {text[:120]!r}")
    repo = "/".join(parts[:2])
    if len(parts) >= 4 and parts[2] in ("resolve", "blob", "tree"):
        revision = revision or parts[3]
        if parts[2] != "tree" and len(parts) > 4:
            file = file or "/".join(parts[4:])
    return Source("hub", text, repo=repo, file=file, revision=revision, repo_type=repo_type)


def _civitai(text: str, u: urllib.parse.SplitResult) -> Source:
    q = urllib.parse.parse_qs(u.query)
    if "token" in q:
        # a pasted ?token=… must not reach the job's command line, its name or the log: the token
        # belongs in Settings (the download sends it as a header)
        query = urllib.parse.urlencode([(k, v) for k, vs in q.items() if k != "token" for v in vs])
        text = urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, query, ""))
    version = q.get("modelVersionId", [None])[0]
    m = re.search(r"/api/download/models/(\d+)", u.path)
    if m:
        version = m.group(1)
    mm = re.search(r"/models/(\d+)", u.path)
    model = mm.group(1) if mm and not m else None
    if not (version or model):
        raise NyxError(f"not a Civitai model link (…/models/<id> or …/api/download/models/<version>): {text[:120]!r}")
    try:
        return Source("civitai", text, model_id=int(model) if model else None,
                      version_id=int(version) if version else None)
    except ValueError:
        raise NyxError(f"not a Civitai model link: {text[:120]!r}") from None
