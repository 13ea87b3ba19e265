"""Streamlit pieces of the Models page (library, downloads, catalogue, publishing) and the two small
hooks other pages use: the Training page's family-aware model pickers and the Monitor's "Publish
this run" button. Views only: every action is a nyx_core call; downloads, hashing and uploads are
jobs, so nothing heavy runs in the page."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core.config.families import FAMILIES
from nyx_core.errors import NyxError
from nyx_core.fsutil import human_size
from nyx_core.models import CATALOG, picker_options, scan
from nyx_core.models.detect import KIND_DIRS

PUBLISH_KEY = "models_publish_path"
TASK_KINDS = ("download", "upload", "hash")
#: The family table's labels by family id.
FAMILY_NAMES = {f.value: s.label for f, s in FAMILIES.items()}


@st.cache_data(ttl=3, show_spinner=False)
def _scan_cached(root: str):
    from nyx_core.workspace import Workspace

    return scan(Workspace(Path(root)))


def models(ws):
    """The library, scanned at most every few seconds (headers are cached by size+mtime anyway)."""
    return _scan_cached(str(ws.root))


# Training page hook ---------------------------------------------------------------------------
def model_picker(ws, slot: str, family, value: str, label: str, key: str):
    """A selectbox offering only the models that fit ``family`` for ``slot`` (base_model, vae,
    clip_l, …); a caption says which were hidden and why. Free text stays possible (Hub ids,
    workspace paths)."""
    fam = getattr(family, "value", family)
    opts = picker_options(models(ws), slot, str(fam))
    options = [""] + opts.offered
    if value and value not in options:
        options.append(value)
    chosen = st.selectbox(label, options, index=options.index(value or ""), key=key, accept_new_options=True,
                          help="a model in workspace/models that fits this family, a workspace path, "
                               "or (base model) a Hub id. Get models on the Models page.")
    note = opts.hidden_note()
    if note:
        st.caption(note)
    return chosen


# Monitor hook ---------------------------------------------------------------------------------
def publish_button(ws, job) -> None:
    """'Publish this run': opens the Models page's publish form with the run's outputs selected."""
    if job.spec.kind != "train" or job.state.value != "completed" or not job.spec.output_dir:
        return
    try:
        rel = ws.relative(Path(job.spec.output_dir))
    except ValueError:
        return
    if st.button("Publish this run", icon=":material/cloud_upload:", key=f"mon_publish_{job.id}",
                 help="upload the LoRA(s) and samples to a Hugging Face model repo with a model card"):
        st.session_state[PUBLISH_KEY] = rel
        st.switch_page("pages/models.py")


# Jobs ---------------------------------------------------------------------------------------------
def task_jobs(jm):
    """Download, upload and hash jobs (damaged job folders are the Monitor's business)."""
    return [j for j in jm.list() if j.spec.kind in TASK_KINDS and not getattr(j, "damage", None)]


def jobs_panel(jm) -> None:
    jobs = task_jobs(jm)
    active = [j for j in jobs if not j.state.final]
    st.fragment(run_every=1.5 if active else None)(_jobs_live)(jm)


def _jobs_live(jm) -> None:
    jobs = task_jobs(jm)
    active = [j for j in jobs if not j.state.final]
    recent = [j for j in jobs if j.state.final][:5]
    if not active and st.session_state.pop("models_had_active", False):
        _scan_cached.clear()
        st.rerun()  # a download just finished: redraw the library too
    if active:
        st.session_state["models_had_active"] = True
    if not active and not recent:
        return
    st.subheader("Downloads and uploads")
    for j in active:
        state = jm.progress(j.id)
        t = state.task or {}
        done, total = t.get("done", 0), t.get("total")
        text = f"**{j.name}** · {human_size(done)}" + (f" of {human_size(total)}" if total else "")
        if t.get("rate"):
            text += f" · {human_size(t['rate'])}/s"
        if t.get("eta_s") is not None:
            text += f" · about {int(t['eta_s'])} s left"
        row = st.container(horizontal=True, vertical_alignment="center")
        row.markdown(text + (f"  \n{t['message']}" if t.get("message") else ""), width="stretch")
        row.button("Cancel", key=f"models_cancel_{j.id}", on_click=jm.stop, args=(j.id,),
                   help="stop it; the bytes already here are kept and the download resumes when started again")
        st.progress(min(1.0, done / total) if total else 0.0)
    for j in recent:
        if j.state.value == "completed":
            res = jm.progress(j.id).result or {}
            what = res.get("url") or ", ".join(f["path"] if isinstance(f, dict) else str(f)
                                               for f in (res.get("files") or [])[:4]) or "done"
            st.caption(f":material/check_circle: {j.name}: {what}")
        else:
            st.caption(f":material/error: {j.name}: {j.status.reason or j.state.value}")


# Library --------------------------------------------------------------------------------------
def library(ws, jm) -> None:
    from nyx_core.models.download import discard_unfinished, submit_download, unfinished
    from nyx_core.models.hashjob import missing, submit_hash

    items = models(ws)
    if not items:
        st.info("No models yet. Pick a base model from the catalogue below, or paste a Hub id, Civitai link or URL.")
    else:
        rows = [{"model": m.path, "what": m.label if not m.error else "damaged", "families": ", ".join(
            FAMILY_NAMES.get(f, f) for f in m.families) or "?", "size": human_size(m.size),
            "precision": m.precision or "", "SHA-256": (m.sha256[:16] + "…") if m.sha256 else "not yet",
            "source": m.source or "", "licence": m.license or ""} for m in items]
        st.dataframe(rows, hide_index=True, width="stretch")
        for m in items:
            if m.error:
                st.warning(f"`{m.path}`: {m.error}")
        todo = missing(ws, items)
        if todo:
            if st.button(f"Compute SHA-256 of {len(todo)} model(s) in the background", key="models_hash",
                         icon=":material/fingerprint:"):
                _scan_cached.clear()
                submit_hash(ws, jm.settings)
                st.rerun()
    pending = unfinished(ws)
    running = [j for j in task_jobs(jm) if j.spec.kind == "download" and not j.state.final] if pending else []
    for u in pending:
        if any(u["source"] in j.spec.argv for j in running):
            continue  # being downloaded right now: its progress is shown above
        row = st.container(horizontal=True, vertical_alignment="center")
        row.markdown(f"Unfinished download **{u.get('label') or u['source']}** · {human_size(u['bytes'])} on disk",
                     width="stretch")
        if row.button("Resume", key=f"models_resume_{u['key']}", icon=":material/play_arrow:"):
            _submit(lambda: submit_download(ws, u["source"], kind=u.get("kind"), file=u.get("file"),
                                            revision=u.get("revision"), settings=jm.settings))
        if row.button("Discard", key=f"models_discard_{u['key']}", icon=":material/delete:"):
            discard_unfinished(ws, u["key"])
            st.rerun()


def _submit(fn) -> None:
    try:
        job = fn()
    except NyxError as exc:
        st.session_state["models_error"] = str(exc)
    else:
        st.session_state["models_flash"] = f"Started: {job.name}"
    st.rerun()


def flash() -> None:
    msg = st.session_state.pop("models_flash", None)
    if msg:
        st.success(msg)
    err = st.session_state.pop("models_error", None)
    if err:
        st.error(err)


def catalogue(ws, jm, family_hint: str | None = None) -> None:
    from nyx_core.models.download import submit_download

    have_token = bool(jm.settings.hf_token)
    for fam in ("sd15", "sdxl", "flux", "sd3"):
        entries = [e for e in CATALOG if e.family == fam]
        with st.expander(FAMILY_NAMES[fam], expanded=fam == family_hint):
            for e in entries:
                st.markdown(f"**{e.title}** · about {human_size(e.size)} · {', '.join(e.licenses)}"
                            + (" · :material/lock: gated" if e.gated else ""))
                st.caption(" · ".join(f"`{f.file}` ({KIND_DIRS[f.kind]}, ≈{human_size(f.size)})" for f in e.files)
                           + (f"  \n{e.note}" if e.note else ""))
                if e.gated and not have_token:
                    st.caption(":material/key: needs a Hugging Face token (Settings) whose account accepted the licence")
                if st.button(f"Get the {e.title} set", key=f"models_cat_{e.id}", icon=":material/download:"):
                    _submit(lambda e=e: submit_download(ws, f"catalog:{e.id}", settings=jm.settings))


def download_form(ws, jm) -> None:
    from nyx_core.models.download import KINDS, submit_download

    with st.form("models_get"):
        source = st.text_input("Source", key="models_source",
                               placeholder="owner/name · owner/name/file.safetensors · civitai.com link · https://…")
        c1, c2, c3 = st.columns(3)
        file = c1.text_input("File in the repo (Hub; empty = whole repo)", key="models_file")
        rev = c2.text_input("Revision (Hub; empty = main)", key="models_rev")
        kind = c3.selectbox("Kind", ("detect",) + KINDS, key="models_kind",
                            help="where it goes in workspace/models; a file of another kind is refused")
        go = st.form_submit_button("Download", type="primary", icon=":material/download:")
    if go:
        _submit(lambda: submit_download(ws, source, kind=None if kind == "detect" else kind, file=file or None,
                                        revision=rev or None, settings=jm.settings))


# Publish ----------------------------------------------------------------------------------------
def publish_form(ws, jm) -> None:
    from nyx_core.models.publish import LICENSES, card_for_paths, run_files, submit_upload

    token = jm.settings.hf_token
    if token:
        st.caption(f"Hugging Face token: set ({token.masked()}); it is checked before anything is uploaded.")
    else:
        st.warning("No Hugging Face token: set a write token on the Settings page (or HF_TOKEN) to upload.")
    what = st.radio("What", ("A run's outputs (LoRAs + samples)", "A dataset folder"), horizontal=True,
                    key="models_pub_what")
    dataset = what.startswith("A dataset")
    folders = _publish_folders(ws, dataset)
    pre = st.session_state.pop(PUBLISH_KEY, None)
    if pre and pre not in folders:
        folders.insert(0, pre)
    if pre:
        st.session_state["models_pub_folder"] = pre
    if not folders:
        st.info("Nothing to publish yet: no run outputs with a LoRA." if not dataset else "No dataset folders.")
        return
    folder = st.selectbox("Folder", folders, key="models_pub_folder")
    paths = [folder]
    if not dataset:
        p = ws.resolve(folder)
        loras, samples = run_files(p) if p.is_dir() else ([], [])
        names = [ws.relative(x) for x in loras + samples]
        chosen = st.multiselect("Files", names, default=names, key=f"models_pub_files_{folder}",
                                help="the final LoRA, epoch checkpoints and the newest sample images")
        paths = chosen
    c1, c2 = st.columns(2)
    repo = c1.text_input("Repo (owner/name or name)", value=Path(folder).name, key="models_pub_repo")
    lic = c2.selectbox("Licence", LICENSES, key="models_pub_license")
    triggers = st.text_input("Trigger words (comma-separated; empty = from the LoRA's metadata)", key="models_pub_trig")
    private = st.checkbox("Private repo", value=True, key="models_pub_private")
    card_key = "models_pub_card"
    if st.button("Write the model card", key="models_pub_make", icon=":material/description:"):
        try:
            st.session_state[card_key] = card_for_paths(
                ws, paths, repo, license=lic, dataset=dataset,
                triggers=[t.strip() for t in triggers.split(",") if t.strip()])
        except NyxError as exc:
            st.error(str(exc))
    if card_key in st.session_state:
        st.text_area("Model card (README.md) — edit before uploading", key=card_key, height=360)
        if st.button("Upload", type="primary", key="models_pub_go", icon=":material/cloud_upload:"):
            _submit(lambda: submit_upload(ws, paths, repo, private=private, dataset=dataset,
                                          card=st.session_state[card_key], settings=jm.settings))


def _publish_folders(ws, dataset: bool) -> list[str]:
    if dataset:
        return sorted(ws.relative(p) for p in ws.datasets.iterdir() if p.is_dir() and not p.name.startswith("."))
    out = []
    for p in sorted(ws.outputs.rglob("*")):
        if p.is_dir() and not any(x.startswith(".") for x in p.relative_to(ws.outputs).parts) and any(
                f.suffix == ".safetensors" for f in p.iterdir() if f.is_file()):
            out.append(ws.relative(p))
    return out
