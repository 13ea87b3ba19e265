"""Files: browse, search, upload, download, edit and tidy the workspace — for pods with no other way in."""
import streamlit as st

from nyx_core.errors import NyxError
from nyx_ui import files_view as fv

fv.init_state()
if st.session_state.pop("files_switch_to_training", False):
    st.switch_page("pages/training.py")

st.title("Files")
fm = fv.manager()

with st.sidebar:
    fv.folder_tree(fm)

fv.breadcrumbs()
try:
    entries = fm.list_dir(st.session_state["files_cwd"])
except NyxError as exc:  # the folder vanished or was renamed elsewhere: back to the root
    st.warning(f"{exc}; showing the workspace root.")
    fv.go("")
    entries = fm.list_dir("")
fv.search_box(fm)

browse, side = st.columns([3, 2], gap="large")
with browse:
    grid_names = fv.file_table(entries)
    fv.sync_selection(grid_names, [e.name for e in entries])
    selection = fv.selection_box(entries)
    fv.actions(fm, selection)
with side:
    if len(selection) == 1 and not selection[0].is_dir:
        fv.preview(fm, selection[0])
        fv.show_flash("preview")
        if selection[0].name.endswith(".safetensors"):
            from nyx_ui.lora_view import inspect_link

            inspect_link(selection[0].path)
    else:
        st.caption("Select one file to preview it here; select a folder to open it.")

st.divider()
left, right = st.columns(2, gap="large")
with left:
    fv.new_folder()
with right:
    fv.uploader(fm)

fv.trash_section()
fv.show_flash()  # outcomes whose part of the page is not drawn on this run
