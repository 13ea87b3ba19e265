"""Monitor: the active run and the queue, the run history, and one run live (progress, loss and
learning-rate charts, samples, log, outputs, stop)."""
import streamlit as st

from nyx_core.jobs import JobManager
from nyx_ui import monitor_views as views
from nyx_ui.context import get_settings, get_workspace

st.title("Monitor")
ws = get_workspace()
jm = JobManager(ws, get_settings())
jobs = jm.list()  # reconciles: a run whose process died shows as failed/lost, never "running" forever

views.system_panel(ws)
views.active_and_queue(jm, [j for j in jobs if j.state.active], jm.queued())
job_id = views.pick_job(jobs)
if job_id:
    views.run_view(jm, job_id)
