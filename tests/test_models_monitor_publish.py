"""The Monitor's "Publish this run" opens the Models page's publish form with the run preselected."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nyx_core.jobs import JobManager, JobState
from nyx_core.settings import Settings
from tests.test_jobs import synth_spec

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]


def test_publish_this_run_hands_the_output_folder_to_the_models_page(ws):
    jm = JobManager(ws, Settings())
    job = jm.wait(jm.submit(synth_spec(ws, "good", "--prompts", "1"), "good").id, 60)
    assert job.state == JobState.COMPLETED, job.status.reason
    at = AppTest.from_file(str(REPO / "pages" / "monitor.py"), default_timeout=30).run()
    assert not at.exception
    at.button(key=f"mon_publish_{job.id}").click().run()
    assert at.session_state["models_publish_path"] == ws.relative(Path(job.spec.output_dir))
