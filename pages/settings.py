"""Settings page: where sd-scripts lives, its Python, tokens (masked), password, webhook."""
import os
from pathlib import Path

import streamlit as st

from nyx_core.settings import Secret
from nyx_ui import doctor_view
from nyx_ui.context import get_settings, get_workspace

ws = get_workspace()
settings = get_settings()

st.title("Settings")
st.caption(f"Workspace: `{ws.root}` (set `NYX_WORKSPACE` to move it). Environment variables override what is saved here.")

found, why = settings.sd_scripts_status()
if found:
    st.success(f"sd-scripts is ready: {why.removeprefix('sd-scripts ')}.")
else:
    st.warning(f"sd-scripts is not ready: {why}. Training needs it; everything else works without it.")
flash = st.session_state.pop("settings_flash", None)
if flash:
    st.success(flash)


def _env(var: str) -> dict:
    """A box whose value comes from the environment: shown, but editing it here would change nothing."""
    if os.environ.get(var):
        return {"disabled": True, "help": f"Set by `{var}` in the environment, which wins over what is saved here."}
    return {}


with st.form("settings"):
    sd_dir = st.text_input("sd-scripts folder", value=str(settings.sd_scripts_dir), **_env("NYX_SD_SCRIPTS"))
    sd_py = st.text_input(
        "Python for sd-scripts (its own venv)",
        value=str(settings.sd_scripts_python or ""),
        placeholder=str(Path(sd_dir) / "venv" / "bin" / "python"),
        **_env("NYX_SD_SCRIPTS_PYTHON"),
    )
    hf = st.text_input("Hugging Face token", type="password", placeholder=settings.hf_token.masked() or "not set",
                       **_env("HF_TOKEN"))
    civ = st.text_input("Civitai token", type="password", placeholder=settings.civitai_token.masked() or "not set",
                        **_env("CIVITAI_TOKEN"))
    pw = st.text_input("Dashboard password", type="password", placeholder=settings.password.masked() or "not set",
                       **_env("NYX_PASSWORD"))
    hook = st.text_input("Webhook URL for 'run finished' notifications", value=settings.webhook_url,
                         **_env("NYX_WEBHOOK_URL"))
    st.caption("Leave a token or password box empty to keep what is saved.")
    saved = st.form_submit_button("Save settings", type="primary")

if saved:
    settings.sd_scripts_dir = Path(sd_dir).expanduser()
    settings.sd_scripts_python = Path(sd_py).expanduser() if sd_py.strip() else None
    # An empty secret box means "keep what is there", so saving never wipes a token by accident.
    if hf:
        settings.hf_token = Secret(hf)
    if civ:
        settings.civitai_token = Secret(civ)
    if pw:
        settings.password = Secret(pw)
    settings.webhook_url = hook.strip()
    path = settings.save(ws.root)
    # rerun so the sd-scripts status above reflects what was just saved
    st.session_state["settings_flash"] = f"Saved to `{ws.relative(path)}`."
    st.rerun()

st.subheader("System")
st.caption("What training needs on this machine, and the fix for anything missing (also `nyx doctor`).")
checks = doctor_view.quick(ws, settings)
if st.button("Check sd-scripts' Python (torch, CUDA, extras, train_network.py --help)", key="doctor_deep"):
    with st.spinner("Running sd-scripts' Python… (torch takes a while to load)"):
        st.session_state["doctor_deep_checks"] = doctor_view.deep(settings)
checks += st.session_state.get("doctor_deep_checks", [])
doctor_view.show(checks)
