"""Pure helpers behind the Monitor page (no streamlit): chart figures, log filtering, the sample
grid, advice for failed runs, labels. Tested without a browser."""
from __future__ import annotations

import re
import time
from pathlib import Path
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
    import plotly.graph_objects as go

    xs, ys, label = st.loss_series()
    if not xs:
        return None
    smooth = ema(ys, smoothing)
    rx, ry = downsample(xs, ys, max_points)
    sx, sy = downsample(xs, smooth, max_points)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rx, y=ry, mode="lines", name="raw", line={"width": 1}, opacity=0.35))
    fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", name=f"smoothed ({smoothing:.2f})", line={"width": 2}))
    fig.update_layout(title=label, xaxis_title="step", yaxis_title="loss", height=300,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.25},
                      uirevision="keep")  # keep the user's zoom across refreshes
    return fig


def lr_figure(st: ProgressState, max_points: int = MAX_POINTS):
    import plotly.graph_objects as go

    if not st.lr_steps:
        return None
    x, y = downsample(st.lr_steps, st.lr_values, max_points)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name="learning rate"))
    fig.update_layout(title="learning rate", xaxis_title="step", height=220,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, uirevision="keep")
    fig.update_yaxes(exponentformat="e", showexponent="all")
    lo, hi = min(y), max(y)
    if hi - lo <= abs(hi) * 1e-6:  # a constant LR: plotly would centre it in [-1, 1]
        fig.update_yaxes(range=[0, hi * 1.5 if hi > 0 else 1])
    return fig


def sample_grid(samples: list[dict[str, Any]], last_epochs: int = 4) -> tuple[list[int], list[int], dict]:
    """(epochs shown, prompt indexes, {(epoch, prompt): path}) with the newest epochs last.
    Step-named samples (``sample_every_n_steps``) use their step as the row key."""
    cells: dict[tuple[int, int], str] = {}
    for s in samples:
        row = s.get("epoch") if s.get("epoch") is not None else s.get("step")
        if row is None or s.get("prompt") is None:
            continue
        cells[(int(row), int(s["prompt"]))] = s["path"]
    rows = sorted({r for r, _ in cells})[-last_epochs:]
    prompts = sorted({p for _, p in cells})
    return rows, prompts, cells


def output_files(output_dir: Path | None, output_name: str | None = None,
                 since: float | None = None, until: float | None = None) -> list[Path]:
    """The LoRA files of a run, newest first (the final file before a checkpoint of the same time).

    Runs of one config share its output folder, so ``since``/``until`` (the run's start and end,
    epoch seconds) keep out files that an earlier run left or a later run wrote."""
    if not output_dir or not Path(output_dir).is_dir():
        return []
    files = []
    for p in Path(output_dir).iterdir():
        if not (p.is_file() and p.suffix in (".safetensors", ".ckpt", ".pt")):
            continue
        if output_name and not p.name.startswith(output_name):
            continue
        mtime = p.stat().st_mtime
        if (since is not None and mtime < since - 1) or (until is not None and mtime > until + 5):
            continue
        files.append(p)
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


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
    if "runner process" in text and "disappeared" in text:
        tips.append("The job's runner was killed (machine restart or kill). Start the run again; "
                    "resume from the last checkpoint with `network_weights` if one was saved.")
    if "cuda" in text and "out of memory" not in text:
        tips.append("A CUDA error: check the GPU panel and `nvidia-smi`; another process may hold the GPU.")
    if not tips:
        tips.append("Read the error lines above and the full log; fix the config and start the run again.")
    return tips
