"""Streamlit pieces of the Monitor page. Session state holds data only (selected job id, the
reader's ProgressState with its byte offset); never a process or a file handle."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core import system
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
    live = job.state.active or job.state.value == "queued"
    # Only active runs poll; a finished run's view is drawn once.
    st.fragment(run_every=2 if live else None)(_live_panel)(jm, job_id)
    _outputs(job)
    from nyx_ui.models_view import publish_button

    publish_button(jm.ws, job)


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
    if job.state.active:
        _stop_controls(jm, job, state)
    if job.state.value in ("failed", "lost"):
        _failure(job)
    elif job.state.value == "stopped":
        st.warning(job.status.reason or "stopped")
    elif job.state.value == "completed":
        st.success(f"Completed in {md.fmt_duration(job.status.duration_s)}: `{_in_workspace(job.spec.expected_output)}`")

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

    _samples(state)
    _log_tail(job)


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
    if job.state.active:
        _stop_controls(jm, job, state)
    if job.state.value in ("failed", "lost"):
        _failure(job)
    elif job.state.value == "stopped":
        st.warning(job.status.reason or "stopped")
    elif job.state.value == "completed":
        st.success(f"Completed in {md.fmt_duration(job.status.duration_s)}")
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
        c1.button("Stop", key=f"mon_stop_{job.id}", type="primary", on_click=ask, args=("now",))
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


def _samples(state: ProgressState) -> None:
    rows, prompts, cells = md.sample_grid(state.samples)
    if not rows:
        return
    st.markdown("**Samples** (rows: epoch, columns: prompt)")
    for r in rows:
        cols = st.columns(len(prompts))
        for c, p in zip(cols, prompts):
            path = cells.get((r, p))
            if path and Path(path).is_file():
                c.image(_sample_image(path), caption=f"e{r} · p{p}")
            else:
                c.caption(f"e{r} · p{p} …")


def _log_tail(job) -> None:
    with st.expander("Log", expanded=job.state.value in ("failed", "lost")):
        errors_only = st.toggle("Errors and warnings only", key=f"mon_errs_{job.id}")
        lines = md.filter_log(tail_lines(job.log_path, 400 if errors_only else 60), errors_only)
        st.code("\n".join(lines[-60:]) or "(nothing yet)", language=None)
        st.caption(f"full log: {job.log_path}")


def _outputs(job) -> None:
    if job.status.started_at is None:  # queued: the folder holds only earlier runs' files
        return
    name = Path(job.spec.expected_output).stem if job.spec.expected_output else None
    files = md.output_files(job.output_dir, name, since=job.status.started_at,
                            until=None if job.state.active else job.status.ended_at)
    if not files:
        if not job.state.active and md.output_files(job.output_dir, name):
            st.caption(f"This run's LoRA files were replaced by another run of the same config "
                       f"(same output folder `{_in_workspace(job.output_dir)}`).")
        return
    with st.expander(f"Output files ({len(files)})", expanded=job.state.value == "completed"):
        for p in files:
            st.download_button(f"{p.name} ({human_size(p.stat().st_size)})", data=lambda p=p: p.read_bytes(),
                               icon=":material/download:",
                               file_name=p.name, mime="application/octet-stream", key=f"mon_dl_{job.id}_{p.name}")
        st.caption("Metadata, resizing and uploading are on the Files page.")
