"""Home: where this workspace stands and what to do next, in the order a LoRA gets made."""
import streamlit as st

from nyx_core.datasets.layout import list_datasets
from nyx_core.fsutil import human_size
from nyx_core.jobs import JobManager
from nyx_core.system import disk_free, gpu_summary
from nyx_ui.context import get_settings, get_workspace

st.title("Nyx Trainer")  # first: the title shows before anything reads the workspace
ws = get_workspace()
settings = get_settings()
st.caption(f"Workspace `{ws.root}` · {human_size(disk_free(ws.root))} free")

found, why = settings.sd_scripts_status()
if not found:
    st.warning("sd-scripts is not ready. Training needs it; everything else works without it.",
               icon=":material/warning:")
    st.page_link("pages/settings.py", label="Set up sd-scripts in Settings", icon=":material/settings:")

gpus = gpu_summary()
st.caption(" · ".join(f"GPU {g['index']}: {g['name']}" for g in gpus) if gpus else "No NVIDIA GPU detected.")

datasets = list_datasets(ws)
jobs = JobManager(ws, settings)
active = jobs.active()
configs = sorted(ws.configs.glob("*.toml"))

st.subheader("1 · Dataset")
if datasets:
    st.write(", ".join(f"**{d.name}** ({d.image_count} images)" for d in datasets[:8]))
else:
    st.write("No dataset yet: create one and upload images or a zip.")
st.page_link("pages/datasets.py", label="Open Datasets", icon=":material/photo_library:")

st.subheader("2 · Training setup")
if configs:
    names = ", ".join(f"**{c.stem}**" for c in configs[:8]) + (" …" if len(configs) > 8 else "")
    st.write(f"{len(configs)} saved config{'s' if len(configs) != 1 else ''}: {names}")
else:
    st.write("No training config yet: pick a family and a preset.")
st.page_link("pages/training.py", label="Open Training setup", icon=":material/tune:")

st.subheader("3 · Monitor")
queued = len(jobs.queued())
waiting = f" {queued} queued." if queued else ""
if active is not None:
    prog = jobs.progress(active.id)
    step = f" · step {prog.step}/{prog.total}" if prog.total else ""
    st.info(f"**{active.name}** is {active.state.value}{step}.{waiting}")
else:
    st.write(f"No run active.{waiting}")
st.page_link("pages/monitor.py", label="Open Monitor", icon=":material/monitoring:")
