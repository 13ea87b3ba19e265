"""The Datasets page's Captioning section: run a WD14 tagger or a captioner as a job, follow it
live, review before/after, undo the whole run; and the tag editor's 'just under the threshold'.

Only job submission and file reads happen here: the model lives in the job process, so the UI
server never imports onnxruntime or torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from nyx_core.datasets import caption_ops
from nyx_core.datasets.captions import split_tags
from nyx_core.datasets.layout import DatasetLayout
from nyx_core.errors import NyxError
from nyx_core.jobs import JobManager, ProgressState
from nyx_core.jobs.models import Job
from nyx_core.jobs.store import JobStore
from nyx_core.tagging import jobs as tjobs
from nyx_core.tagging.catalog import DEFAULT_CAPTIONER, DEFAULT_TAGGER, local_models
from nyx_core.tagging.options import CaptionOptions, TagOptions, parse_list, parse_replacements
from nyx_core.thumbnails import thumbnail
from nyx_core.workspace import Workspace

ss = st.session_state
KINDS = ("tag", "caption")


def _latest_job(ws: Workspace, dataset: str) -> str | None:
    """The newest tag/caption job over this dataset (reattach after a reload)."""
    store = JobStore(ws.jobs)
    for job_id in store.ids()[:200]:
        try:
            job = store.load(job_id)
        except NyxError:
            continue
        if job.spec.kind in KINDS and tjobs.job_spec(job).get("dataset") == dataset:
            return job.id
    return None


def section(ws: Workspace, layout: DatasetLayout) -> None:
    st.subheader("Captioning")
    pick = layout.name
    n = layout.image_count
    t_tag, t_cap = st.tabs(["WD14 tagger", "Natural-language captions"])
    with t_tag:
        _tag_form(ws, layout, n)
    with t_cap:
        _caption_form(ws, layout, n)
    key = f"cap_job_{pick}"
    if key not in ss:
        ss[key] = _latest_job(ws, pick)
    job_id = ss.get(key)
    if job_id:
        jm = JobManager(ws)
        try:
            job = jm.get(job_id)
        except NyxError:
            ss[key] = None
            return
        live = job.state.active or job.state.value == "queued"
        st.fragment(run_every=1 if live else None)(_run_panel)(ws, layout, job_id)


def _tag_form(ws: Workspace, layout: DatasetLayout, n: int) -> None:
    models = local_models(ws, "taggers")
    with st.form(f"cap_tag_form_{layout.name}"):
        c1, c2, c3 = st.columns([2, 1, 1])
        model = c1.selectbox("Tagger", models, index=models.index(DEFAULT_TAGGER) if DEFAULT_TAGGER in models else 0,
                             key="cap_t_model", help="Downloaded once into models/taggers/ when not there yet")
        mode = c2.selectbox("Existing captions", ["overwrite", "append", "skip"], key="cap_t_mode",
                            help="skip also resumes a stopped run")
        batch = c3.number_input("Batch", 1, 256, 8, key="cap_t_batch")
        c1, c2, c3 = st.columns(3)
        g_thr = c1.slider("General threshold", 0.0, 1.0, 0.35, 0.01, key="cap_t_gthr")
        c_thr = c2.slider("Character threshold", 0.0, 1.0, 0.85, 0.01, key="cap_t_cthr")
        mcut = c3.checkbox("Automatic thresholds (MCut)", key="cap_t_mcut")
        c1, c2 = st.columns(2)
        first = c1.text_input("Always first (trigger word)", value=layout.trigger_word or "", key=f"cap_t_first_{layout.name}")
        undesired = c2.text_input("Undesired tags", placeholder="e.g. simple background, white background", key="cap_t_undesired")
        repl = st.text_input("Tag replacements", placeholder="e.g. 1girl=woman; smile=smiling", key="cap_t_repl")
        c1, c2, c3, c4 = st.columns(4)
        char_first = c1.checkbox("Character tags first", key="cap_t_charfirst")
        rating = c2.checkbox("Rating tag", key="cap_t_rating")
        unders = c3.checkbox("Underscores → spaces", value=True, key="cap_t_unders")
        escape = c4.checkbox(r"Escape ( )", key="cap_t_escape")
        c1, c2 = st.columns(2)
        max_tags = c1.number_input("Max tags (0 = all)", 0, 500, 0, key="cap_t_max")
        order = c2.selectbox("Order", ["model", "score"], key="cap_t_order",
                             help="model: the tagger's label order, as sd-scripts writes; score: surest first")
        go = st.form_submit_button(f"Tag {n} image(s)", type="primary", disabled=n == 0)
    if go:
        _start(layout, lambda: tjobs.submit_tag(ws, layout.name, model, TagOptions(
            general_threshold=float(g_thr), character_threshold=float(c_thr), general_mcut=mcut,
            character_mcut=mcut, undesired=parse_list(undesired), replacements=parse_replacements(repl),
            first=parse_list(first), character_first=char_first, rating=rating,
            underscores_to_spaces=unders, escape_brackets=escape, max_tags=int(max_tags),
            order=order, mode=mode), batch=int(batch)))


def _start(layout: DatasetLayout, submit: Callable[[], Job]) -> None:
    """Start the job ``submit`` makes (its options are checked on the way), or say in one line why
    not; once started, the run panel follows it."""
    try:
        job = submit()
    except NyxError as exc:
        st.error(str(exc))
        return
    ss[f"cap_job_{layout.name}"] = job.id
    st.rerun()


def _caption_form(ws: Workspace, layout: DatasetLayout, n: int) -> None:
    models = local_models(ws, "captioners")
    with st.form(f"cap_cap_form_{layout.name}"):
        c1, c2 = st.columns([2, 1])
        model = c1.selectbox("Captioner", models, index=models.index(DEFAULT_CAPTIONER) if DEFAULT_CAPTIONER in models else 0,
                             key="cap_c_model", help="Runs in sd-scripts' Python (torch + transformers)")
        mode = c2.selectbox("Existing captions", ["overwrite", "append", "skip"], key="cap_c_mode")
        c1, c2, c3 = st.columns(3)
        prompt = c1.text_input("Prompt", placeholder="e.g. a photo of", key="cap_c_prompt")
        prefix = c2.text_input("Prefix", value=layout.trigger_word or "", key=f"cap_c_prefix_{layout.name}")
        suffix = c3.text_input("Suffix", key="cap_c_suffix")
        c1, c2, c3, c4 = st.columns(4)
        max_len = c1.number_input("Max length", 4, 512, 60, key="cap_c_maxlen")
        beams = c2.number_input("Beams", 1, 16, 3, key="cap_c_beams")
        batch = c3.number_input("Batch", 1, 64, 4, key="cap_c_batch")
        device = c4.selectbox("Device", ["auto", "cuda", "cpu"], key="cap_c_device")
        go = st.form_submit_button(f"Caption {n} image(s)", type="primary", disabled=n == 0)
    if go:
        _start(layout, lambda: tjobs.submit_caption(ws, layout.name, model, CaptionOptions(
            prompt=prompt, prefix=prefix, suffix=suffix, max_length=int(max_len), beams=int(beams),
            batch=int(batch), mode=mode, device="" if device == "auto" else device)))


def _run_panel(ws: Workspace, layout: DatasetLayout, job_id: str) -> None:
    jm = JobManager(ws)
    job = jm.get(job_id)
    pkey = f"cap_progress_{job_id}"
    state = ss.get(pkey)
    state = jm.progress(job_id, state if isinstance(state, ProgressState) else ProgressState())
    ss[pkey] = state
    live_key = f"cap_live_{job_id}"
    if job.state.active or job.state.value == "queued":
        ss[live_key] = True
    elif ss.pop(live_key, False):
        st.rerun()  # just ended: redraw the page (gallery, counts, undo)
    with st.container(border=True):
        t = state.task or {}
        done, total = int(t.get("done", 0)), t.get("total")
        st.markdown(f"**{job.name}** · `{job.id}` · {job.state.value}")
        if job.state.value == "queued":
            st.info("Queued: it starts when the GPU is free.")
        frac = min(done / total, 1.0) if total else 0.0
        bits = [f"{done}/{total if total is not None else '?'} images"]
        if t.get("rate") and job.state.active:
            bits.append(f"{t['rate']:.2f} images/s")
        if t.get("eta_s") is not None and job.state.active:
            bits.append(f"ETA {int(t['eta_s'])} s")
        st.progress(frac, text=" · ".join(bits))
        if t.get("message") and job.state.active:
            st.caption(t["message"])
        if job.state.active:
            if st.button("Stop", key=f"cap_stop_{job_id}", help="Captions written so far are kept; "
                                                                 "re-run with 'skip' to finish the rest"):
                jm.stop(job_id)
                st.rerun()
            return
        if job.state.value in ("failed", "lost"):
            reason = (state.errors[-1].get("message") if state.errors else None) or job.status.reason or job.state.value
            st.error(f"The job {job.state.value}: {reason}")
        for w in state.warnings[-5:]:
            st.warning(w)
        if job.state.final:
            _review(ws, layout, job, state)


def _review(ws: Workspace, layout: DatasetLayout, job: Job, state: ProgressState) -> None:
    res = state.result or {}
    rv = tjobs.review(job)
    if res:
        verb = "Stopped" if res.get("stopped") else "Done"
        st.success(f"{verb}: {res.get('written', 0)} caption(s) written, {res.get('unchanged', 0)} unchanged, "
                   f"{res.get('skipped', 0)} skipped, {res.get('failed', 0)} unreadable.")
    if rv.samples:
        st.markdown("**Before / after** (a sample)")
        for r in rv.samples:
            c1, c2 = st.columns([1, 4])
            try:
                c1.image(str(thumbnail(ws, Path(r["path"]), 256)), width="stretch")
            except NyxError:
                c1.caption("(image gone)")
            c2.markdown(f"`{r['image']}`")
            c2.caption("before: " + (r.get("before") or "(no caption)").strip()[:400])
            c2.markdown("after: " + (r.get("after") or "").strip()[:400])
            if c2.button("Open in the tag editor", key=f"cap_open_{job.id}_{r['image']}"):
                ss["ds_selected"] = r["image"]
                st.rerun(scope="app")
    try:
        history = caption_ops.undo_history(layout)
    except NyxError as exc:
        st.caption(str(exc))
        history = []
    # the run's own history entry, wherever it is: later edits don't take its undo away
    entry = next((h for h in history if rv.journal_op is not None and h.op == rv.journal_op), None)
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    if c1.button("Undo this run", key=f"cap_undo_{job.id}", disabled=entry is None):
        try:
            res = caption_ops.undo(ws, layout, entry)
        except NyxError as exc:
            st.error(str(exc))
        else:
            st.session_state["ds_flash"] = ("success", f"Undid {rv.journal_op}: {res.restored} caption(s) restored"
                                            + (f"; {len(res.skipped)} changed since were left alone." if res.skipped
                                               else "."))
            st.rerun(scope="app")
    if entry is None:
        c2.caption("This run was undone already (or has left the 20-entry undo history).")
    elif entry is history[0]:
        c2.caption("Puts back every caption as it was before the run (the tag editor's undo).")
    else:
        c2.caption("Puts back the captions still as the run left them; ones changed since (by hand or by a "
                   "later operation) are left alone and listed.")


# -- tag editor: tags just under the threshold --------------------------------------------------------
def _scores(ws: Workspace, dataset: str) -> tuple[dict, dict]:
    """Cached per session; refreshed when a job folder is added or the scores file grows."""
    try:
        jobs_m = ws.jobs.stat().st_mtime_ns
    except OSError:
        return {}, {}
    key = f"cap_scores_{dataset}"
    hit = ss.get(key)
    if hit and hit[0] == jobs_m:
        if hit[1] is None:
            return {}, {}
        try:
            if hit[1].stat().st_mtime_ns == hit[2]:
                return hit[3], hit[4]
        except OSError:
            pass
    scores, opts, path = tjobs.latest_scores_with_path(ws, dataset)
    ss[key] = (jobs_m, path, path.stat().st_mtime_ns if path else None, scores, opts)
    return scores, opts


def near_miss_tags(ws: Workspace, layout: DatasetLayout, image: Path, text: str) -> list[tuple[str, float]]:
    scores, opts = _scores(ws, layout.name)
    if not scores:
        return []
    rel = image.relative_to(layout.root).as_posix()
    return tjobs.near_misses(scores.get(rel, {}), split_tags(text), float(opts.get("general_threshold", 0.35)))


def near_miss_picker(ws: Workspace, layout: DatasetLayout, image: Path, text: str, key: str) -> str | None:
    """Chips of tags the tagger scored just under the threshold; returns the one clicked."""
    near = near_miss_tags(ws, layout, image, text)
    if not near:
        return None
    labels = {f"{t} ({s:.2f})": t for t, s in near}
    chosen = st.pills("Just under the threshold — click to add", list(labels), selection_mode="single", key=key)
    return labels.get(chosen) if chosen else None
