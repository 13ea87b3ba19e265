"""The gate in front of every page: a login form when a password is set, and a refusal page
when the server listens beyond localhost with no password at all."""
from __future__ import annotations

import time
from typing import Callable

import streamlit as st

from nyx_core.auth import LoginThrottle, is_loopback, password_matches
from nyx_ui.context import get_settings


def blocking_view() -> Callable[[], None] | None:
    """None when the visitor may see the app; otherwise the view to show instead of it."""
    password = get_settings().password
    if not password:
        return None if is_loopback(st.get_option("server.address")) else refuse_view
    if st.session_state.get("nyx_authenticated"):
        return None
    return login_view


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
    st.markdown(
        "Set one and restart:\n\n"
        "```bash\nexport NYX_PASSWORD='a long passphrase'\nstreamlit run app.py\n```\n\n"
        "or add `password = \"…\"` to `settings.toml` in the workspace. "
        "Or bind to localhost only (`--server.address 127.0.0.1`) and use an SSH tunnel."
    )


def login_view() -> None:
    password = get_settings().password
    throttle: LoginThrottle = st.session_state.setdefault("nyx_login_throttle", LoginThrottle())
    st.title("Nyx Trainer")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        ok = st.form_submit_button("Sign in")
    if ok:
        if password_matches(given, password.reveal()):
            throttle.reset()
            st.session_state["nyx_authenticated"] = True
            st.rerun()
        time.sleep(throttle.record_failure())
        st.error("Wrong password.")
