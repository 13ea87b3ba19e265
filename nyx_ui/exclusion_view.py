"""Streamlit pieces for the Datasets page: excluding images from training, the excluded list with
Include back, and the undo history with an Undo button per entry.

Each action is one call into nyx_core (``datasets.exclusion``, ``caption_ops.undo``); its result is
shown next to the list it came from (``dataset_view.note``), after a rerun.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from nyx_core.datasets import caption_ops
from nyx_core.datasets.exclusion import (delete_excluded, exclude_image, exclude_images, excluded_images,
                                         include_image)
from nyx_core.datasets.layout import DatasetLayout
from nyx_core.errors import NyxError
from nyx_core.names import shown as esc
from nyx_core.workspace import Workspace
from nyx_ui import dataset_view as view

ss = st.session_state
#: rows of the excluded list per page (each has a small preview)
EXCLUDED_PAGE = 24


def exclude(ws: Workspace, layout: DatasetLayout, image: Path, slot: str = "gallery") -> bool:
    """Exclude one image (with its caption and caches); the result goes to the note ``slot``.
    Returns True when it moved (the caller reruns)."""
    try:
        e = exclude_image(ws, layout.name, image)
    except NyxError as exc:
        st.error(str(exc))
        return False
    extra = f" with {', '.join(esc(c.name) for c in e.companions)}" if e.companions else ""
    view.note(slot, "success", f"Excluded {e.name}{extra} from training. It is kept with the dataset: "
                               "*Excluded from training* below the gallery puts it back.")
    ss["ds_excl_open"] = True
    return True


def exclude_filtered(ws: Workspace, layout: DatasetLayout, images: list[Path]) -> None:
    """When the gallery's filter narrows it, one action excludes every image it shows (e.g. all
    tagged "blurry"): confirmed first, all or nothing (every clash is checked before anything moves)."""
    if not images:
        return
    with st.popover(f"Exclude these {len(images)} from training", icon=":material/visibility_off:"):
        st.caption("They move with their captions and caches to the dataset's excluded list, "
                   "where *Include back* returns them.")
        sure = st.checkbox(f"Yes, exclude the {len(images)} image(s) the filter shows", key="ds_excl_all_ok")
        if st.button("Exclude them", key="ds_excl_all", disabled=not sure):
            try:
                moved = exclude_images(ws, layout.name, images)
            except NyxError as exc:
                st.error(str(exc))
                return
            ss.pop("ds_excl_all_ok", None)
            view.note("gallery", "success", f"Excluded {len(moved)} image(s) from training. They are kept with "
                                            "the dataset: *Excluded from training* below the gallery puts them back.")
            ss["ds_excl_open"] = True
            st.rerun()


def excluded_section(ws: Workspace, layout: DatasetLayout) -> None:
    """The dataset's excluded images, each with Include back (and a concept picker when its own
    concept is gone) and a delete button. Nothing is drawn when none are excluded."""
    try:
        items = excluded_images(ws, layout.name)
    except NyxError as exc:
        st.error(str(exc))
        return
    open_ = ss.pop("ds_excl_open", False)
    if not items:
        view.show_note("excluded")
        return
    with st.expander(f"Excluded from training ({len(items)})", expanded=open_, icon=":material/visibility_off:"):
        st.caption("Kept with the dataset in `.nyx/excluded/`, which sd-scripts never reads: these images count "
                   "in no image count, step count, bucket or health check. *Include back* returns an image with "
                   "its caption and caches to its concept; a name already taken there is refused.")
        pages = max(1, -(-len(items) // EXCLUDED_PAGE))
        if ss.get("ds_excl_page", 1) > pages:
            ss["ds_excl_page"] = pages
        page_no = st.number_input(f"Page (of {pages})", 1, pages, 1, key="ds_excl_page") if pages > 1 else 1
        concepts = [c.name for c in layout.concepts]
        for e in items[(page_no - 1) * EXCLUDED_PAGE:page_no * EXCLUDED_PAGE]:
            home = e.home(layout)
            row = st.container(horizontal=True, vertical_alignment="center", key=f"ds_excl_row_{e.key}")
            try:
                from nyx_core.thumbnails import thumbnail

                row.image(str(thumbnail(ws, e.path, 64, square=True)), width=48)
            except NyxError:
                row.caption("unreadable")
            where = ("" if home is not None and esc(home.folder.name) == e.concept_folder
                     else f" → goes back to {esc(home.folder.name)} (its folder was renamed)" if home is not None
                     else " → its concept is gone: pick one")
            row.markdown(f"`{e.key}`{where}" + (f"  \n*with {', '.join(esc(c.name) for c in e.companions)}*"
                                                 if e.companions else ""))
            into = None
            if home is None and concepts:
                into = row.selectbox("Into concept", concepts, key=f"ds_incl_to_{e.key}", width=180,
                                     label_visibility="collapsed")
            if row.button("Include back", key=f"ds_incl_{e.key}", disabled=home is None and not concepts,
                          help=None if concepts else "add a concept first"):
                try:
                    back = include_image(ws, layout.name, e, concept=into)
                except NyxError as exc:
                    row.error(str(exc))  # one line, next to the row; nothing moved
                else:
                    view.note("excluded", "success", f"{e.name} is back in {esc(back.parent.name)} and will be trained.")
                    ss["ds_excl_open"] = True
                    st.rerun()
            if row.button("", icon=":material/delete:", key=f"ds_excl_del_{e.key}", type="tertiary",
                          help="move this image and its caption to the trash (restore it from the Files page)"):
                gone = delete_excluded(ws, layout.name, e)
                view.note("excluded", "success", f"Moved {e.name}" + (f" and {len(gone) - 1} file(s) with it"
                          if len(gone) > 1 else "") + " to the trash.")
                ss["ds_excl_open"] = True
                st.rerun()
        view.show_note("excluded")


def undo_note(res: caption_ops.UndoResult) -> None:
    """The result of an undo, next to the Undo button (note slot ``tags``)."""
    newer = [f"{rel}  (rewritten since by: {res.newer[rel]})" if rel in res.newer else rel for rel in res.skipped]
    view.note("tags", "warning" if res.skipped else "success",
              f"Undid '{res.op}': {res.restored} caption(s) restored"
              + (f"; {len(res.skipped)} left alone because they were edited since (by hand or by a newer "
                 "operation):" if res.skipped else "."), newer)


def undo_history(ws: Workspace, layout: DatasetLayout, history: list[caption_ops.UndoInfo]) -> None:
    """Every operation that can be undone, newest first, each with its own Undo button: an older one
    is undone out of order (captions changed since, by hand or by a newer operation, are left alone)."""
    if not history:
        return
    with st.expander(f"Undo history ({len(history)} operation(s), newest first)", expanded=ss.pop("ds_hist_open", False)):
        st.caption("Undo any entry, not only the newest: it restores the captions that are still exactly as that "
                   "operation left them and lists the ones it skipped; then the entry leaves the history.")
        for i, h in enumerate(history):
            row = st.container(horizontal=True, vertical_alignment="center", key=f"ds_hist_row_{h.journal}")
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(h.at)) + " UTC"
            row.markdown(f"**{h.op}** · {when} · {h.count} caption(s)" + (" · *newest*" if i == 0 else ""))
            if row.button("Undo this", key=f"ds_undo_entry_{h.journal}"):
                try:
                    with st.spinner("Restoring captions…"):
                        res = caption_ops.undo(ws, layout, h)
                except NyxError as exc:
                    row.error(str(exc))
                else:
                    undo_note(res)
                    ss["ds_hist_open"] = True
                    st.rerun()
