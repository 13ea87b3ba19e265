"""Streamlit pieces of the Files page: state, callbacks and the widgets that draw each part.

All file logic is in ``nyx_core.files``; this module only moves values between widgets and the
``FileManager``. Actions run as widget callbacks, before the script redraws, so the listing a
user sees after a click already reflects it. Messages survive the redraw in ``files_flash``.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core import thumbnails, trash
from nyx_core.errors import NyxError
from nyx_core.files import ClashError, FileEntry, FileManager, NotTextError
from nyx_core.files.present import (breadcrumb, display_folder, is_training_config, join, language_for,
                                    parent_of, table_rows)
from nyx_core.fsutil import human_size
from nyx_ui.context import get_workspace

CLASH_CHOICES = {"Ask me": "ask", "Keep both": "keep_both", "Replace": "replace", "Skip": "skip"}
TREE_CHILD_LIMIT = 150
ST = st.session_state
INDENT = "\u2003"  # an em space: Streamlit strips leading ASCII spaces from button labels


def manager() -> FileManager:
    return FileManager(get_workspace())


# State ------------------------------------------------------------------------------------
def init_state() -> None:
    ST.setdefault("files_cwd", "")
    ST.setdefault("files_open", {""})
    ST.setdefault("files_flash", [])
    ST.setdefault("files_version", 0)  # bumped on every change, so the grid remounts with fresh rows
    ST.setdefault("files_upload_n", 0)
    ST.setdefault("files_upload_done", set())
    ST.setdefault("files_grid_sel", ())
    ST.setdefault("files_select", [])


def flash(level: str, message: str, slot: str = "actions") -> None:
    """Remember an action's outcome for the next run, to be shown in ``slot``: the part of the
    page where the user clicked (actions, preview, new_folder, upload, trash)."""
    ST["files_flash"].append((level, message, slot))


_TOAST_ICON = {"error": ":material/error:", "warning": ":material/warning:", "success": ":material/check_circle:",
               "info": ":material/info:"}


def show_flash(slot: str | None = None) -> None:
    """Show the outcomes meant for ``slot`` right there, next to the buttons that caused them
    (on a long page or a phone the top of the page is out of sight), plus a toast. ``None`` shows
    whatever no slot on this run took (the page calls it last)."""
    keep = []
    for level, message, where in ST["files_flash"]:
        if slot is not None and where != slot:
            keep.append((level, message, where))
            continue
        getattr(st, level)(message)
        st.toast(message, icon=_TOAST_ICON.get(level))
    ST["files_flash"] = keep


def changed() -> None:
    ST["files_version"] += 1
    # The grid remounts empty under its new key; forget its old ticks so they don't clear the selection.
    ST["files_grid_sel"] = ()


def selected_paths() -> list[str]:
    return [join(ST["files_cwd"], n) for n in ST.get("files_select", [])]


def go(path: str, select: str | None = None) -> None:
    """Open a folder (callback-safe): clears the selection and any pending confirmation."""
    ST["files_cwd"] = path
    ST["files_select"] = [select] if select else []
    ST["files_grid_sel"] = ()
    ST.pop("files_confirm_delete", None)
    parts = path.split("/") if path else []
    ST["files_open"] |= {"/".join(parts[:i]) for i in range(len(parts) + 1)}


def _run(action, success=None, clash_hint: str = "", slot: str = "actions") -> bool:  # noqa: ANN001
    """Run a file operation; a NyxError becomes a red message instead of a traceback."""
    try:
        result = action()
    except ClashError as exc:
        flash("warning", f"{exc}{clash_hint}", slot)
        return False
    except NyxError as exc:
        flash("error", str(exc), slot)
        return False
    if success:
        flash("success", success(result) if callable(success) else success, slot)
    changed()
    return True


# Callbacks --------------------------------------------------------------------------------
def cb_tree(path: str) -> None:
    if path in ST["files_open"] and ST["files_cwd"] == path and path:
        ST["files_open"].discard(path)
    else:
        go(path)


def cb_mkdir() -> None:
    name = ST.get("files_new_folder", "").strip()
    if _run(lambda: manager().mkdir(ST["files_cwd"], name), f"Created folder {name}", slot="new_folder"):
        ST["files_new_folder"] = ""


def cb_rename(path: str) -> None:
    new = ST.get(f"files_new_name:{path}", "").strip()
    if _run(lambda: manager().rename(path, new), f"Renamed to {new}"):
        ST["files_select"] = [new]


def cb_transfer(copy: bool) -> None:
    target = ST.get("files_target", "").strip().strip("/")
    policy = CLASH_CHOICES[ST.get("files_clash_policy", "Ask me")]
    fm = manager()
    op = fm.copy if copy else fm.move
    verb = "Copied" if copy else "Moved"
    if _run(lambda: op(selected_paths(), target, on_clash=policy),
            lambda done: f"{verb} {len(done)} item(s) to {display_folder(target)}",
            clash_hint=" — choose Keep both, Replace or Skip under 'If the name exists'."):
        if not copy:
            ST["files_select"] = []


def cb_ask_delete() -> None:
    ST["files_confirm_delete"] = selected_paths()


def cb_delete() -> None:
    paths = ST.pop("files_confirm_delete", [])
    if _run(lambda: manager().delete(paths), f"Moved {len(paths)} item(s) to the trash (restore it below)"):
        ST["files_select"] = []


def cb_cancel_delete() -> None:
    ST.pop("files_confirm_delete", None)


def cb_restore(entry_id: str) -> None:
    ws = get_workspace()
    _run(lambda: manager().rel(trash.restore(ws, entry_id)), lambda rel: f"Restored {rel}", slot="trash")


def cb_empty_trash() -> None:
    ST.pop("files_confirm_empty", None)
    _run(lambda: trash.empty_trash(get_workspace()),
         lambda n: f"Emptied the trash ({n} item(s) deleted for good)", slot="trash")


def cb_save_text(path: str) -> None:
    text = ST.get(f"files_text:{path}", "")
    _run(lambda: manager().save_text(path, text), f"Saved {Path(path).name}", slot="preview")


def cb_add_to_dataset(path: str) -> None:
    target = ST.get("files_dataset_target")
    if not target:
        flash("warning", "Pick a dataset folder first.", "preview")
        return
    _run(lambda: manager().copy([path], target, on_clash="keep_both"), f"Added to {target}", slot="preview")


def cb_open_in_training(path: str) -> None:
    ST["training_config_path"] = path
    ST["files_switch_to_training"] = True


# Parts --------------------------------------------------------------------------------------
def folder_tree(fm: FileManager) -> None:
    """A lazy tree: only opened folders are listed."""
    st.caption("Folders")
    with st.container(gap=None):
        _tree_node(fm, "", "workspace", 0)


def _tree_node(fm: FileManager, path: str, label: str, depth: int) -> None:
    is_open = path in ST["files_open"]
    current = path == ST["files_cwd"]
    arrow = "▾" if is_open else "▸"
    st.button(f"{INDENT * depth}{arrow} {label}", key=f"tree:{path}", on_click=cb_tree, args=(path,),
              type="primary" if current else "tertiary", help=display_folder(path))
    if not is_open:
        return
    try:
        children = fm.subfolders(path)
    except NyxError:
        return
    for child in children[:TREE_CHILD_LIMIT]:
        _tree_node(fm, child, child.rsplit("/", 1)[-1], depth + 1)
    if len(children) > TREE_CHILD_LIMIT:
        st.caption(f"{INDENT * (depth + 1)}… {len(children) - TREE_CHILD_LIMIT} more (open the folder)")


def breadcrumbs() -> None:
    # A wrapping row, not columns: stays one line on a phone until it has to wrap.
    with st.container(horizontal=True, gap="xxsmall", vertical_alignment="center"):
        for i, (label, path) in enumerate(breadcrumb(ST["files_cwd"])):
            if i:
                st.markdown("›", width="content")
            st.button(label, key=f"crumb:{path}", on_click=go, args=(path,), type="tertiary",
                      icon=":material/home:" if not path else None,
                      disabled=path == ST["files_cwd"] and bool(path))


def search_box(fm: FileManager) -> None:
    query = st.text_input("Search by name", key="files_search", placeholder="e.g. cat or *.safetensors",
                          help="Searches this folder and everything below it (not the trash).")
    if not query.strip():
        return
    result = fm.search(query, root=ST["files_cwd"])
    note = f" (first {len(result.hits)} shown; narrow the search)" if result.truncated else ""
    st.caption(f"{len(result.hits)} match(es) under {display_folder(ST['files_cwd'])}{note}")
    if not result.hits:
        return
    st.dataframe([{"Name": h.name, "Folder": display_folder(h.folder),
                   "Size": "" if h.is_dir else human_size(h.size)} for h in result.hits],
                 hide_index=True, width="stretch", height=min(300, 38 + 35 * len(result.hits)))
    hits = {h.path: h for h in result.hits}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Search result", list(hits), key="files_search_pick")
    if pick:
        hit = hits[pick]
        c2.button("Go to its folder", key="files_search_go", on_click=go, args=(hit.folder, hit.name))


def file_table(entries: list[FileEntry]) -> list[str]:
    """The sortable grid; returns the names selected in it (empty where the grid is not drawn)."""
    if not entries:
        st.info("This folder is empty. Upload files or create a folder below.")
        return []
    import pandas as pd
    from st_aggrid import AgGrid, GridOptionsBuilder, JsCode

    df = pd.DataFrame(table_rows(entries))
    gb = GridOptionsBuilder.from_dataframe(df)
    gb.configure_default_column(sortable=True, resizable=True, filter=False)
    gb.configure_column("Name", flex=3, minWidth=180)
    gb.configure_column("Size", flex=1, minWidth=80, type=["rightAligned"],
                        comparator=JsCode("function(a, b, na, nb) { return na.data.bytes - nb.data.bytes; }"))
    gb.configure_column("Modified", flex=1, minWidth=130)
    gb.configure_column("Kind", flex=1, minWidth=70)
    gb.configure_column("bytes", hide=True)
    gb.configure_column("name", hide=True)
    gb.configure_grid_options(rowHeight=32, suppressCellFocus=True)
    options = gb.build()
    # AG Grid 32+ selection API: tick boxes, and a plain click on a row toggles it too.
    options["rowSelection"] = {"mode": "multiRow", "checkboxes": True, "headerCheckbox": True,
                               "enableClickSelection": True, "enableSelectionWithoutKeys": True}
    options.pop("autoSizeStrategy", None)  # it overrides the flex widths above
    height = min(460, 48 + 32 * len(entries))
    grid = AgGrid(df, gridOptions=options, height=height, theme="streamlit", allow_unsafe_jscode=True,
                  update_on=["selectionChanged"], show_search=False, show_download_button=False,
                  key=f"files_grid:{ST['files_cwd']}:{ST['files_version']}")
    rows = grid.selected_rows
    if rows is None or len(rows) == 0:
        return []
    return [str(n) for n in rows["name"]]


def sync_selection(grid_names: list[str], names: list[str]) -> None:
    """The grid and the 'Selected items' box share one selection; the last one changed wins."""
    if tuple(grid_names) != ST["files_grid_sel"]:
        ST["files_grid_sel"] = tuple(grid_names)
        ST["files_select"] = list(grid_names)
    ST["files_select"] = [n for n in ST.get("files_select", []) if n in names]


def selection_box(entries: list[FileEntry]) -> list[FileEntry]:
    names = [e.name for e in entries]
    chosen = st.multiselect("Selected items", names, key="files_select",
                            help="Tick rows in the table, or pick names here (keyboard friendly).")
    by_name = {e.name: e for e in entries}
    return [by_name[n] for n in chosen if n in by_name]


def actions(fm: FileManager, selection: list[FileEntry]) -> None:
    show_flash("actions")
    if not selection:
        return
    if len(selection) == 1:
        one = selection[0]
        if one.is_dir:
            st.button(f"Open {one.name}", key="files_open_dir", on_click=go, args=(one.path,), icon=":material/folder_open:")
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.text_input("New name", value=one.name, key=f"files_new_name:{one.path}")
        c2.button("Rename", key="files_rename", on_click=cb_rename, args=(one.path,))
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    c1.text_input("Target folder", key="files_target", placeholder="e.g. datasets/my set",
                  help="A folder inside the workspace ('' = the workspace root).")
    c2.button("Move", key="files_move", on_click=cb_transfer, args=(False,), icon=":material/drive_file_move:",
              help="Move the selection into the target folder")
    c3.button("Copy", key="files_copy", on_click=cb_transfer, args=(True,), icon=":material/content_copy:",
              help="Copy the selection into the target folder")
    st.radio("If the name exists", list(CLASH_CHOICES), key="files_clash_policy", horizontal=True)
    c1, c2 = st.columns(2)
    c1.button(f"Delete ({len(selection)})", key="files_delete", on_click=cb_ask_delete, icon=":material/delete:")
    if len(selection) == 1:
        one = selection[0]
        if one.is_dir:
            c2.download_button(f"Download {one.name}.zip", icon=":material/download:", data=_zip_loader(fm, one.path),
                               file_name=f"{one.name}.zip", mime="application/zip", key="files_download",
                               on_click="ignore")
        else:
            path = fm.open_file(one.path)
            c2.download_button(f"Download {one.name}", icon=":material/download:", data=lambda: path.read_bytes(), file_name=one.name,
                               key="files_download", on_click="ignore")
    if ST.get("files_confirm_delete"):
        pending = ST["files_confirm_delete"]
        st.warning(f"Move {len(pending)} item(s) to the trash? " + ", ".join(Path(p).name for p in pending[:10]))
        c1, c2 = st.columns(2)
        c1.button("Yes, move to trash", key="files_delete_yes", on_click=cb_delete, type="primary")
        c2.button("Cancel", key="files_delete_no", on_click=cb_cancel_delete)


def _zip_loader(fm: FileManager, path: str):  # noqa: ANN202
    # Deferred: the zip is built only when the button is clicked, streamed into ws.cache on disk.
    def load() -> bytes:
        out = fm.zip_to_file(path)
        try:
            return out.read_bytes()  # Streamlit serves downloads from memory; see docs/files.md
        finally:
            out.unlink(missing_ok=True)
    return load


def new_folder() -> None:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_input("New folder name", key="files_new_folder")
    c2.button("Create folder", key="files_mkdir", on_click=cb_mkdir)
    show_flash("new_folder")


def uploader(fm: FileManager) -> None:
    show_flash("upload")
    cwd = ST["files_cwd"]
    files = st.file_uploader(f"Upload files to {display_folder(cwd)}", accept_multiple_files=True,
                             key=f"files_upload_{ST['files_upload_n']}")
    if not files:
        return
    done: set[str] = ST["files_upload_done"]
    clashes = []
    saved = 0
    for f in files:
        if f.file_id in done:
            continue
        try:
            fm.save_upload(cwd, f.name, f, on_clash="ask")
            saved += 1
            done.add(f.file_id)
        except ClashError:
            clashes.append(f)
        except NyxError as exc:
            flash("error", f"{f.name}: {exc}", "upload")
            done.add(f.file_id)
    if saved:
        changed()
        flash("success", f"Uploaded {saved} file(s) to {display_folder(cwd)}", "upload")
    if not clashes:
        _reset_uploader()
        st.rerun()
    st.warning(f"{len(clashes)} file(s) already exist in {display_folder(cwd)}. What should happen?")
    for f in clashes:
        st.radio(f"“{f.name}” already exists", ["Keep both", "Replace", "Skip"], key=f"files_clash:{f.file_id}",
                 horizontal=True)
    if st.button("Apply to uploads", key="files_clash_apply", type="primary"):
        for f in clashes:
            choice = CLASH_CHOICES[ST.get(f"files_clash:{f.file_id}", "Keep both")]
            try:
                out = fm.save_upload(cwd, f.name, f, on_clash=choice)
                flash("success" if out else "info", f"{f.name}: {'saved as ' + out.name if out else 'skipped'}", "upload")
            except NyxError as exc:
                flash("error", f"{f.name}: {exc}", "upload")
            done.add(f.file_id)
        changed()
        _reset_uploader()
        st.rerun()


def _reset_uploader() -> None:
    ST["files_upload_n"] += 1
    ST["files_upload_done"] = set()


def preview(fm: FileManager, entry: FileEntry) -> None:
    st.subheader(entry.name)
    st.caption(f"{entry.kind} · {human_size(entry.size)} · {display_folder(entry.folder)}")
    if entry.kind == "image":
        _image_preview(fm, entry)
    elif entry.kind in ("text", "config") or entry.size < 64 * 1024:
        _text_preview(fm, entry)
    else:
        st.info("No preview for this kind of file. Download it instead.")


def _image_preview(fm: FileManager, entry: FileEntry) -> None:
    ws = fm.ws
    try:
        path = ws.resolve(entry.path, must_exist=True)
        big = st.toggle("Full size", key=f"files_full:{entry.path}")
        st.image(str(path) if big else str(thumbnails.thumbnail(ws, path, 384)), caption=entry.name)
    except NyxError as exc:
        st.warning(str(exc))
        return
    targets = _dataset_folders(fm)
    if targets:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.selectbox("Add to dataset…", targets, key="files_dataset_target", format_func=display_folder)
        c2.button("Add to dataset", key="files_add_dataset", on_click=cb_add_to_dataset, args=(entry.path,))
    else:
        st.caption("Create a folder under datasets/ to add images to a dataset from here.")


def _dataset_folders(fm: FileManager) -> list[str]:
    out = []
    try:
        for ds in fm.subfolders("datasets"):
            out.append(ds)
            out.extend(fm.subfolders(ds))
    except NyxError:
        pass
    return out


def _text_preview(fm: FileManager, entry: FileEntry) -> None:
    try:
        text = fm.read_text(entry.path)
    except NotTextError as exc:
        st.info(str(exc))
        return
    except NyxError as exc:
        st.warning(str(exc))
        return
    if is_training_config(entry.path):
        st.button("Open in Training", icon=":material/tune:", key="files_open_training", on_click=cb_open_in_training,
                  args=(entry.path,))
    if st.toggle("Edit", key=f"files_edit:{entry.path}"):
        st.text_area(f"Edit {entry.name}", value=text, height=420, key=f"files_text:{entry.path}")
        st.button("Save", icon=":material/save:", key="files_save", on_click=cb_save_text, args=(entry.path,), type="primary",
                  help="TOML, JSON and YAML are checked first; an invalid file is not saved.")
    else:
        st.code(text, language=language_for(entry.name) or "text", line_numbers=True)


def trash_section() -> None:
    show_flash("trash")
    entries = trash.list_trash(get_workspace())
    with st.expander(f"Trash ({len(entries)})", icon=":material/delete:", expanded=bool(ST.get("files_trash_open"))):
        if not entries:
            st.caption("The trash is empty. Deleted items land here and can be restored.")
            return
        for e in entries[:100]:
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.markdown(f"`{e.original}{'/' if e.is_dir else ''}` · {human_size(e.size)} · "
                        f"deleted {_ago(e.deleted_at)}")
            c2.button("Restore", key=f"restore:{e.id}", on_click=cb_restore, args=(e.id,), icon=":material/restore_from_trash:")
        if len(entries) > 100:
            st.caption(f"… and {len(entries) - 100} older item(s) (see `nyx files trash`)")
        if ST.get("files_confirm_empty"):
            st.warning(f"Delete all {len(entries)} item(s) in the trash for good? This cannot be undone.")
            c1, c2 = st.columns(2)
            c1.button("Yes, empty the trash", key="files_empty_yes", on_click=cb_empty_trash, type="primary")
            c2.button("Keep them", key="files_empty_no", on_click=lambda: ST.pop("files_confirm_empty", None))
        else:
            st.button("Empty trash…", key="files_empty",
                      on_click=lambda: ST.update(files_confirm_empty=True, files_trash_open=True))


def _ago(ts: float) -> str:
    import time

    s = max(0, time.time() - ts)
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= n:
            k = int(s // n)
            return f"{k} {unit}{'s' if k > 1 else ''} ago"
    return "just now"


__all__ = ["actions", "breadcrumbs", "file_table", "folder_tree", "init_state", "manager", "new_folder",
           "parent_of", "preview", "search_box", "selection_box", "show_flash", "sync_selection",
           "trash_section", "uploader"]
