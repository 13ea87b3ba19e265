"""The Monitor's charts are built from plain specs (no per-refresh validation, issue 15): what
reaches the browser must still be a valid plotly figure with every point and epoch mark."""
from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools

from nyx_core.jobs import ProgressState
from nyx_ui import monitor_data as md


def _sent(fig) -> dict:
    """The figure exactly as st.plotly_chart serialises it for the browser."""
    return json.loads(pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, True), validate=False))


def _values(arr) -> list:
    if isinstance(arr, dict):  # numpy arrays travel as base64 typed arrays
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"])).tolist()
    return arr


def test_the_charts_sent_to_the_browser_are_valid_and_complete():
    steps = list(range(1, 41))
    st = ProgressState(loss_steps=steps, loss_values=[0.5 - s / 100 for s in steps], lr_steps=steps,
                       lr_values=[1e-4] * 40, epoch_starts=[[1, 0], [2, 10], [3, 20], [4, 30]])
    for fig in (md.loss_figure(st, 0.0), md.lr_figure(st)):
        sent = _sent(fig)
        go.Figure(sent)  # plotly's own validation accepts every property (raises otherwise)
        assert [s["x0"] for s in sent["layout"]["shapes"]] == [10.5, 20.5, 30.5]
        assert [a["text"] for a in sent["layout"]["annotations"]] == ["e2", "e3", "e4"]
        assert _values(sent["data"][0]["x"]) == steps
    loss = _sent(md.loss_figure(st, 0.0))
    assert _values(loss["data"][0]["y"]) == [0.5 - s / 100 for s in steps]
    assert loss["layout"]["uirevision"] == "keep"  # the user's zoom survives refreshes
    lr = _sent(md.lr_figure(st))
    assert lr["layout"]["yaxis"]["range"] == [0, 1e-4 * 1.5]  # a constant LR is not centred in [-1, 1]
