"""Nyx Trainer behind its HTTP gate from the very first request: `streamlit run serve.py`.

Same app as `streamlit run app.py`, but the gate in nyx_ui/http_gate.py (uploads refused until
signed in, /_stcore/metrics not served, foreign Host/Origin or proxy headers refused without a
password) is Starlette middleware here, so it is active before any page has run. Use this on
anything reachable from a network (pods, Docker).
"""
import streamlit as st
from starlette.middleware import Middleware

from nyx_ui.http_gate import NyxGate

app = st.App("app.py", middleware=[Middleware(NyxGate)])
