"""Pure helpers behind the Monitor page (no streamlit): chart figures, log filtering, the sample
grid, advice for failed runs, labels. Tested without a browser."""
from __future__ import annotations

import re
import time
from typing import Any

from nyx_core.jobs.reader import ProgressState, downsample, ema

MAX_POINTS = 1500
# Material icon shortcodes (markdown only), not emoji: a browser without an emoji font shows boxes.
STATE_ICON = {
    "queued": ":material/schedule:", "starting": ":material/rocket_launch:",
    "running": ":material/directions_run:", "stopping": ":material/pending:",
    "completed": ":material/check_circle:", "failed": ":material/error:",
    "stopped": ":material/stop_circle:", "lost": ":material/help:",
}
_ERRORISH = re.compile(r"(error|exception|traceback|warning|failed|killed|out of memory|oom|^\s+File \")", re.I)


def job_label(job) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.status.created_at))
    # plain text: select boxes show options verbatim (no icon shortcodes)
    return f"{job.name} · {job.state.value} · {when}"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h {m:02d}m"
    return f"{m}m {sec:02d}s" if m else f"{sec}s"


def speed_text(st: ProgressState) -> str:
    if not st.it_per_s:
        return "–"
    return f"{st.it_per_s:.2f} it/s" if st.it_per_s >= 1 else f"{1 / st.it_per_s:.2f} s/it"


def loss_text(st: ProgressState) -> str:
    if st.avr_loss is not None:
        return f"{st.avr_loss:.4g}"
    return f"{st.loss_values[-1]:.4g}" if st.loss_values else "–"


def filter_log(lines: list[str], errors_only: bool) -> list[str]:
    if not errors_only:
        return lines
    return [ln for ln in lines if _ERRORISH.search(ln)]


def loss_figure(st: ProgressState, smoothing: float, max_points: int = MAX_POINTS):
    """Raw loss (faint) and its debiased EMA (bold) against step; None when there is no data."""
    xs, ys, label = st.loss_series()
    if not xs:
        return None
    smooth = ema(ys, smoothing)
    rx, ry = downsample(xs, ys, max_points)
    sx, sy = downsample(xs, smooth, max_points)
    spec = {
        "data": [
            {"type": "scatter", "x": rx, "y": ry, "mode": "lines", "name": "raw", "line": {"width": 1},
             "opacity": 0.35},
            {"type": "scatter", "x": sx, "y": sy, "mode": "lines", "name": f"smoothed ({smoothing:.2f})",
             "line": {"width": 2}},
        ],
        "layout": {"title": {"text": label}, "xaxis": {"title": {"text": "step"}},
                   "yaxis": {"title": {"text": "loss"}}, "height": 300,
                   "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend": {"orientation": "h", "y": -0.25},
                   "uirevision": "keep"},  # keep the user's zoom across refreshes
    }
    step_axis(spec["layout"], xs[-1], st.epoch_starts)
    return figure(spec)


def figure(spec: dict):
    """A plotly Figure from a plain spec, without plotly's per-property validation: building a
    validated figure with epoch lines cost ~0.3 s of server CPU on every live refresh (the
    Monitor redraws both charts every 2 s). The specs here are fixed shapes written by this
    module, so validating them each time buys nothing."""
    import numpy as np
    import plotly.graph_objects as go

    for trace in spec["data"]:
        # numpy arrays travel as one base64 block instead of being copied and walked per number
        trace["x"], trace["y"] = np.asarray(trace["x"]), np.asarray(trace["y"], dtype=np.float64)
    return go.Figure(spec, _validate=False)


def step_axis(layout: dict, last_step: int, epoch_starts: list) -> None:
    """Steps are whole numbers: integer ticks (never 1.5), and a dotted line where each epoch
    after the first began (between its first step and the step before)."""
    span = max(1, int(last_step))
    xaxis = layout.setdefault("xaxis", {})
    if span <= 12:
        xaxis.update(tickmode="linear", tick0=0, dtick=1)
    else:
        xaxis["tickformat"] = "d"
    for epoch, after_step in epoch_boundaries(epoch_starts):
        x = after_step + 0.5
        layout.setdefault("shapes", []).append(
            {"type": "line", "xref": "x", "yref": "y domain", "x0": x, "x1": x, "y0": 0, "y1": 1,
             "line": {"width": 1, "dash": "dot", "color": "gray"}})
        layout.setdefault("annotations", []).append(
            {"xref": "x", "yref": "y domain", "x": x, "y": 1, "text": f"e{epoch}", "showarrow": False,
             "xanchor": "right", "yanchor": "top", "font": {"size": 10}})


def epoch_boundaries(epoch_starts: list) -> list[tuple[int, int]]:
    """(epoch, the last step before it) for every epoch after the first; at most 50 lines."""
    out = [(int(e), int(s)) for e, s in epoch_starts if int(e) > 1 and int(s) > 0]
    if len(out) > 50:  # a long run: mark a readable subset
        k = -(-len(out) // 50)
        out = out[::k]
    return out


def lr_figure(st: ProgressState, max_points: int = MAX_POINTS):
    if not st.lr_steps:
        return None
    x, y = downsample(st.lr_steps, st.lr_values, max_points)
    layout = {"title": {"text": "learning rate"}, "xaxis": {"title": {"text": "step"}}, "height": 220,
              "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "uirevision": "keep",
              "yaxis": {"exponentformat": "e", "showexponent": "all"}}
    step_axis(layout, x[-1], st.epoch_starts)
    lo, hi = min(y), max(y)
    if hi - lo <= abs(hi) * 1e-6:  # a constant LR: plotly would centre it in [-1, 1]
        layout["yaxis"]["range"] = [0, hi * 1.5 if hi > 0 else 1]
    return figure({"data": [{"type": "scatter", "x": x, "y": y, "mode": "lines", "name": "learning rate"}],
                   "layout": layout})


def sample_grid(samples: list[dict[str, Any]], last_epochs: int | None = None) -> tuple[list[int], list[int], dict]:
    """(row keys, prompt indexes, {(row, prompt): path}), oldest row first: every sample of the
    run (``last_epochs`` keeps only the newest rows). Step-named samples
    (``sample_every_n_steps``) use their step as the row key."""
    cells: dict[tuple[int, int], str] = {}
    for s in samples:
        row = s.get("epoch") if s.get("epoch") is not None else s.get("step")
        if row is None or s.get("prompt") is None:
            continue
        cells[(int(row), int(s["prompt"]))] = s["path"]
    rows = sorted({r for r, _ in cells})
    if last_epochs:
        rows = rows[-last_epochs:]
    prompts = sorted({p for _, p in cells})
    return rows, prompts, cells


def sample_row_label(samples: list[dict[str, Any]], row: int) -> str:
    """"epoch 3" or "step 400", as the run named its samples."""
    by_step = any(s.get("epoch") is None and s.get("step") == row for s in samples)
    return f"step {row}" if by_step else f"epoch {row}"


def prompt_texts(sample_prompts: str | None) -> list[str]:
    """The prompt of each sample index, from the rendered sample_prompts.txt (sd-scripts counts
    non-empty, non-comment lines; ``--n``/``--w``… options are cut off for the label)."""
    out = []
    for line in (sample_prompts or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(re.split(r"\s--\w", line, maxsplit=1)[0].strip())
    return out


def advice(reason: str | None, error_lines: list[str]) -> list[str]:
    """What to try, from the failure's text. Short, concrete, honest (may be empty)."""
    text = " ".join([reason or ""] + list(error_lines)).lower()
    tips = []
    if "out of memory" in text or "sigkill" in text or "outofmemoryerror" in text:
        tips.append("Out of memory: lower the batch size or resolution, enable gradient checkpointing, "
                    "cache latents, or use fp8/blocks-to-swap for large models.")
    if "no data found" in text or "wrote no lora" in text:
        tips.append("No training images were found: the dataset folder must contain "
                    "`<repeats>_<name>` folders with images (check the Datasets page).")
    if "extra keys not allowed" in text or "invalid user config" in text:
        tips.append("sd-scripts rejected the dataset config: re-render it from the Training page.")
    if "not found" in text and ("config" in text or "no such file" in text):
        tips.append("A file was not found: check the base model and dataset paths on the Training page.")
    if "duplicated lora name" in text:
        tips.append("LyCORIS 4.x fails on SD1.5 with its default preset: install lycoris-lora 3.4.0.")
    if ("runner process" in text and "disappeared" in text) or "machine restarted" in text:
        tips.append("The job's runner was killed (machine restart or kill). Re-run it, or Resume from this "
                    "state if the run saved one (turn on 'save state' to make runs resumable).")
    if "cuda" in text and "out of memory" not in text:
        tips.append("A CUDA error: check the GPU panel and `nvidia-smi`; another process may hold the GPU.")
    if not tips:
        tips.append("Read the error lines above and the full log; fix the config and start the run again.")
    return tips
