"""Models: what is in workspace/models (kind, family, size, precision, hash, source), downloads
from the Hub / Civitai / a URL as jobs with live progress, the built-in catalogue of base models,
and publishing a run or a dataset to the Hugging Face Hub."""
import streamlit as st

from nyx_core.jobs import JobManager
from nyx_ui import models_view as views
from nyx_ui.context import get_settings, get_workspace

st.title("Models")
ws = get_workspace()
jm = JobManager(ws, get_settings())
views.flash()
views.jobs_panel(jm)

publishing = views.PUBLISH_KEY in st.session_state  # arrived from the Monitor's "Publish this run"
lib, get, pub = st.tabs(["Library", "Get models", "Publish to Hugging Face"],
                        default="Publish to Hugging Face" if publishing else None)
with lib:
    views.library(ws, jm)
with get:
    views.download_form(ws, jm)
    st.subheader("Catalogue")
    st.caption("The usual base models per family, with the encoders and autoencoder each needs. "
               "One click fetches the whole set into workspace/models.")
    views.catalogue(ws, jm)
with pub:
    views.publish_form(ws, jm)
