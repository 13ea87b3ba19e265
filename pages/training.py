"""Training setup: pick or create a config, edit it by group, watch the step count and the
pre-flight check, then save, export the sd-scripts files, or start training."""
import streamlit as st

from nyx_ui import config_form as form
from nyx_ui import config_panels as panels
from nyx_ui.context import get_settings, get_workspace

st.title("Training setup")
ws = get_workspace()
settings = get_settings()
panels.show_flash()

path = panels.pick_config(ws)
panels.import_notes()
if path is None:
    st.info("Create a config with **New config** above (or **Import** one from sd-scripts / kohya_ss).")
    st.stop()

saved, base = panels.load_base(ws, path)
if base is None:
    st.stop()
panels.preset_picker(ws, path, saved)

summary = st.container()  # filled after the form, shown above it
data, form_errors = form.config_form(base, ws=ws)
cfg = panels.build_config(data, form_errors)
run_plan = panels.plan_for(ws, cfg)  # the dataset is read once per rerun
problems = panels.problems_for(ws, settings, cfg, form_errors, run_plan)
dirty = panels.remember_draft(path, saved, data, cfg, form_errors)

rendered = panels.try_render(ws, settings, cfg, run_plan)  # None while the config cannot be rendered

with summary:
    panels.steps_panel(ws, cfg, run_plan)
    panels.actions(ws, settings, path, cfg, saved, problems, rendered, dirty=dirty, form_errors=form_errors)
    panels.preflight_panel(problems)
    panels.preview(rendered)
