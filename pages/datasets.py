"""Datasets: pick or create one, add images, browse and caption them, bulk-edit tags, check health.

A thin view: every action is one call into nyx_core.datasets; session state only remembers what
the user is looking at (dataset, open image, pending preview, last reports).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import streamlit as st

from nyx_core.datasets import caption_ops, manager
from nyx_core.datasets.captions import (
    KEEP_SEP,
    CaptionError,
    TagOp,
    build_transform,
    join_tags,
    normalize_caption,
    split_tags,
    tag_frequency,
    trained_caption,
    untrained_lines,
)
from nyx_core.datasets.health import check_dataset
from nyx_core.datasets.image_tools import convert_images, downscale_images, plan_convert, plan_downscale
from nyx_core.datasets.ingest import ingest_files, ingest_path
from nyx_core.datasets.layout import dataset_names, scan_dataset
from nyx_core.errors import NyxError
from nyx_core.fsutil import human_size
from nyx_core.buckets import BucketSpec
from nyx_core.buckets import assign as assign_bucket
from nyx_core.steps import read_image_size
from nyx_core.names import shown as esc
from nyx_core.names import unshown
from nyx_core.thumbnails import make_thumbnails, missing_thumbnails, thumbnail
from nyx_ui import captioning_view
from nyx_ui import dataset_view as view
from nyx_ui import exclusion_view
from nyx_ui.context import get_workspace
from nyx_ui.progress import counted
from nyx_ui.tables import frame

ss = st.session_state
st.title("Datasets")
ws = get_workspace()
st.caption("Kohya layout: each dataset holds `<repeats>_<concept>` folders of images with same-name caption files.")
view.show_flash()

# -- 1. pick or create ---------------------------------------------------------------------------
names = dataset_names(ws)
if "ds_pick_next" in ss:  # set by create/rename before a rerun; applied before the selectbox exists
    ss["ds_pick"] = ss.pop("ds_pick_next")
if ss.get("ds_pick") not in names:
    ss.pop("ds_pick", None)

with st.expander("Create a dataset", expanded=not names):
    # not clear_on_submit: a refused name must not wipe what was typed; a success starts a fresh form
    gen = ss.get("ds_new_gen", 0)
    with st.form(f"ds_create_form_{gen}"):
        c1, c2, c3 = st.columns([2, 2, 1])
        new_name = c1.text_input("Dataset name", placeholder="e.g. my-character", key=f"ds_new_name_{gen}")
        new_concept = c2.text_input("First concept", placeholder="e.g. ohwx woman", key=f"ds_new_concept_{gen}")
        new_repeats = c3.number_input("Repeats", min_value=1, max_value=10_000, value=10, step=1,
                                      key=f"ds_new_repeats_{gen}")
        new_trigger = st.text_input("Trigger word (optional)", placeholder="e.g. ohwx", key=f"ds_new_trigger_{gen}")
        if st.form_submit_button("Create dataset"):
            try:
                layout = manager.create_dataset(ws, new_name, new_concept, int(new_repeats), trigger_word=new_trigger)
            except NyxError as exc:
                st.error(str(exc))
            else:
                ss["ds_pick_next"] = layout.name
                ss["ds_new_gen"] = gen + 1
                view.flash("success", f"Created dataset {layout.name!r} with concept folder "
                                      f"{layout.concepts[0].folder.name!r}. Add images below.")
                st.rerun()

if not names:
    st.info("No datasets yet: create one above.")
    st.stop()

pick = st.selectbox("Dataset", names, key="ds_pick")
try:
    with st.spinner(f"Reading dataset {pick!r}…"):  # shown only when it takes over half a second
        layout = scan_dataset(ws, pick)
except NyxError as exc:
    st.error(str(exc))
    st.stop()
summary = manager.summarize(layout)
# a row, not columns: on a phone the figures stay on one line instead of stacking down the screen
m1 = m2 = m3 = st.container(horizontal=True, gap="large")
m1.metric("Images", summary.image_count)
m2.metric("Captioned", summary.captioned_count)
m3.metric("Concepts", len(summary.concepts))
st.caption(f"{human_size(summary.size_bytes)} on disk")

with st.expander("Concepts and settings"):
    if summary.concepts:
        st.dataframe(frame([vars(c) for c in summary.concepts]), hide_index=True, width="stretch")
    concept_names = [c.name for c in layout.concepts]
    a, b = st.columns(2)
    with a.form("ds_concept_form"):
        st.markdown("**Add a concept**")
        add_name = st.text_input("Concept name", key="ds_add_concept_name")
        add_rep = st.number_input("Repeats for the new concept", 1, 10_000, 10, key="ds_add_concept_rep")
        if st.form_submit_button("Add concept"):
            try:
                manager.add_concept(ws, pick, add_name, int(add_rep))
                view.flash("success", f"Added concept {add_name!r}.")
                st.rerun()
            except NyxError as exc:
                st.error(str(exc))
    with b.form("ds_repeats_form"):
        st.markdown("**Change a concept**")
        which = st.selectbox("Concept", concept_names or ["(none)"], key="ds_rep_concept")
        rep = st.number_input("New repeats (0 keeps them)", 0, 10_000, 0, key="ds_rep_value")
        ren = st.text_input("New concept name (optional)", key="ds_rep_rename")
        if st.form_submit_button("Update concept") and concept_names:
            try:
                if rep:
                    manager.set_repeats(ws, pick, which, int(rep))
                if ren.strip():
                    manager.rename_concept(ws, pick, which, ren)
                view.flash("success", "Concept updated.")
                st.rerun()
            except NyxError as exc:
                st.error(str(exc))
    with st.form("ds_settings_form"):
        c1, c2, c3 = st.columns([2, 1, 2])
        trig = c1.text_input("Dataset trigger word", value=layout.trigger_word or "", key="ds_set_trigger")
        ext = c2.selectbox("Caption extension", [".txt", ".caption"],
                           index=0 if layout.caption_ext == ".txt" else 1, key="ds_set_ext")
        new_ds_name = c3.text_input("Rename dataset to", key="ds_set_rename")
        if st.form_submit_button("Save settings"):
            try:
                manager.update_settings(ws, pick, caption_ext=ext, trigger_word=trig)
                if new_ds_name.strip() and new_ds_name.strip() != pick:
                    ss["ds_pick_next"] = manager.rename_dataset(ws, pick, new_ds_name).name
                view.flash("success", "Settings saved.")
                st.rerun()
            except NyxError as exc:
                st.error(str(exc))
    confirm = st.checkbox(f"Yes, move the dataset {pick!r} to the trash", key="ds_del_confirm")
    if st.button("Move dataset to trash", key="ds_delete", disabled=not confirm):
        entry = manager.delete_dataset(ws, pick)
        view.flash("success", f"Moved {entry.original} to the trash; restore it from the Files page.")
        st.rerun()

# -- 2. add images ---------------------------------------------------------------------------------
st.subheader("Add images")
concept_names = [c.name for c in layout.concepts]
up_concept = st.selectbox("Concept for uploaded images", concept_names, key="ds_up_concept",
                          help="Images inside a '<repeats>_<concept>' folder of a zip go to that concept instead.") \
    if concept_names else None
uploads = st.file_uploader(
    "Images, captions (.txt / .caption) or .zip files", accept_multiple_files=True,
    type=["jpg", "jpeg", "png", "webp", "bmp", "txt", "caption", "zip"],
    key=f"ds_upload_{ss.get('ds_upload_gen', 0)}",
)
if uploads:
    bar = st.progress(0.0, text="Importing…")
    try:
        report = ingest_files(ws, pick, [(f.name, f) for f in uploads], concept=up_concept,
                              progress=lambda d, t, n: bar.progress(min(d / max(t, 1), 1.0), text=f"{d}/{t} {n}"))
    except NyxError as exc:
        view.flash("error", f"Nothing was imported: {exc}")
    else:
        ss["ds_ingest_report"] = (pick, report)
    ss["ds_upload_gen"] = ss.get("ds_upload_gen", 0) + 1  # a fresh, empty uploader: import once
    st.rerun()
with st.expander("Import a zip or folder that is already in the workspace"):
    src = st.text_input("Workspace path", placeholder="incoming/photos.zip", key="ds_import_path")
    if st.button("Import from workspace", key="ds_import_ws") and src.strip():
        try:
            ss["ds_ingest_report"] = (pick, ingest_path(ws, pick, src.strip(), concept=up_concept))
            st.rerun()
        except NyxError as exc:
            st.error(str(exc))
last = ss.get("ds_ingest_report")
if last and last[0] == pick:
    view.ingest_report(last[1])

# -- 2b. auto-captioning (WD14 / BLIP jobs) ---------------------------------------------------------
captioning_view.section(ws, layout)

# -- 3. gallery ------------------------------------------------------------------------------------
st.subheader("Gallery")
captions = caption_ops.all_captions(layout)
# what sd-scripts will read (the first line): the gallery, tag table and filters show this, not the file
trained = {img: trained_caption(text) for img, text in captions.items()}
freq = tag_frequency(trained.values()).most_common()
# esc(): a file name that is not UTF-8 is shown (and keyed) as \xNN; unshown() maps it back
rel = lambda p: esc(p.relative_to(layout.root).as_posix())  # noqa: E731
f1, f2, f3 = st.columns([2, 1, 2])
tag_filter = f1.selectbox("Filter by tag", ["(any tag)"] + [t for t, _ in freq], key="ds_f_tag")
no_cap = f2.checkbox("Only without caption", key="ds_f_nocap")
search = f3.text_input("Search captions", key="ds_f_search")
only = ss.get("ds_only")
if only and only[0] != pick:
    only = None
if only:
    st.info(f"Showing the images of: {only[1]}")
    if st.button("Show all images", key="ds_only_clear"):
        ss.pop("ds_only", None)
        st.rerun()
shown = caption_ops.filter_images(
    trained, tag=None if tag_filter == "(any tag)" else tag_filter, no_caption=no_cap, search=search,
    only=[layout.root / unshown(r) for r in only[2]] if only else None,
)

# the large view with the caption editor, above the grid so it is seen without scrolling
selected = ss.get("ds_selected")
shown_rel = [rel(p) for p in shown]
if selected and selected in shown_rel:
    idx = shown_rel.index(selected)
    img = shown[idx]
    disk_text = captions.get(img) or ""
    left, right = st.columns([3, 2])
    try:
        left.image(str(thumbnail(ws, img, 1024)), width="stretch")
    except NyxError as exc:
        left.error(str(exc))
    with right:
        st.markdown(f"**{selected}** — {idx + 1} of {len(shown)}")
        first_line = trained.get(img)
        if disk_text and (first_line != disk_text.strip() or untrained_lines(disk_text)):
            st.warning(f"sd-scripts trains on the first line only: this file trains as "
                       f"{first_line!r}" + (" (empty)" if not first_line else "") + ". Save joins the lines into one.",
                       icon=":material/warning:")
        # A form, so the shortcut buttons submit exactly what is in the box: outside a form a text
        # area sends its text only on blur or Ctrl+Enter, and Alt+S / Alt+N saved the old text.
        with st.form("ds_cap_form", border=False, enter_to_submit=False):
            # the on-disk text is part of the key: a save or bulk operation shows the new text at once
            edit_key = f"ds_cap_{selected}_{zlib.crc32(disk_text.encode())}"
            text = st.text_area("Caption", value=disk_text, key=edit_key, height=140)
            tags = [t for t in dict.fromkeys(split_tags(first_line or "")) if t != KEEP_SEP]
            chosen_chips = st.pills("Tags in this caption", tags, selection_mode="multi",
                                    key=f"ds_chips_{selected}") if tags else []
            # a wrapping row: buttons keep their full label and shortcut hint on narrow screens
            row = st.container(horizontal=True)
            b1 = b2 = b3 = b4 = b5 = row
            save = b1.form_submit_button("Save", key="ds_save", type="primary", shortcut="Alt+S")
            drop = b2.form_submit_button("Remove tags", key="ds_drop_chips", disabled=not tags,
                                         help="Remove the tags selected above from this caption and save")
            prev_ = b3.form_submit_button("◀ Previous", key="ds_prev", disabled=idx == 0, shortcut="Alt+P")
            next_ = b4.form_submit_button("Next ▶", key="ds_next", disabled=idx >= len(shown) - 1,
                                          shortcut="Alt+N")
            close = b5.form_submit_button("Close", key="ds_close", shortcut="Esc")
        # tags the last WD14 run scored just under its threshold: one click adds one
        near = captioning_view.near_miss_picker(ws, layout, img, first_line or "",
                                                key=f"ds_near_{selected}_{zlib.crc32(disk_text.encode())}")
        if near:
            caption_ops.write_caption(layout, img, normalize_caption(join_tags([*split_tags(first_line or ""), near])))
            ss["ds_cap_note"] = ("success", f"Added {near!r} to {esc(img.name)}.")
            st.rerun()
        note = ss.pop("ds_cap_note", None)
        if note:  # the result of the last save, here next to the box rather than at the top of the page
            getattr(st, note[0])(note[1])
        with st.popover("Rename, move, exclude or delete", icon=":material/edit:"):
            names_c = [c.name for c in layout.concepts]
            here = next((c.name for c in layout.concepts if c.folder == img.parent), names_c[0])
            mv_name = st.text_input("File name", value=esc(img.name), key=f"ds_mv_name_{selected}")
            mv_concept = st.selectbox("Concept", names_c, index=names_c.index(here), key=f"ds_mv_concept_{selected}")
            st.caption("The caption and sd-scripts' cache files (.npz) move with the image.")
            if st.button("Rename / move", key="ds_mv_go", type="primary"):
                try:
                    moved = manager.move_image(ws, pick, img, new_name=unshown(mv_name), concept=mv_concept)
                except NyxError as exc:
                    st.error(str(exc))
                else:
                    ss["ds_selected"] = rel(moved)
                    ss["ds_cap_note"] = ("success", f"Now {rel(moved)} (its caption went with it).")
                    st.rerun()
            if st.button("Exclude from training", key="ds_excl_go", icon=":material/visibility_off:",
                         help="keep the image with the dataset but out of training; include it back any time"):
                if exclusion_view.exclude(ws, layout, img):
                    ss.pop("ds_selected", None)
                    st.rerun()
            if st.button("Move image and caption to the trash", key="ds_rm_go"):
                gone = manager.delete_image(ws, pick, img)
                ss.pop("ds_selected", None)
                view.note("gallery", "success", f"Moved {esc(img.name)}" + (f" and {len(gone) - 1} file(s) with it"
                          if len(gone) > 1 else "") + " to the trash; restore from the Files page.")
                st.rerun()
        if drop:
            text = ", ".join(t for t in split_tags(text) if t not in set(chosen_chips or []))
        to_store = normalize_caption(text)
        exists = captions.get(img) is not None
        # Save writes whenever the file differs from the box; moving on writes only a real change
        # (never a reformat of an untouched caption, never an empty file for an uncaptioned image)
        if ((save or drop) and (not exists or to_store != disk_text)) or \
                ((prev_ or next_) and to_store != normalize_caption(disk_text) and (exists or to_store)):
            caption_ops.write_caption(layout, img, to_store)
            st.toast(f"Saved {esc(img.name)}")
            if to_store != text.strip():
                ss["ds_cap_note"] = ("info", f"Saved {esc(img.name)} as one line: {to_store!r} (sd-scripts reads only "
                                             "the first line of a caption file).")
            else:
                ss["ds_cap_note"] = ("success", f"Saved {esc(img.name)}.")
        if prev_ or next_:
            ss["ds_selected"] = shown_rel[idx - 1 if prev_ else idx + 1]
        if close:
            ss.pop("ds_selected", None)
        if save or drop or prev_ or next_ or close:
            st.rerun()

PAGE_SIZE = 24  # tiles a gallery page: the browser draws 24 in about 70 % of the time of 48
pages = max(1, -(-len(shown) // PAGE_SIZE))
if ss.get("ds_page", 1) > pages:  # a narrower filter: stay on a page that exists
    ss["ds_page"] = pages
if pages > 1:
    g1, g2 = st.columns([1, 3], vertical_alignment="bottom")
    page_no = g1.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="ds_page")
else:
    g2, page_no = st, 1
g2.caption(f"{len(shown)} of {len(captions)} image(s)")
if 0 < len(shown) < len(captions):  # a filter is on: act on what it shows
    exclusion_view.exclude_filtered(ws, layout, shown)
view.show_note("gallery")
# fixed-width tiles in one wrapping row: two per row on a phone, six or more on a desktop
# (st.columns would stack to one full-width image per screen on a phone)
grid = st.container(horizontal=True, gap="small")
# the bucket each image lands in, for the training settings chosen in the health check below
tile_spec = BucketSpec.square(int(ss.get("ds_h_res", 512)), min_reso=int(ss.get("ds_h_min", 256)),
                              max_reso=int(ss.get("ds_h_max", max(1024, int(ss.get("ds_h_res", 512))))),
                              reso_steps=int(ss.get("ds_h_steps", 64)), no_upscale=bool(ss.get("ds_h_noup", False)))
page_images = shown[(page_no - 1) * PAGE_SIZE:page_no * PAGE_SIZE]
# A dataset's first view: its previews are not made yet. The tiles (names, sizes, captions) and
# the rest of the page are drawn at once, with a counted bar here; fill_previews() at the end of
# the page then makes each missing preview and puts it into its tile.
to_make = set(missing_thumbnails(ws, page_images, 256, square=True))
preview_bar = st.progress(0.0, text=f"Making previews… 0/{len(to_make)}") if to_make else None
pending_previews: list[tuple[Path, object]] = []  # (image, its tile's empty slot)
for img in page_images:
    # fixed-size tiles and square thumbnails: a row of tiles lines up whatever the images' shapes
    with grid.container(width=172, height=352, key=f"ds_tile_{zlib.crc32(rel(img).encode())}"):
        slot = None
        try:
            if img in to_make:
                slot = st.empty()
                slot.caption("Making preview…")
                pending_previews.append((img, slot))
            else:
                st.image(str(thumbnail(ws, img, 256, square=True)), width="stretch")
            w, h = read_image_size(img)
            try:
                bw, bh = assign_bucket(tile_spec, (w, h))[0]
                size_text = f"{w}×{h} → bucket {bw}×{bh}"
            except NyxError:
                size_text = f"{w}×{h} (no bucket)"
        except NyxError:
            if slot is not None:  # no preview to wait for
                slot.empty()
                pending_previews = [(i, s) for i, s in pending_previews if i != img]
            st.warning("unreadable")
            size_text = ""
        text = trained.get(img)
        extra = untrained_lines(captions.get(img))
        shown_text = text if text else "*(no caption)*" if captions.get(img) is None else "*(trains as empty)*"
        if len(shown_text) > 90:
            shown_text = shown_text[:88] + "…"
        st.caption(f"{size_text}  \n{shown_text}" + (f" *(+{extra} line(s) not trained)*" if extra else ""))
        # the name keeps the whole width (it is what people read); exclude and delete sit beside it as icons
        t1 = t2 = t3 = st.container(horizontal=True, gap="xxsmall", vertical_alignment="center")
        if t1.button(esc(img.name), key=f"ds_open_{rel(img)}", width="stretch"):
            ss["ds_selected"] = rel(img)
            st.rerun()
        if t2.button("", icon=":material/visibility_off:", key=f"ds_excl_{rel(img)}", type="tertiary",
                     help="exclude from training: the image, its caption and caches move to the dataset's "
                          "excluded list (not deleted; include it back any time)"):
            if exclusion_view.exclude(ws, layout, img):
                if ss.get("ds_selected") == rel(img):
                    ss.pop("ds_selected", None)
                st.rerun()
        if t3.button("", icon=":material/delete:", key=f"ds_del_{rel(img)}", type="tertiary",
                     help="move this image and its caption to the trash (restore it from the Files page)"):
            try:
                gone = manager.delete_image(ws, pick, img)
            except NyxError as exc:
                st.error(str(exc))
            else:
                view.note("gallery", "success", f"Moved {esc(img.name)}" + (f" and {len(gone) - 1} file(s) with it"
                          if len(gone) > 1 else "") + " to the trash; restore from the Files page.")
                st.rerun()

exclusion_view.excluded_section(ws, layout)

# -- 4. tags ---------------------------------------------------------------------------------------
st.subheader("Tags")
grid_tags = view.tag_grid(freq, key=f"ds_tag_grid_{pick}")
picked = st.multiselect("Selected tags", [t for t, _ in freq], key="ds_tag_sel")
chosen = list(dict.fromkeys(grid_tags + picked))

OPS = {
    "Remove the selected tags": "remove",
    "Replace the selected tag with…": "replace",
    "Move the selected tags to the front": "move_front",
    "Add tags": "add",
    "Regex replace in every tag": "regex",
    "Sort tags A→Z": "sort",
    "Remove duplicate tags": "dedupe",
    "Clean spaces and underscores": "normalize",
    "Keep the first N tags fixed (|||)": "keep_first",
}
o1, o2 = st.columns([2, 2])
op_label = o1.selectbox("Operation", list(OPS), key="ds_op")
scope = o2.radio("Apply to", ["All images", "Images in the gallery filter"], horizontal=True, key="ds_scope")
kind = OPS[op_label]
op: TagOp | None = None
try:
    if kind == "remove":
        op = TagOp("remove", tags=tuple(chosen)) if chosen else None
    elif kind == "move_front":
        op = TagOp("move_front", tags=tuple(chosen)) if chosen else None
    elif kind == "replace":
        new_tag = st.text_input("Replace with (empty removes)", key="ds_op_replace")
        op = TagOp("replace", mapping=tuple((t, new_tag) for t in chosen)) if chosen else None
    elif kind == "add":
        add_text = st.text_input("Tags to add (comma-separated)", key="ds_op_add")
        front = st.checkbox("At the front", key="ds_op_front")
        op = TagOp("add", tags=tuple(split_tags(add_text)), front=front) if add_text.strip() else None
    elif kind == "regex":
        r1, r2 = st.columns(2)
        pattern = r1.text_input("Pattern", key="ds_op_pattern", help="Python regex, applied to each tag")
        repl = r2.text_input("Replacement", key="ds_op_repl", help=r"\1 refers to a group")
        op = TagOp("regex", pattern=pattern, repl=repl) if pattern else None
    elif kind == "keep_first":
        n_keep = st.number_input("N", 0, 50, 1, key="ds_op_keep")
        op = TagOp("keep_first", n=int(n_keep))
    else:
        op = TagOp(kind)
    if op is not None:
        build_transform(op)  # a bad pattern is reported while typing, not on Preview
except CaptionError as exc:
    op = None
    st.error(str(exc))
if kind in ("remove", "move_front", "replace") and not chosen:
    st.caption("Select tags in the table or the box above first.")


def _set_pending(new_op: TagOp, images: list[Path] | None) -> None:
    try:
        pv = caption_ops.preview(layout, new_op, images)
    except NyxError as exc:
        st.error(str(exc))
        return
    ss["ds_pending"] = {"dataset": pick, "op": new_op, "images": None if images is None else [rel(p) for p in images],
                        "preview": pv}


if st.button("Preview", key="ds_preview", disabled=op is None):
    _set_pending(op, None if scope == "All images" else shown)

t1, t2 = st.columns([3, 1], vertical_alignment="bottom")
trigger = t1.text_input("Trigger word", value=layout.trigger_word or "", key=f"ds_trigger_{pick}")
if t2.button("Add to all", key="ds_add_all", disabled=not trigger.strip()):
    if trigger.strip() != (layout.trigger_word or ""):
        manager.update_settings(ws, pick, trigger_word=trigger)
    _set_pending(TagOp("add", tags=(trigger.strip(),), front=True), None)

pending = ss.get("ds_pending")
if pending and pending["dataset"] == pick:
    with st.container(border=True):
        view.preview_block(pending["preview"], layout.root)
        p1, p2 = st.columns(2)
        if p1.button("Apply", key="ds_apply", type="primary", disabled=pending["preview"].changed == 0):
            images = None if pending["images"] is None else [layout.root / unshown(r) for r in pending["images"]]
            try:
                # counted work shows progress at once (10,000 captions take seconds)
                n = caption_ops.apply(layout, pending["op"], images,
                                      progress=counted(st.progress(0.0, text="Writing captions…"),
                                                       "Writing captions…"))
            except NyxError as exc:
                st.error(str(exc))
            else:
                ss.pop("ds_pending", None)
                view.note("tags", "success", f"{pending['preview'].op}: {n} caption(s) changed. Undo is available.")
                st.rerun()
        if p2.button("Cancel", key="ds_cancel"):
            ss.pop("ds_pending", None)
            st.rerun()

try:
    history = caption_ops.undo_history(layout)
except NyxError as exc:
    history = []
    st.error(str(exc))
u1, u2 = st.columns([1, 3], vertical_alignment="center")
undo_clicked = u1.button("Undo", key="ds_undo", disabled=not history)
u2.caption(f"Next undo: {history[0].op} ({history[0].count} caption(s)); captions edited by hand since are left "
           "alone" if history else "Nothing to undo.")
if undo_clicked:
    try:
        with st.spinner("Restoring captions…"):
            res = caption_ops.undo(ws, layout)
    except NyxError as exc:
        st.error(str(exc))
    else:
        exclusion_view.undo_note(res)
        st.rerun()
view.show_note("tags")
exclusion_view.undo_history(ws, layout, history)

# -- 5. health -------------------------------------------------------------------------------------
st.subheader("Health check")
h1, h2, h3 = st.columns(3)
res = h1.selectbox("Training resolution", [512, 768, 1024], index=0, key="ds_h_res")
batch = h2.number_input("Batch size", 1, 256, 1, key="ds_h_batch")
no_up = h3.checkbox("bucket_no_upscale", key="ds_h_noup")
with st.expander("Bucket settings"):
    b1, b2, b3 = st.columns(3)
    min_b = b1.number_input("min_bucket_reso", 64, 4096, 256, step=64, key="ds_h_min")
    max_b = b2.number_input("max_bucket_reso", 64, 8192, max(1024, res), step=64, key="ds_h_max")
    steps = b3.number_input("bucket_reso_steps", 8, 256, 64, step=8, key="ds_h_steps")
if st.button("Run health check", key="ds_health_run"):
    bar = st.progress(0.0, text="Checking images…")
    try:
        ss["ds_health"] = (pick, check_dataset(
            ws, pick, resolution=int(res), batch_size=int(batch), bucket_no_upscale=no_up,
            min_bucket_reso=int(min_b), max_bucket_reso=int(max_b), bucket_reso_steps=int(steps),
            progress=counted(bar, "Checking images…")))
    except NyxError as exc:
        st.error(str(exc))
    bar.empty()
view.show_note("health")
health = ss.get("ds_health")
if health and health[0] == pick:
    rep = health[1]
    c1 = c2 = c3 = st.container(horizontal=True, gap="large")
    c1.metric("Errors", len(rep.errors))
    c2.metric("Warnings", len(rep.warnings))
    c3.metric("Buckets", len(rep.bucket_rows))
    if not rep.problems:
        st.success("No problems found.")
    view.bucket_chart(rep)
    for i, p in enumerate(rep.problems):
        icon = ":material/error:" if p.level == "error" else ":material/warning:"
        with st.expander(f"{p.title} ({len(p.images)})", icon=icon, expanded=p.level == "error"):
            st.write(p.message)
            if p.images:
                st.code("\n".join(p.images[:100]) + ("\n…" if len(p.images) > 100 else ""), language=None)
                if p.kind == "skipped_extension":
                    if st.button("Rename them to the lower-case extension", key="ds_fix_ext"):
                        fixed = manager.normalize_extensions(ws, pick)
                        ss.pop("ds_health", None)  # the report is out of date now
                        view.note("health", "success", f"Renamed {len(fixed)} image(s); they will be trained now.",
                                  [f"{a} → {b}" for a, b in fixed])
                        st.rerun()
                elif st.button("Show these images in the gallery", key=f"ds_show_{p.kind}_{i}"):
                    ss["ds_only"] = (pick, p.title, list(p.images))
                    st.rerun()

# -- 6. image tools --------------------------------------------------------------------------------
with st.expander("Image tools (originals go to the trash)", expanded="ds_tool_plan" in ss):
    i1, i2, i3 = st.columns(3)
    fmt = i1.selectbox("Convert to", ["webp", "png", "jpg"], key="ds_t_fmt")
    quality = i2.slider("Quality", 50, 100, 95, key="ds_t_quality")
    if i3.button("Convert all images…", key="ds_t_convert"):
        try:  # what will change first (headers only), then one question
            ss["ds_tool_plan"] = (pick, "convert", {"fmt": fmt, "quality": int(quality)},
                                  plan_convert(ws, pick, fmt, quality=int(quality)))
        except NyxError as exc:
            st.error(str(exc))
    j1, j2 = st.columns([2, 1])
    max_side = j1.number_input("Max side (pixels)", 256, 8192, 2048, step=64, key="ds_t_max")
    if j2.button("Downscale larger images…", key="ds_t_downscale"):
        try:
            ss["ds_tool_plan"] = (pick, "downscale", {"max_side": int(max_side)}, plan_downscale(ws, pick, int(max_side)))
        except NyxError as exc:
            st.error(str(exc))
    plan = ss.get("ds_tool_plan")
    if plan and plan[0] == pick:
        _, tool, args, rep = plan
        n = len(rep.changed)
        verb = f"re-encoded as {args['fmt']}" if tool == "convert" else f"shrunk to at most {args['max_side']} px"
        with st.container(border=True, key="ds_tool_confirm"):
            st.markdown(f"**{n} image(s) will be {verb}**; the originals go to the trash. "
                        f"{len(rep.skipped)} left as they are.")
            if rep.changed:
                st.dataframe(frame(rep.changed, columns=["image", "change"]), hide_index=True,
                             width="stretch", height=min(300, 38 + 35 * n))
            c1, c2 = st.columns(2)
            go = c1.button(f"Yes, change {n} image(s)", key="ds_tool_go", type="primary", disabled=n == 0)
            if c2.button("Cancel", key="ds_tool_cancel"):
                ss.pop("ds_tool_plan", None)
                st.rerun()
            if go:
                bar = st.progress(0.0)
                tick = lambda i, t, name: bar.progress(min(i / max(t, 1), 1.0), text=name)  # noqa: E731
                chosen = [layout.root / r for r, _ in rep.changed]  # exactly what was shown
                try:
                    if tool == "convert":
                        r = convert_images(ws, pick, args["fmt"], quality=args["quality"], images=chosen, progress=tick)
                    else:
                        r = downscale_images(ws, pick, args["max_side"], images=chosen, progress=tick)
                except NyxError as exc:
                    st.error(str(exc))
                else:
                    ss.pop("ds_tool_plan", None)
                    view.note("tools", "success", f"{'Converted' if tool == 'convert' else 'Downscaled'} "
                              f"{len(r.changed)} image(s); {len(r.skipped)} skipped. Originals are in the trash.")
                    st.rerun()
    view.show_note("tools")


# -- last: the gallery's missing previews, each into its tile as it is made -------------------------
def fill_previews() -> None:
    if preview_bar is None:
        return
    slots = dict(pending_previews)

    def put(image: Path, made: Path | None) -> None:
        slot = slots.get(image)
        if slot is None:
            return
        if made is None:
            slot.warning("unreadable")
        else:
            slot.image(str(made), width="stretch")

    make_thumbnails(ws, list(slots), 256, square=True, each=put,
                    progress=counted(preview_bar, "Making previews…"))
    preview_bar.empty()


fill_previews()
