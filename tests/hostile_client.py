"""A hostile HTTP/WebSocket client for real-server tests: opens a Streamlit session the way a
browser would (or without ever running the script), and PUTs uploads with a self-made
XSRF pair, as an attacker who can only see the sign-in form can."""
from __future__ import annotations

import http.client
import os
import secrets
from urllib.parse import urlparse

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string


def open_session(url: str, *, run_script: bool = True, host: str | None = None, origin: str | None = None,
                 timeout: float = 30.0):
    """(websocket, session_id). ``run_script=False`` opens the session without asking for a run."""
    from websockets.sync.client import connect

    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    headers = {}
    if host:
        headers["Host"] = host
    if origin:
        headers["Origin"] = origin
    ws = connect(ws_url, subprotocols=["streamlit"], additional_headers=headers, open_timeout=timeout,
                 max_size=None)
    if run_script:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = ""
        ws.send(msg.SerializeToString())
    session_id = None
    while session_id is None:
        fwd = ForwardMsg()
        fwd.ParseFromString(ws.recv(timeout=timeout))
        if fwd.WhichOneof("type") == "new_session":
            session_id = fwd.new_session.initialize.session_id
        if not run_script and session_id is None:
            break
    return ws, session_id


def drain_until_finished(ws, timeout: float = 30.0) -> list[ForwardMsg]:
    out = []
    while True:
        fwd = ForwardMsg()
        fwd.ParseFromString(ws.recv(timeout=timeout))
        out.append(fwd)
        if fwd.WhichOneof("type") == "script_finished":
            return out


def put_upload(url: str, session_id: str, size: int, *, chunk: int = 1 << 20, file_id: str | None = None) -> int:
    """PUT ``size`` random-ish bytes as one multipart file; returns the HTTP status (0: the server
    closed the connection while we were still sending, i.e. it refused without reading)."""
    token = generate_xsrf_token_string()
    parsed = urlparse(url)
    boundary = "nyx" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        conn.putrequest("PUT", f"/_stcore/upload_file/{session_id}/{file_id or secrets.token_hex(8)}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.putheader("X-Xsrftoken", token)
        conn.putheader("Cookie", f"_streamlit_xsrf={token}")
        conn.endheaders()
        block = os.urandom(chunk)
        try:
            conn.send(head)
            left = size
            while left > 0:
                conn.send(block[: min(chunk, left)])
                left -= chunk
            conn.send(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return conn.getresponse().status
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            return 0
    finally:
        conn.close()


def get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def widget_ids(msgs: list[ForwardMsg]) -> dict[str, str]:
    """label -> widget id of the text inputs and buttons a run drew."""
    out: dict[str, str] = {}
    for m in msgs:
        if m.WhichOneof("type") != "delta" or m.delta.WhichOneof("type") != "new_element":
            continue
        el = m.delta.new_element
        kind = el.WhichOneof("type")
        if kind in ("text_input", "button"):
            w = getattr(el, kind)
            out[w.label] = w.id
    return out


def rerun(ws, *, widgets: list | None = None, page_name: str = "") -> list[ForwardMsg]:
    msg = BackMsg()
    msg.rerun_script.query_string = ""
    msg.rerun_script.page_name = page_name
    for w in widgets or []:
        msg.rerun_script.widget_states.widgets.append(w)
    ws.send(msg.SerializeToString())
    return drain_until_finished(ws)


def sign_in(ws, first_run: list[ForwardMsg], password: str) -> list[ForwardMsg]:
    """Fill the sign-in form and press Sign in, as the browser does; returns the next run's messages."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    ids = widget_ids(first_run)
    text, button = WidgetState(), WidgetState()
    text.id, text.string_value = ids["Password"], password
    button.id, button.trigger_value = ids["Sign in"], True
    msgs = rerun(ws, widgets=[text, button])
    # st.rerun() after a good password: the app sends a second run.
    if not any(m.WhichOneof("type") == "navigation" and len(m.navigation.app_pages) > 1 for m in msgs):
        msgs = drain_until_finished(ws)
    return msgs
