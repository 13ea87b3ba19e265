"""The gate at the HTTP level, in front of Streamlit's own routes.

The sign-in form guards what the *script* shows, but Streamlit also serves routes that never
run the script: a visitor who sees only the sign-in form could PUT files to
``/_stcore/upload_file/<session>/<id>`` (held in memory for as long as the session lives), read
``/_stcore/metrics``, and on a loopback bind a page on another site could reach the app
through DNS rebinding. This ASGI wrapper, put around Streamlit's app, answers those before
Streamlit sees them:

- uploads (PUT/DELETE) are refused with 403 unless the session was let in by the gate
  (``allow_session``); the body is never read, so a flood costs no memory;
- ``/_stcore/metrics`` is not served;
- on a loopback bind with no password, a request whose ``Host``/``Origin`` is not this
  machine, or that carries proxy headers (a tunnel or reverse proxy in front), is refused:
  put a password on anything reachable through a proxy.

It is installed either by ``serve.py`` (``st.App`` middleware: active from the first request)
or, for ``streamlit run app.py``, by ``install()`` from the app script's first run. Nothing here
imports streamlit at module level, so it is cheap to import and test.
"""
from __future__ import annotations

import gc
import threading
import time
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PREFIX = "/_stcore/upload_file/"
METRICS = "/_stcore/metrics"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: Headers a reverse proxy or tunnel adds; their presence means the visitor is not on this machine.
PROXY_HEADERS = (b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"forwarded", b"x-real-ip",
                 b"via", b"cf-connecting-ip", b"true-client-ip", b"x-original-forwarded-for")

_lock = threading.Lock()
_allowed: set[str] = set()
_installed = False
_tried = False
_state_cache: tuple[float, tuple[bool, bool]] = (0.0, (True, False))


# Which sessions may upload ---------------------------------------------------------------------
def allow_session(session_id: str | None) -> None:
    """Called by the gate each time it lets a session in (cheap: a set add)."""
    if session_id:
        with _lock:
            if len(_allowed) > 10_000:  # a long-lived server: forget the oldest half
                for sid in list(_allowed)[:5_000]:
                    _allowed.discard(sid)
            _allowed.add(session_id)


def forget_session(session_id: str | None) -> None:
    """Sign-out: that session may no longer upload."""
    with _lock:
        _allowed.discard(session_id or "")


def session_allowed(session_id: str) -> bool:
    with _lock:
        return session_id in _allowed


# Host / proxy checks (pure) --------------------------------------------------------------------
def _host_name(value: str) -> str:
    value = value.strip().lower()
    if "://" in value:
        value = value.split("://", 1)[1]
    value = value.split("/", 1)[0]
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def foreign_reason(headers: dict[bytes, bytes]) -> str | None:
    """Why a request did not come straight from this machine's browser, or None."""
    for name in PROXY_HEADERS:
        if name in headers:
            return f"it came through a proxy or tunnel ({name.decode()} header)"
    host = headers.get(b"host", b"").decode("latin-1")
    if host and _host_name(host) not in LOOPBACK_HOSTS:
        return f"its Host is {_host_name(host)!r}, not this machine"
    origin = headers.get(b"origin", b"").decode("latin-1")
    if origin and origin != "null" and _host_name(origin) not in LOOPBACK_HOSTS:
        return f"it came from a page on {_host_name(origin)!r}"
    return None


def _settings_state() -> tuple[bool, bool]:
    """(loopback bind, password set). The password can be set while running, so this is read
    again at most once a second (a page load makes dozens of requests)."""
    global _state_cache
    now = time.monotonic()
    if now - _state_cache[0] < 1.0:
        return _state_cache[1]
    from streamlit import config

    from nyx_core.auth import is_loopback
    from nyx_ui.context import get_settings

    state = (is_loopback(config.get_option("server.address")), get_settings().has_password)
    _state_cache = (now, state)
    return state


# The ASGI wrapper ------------------------------------------------------------------------------
class NyxGate:
    """ASGI middleware (also usable as ``starlette.middleware.Middleware(NyxGate)``)."""

    def __init__(self, app: ASGIApp, *, state: Callable[[], tuple[bool, bool]] = _settings_state) -> None:
        self.app = app
        self.state = state
        global _installed
        _installed = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if kind == "http" and path.rstrip("/") == METRICS:
            return await _refuse(send, 404, "not served")
        loopback, has_password = self.state()
        if loopback and not has_password:
            headers = dict(scope.get("headers") or [])
            why = foreign_reason(headers)
            if why:
                msg = (f"Nyx has no password and refuses this request: {why}. "
                       "Set NYX_PASSWORD before putting a tunnel or proxy in front of it.")
                if kind == "websocket":
                    return await send({"type": "websocket.close", "code": 1008, "reason": msg[:120]})
                return await _refuse(send, 403, msg)
        if kind == "http" and path.startswith(UPLOAD_PREFIX) and scope.get("method") in ("PUT", "DELETE", "POST"):
            session_id = path[len(UPLOAD_PREFIX):].split("/", 1)[0]
            if not session_allowed(session_id):
                # Answer before reading a byte of the body: nothing is buffered or kept.
                return await _refuse(send, 403, "sign in first", close=True)
        return await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, text: str, *, close: bool = False) -> None:
    body = (text + "\n").encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Installing it into a running `streamlit run app.py` -----------------------------------------------
def installed() -> bool:
    return _installed


def install() -> bool:
    """Wrap the running server's Starlette app (once per process). True when the gate is active.

    ``streamlit run app.py`` gives no hook before the server starts, so the first script run
    finds the Starlette app and wraps its middleware stack; ``serve.py`` installs it earlier.
    """
    global _installed, _tried
    if _installed or _tried:
        return _installed
    with _lock:
        if _installed or _tried:
            return _installed
        _tried = True  # one scan per process (none under AppTest, where no server runs)
        try:
            from starlette.applications import Starlette
        except ImportError:  # pragma: no cover - Streamlit always ships it
            return False
        _guard_upload_manager()
        apps = [o for o in gc.get_objects() if type(o) is Starlette or isinstance(o, Starlette)]
        for app in apps:
            stack = app.middleware_stack or app.build_middleware_stack()
            if not isinstance(stack, NyxGate):
                app.middleware_stack = NyxGate(stack)
        _installed = bool(apps)
        return _installed


def _guard_upload_manager() -> None:
    """Second line: the upload store keeps nothing for a session the gate has not let in (in case
    a request got past the HTTP wrapper, e.g. in the moment before it was installed)."""
    try:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return
        mgr = Runtime.instance().uploaded_file_mgr
    except Exception:  # noqa: BLE001 - no runtime (AppTest, bare mode)
        return
    if getattr(mgr.add_file, "_nyx_guarded", False):
        return
    original = mgr.add_file

    def add_file(session_id: str, file: Any) -> None:
        if session_allowed(session_id):
            original(session_id, file)

    add_file._nyx_guarded = True  # type: ignore[attr-defined]
    mgr.add_file = add_file
