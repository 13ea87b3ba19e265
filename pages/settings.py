"""Settings page: which sd-scripts (among those Nyx found), tokens, webhook, the password.

Nothing here takes a program path as free text: a signed-in visitor could otherwise upload a
script through Files and make Nyx run it. Paths and the launcher come from the shell
(environment, ``nyx settings set``, or settings.toml edited outside Nyx).
"""
import streamlit as st

from nyx_core.auth import is_loopback
from nyx_core.settings import Secret, find_sd_scripts
from nyx_ui import doctor_view
from nyx_ui.context import get_settings, get_workspace

st.title("Settings")
ws = get_workspace()
settings = get_settings()
st.caption(f"Workspace: `{ws.root}` (set `NYX_WORKSPACE` to move it). Environment variables override what is saved here.")

flash = st.session_state.pop("settings_flash", None)
if flash:
    st.success(flash)

# sd-scripts -------------------------------------------------------------------------------------
st.subheader("sd-scripts")
found, why = settings.sd_scripts_status()
if found:
    st.success(f"sd-scripts is ready: {why.removeprefix('sd-scripts ')}.")
else:
    st.warning(f"sd-scripts is not ready: {why}. Training needs it; everything else works without it.")
if settings.origin.get("sd_scripts_dir") == "env":
    st.caption("Set by `NYX_SD_SCRIPTS` in the environment; change it there.")
else:
    envs = find_sd_scripts(settings, ws.root)
    if envs:
        labels = [f"{e.dir}  ({e.where})" for e in envs]
        current = next((i for i, e in enumerate(envs) if e.dir == settings.sd_scripts_dir.resolve()), 0)
        pick = st.selectbox("sd-scripts environments found on this machine", labels, index=current)
        if st.button("Use this sd-scripts"):
            env = envs[labels.index(pick)]
            settings.set("sd_scripts_dir", str(env.dir))
            settings.set("sd_scripts_python", str(env.python))
            settings.save(ws.root)
            st.session_state["settings_flash"] = f"Training will use sd-scripts at `{env.dir}`."
            st.rerun()
    else:
        st.info("No sd-scripts environment found on this machine.")
st.caption(
    "Another checkout, Python or launcher is set from a shell, never from this page: "
    "`NYX_SD_SCRIPTS`, `NYX_SD_SCRIPTS_PYTHON`, `NYX_LAUNCHER`, or "
    "`nyx settings set sd_scripts_dir /path/to/sd-scripts`. "
    f"Launcher now: `{settings.launcher}`."
)

# Tokens and webhook -----------------------------------------------------------------------------
st.subheader("Tokens and notifications")


def _secret_box(label: str, name: str, var: str) -> tuple[str, bool]:
    value: Secret = getattr(settings, name)
    if settings.origin.get(name) == "env":
        st.text_input(label, type="password", placeholder="set by the environment", disabled=True,
                      help=f"Set by `{var}` in the environment, which wins over what is saved here.")
        return "", False
    typed = st.text_input(label, type="password", placeholder="set" if value else "not set",
                          autocomplete="off")
    remove = st.checkbox(f"Remove the saved {label.lower()}", key=f"rm_{name}") if value else False
    return typed, remove


with st.form("settings"):
    hf, hf_rm = _secret_box("Hugging Face token", "hf_token", "HF_TOKEN")
    civ, civ_rm = _secret_box("Civitai token", "civitai_token", "CIVITAI_TOKEN")
    hook_env = settings.origin.get("webhook_url") == "env"
    hook = st.text_input("Webhook URL for 'run finished' notifications", value=settings.webhook_url,
                         disabled=hook_env, help="Set by `NYX_WEBHOOK_URL`." if hook_env else None)
    st.caption("Leave a token box empty to keep what is saved.")
    saved = st.form_submit_button("Save settings", type="primary")

if saved:
    for name, typed, remove in (("hf_token", hf, hf_rm), ("civitai_token", civ, civ_rm)):
        if remove:
            settings.set(name, "")
        elif typed:
            settings.set(name, typed)
    if not hook_env and hook.strip() != settings.webhook_url:
        settings.set("webhook_url", hook.strip())
    settings.save(ws.root)
    st.session_state["settings_flash"] = "Saved."
    st.rerun()

# Password ---------------------------------------------------------------------------------------
st.subheader("Password")
st.caption("The password is the boundary: whoever signs in can read, change and delete everything in the "
           "workspace and start training. Use a long passphrase on any pod reachable from the internet.")
if settings.origin.get("password") == "env":
    st.caption("Set by `NYX_PASSWORD` in the environment; change or unset it there.")
else:
    with st.form("password"):
        current = st.text_input("Current password", type="password", autocomplete="current-password") \
            if settings.has_password else ""
        new = st.text_input("New password", type="password", autocomplete="new-password")
        again = st.text_input("New password again", type="password", autocomplete="new-password")
        c1, c2 = st.columns(2)
        set_pw = c1.form_submit_button("Set password", type="primary")
        # Beyond localhost the app refuses to run without one, so it cannot be removed from here.
        public = not is_loopback(st.get_option("server.address"))
        clear_pw = c2.form_submit_button("Remove password", disabled=not settings.has_password or public)
    if set_pw or clear_pw:
        if settings.has_password and not settings.check_password(current):
            st.error("The current password is wrong; nothing changed.")
        elif set_pw and (not new or new != again):
            st.error("Type the same new password twice (it cannot be empty).")
        else:
            if set_pw:
                settings.set_password(new)
                # Whoever just chose the password stays signed in, on this page.
                st.session_state["nyx_authenticated"] = True
            else:
                settings.clear_password()
            settings.save(ws.root)
            st.session_state["settings_flash"] = "Password set." if set_pw else "Password removed."
            st.rerun()

st.subheader("System")
st.caption("What training needs on this machine, and the fix for anything missing (also `nyx doctor`).")
checks = doctor_view.quick(ws, settings)
if st.button("Check sd-scripts' Python (torch, CUDA, extras, train_network.py --help)", key="doctor_deep"):
    with st.spinner("Running sd-scripts' Python… (torch takes a while to load)"):
        st.session_state["doctor_deep_checks"] = doctor_view.deep(settings)
checks += st.session_state.get("doctor_deep_checks", [])
doctor_view.show(checks)
