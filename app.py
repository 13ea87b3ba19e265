"""Nyx Trainer: `streamlit run app.py`. The shell only: access gate, then navigation."""
import streamlit as st

from nyx_ui import http_gate, warmup
from nyx_ui.access import blocking_view, sign_out_control

# Uploads, /_stcore/metrics and foreign hosts are checked below Streamlit (see nyx_ui/http_gate.py).
http_gate.install()

st.set_page_config(page_title="Nyx Trainer", page_icon=":material/dark_mode:", layout="wide")

# Material icons, not emoji: a pod's browser may have no emoji font.
PAGES = {
    "": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],  # served at /
    "Dataset": [st.Page("pages/datasets.py", title="Datasets", icon=":material/photo_library:", url_path="datasets")],
    "Models": [st.Page("pages/models.py", title="Models", icon=":material/deployed_code:", url_path="models")],
    "Training": [
        st.Page("pages/training.py", title="Training setup", icon=":material/tune:", url_path="training"),
        st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:", url_path="monitor"),
        st.Page("pages/calculator.py", title="Step calculator", icon=":material/calculate:", url_path="calculator"),
    ],
    "Tools": [st.Page("pages/tools.py", title="LoRA tools", icon=":material/construction:", url_path="tools")],
    "Files": [st.Page("pages/files.py", title="Files", icon=":material/folder:", url_path="files")],
    "Settings": [st.Page("pages/settings.py", title="Settings", icon=":material/settings:", url_path="settings")],
}

blocked = blocking_view()
if blocked is not None:
    # Only the sign-in (or "set a password") view exists until the visitor is let in.
    st.navigation([st.Page(blocked, title="Nyx Trainer", url_path="signin")], position="hidden").run()
else:
    sign_out_control()
    page = st.navigation(PAGES)
    try:
        with warmup.page_running():  # the warm-up below steps aside while any page runs
            page.run()
    finally:
        # once per server, after this page's script (never competing with it for the CPU): the
        # other pages' imports and the workspace's first scans load while this page is read
        warmup.start()
