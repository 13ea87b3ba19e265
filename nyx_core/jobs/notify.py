"""End-of-run webhook: Discord, ntfy, or a generic JSON POST. Never raises: a failing webhook
must not change a job's outcome; the caller records the message."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlparse

TIMEOUT_S = 5.0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def build_request(url: str, *, job_id: str, name: str, state: str, duration_s: float) -> urllib.request.Request:
    """The request for ``url``'s flavour (picked from the host/path)."""
    text = f"Nyx: training '{name}' {state} after {_duration(duration_s)} (job {job_id})"
    host = (urlparse(url).hostname or "").lower()
    path = urlparse(url).path
    if ("discord.com" in host or "discordapp.com" in host) and "/api/webhooks/" in path:
        body = json.dumps({"content": text}).encode()
        return urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    if host.startswith("ntfy.") or ".ntfy." in host or host == "ntfy.sh":
        headers = {"Title": f"Nyx: {name} {state}", "Tags": "white_check_mark" if state == "completed" else "warning"}
        return urllib.request.Request(url, data=text.encode(), headers=headers, method="POST")
    body = json.dumps({
        "event": "nyx.job.end", "job_id": job_id, "name": name, "state": state,
        "duration_s": round(duration_s, 1), "text": text,
    }).encode()
    return urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")


def send(url: str, *, job_id: str, name: str, state: str, duration_s: float) -> tuple[bool, str]:
    """(ok, message). Any error (bad URL, refused, timeout, HTTP 4xx/5xx) gives ok=False."""
    try:
        req = build_request(url, job_id=job_id, name=name, state=state, duration_s=duration_s)
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return True, f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} from the webhook"
    except Exception as exc:  # noqa: BLE001 - anything at all: report, don't raise
        return False, f"{type(exc).__name__}: {exc}"
