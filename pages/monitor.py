"""Monitor: the active run and the queue, the run history, and one run live (progress, loss and
learning-rate charts, samples, log, outputs, stop)."""
import streamlit as st

from nyx_core.jobs import JobManager
from nyx_ui import monitor_views as views
from nyx_ui.context import get_settings, get_workspace

st.title("Monitor")
ws = get_workspace()
jm = JobManager(ws, get_settings())
jobs = jm.list()  # pure: a run whose runner died shows "lost" (unrecorded) but nothing is written here

views.system_panel(ws)
views.active_and_queue(jm, [j for j in jobs if j.state.active], jm.queued())
views.reconcile_offer(jm, jobs)
views.watch_states(jm, jobs)  # a stopped/failed run never keeps saying "running" in the selector
job_id = views.pick_job(jobs)
if job_id:
    views.run_view(jm, job_id)
