"""Local test servers for downloads and publishing (loopback only; no network at test time).

- ``FileServer``: serves bytes with Range support; can drop the connection after N bytes of a
  response (to prove a resumed download is byte-exact) and counts requests.
- ``FakeHub``: just enough of the Hugging Face Hub HTTP API for huggingface_hub (pointed at it with
  ``HF_ENDPOINT``): file resolve (HEAD/GET with X-Repo-Commit, ETag, X-Linked-Size, Range), repo
  info with file listing, whoami-v2, repo creation, preupload, the LFS batch + upload, and commits.
  It records every call (method, path, whether a token was sent) so tests can prove what happened.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # quiet
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(code)
        hdrs = {"Content-Length": str(len(body)), **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, code: int, obj, headers: dict | None = None) -> None:
        self._send(code, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})},
                   head=self.command == "HEAD")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if not size:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return data


def serve_range(handler: _Base, data: bytes, headers: dict, *, drop_after: int | None = None,
                head: bool = False, chunk_delay: float = 0.0) -> None:
    """Answer a GET/HEAD for ``data`` honouring ``Range: bytes=N-`` (and If-Range on the ETag)."""
    start = 0
    rng = handler.headers.get("Range")
    if_range = handler.headers.get("If-Range")
    if rng and (not if_range or if_range == headers.get("ETag")):
        m = re.match(r"bytes=(\d+)-(\d*)", rng)
        if m:
            start = int(m.group(1))
            if start >= len(data):
                handler._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
    body = data[start:]
    code = 206 if start else 200
    hdrs = {"Accept-Ranges": "bytes", **headers}
    if start:
        hdrs["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
    handler.send_response(code)
    hdrs["Content-Length"] = str(len(body))
    for k, v in hdrs.items():
        handler.send_header(k, v)
    handler.end_headers()
    if head:
        return
    if drop_after is not None and drop_after < len(body):
        handler.wfile.write(body[:drop_after])
        handler.wfile.flush()
        handler.close_connection = True
        import socket

        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return
    if chunk_delay:
        import time

        for i in range(0, len(body), 65536):  # a slow link: time to watch progress or cancel
            try:
                handler.wfile.write(body[i:i + 65536])
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(chunk_delay)
        return
    handler.wfile.write(body)


@dataclass
class FileServer:
    files: dict[str, bytes] = field(default_factory=dict)           # path -> bytes
    headers: dict[str, dict] = field(default_factory=dict)          # path -> extra headers
    drops: list[int] = field(default_factory=list)                  # bytes to send before dropping, per GET
    json_routes: dict[str, object] = field(default_factory=dict)    # path -> JSON answer
    require_auth: dict[str, str] = field(default_factory=dict)      # path -> "Bearer xyz"
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    chunk_delay: float = 0.0                                        # seconds per 64 KB sent
    redirects: dict[str, str] = field(default_factory=dict)         # path -> URL (302)
    refuse_auth: bool = False                   # 400 for any request with a token (signed storage)
    host: str = "127.0.0.1"

    def __enter__(self) -> "FileServer":
        outer = self

        class H(_Base):
            def do_HEAD(self):
                self._go(head=True)

            def do_GET(self):
                self._go(head=False)

            def _go(self, head: bool):
                path = urlsplit(self.path).path
                outer.requests.append((self.command, path, self.headers.get("Range")))
                if outer.refuse_auth and self.headers.get("Authorization"):
                    self._send(400, b"only one auth mechanism allowed", head=head)
                    return
                need = outer.require_auth.get(path)
                if need and self.headers.get("Authorization") != need:
                    self._send(401, b"unauthorized", head=head)
                    return
                if path in outer.redirects:
                    self._send(302, b"", {"Location": outer.redirects[path]}, head=head)
                    return
                if path in outer.json_routes:
                    self._json(200, outer.json_routes[path])
                    return
                if path not in outer.files:
                    self._send(404, b"not found", head=head)
                    return
                data = outer.files[path]
                hdrs = {"ETag": '"' + hashlib.md5(data).hexdigest() + '"', **outer.headers.get(path, {})}
                drop = outer.drops.pop(0) if (outer.drops and not head) else None
                serve_range(self, data, hdrs, drop_after=drop, head=head, chunk_delay=outer.chunk_delay)

        self.httpd = _Server(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    private: bool = False
    gated: bool = False
    commit: str = "0" * 40
    license: str | None = None


class FakeHub:
    """``with FakeHub(tokens={"hf_good": "alice"}) as hub:`` then ``HF_ENDPOINT=hub.endpoint``."""

    def __init__(self, tokens: dict[str, str] | None = None, orgs: tuple[str, ...] = ("nyx-org",)) -> None:
        self.tokens = tokens or {}
        self.orgs = orgs
        self.repos: dict[tuple[str, str], Repo] = {}
        self.calls: list[dict] = []
        self.lfs: dict[str, bytes] = {}
        self.commits: list[dict] = []
        self.accepted: set[tuple[str, str]] = set()  # (user, repo) that accepted a gated licence
        self.drops: list[int] = []

    def add(self, repo_id: str, files: dict[str, bytes], repo_type: str = "model", **kw) -> Repo:
        r = Repo(dict(files), **kw)
        r.commit = hashlib.sha1(repo_id.encode()).hexdigest()
        self.repos[(repo_type, repo_id)] = r
        return r

    # --------------------------------------------------------------------------------------
    def __enter__(self) -> "FakeHub":
        hub = self

        class H(_Base):
            def do_HEAD(self):
                hub._handle(self)

            def do_GET(self):
                hub._handle(self)

            def do_POST(self):
                hub._handle(self)

            def do_PUT(self):
                hub._handle(self)

        self.httpd = _Server(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self, method: str | None = None) -> list[str]:
        return [c["path"] for c in self.calls if method is None or c["method"] == method]

    # --------------------------------------------------------------------------------------
    def _user(self, h: _Base) -> tuple[str | None, bool]:
        """(user, bad): the token's user; bad = a token was sent but is not valid."""
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None, False
        user = self.tokens.get(auth[7:])
        return user, user is None

    def _handle(self, h: _Base) -> None:
        u = urlsplit(h.path)
        path = unquote(u.path)
        body = h._body() if h.command in ("POST", "PUT") else b""
        user, bad = self._user(h)
        self.calls.append({"method": h.command, "path": path, "query": u.query, "token": bool(
            h.headers.get("Authorization")), "body": body[:20000]})
        if bad:
            h._json(401, {"error": "Invalid credentials in Authorization header"})
            return
        try:
            self._route(h, path, parse_qs(u.query), body, user)
        except BrokenPipeError:
            pass

    def _repo(self, h: _Base, repo_type: str, repo_id: str, user: str | None, write: bool = False) -> Repo | None:
        r = self.repos.get((repo_type, repo_id))
        owner = repo_id.split("/")[0]
        if r is None or (r.private and owner != user and owner not in self.orgs):
            h._json(401 if not user else 404, {"error": "Repository Not Found"}, {"X-Error-Code": "RepoNotFound"})
            return None
        if r.gated and not write and (user is None or (user, repo_id) not in self.accepted):
            h._json(401 if user is None else 403, {"error": "Access to this model is restricted"},
                    {"X-Error-Code": "GatedRepo"})
            return None
        if write and owner != user and owner not in self.orgs:
            h._json(403, {"error": "You don't have the rights to write to this repo"})
            return None
        return r

    def _route(self, h: _Base, path: str, q: dict, body: bytes, user: str | None) -> None:
        m = re.match(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m and h.command in ("GET", "HEAD"):
            rtype = (m.group(1) or "models")[:-1]
            r = self._repo(h, rtype, m.group(2), user)
            if r is None:
                return
            if m.group(3) not in ("main", r.commit):
                h._json(404, {"error": "Invalid rev id"}, {"X-Error-Code": "RevisionNotFound"})
                return
            data = r.files.get(m.group(4))
            if data is None:
                h._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                return
            sha = hashlib.sha256(data).hexdigest()
            hdrs = {"X-Repo-Commit": r.commit, "ETag": f'"{sha}"', "X-Linked-Size": str(len(data)),
                    "X-Linked-Etag": f'"{sha}"'}
            drop = self.drops.pop(0) if (self.drops and h.command == "GET") else None
            serve_range(h, data, hdrs, drop_after=drop, head=h.command == "HEAD")
            return
        m = re.match(r"^/api/(models|datasets)/([^/]+/[^/]+)(?:/revision/([^/]+))?$", path)
        if m and h.command == "GET":
            r = self._repo(h, m.group(1)[:-1], m.group(2), user)
            if r is None:
                return
            siblings = [{"rfilename": p, "size": len(d), "lfs": {"size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                                                                 "pointerSize": 134}}
                        for p, d in sorted(r.files.items())]
            h._json(200, {"id": m.group(2), "sha": r.commit, "private": r.private, "siblings": siblings,
                          "cardData": {"license": r.license} if r.license else None, "gated": r.gated})
            return
        if path == "/api/whoami-v2":
            if user is None:
                h._json(401, {"error": "Invalid credentials in Authorization header"})
                return
            h._json(200, {"type": "user", "name": user, "orgs": [{"name": o} for o in self.orgs],
                          "auth": {"type": "access_token", "accessToken": {"displayName": "t", "role": "write"}}})
            return
        if path == "/api/validate-yaml" and h.command == "POST":
            content = json.loads(body).get("content", "")
            # like the Hub: no metadata is a warning; an unclosed metadata block is an error
            ok = not content.startswith("---") or "\n---" in content[3:]
            warn = [] if content.startswith("---") else [{"message": "empty or missing yaml metadata"}]
            h._json(200 if ok else 400, {"warnings": warn, "errors": [] if ok else [{"message": "unclosed YAML"}]})
            return
        if path == "/api/repos/create" and h.command == "POST":
            if user is None:
                h._json(401, {"error": "Invalid credentials"})
                return
            req = json.loads(body or b"{}")
            owner = req.get("organization") or user
            rtype = req.get("type") or "model"
            rid = f"{owner}/{req['name']}"
            if owner != user and owner not in self.orgs:
                h._json(403, {"error": "You don't have the rights to create a repo in this namespace"})
                return
            if (rtype, rid) in self.repos:
                h._json(409, {"error": "You already created this repo", "url": f"{self.endpoint}/{rid}"})
                return
            self.add(rid, {}, rtype, private=bool(req.get("private")) or req.get("visibility") == "private")
            h._json(200, {"url": f"{self.endpoint}/{rid}", "name": rid})
            return
        m = re.match(r"^/api/(models|datasets)/([^/]+/[^/]+)/preupload/([^/]+)$", path)
        if m and h.command == "POST":
            if self._repo(h, m.group(1)[:-1], m.group(2), user, write=True) is None:
                return
            files = json.loads(body).get("files", [])
            h._json(200, {"files": [{"path": f["path"], "uploadMode": "lfs" if (f.get("size", 0) > 1000 or
                                     f["path"].endswith(".safetensors")) else "regular", "shouldIgnore": False}
                                    for f in files]})
            return
        m = re.match(r"^/(?:(datasets)/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$", path)
        if m and h.command == "POST":
            req = json.loads(body)
            objs = [{"oid": o["oid"], "size": o["size"], "authenticated": True,
                     "actions": {"upload": {"href": f"{self.endpoint}/lfs-upload/{o['oid']}"}}}
                    for o in req.get("objects", [])]
            h._send(200, json.dumps({"transfer": "basic", "objects": objs}).encode(),
                    {"Content-Type": "application/vnd.git-lfs+json"})
            return
        m = re.match(r"^/lfs-upload/([0-9a-f]{64})$", path)
        if m and h.command == "PUT":
            if hashlib.sha256(body).hexdigest() != m.group(1):
                h._json(400, {"error": "sha256 mismatch"})
                return
            self.lfs[m.group(1)] = body
            h._send(200, b"")
            return
        m = re.match(r"^/api/(models|datasets)/([^/]+/[^/]+)/commit/([^/]+)$", path)
        if m and h.command == "POST":
            r = self._repo(h, m.group(1)[:-1], m.group(2), user, write=True)
            if r is None:
                return
            lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
            commit = {"repo": m.group(2), "type": m.group(1)[:-1], "files": {}, "header": None}
            for ln in lines:
                v = ln.get("value", {})
                if ln.get("key") == "header":
                    commit["header"] = v
                elif ln.get("key") == "file":
                    data = base64.b64decode(v["content"]) if v.get("encoding") == "base64" else v["content"].encode()
                    commit["files"][v["path"]] = data
                elif ln.get("key") == "lfsFile":
                    if v["oid"] not in self.lfs:
                        h._json(400, {"error": f"LFS object {v['oid']} was never uploaded"})
                        return
                    commit["files"][v["path"]] = self.lfs[v["oid"]]
            r.files.update(commit["files"])
            r.commit = hashlib.sha1(json.dumps(sorted(r.files)).encode() + r.commit.encode()).hexdigest()
            self.commits.append(commit)
            h._json(200, {"commitUrl": f"{self.endpoint}/{m.group(2)}/commit/{r.commit}", "commitOid": r.commit,
                          "success": True})
            return
        h._json(404, {"error": f"fake hub: no route for {h.command} {path}"})
