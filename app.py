"""Nyx Trainer: `streamlit run app.py`. The shell only: access gate, then navigation."""
import streamlit as st

from nyx_ui.access import blocking_view

st.set_page_config(page_title="Nyx Trainer", page_icon="🌙", layout="wide")

PAGES = {
    "Dataset": [st.Page("pages/datasets.py", title="Datasets", icon="🖼️", url_path="datasets")],
    "Training": [
        st.Page("pages/training.py", title="Training setup", icon="⚙️", url_path="training"),
        st.Page("pages/monitor.py", title="Monitor", icon="📈", url_path="monitor"),
        st.Page("pages/calculator.py", title="Step calculator", icon="🧮", url_path="calculator"),
    ],
    "Files": [st.Page("pages/files.py", title="Files", icon="📁", url_path="files", default=True)],
    "Settings": [st.Page("pages/settings.py", title="Settings", icon="🔧", url_path="settings")],
}

blocked = blocking_view()
if blocked is not None:
    # Only the sign-in (or "set a password") view exists until the visitor is let in.
    st.navigation([st.Page(blocked, title="Nyx Trainer", url_path="signin")], position="hidden").run()
else:
    st.navigation(PAGES).run()
