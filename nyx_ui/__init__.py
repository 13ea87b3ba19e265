"""Shared Streamlit view helpers for pages/. Only views live here; logic is in nyx_core.

Why the code below: the app keeps its pages in ``pages/`` (fixed project layout), and Streamlit
decides at server start that such an app is an old-style multipage app. The very first run in a
fresh server process then executes the page file the URL names *directly*, skipping ``app.py``
and its password gate. Every page imports ``nyx_ui``, so on that first run we switch Streamlit
to ``st.navigation`` mode and rerun: the rerun goes through ``app.py`` (gate included).
"""
from streamlit.runtime.pages_manager import PagesManager as _PagesManager

from nyx_ui import http_gate as _http_gate

# First thing on the first run of a `streamlit run app.py` server (serve.py installs it earlier):
# the HTTP gate (uploads, metrics, foreign hosts), before the rerun below.
_http_gate.install()

if _PagesManager.uses_pages_directory:
    import streamlit as _st
    from streamlit.runtime.scriptrunner import get_script_run_ctx as _ctx

    _PagesManager.uses_pages_directory = False
    if _ctx() is not None:
        _st.rerun()
