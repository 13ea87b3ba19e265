"""A streamed, resumable HTTP download into a ``.part`` file (standard library only).

The ``.part`` file grows as bytes arrive; a sidecar ``.part.json`` remembers the URL and the
server's validators (ETag / Last-Modified / size) so a later attempt — after a dropped connection,
a cancel, or a pod restart — asks for the rest with ``Range: bytes=N-`` and ``If-Range``. A server
that ignores the range (200) or whose file changed restarts the download from zero; nothing is ever
spliced from two versions. The caller renames the finished ``.part`` into place (after checks).
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CHUNK = 1024 * 1024


class DownloadError(Exception):
    """A download failed for a reason a user can act on; the message is one line."""


@dataclass
class Fetched:
    size: int
    sha256: str
    filename: str | None      # from Content-Disposition, when the server names the file
    resumed_from: int


class _NoAuthAcrossHosts(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry the token to another host: Civitai and the Hub redirect
    to signed storage URLs that must not see it (and S3/R2 refuse a request with two credentials)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_NoAuthAcrossHosts)


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _load_sidecar(part: Path) -> dict:
    try:
        return json.loads(_sidecar(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_sidecar(part: Path, data: dict) -> None:
    tmp = _sidecar(part).with_name(_sidecar(part).name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, _sidecar(part))


def filename_from_disposition(value: str | None) -> str | None:
    if not value:
        return None
    m = re.search(r"filename\*\s*=\s*(?:UTF-8'')?([^;]+)", value, re.I)
    if m:
        name = urllib.parse.unquote(m.group(1).strip().strip('"'))
    else:
        m = re.search(r'filename\s*=\s*"?([^";]+)"?', value, re.I)
        name = m.group(1).strip() if m else None
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") else None


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def http_error_message(code: int, url: str, *, token_hint: str = "") -> str:
    host = host_of(url)
    if code == 401:
        return f"{host} refused the download (401 unauthorized): the token is missing or wrong{token_hint}"
    if code == 403:
        return f"{host} refused the download (403 forbidden): the token has no access to it{token_hint}"
    if code == 404:
        return f"not found (404) on {host}: check the link"
    if code == 416:
        return f"{host} could not serve the requested range (416)"
    return f"{host} answered HTTP {code}"


def network_message(exc: BaseException, url: str) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return f"no network: cannot resolve {host_of(url)}"
    if isinstance(reason, (ConnectionRefusedError, TimeoutError, socket.timeout, OSError)):
        return f"no network: cannot reach {host_of(url)} ({getattr(reason, 'strerror', None) or reason})"
    return f"no network: {reason}"


def download(url: str, part: Path, *, headers: dict[str, str] | None = None, expected_size: int | None = None,
             progress: Callable[[int, int | None], None] | None = None, retries: int = 8, timeout: float = 30.0,
             token_hint: str = "", on_size: Callable[[int | None, int], None] | None = None) -> Fetched:
    """Fetch ``url`` into ``part`` (resuming what is there); returns the size and SHA-256 of the
    whole file. Raises ``DownloadError`` with one line. ``on_size(total, have)`` is called once the
    server has said how big the file is, before a byte is written (the free-disk check)."""
    part = Path(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    side = _load_sidecar(part)
    if side.get("url") != url and part.exists():
        part.unlink()  # a .part from another URL is not ours to continue
        side = {}
    have = part.stat().st_size if part.exists() else 0
    resumed_from = have
    sha = hashlib.sha256()
    if have:
        with open(part, "rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                sha.update(block)
    total = expected_size or side.get("size")
    filename = side.get("filename")
    failures = 0
    while True:
        req_headers = dict(headers or {})
        req_headers.setdefault("User-Agent", "nyx-trainer")
        req_headers["Accept-Encoding"] = "identity"  # byte ranges of the real file, not of a gzip stream
        if have:
            req_headers["Range"] = f"bytes={have}-"
            validator = side.get("etag") or side.get("last_modified")
            if validator:
                req_headers["If-Range"] = validator
        try:
            resp = _OPENER.open(urllib.request.Request(url, headers=req_headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have and total and have >= total:
                break  # everything is already here
            if exc.code == 416 and have:
                part.unlink(missing_ok=True)  # our .part is longer than the file: start again
                have, sha, resumed_from = 0, hashlib.sha256(), 0
                continue
            if exc.code in (429, 500, 502, 503, 504) and failures < retries:
                failures += 1
                time.sleep(min(8.0, 0.25 * 2 ** failures))
                continue
            raise DownloadError(http_error_message(exc.code, url, token_hint=token_hint)) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if failures < retries:
                failures += 1
                time.sleep(min(8.0, 0.25 * 2 ** failures))
                continue
            raise DownloadError(network_message(exc, url)) from None
        with resp:
            status = resp.status
            length = resp.headers.get("Content-Length")
            if status == 206:
                m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != have:
                    raise DownloadError(f"{host_of(url)} sent the wrong byte range; delete {part.name} and retry")
                if m.group(3) != "*":
                    total = int(m.group(3))
            else:
                if have:
                    # the server ignored our range or the file changed (If-Range failed): from zero
                    have, sha, resumed_from = 0, hashlib.sha256(), 0
                total = int(length) if length and length.isdigit() else total
            filename = filename or filename_from_disposition(resp.headers.get("Content-Disposition"))
            _save_sidecar(part, {"url": url, "etag": resp.headers.get("ETag"),
                                 "last_modified": resp.headers.get("Last-Modified"), "size": total,
                                 "filename": filename})
            if expected_size and total and total != expected_size:
                raise DownloadError(f"{host_of(url)} serves {total:,} bytes, the listing said {expected_size:,}")
            if on_size:
                on_size(total, have)
                on_size = None
            if progress:
                progress(have, total)
            try:
                # unbuffered: what write() accepted is in the file, so ``have`` never runs ahead of it
                with open(part, "r+b" if have else "wb", buffering=0) as out:
                    if have:  # "wb" already starts empty
                        out.seek(have)
                        out.truncate()
                    ok = False
                    try:
                        while True:
                            block = resp.read(CHUNK)
                            if not block:
                                break
                            view = memoryview(block)
                            while view:
                                view = view[out.write(view):]
                            sha.update(block)
                            have += len(block)
                            failures = 0
                            if progress:
                                progress(have, total)
                        ok = True
                    finally:
                        try:
                            os.fsync(out.fileno())  # what is in .part is on disk: a restart resumes from it
                        except OSError:
                            if ok:
                                raise
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DownloadError(f"disk full after {have:,} bytes of {part.name.removesuffix('.part')}; "
                                        "free space and run the download again (it resumes)") from None
                if not isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
                    raise
                # connection dropped mid-file: resume from what we have
            except http.client.HTTPException:
                pass
        if total is None or have >= total:
            if total is not None and have > total:
                raise DownloadError(f"{host_of(url)} sent more bytes than announced; delete {part.name} and retry")
            break
        if failures >= retries:
            raise DownloadError(f"the connection to {host_of(url)} kept dropping ({have:,} of {total:,} bytes); "
                                "run the download again to resume")
        failures += 1
        time.sleep(min(4.0, 0.1 * 2 ** failures))
    return Fetched(size=have, sha256=sha.hexdigest(), filename=filename, resumed_from=resumed_from)


def finish(part: Path, final: Path) -> None:
    """Move a finished ``.part`` into place atomically and drop its sidecar."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)
    _sidecar(part).unlink(missing_ok=True)
    try:  # make the rename itself durable
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
