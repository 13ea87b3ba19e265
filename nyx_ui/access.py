"""The gate in front of every page: a sign-in form when a password is set, and a refusal page
when the server listens beyond localhost (or is reached through a proxy/tunnel) with no
password at all. Failed sign-ins are throttled per client address and for the whole server
(``nyx_core.auth.GUARD``), whatever session they come from."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from nyx_core.auth import GUARD, is_loopback
from nyx_ui import http_gate
from nyx_ui.context import get_settings


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def _client_address() -> str:
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context
        ip = None
    return ip if isinstance(ip, str) and ip else "?"  # (AppTest hands out a mock: one shared key)


def _proxy_reason() -> str | None:
    try:
        headers = {k.lower().encode("latin-1"): v.encode("latin-1", "replace") for k, v in st.context.headers.items()}
    except Exception:  # noqa: BLE001 - no request context (AppTest)
        return None
    return http_gate.foreign_reason(headers)


def blocking_view() -> Callable[[], None] | None:
    """None when the visitor may see the app; otherwise the view to show instead of it."""
    settings = get_settings()
    view: Callable[[], None] | None
    if not settings.has_password:
        if not is_loopback(st.get_option("server.address")):
            view = refuse_view
        elif _proxy_reason():
            view = refuse_proxy_view
        else:
            view = None
    else:
        view = None if st.session_state.get("nyx_authenticated") else login_view
    # Uploads follow the gate: a session that now meets a form (a password was just set) loses them.
    (http_gate.allow_session if view is None else http_gate.forget_session)(_session_id())
    return view


def gate() -> bool:
    """Draw the blocking view, if any, in place; True when the app may be shown."""
    view = blocking_view()
    if view is None:
        return True
    view()
    return False


def refuse_view() -> None:
    address = st.get_option("server.address")
    st.title("Set a password first")
    st.error(
        f"Nyx is listening on `{address or 'every interface'}`, beyond this machine, and no password is set. "
        "Anyone who can reach this port could read and delete your files."
    )
    _how_to_set()


def refuse_proxy_view() -> None:
    st.title("Set a password first")
    st.error(f"Nyx has no password, and this page was not opened from this machine: {_proxy_reason()}. "
             "A tunnel or proxy in front of Nyx makes it reachable by others.")
    _how_to_set()


def _how_to_set() -> None:
    st.markdown(
        "Set one and restart:\n\n"
        "```bash\nexport NYX_PASSWORD='a long passphrase'\nstreamlit run app.py\n```\n\n"
        "or `nyx settings password` in a shell (stored as a salted hash in `settings.toml`). "
        "Or bind to localhost only (`--server.address 127.0.0.1`) and use an SSH tunnel."
    )


def login_view() -> None:
    settings = get_settings()
    address = _client_address()
    st.title("Nyx Trainer")
    with st.form("login"):
        given = st.text_input("Password", type="password", autocomplete="current-password")
        ok = st.form_submit_button("Sign in")
    if ok:
        wait = GUARD.wait_s(address)
        if wait > 0:
            # No guess is checked while a wait runs, whichever session or tab it comes from.
            st.error(f"Too many failed sign-ins; try again in {wait:.0f} s.")
            return
        if settings.check_password(given):
            GUARD.success(address)
            st.session_state["nyx_authenticated"] = True
            st.rerun()
        wait = GUARD.failure(address)
        st.error("Wrong password." + (f" Wait {wait:.0f} s before the next try." if wait > 0 else ""))


def sign_out() -> None:
    st.session_state.pop("nyx_authenticated", None)
    http_gate.forget_session(_session_id())


def sign_out_control() -> None:
    """A sign-out button in the sidebar, only when there is a password to sign in with."""
    if get_settings().has_password and st.session_state.get("nyx_authenticated"):
        if st.sidebar.button("Sign out", icon=":material/logout:"):
            sign_out()
            st.rerun()
