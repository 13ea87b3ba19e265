"""Streamlit pieces of the Monitor page. Session state holds data only (selected job id, the
reader's ProgressState with its byte offset); never a process or a file handle."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core import system
from nyx_core.errors import NyxError
from nyx_core.fsutil import human_size
from nyx_core.jobs import JobManager, ProgressState
from nyx_core.jobs.store import tail_lines
from nyx_ui import monitor_data as md

SAVE_STOP_HELP = (
    "sd-scripts has no save-on-signal: interrupting it loses the steps since the last save. "
    "**Save and stop** lets the run continue until sd-scripts writes its next checkpoint "
    "(per the config's save-every-N-epochs/steps, or the final save), then stops it."
)


def system_panel(ws) -> None:
    gpus = system.gpu_summary()
    mem = system.memory_summary()
    free = system.disk_free(ws.root)
    with st.expander("Machine", expanded=bool(gpus)):
        for g in gpus:  # hidden when there is no GPU
            used, total = g["memory_used_mb"], g["memory_total_mb"]
            st.markdown(f"**GPU {g['index']}** {g['name']} · {g['utilization_pct']}% · "
                        f"{used / 1024:.1f}/{total / 1024:.1f} GB · {g['temperature_c']} °C")
            st.progress(min(1.0, used / total) if total else 0.0)
        st.caption(f"RAM {human_size(mem['used'])} used of {human_size(mem['total'])} · "
                   f"workspace disk free {human_size(free)}")


def active_and_queue(jm: JobManager, active, queued) -> None:
    st.subheader("Now")
    if not active:
        st.caption("No run is active.")
    for j in active:
        st.markdown(f"{md.STATE_ICON.get(j.state.value, '')} **{j.name}** · {j.state.value} · `{j.id}`")
    if queued:
        st.markdown("**Queue** (runs start in this order when the GPU is free)")
        for i, j in enumerate(queued):
            # one wrapping row: columns would stack the three buttons under each other on a phone
            row = st.container(horizontal=True, vertical_alignment="center", gap="small")
            row.markdown(f"{i + 1}. {j.name} · `{j.id}`", width="stretch")
            c2 = c3 = c4 = row.container(horizontal=True, gap="small", width="content")  # wraps as one group
            c2.button("", icon=":material/arrow_upward:", key=f"q_up_{j.id}", disabled=i == 0, help="start earlier",
                      on_click=jm.move_in_queue, args=(j.id, -1))
            c3.button("", icon=":material/arrow_downward:", key=f"q_dn_{j.id}", disabled=i == len(queued) - 1,
                      help="start later",
                      on_click=jm.move_in_queue, args=(j.id, 1))
            c4.button("", icon=":material/close:", key=f"q_rm_{j.id}", help="remove from the queue",
                      on_click=jm.remove_from_queue, args=(j.id,))


def reconcile_offer(jm: JobManager, jobs) -> None:
    """Reads never record a lost run nor start queued work: this button does (explicitly)."""
    unrecorded = [j for j in jobs if j.unrecorded]
    free_queue = bool(jm.queued()) and not any(j.state.active for j in jobs)
    if not unrecorded and not free_queue:
        return
    what = []
    if unrecorded:
        what.append(f"{len(unrecorded)} run(s) lost their runner (" + ", ".join(j.name for j in unrecorded[:3]) + ")")
    if free_queue:
        what.append("queued runs wait with the GPU free")
    box = st.container(border=True)
    box.warning("; ".join(what) + ". **Reconcile** records lost runs, ends any training program they "
                "left behind, and starts the next queued run.")

    def go() -> None:
        lost, started = jm.reconcile()
        st.session_state["mon_reconciled"] = f"Recorded {len(lost)} lost run(s), started {len(started)}."

    box.button("Reconcile", key="mon_reconcile", icon=":material/sync:", on_click=go)
    if st.session_state.get("mon_reconciled"):
        box.caption(st.session_state.pop("mon_reconciled"))


def _states_signature(jobs) -> tuple:
    return tuple((j.id, j.state.value) for j in jobs)


def watch_states(jm: JobManager, jobs) -> None:
    """While any job is active or queued, check every 2 s whether a job changed state (ended,
    started, was queued) and then redraw the page, so the selector, the queue and the history
    say what is true (only the selected run's panel refreshes on its own)."""
    if not any(j.state.active or j.state.value == "queued" for j in jobs):
        return
    seen = _states_signature(jobs)

    def check() -> None:
        if _states_signature(jm.list()) != seen:
            st.rerun(scope="app")

    st.fragment(run_every=2)(check)()


def pick_job(jobs) -> str | None:
    st.subheader("Runs")
    if not jobs:
        st.info("No runs yet. Start one on the Training page (or `nyx train start FILE`).")
        return None
    states = ["all"] + sorted({j.state.value for j in jobs})
    which = st.selectbox("Show", states, key="mon_filter", help="filter the history by state")
    shown = [j for j in jobs if which == "all" or j.state.value == which]
    if not shown:
        st.caption("No run in that state.")
        return None
    ids = [j.id for j in shown]
    # the Training page hands over the run it just started as "monitor_job_id"; ?job=<id> links too
    handover = st.session_state.pop("monitor_job_id", None)
    previous = st.session_state.get("mon_job")
    wanted = handover or (st.query_params.get("job") if previous is None else previous)
    if wanted not in ids:
        active = [j.id for j in shown if j.state.active]
        wanted = active[0] if active else ids[0]
    labels = {j.id: md.job_label(j) for j in shown}
    if handover or previous is None or st.session_state.get("mon_pick") not in ids:
        st.session_state["mon_pick"] = wanted
    chosen = st.selectbox("Run", ids, format_func=labels.get, key="mon_pick")
    st.session_state["mon_job"] = chosen
    return chosen


def _state_for(job_id: str) -> ProgressState:
    key = f"mon_progress_{job_id}"
    state = st.session_state.get(key)
    if not isinstance(state, ProgressState):
        state = ProgressState()
    return state


def run_view(jm: JobManager, job_id: str) -> None:
    job = jm.get(job_id)
    if job.damage:
        st.markdown(f"### {job.name}")
        st.error(f"This job's files are damaged: {job.damage}. Nyx cannot show, stop or restart it; "
                 f"its folder is `{_in_workspace(job.dir)}` (inspect or delete it on the Files page).")
        return
    live = job.state.active or job.state.value == "queued"
    # Only active runs poll; a finished run's view is drawn once. The output list is part of
    # the live panel, so files saved during the run appear as they are written.
    st.fragment(run_every=2 if live else None)(_live_panel)(jm, job_id)
    run_actions(jm, job)
    from nyx_ui.models_view import publish_button

    publish_button(jm.ws, job)  # the run's own output folder: exactly this run's files


def _live_panel(jm: JobManager, job_id: str) -> None:
    job = jm.get(job_id)
    live_key = f"mon_live_{job_id}"
    if job.state.active:
        st.session_state[live_key] = True
    elif st.session_state.pop(live_key, False):
        st.rerun()  # the run just ended: redraw the whole page (outputs, queue, history)
    state = jm.progress(job_id, _state_for(job_id))  # reads only the bytes added since last time
    st.session_state[f"mon_progress_{job_id}"] = state

    st.markdown(f"### {md.STATE_ICON.get(job.state.value, '')} {job.name}")
    st.caption(f"`{job.id}` · {job.state.value}" + (f" · {state.phase}" if state.phase and job.state.active else "")
               + f" · {md.fmt_duration(job.status.duration_s)}")
    if job.state.value == "queued":
        st.info("Queued: it starts when the run before it ends.")
    if job.spec.kind != "train":
        _task_panel(jm, job, state)
        return
    total = state.total or 0
    st.progress(state.fraction, text=f"step {state.step}/{total or '?'}")
    st.markdown(
        f"Epoch **{state.epoch or '–'}/{state.epochs or '–'}** · speed **{md.speed_text(state)}** · "
        f"ETA **{md.fmt_duration(state.eta_s) if job.state.active else '–'}** · "
        f"loss **{md.loss_text(state)}**",
        help="speed, ETA and loss (running average) as sd-scripts' progress bar reports them",
    )
    _controls_and_outcome(jm, job, state, f": `{_in_workspace(job.spec.expected_output)}`")

    smoothing = st.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key=f"mon_smooth_{job_id}")
    fig = md.loss_figure(state, smoothing)
    if fig is None:
        st.caption("The loss chart appears with the first training step.")
    else:
        st.plotly_chart(fig, key=f"mon_loss_{job_id}", config={"displaylogo": False})
    lr = md.lr_figure(state)
    if lr is not None:
        st.plotly_chart(lr, key=f"mon_lr_{job_id}", config={"displaylogo": False})
    st.caption(f"{len(state.loss_values) or len(state.avr_values)} points · {state.events} events read",
               help="per-step loss and learning rate come from sd-scripts' TensorBoard logs")

    if state.notify and not state.notify.get("ok"):
        st.warning(f"The end-of-run webhook failed: {state.notify.get('message')}")
    if state.bad_events:
        st.warning(f"{state.bad_events} damaged progress line(s) skipped ({state.bad_event}); "
                   "the rest of the run is shown.")
    _samples(job, state)
    _outputs(job)
    _log_tail(job)


def _controls_and_outcome(jm: JobManager, job, state: ProgressState, produced: str = "") -> None:
    """Stop while it runs; afterwards how it ended (training runs name the file they wrote)."""
    if job.state.active:
        _stop_controls(jm, job, state)
    if job.state.value in ("failed", "lost"):
        _failure(job)
    elif job.state.value == "stopped":
        st.warning(job.status.reason or "stopped")
    elif job.state.value == "completed":
        st.success(f"Completed in {md.fmt_duration(job.status.duration_s)}{produced}")


def _task_panel(jm: JobManager, job, state: ProgressState) -> None:
    """A non-training job (tagging, captioning, download, generation, LoRA tool): its counted
    progress, its result, and the same stop and failure views as a run."""
    task = state.task or {}
    done, total, unit = task.get("done", 0), task.get("total"), task.get("unit", "items")
    st.progress(state.fraction, text=f"{done}/{total if total is not None else '?'} {unit}")
    rate = task.get("rate")
    st.markdown(f"speed **{f'{rate:.2f} {unit}/s' if rate else '–'}** · "
                f"ETA **{md.fmt_duration(task.get('eta_s')) if job.state.active else '–'}**")
    if task.get("message"):
        st.caption(task["message"])
    _controls_and_outcome(jm, job, state)
    if state.notify and not state.notify.get("ok"):
        st.warning(f"The end-of-run webhook failed: {state.notify.get('message')}")
    if state.result:
        with st.expander("Result", expanded=job.state.value == "completed"):
            st.json(state.result)
    _log_tail(job)


def _stop_controls(jm: JobManager, job, state: ProgressState) -> None:
    # Callbacks (not st.rerun) so this works in full runs and fragment runs alike.
    key = f"mon_confirm_{job.id}"

    def ask(mode: str | None) -> None:
        if mode is None:
            st.session_state.pop(key, None)
        else:
            st.session_state[key] = mode

    def confirm(mode: str) -> None:
        jm.stop(job.id, save=mode == "save")
        st.session_state.pop(key, None)

    if job.status.stop_request == "after_checkpoint" and job.state.value == "running":
        st.info("Will stop right after the next checkpoint is saved.")
    if job.state.value == "stopping":
        st.info("Stopping: sent the stop signal; waiting for the processes to end.")
        return
    pending = st.session_state.get(key)
    if pending is None:
        c1, c2 = st.columns(2)
        # secondary on purpose: stopping loses work, it must not be the loudest thing on the page
        c1.button("Stop", key=f"mon_stop_{job.id}", type="secondary", on_click=ask, args=("now",))
        c2.button("Save and stop", key=f"mon_savestop_{job.id}", help=SAVE_STOP_HELP, on_click=ask, args=("save",))
        return
    if pending == "now":
        last = f" (last: {Path(state.checkpoints[-1]).name})" if state.checkpoints else ""
        st.warning("Stop now? sd-scripts gets SIGINT, then SIGTERM, then SIGKILL. Steps since the last "
                   f"checkpoint are lost{last}.")
    else:
        st.warning(SAVE_STOP_HELP)
    c1, c2 = st.columns(2)
    c1.button("Yes, stop", key=f"mon_yes_{job.id}", type="primary", on_click=confirm, args=(pending,))
    c2.button("Cancel", key=f"mon_no_{job.id}", on_click=ask, args=(None,))


def _in_workspace(path) -> str:
    """A workspace-relative path for display (what the Files page shows); absolute if outside."""
    from nyx_ui.context import get_workspace

    try:
        return get_workspace().relative(Path(path))
    except Exception:  # outside the workspace
        return str(path)


def _failure(job) -> None:
    code, reason = job.status.exit_code, job.status.reason or "no reason recorded"
    # the reason usually names the code already ("exited with code 1: …")
    show_code = code is not None and f"code {code}" not in reason
    st.error(f"**{job.state.value.capitalize()}**" + (f" (exit code {code})" if show_code else "") + f": {reason}")
    if job.status.error_lines:
        st.code("\n".join(job.status.error_lines[-15:]), language=None)
    st.markdown("**What to try**\n" + "\n".join(f"- {t}" for t in md.advice(job.status.reason, job.status.error_lines)))


def _sample_image(path: str) -> str:
    """A small cached thumbnail (the grid refreshes every 2 s); the original if that fails."""
    try:
        from nyx_core.thumbnails import thumbnail
        from nyx_ui.context import get_workspace

        return str(thumbnail(get_workspace(), Path(path), 256))
    except Exception:  # outside the workspace, unreadable, or thumbnails unavailable
        return path


@st.dialog("Sample", width="large")
def _enlarge(path: str, label: str) -> None:
    st.image(path, caption=label)


def _samples(job, state: ProgressState) -> None:
    rows, prompts, cells = md.sample_grid(state.samples)
    if not rows:
        return
    texts = md.prompt_texts(_read_text(job.render_dir / "sample_prompts.txt"))
    show_all = len(rows) <= 8 or st.toggle(f"Show all {len(rows)} rows", key=f"mon_allsamples_{job.id}")
    shown = rows if show_all else rows[-8:]
    st.markdown(f"**Samples** ({len(state.samples)}; rows: {'epoch' if state.samples[0].get('epoch') else 'step'}, "
                "newest first; columns: prompt)")
    width = min(len(prompts), 4)  # wraps: more prompts than that continue on the next line
    for r in reversed(shown):
        row_label = md.sample_row_label(state.samples, r)
        st.caption(row_label)
        for start in range(0, len(prompts), width):
            cols = st.columns(width)
            for c, p in zip(cols, prompts[start:start + width]):
                path = cells.get((r, p))
                prompt = texts[p] if p < len(texts) else f"prompt {p}"
                label = f"{row_label} · #{p}: {prompt}"
                if path and Path(path).is_file():
                    c.image(_sample_image(path), caption=label[:80] + ("…" if len(label) > 80 else ""))
                    if c.button("Enlarge", key=f"mon_big_{job.id}_{r}_{p}", icon=":material/open_in_full:",
                                type="tertiary"):
                        _enlarge(path, label)
                else:
                    c.caption(f"{label} …")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _log_tail(job) -> None:
    with st.expander("Log", expanded=job.state.value in ("failed", "lost")):
        errors_only = st.toggle("Errors and warnings only", key=f"mon_errs_{job.id}")
        lines = md.filter_log(tail_lines(job.log_path, 400 if errors_only else 60), errors_only)
        st.code("\n".join(lines[-60:]) or "(nothing yet)", language=None)
        st.caption(f"full log: {job.log_path}")


def _inspect_link(p: Path) -> None:
    from nyx_core.errors import NyxError
    from nyx_ui.context import get_workspace
    from nyx_ui.lora_view import inspect_link

    try:
        inspect_link(get_workspace().relative(p), label=f"Inspect {p.name}")
    except (NyxError, ValueError):
        pass


def _outputs(job) -> None:
    from nyx_core.jobs.outputs import run_files

    files = run_files(job)  # the one listing the CLI and notebooks use too
    if not files.loras and not files.states:
        return
    where = f" in `{_in_workspace(files.folder)}`" if files.folder else ""
    with st.expander(f"Output files ({len(files.loras)}){where}", expanded=job.state.value == "completed"):
        if files.shared:
            st.caption("An older run: its config's runs shared one folder, so these are the files written "
                       "while it ran.")
        for p in files.loras:
            try:
                size = human_size(p.stat().st_size)
            except OSError:
                continue  # removed meanwhile (save_last_n_epochs)
            st.download_button(f"{p.name} ({size})", data=lambda p=p: p.read_bytes(), icon=":material/download:",
                               file_name=p.name, mime="application/octet-stream", key=f"mon_dl_{job.id}_{p.name}")
            if p.suffix == ".safetensors":
                _inspect_link(p)
        for p in files.states:
            st.caption(f"Saved training state `{p.name}`: resumable (below).")
        if files.loras:
            st.caption("Metadata, resizing, merging and trying a LoRA are on the LoRA tools page (Inspect).")


def run_actions(jm: JobManager, job) -> None:
    """Resume from a saved state, re-run, clone to a new config: each a new run (or file); the run
    shown is never changed. Starting a config that is already queued or running asks first."""
    from nyx_core.jobs.manager import AlreadyActive
    from nyx_core.jobs.outputs import run_files

    if job.spec.kind != "train" or job.damage or not (job.dir / "job.toml").is_file():
        return
    key = f"mon_act_{job.id}"
    states = run_files(job).states if job.state.final else []
    row = st.container(horizontal=True, gap="small")
    if states:
        if row.button("Resume from this state", key=f"mon_resume_{job.id}", icon=":material/resume:",
                      help=f"a new run of the same config that continues from `{states[0].name}`"):
            st.session_state[key] = ("resume", False)
    if job.state.final and row.button("Re-run", key=f"mon_rerun_{job.id}", icon=":material/replay:",
                                      help="a new run of the config this run was started with"):
        st.session_state[key] = ("rerun", False)
    with row.popover("Clone to new config", icon=":material/content_copy:"):
        new = st.text_input("New config name", key=f"mon_clone_name_{job.id}", value=f"{job.name}-copy")
        if st.button("Save as new config", key=f"mon_clone_{job.id}"):
            try:
                dest = jm.clone_config(job.id, new)
                st.success(f"Saved `{jm.ws.relative(dest)}`: open it on the Training page.")
            except NyxError as exc:
                st.error(str(exc))
    pending = st.session_state.get(key)
    if not pending:
        return
    what, again = pending
    try:
        new_job = jm.resume(job.id, again=again) if what == "resume" else jm.rerun(job.id, again=again)
    except AlreadyActive as exc:
        st.warning(str(exc).replace(" (CLI: --again)", ""))
        c1, c2 = st.columns(2)
        if c1.button("Start another run", key=f"mon_again_{job.id}"):
            st.session_state[key] = (what, True)
            st.rerun()
        if c2.button("Cancel", key=f"mon_again_no_{job.id}"):
            st.session_state.pop(key, None)
            st.rerun()
        return
    except NyxError as exc:
        st.session_state.pop(key, None)
        st.error(str(exc))
        return
    st.session_state.pop(key, None)
    st.session_state["monitor_job_id"] = new_job.id
    st.rerun()
