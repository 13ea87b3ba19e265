"""View helpers for the Tools page: pick a file, show what it is, and the tool forms.

Reading a file's header is cheap, but cached by (path, mtime, size) so reruns cost nothing.
Resize, merge, bake and try-it are submitted as jobs: this process never loads torch.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import streamlit as st

from nyx_core.errors import NyxError
from nyx_core.fsutil import human_size
from nyx_core.lora.info import LoraInfo, inspect
from nyx_core.lora.metadata import EDITABLE, default_edited_name, edited, user_fields, write_with_metadata
from nyx_core.lora.st import read_header
from nyx_ui.tables import frame

MAX_LISTED = 400


@st.cache_data(max_entries=32, show_spinner=False)
def cached_info(path: str, stamp: tuple[float, int]) -> LoraInfo:
    return inspect(path)


def info_for(path: Path) -> LoraInfo:
    s = path.stat()
    return cached_info(str(path), (s.st_mtime, s.st_size))


@st.cache_data(ttl=10, show_spinner=False)
def safetensors_files(root: str, folders: tuple[str, ...]) -> list[str]:
    """Workspace-relative .safetensors paths under ``folders`` (newest first, capped)."""
    base = Path(root)
    found: list[tuple[float, str]] = []
    for folder in folders:
        top = base / folder
        if not top.is_dir():
            continue
        for p in top.rglob("*.safetensors"):
            if any(part.startswith(".") for part in p.relative_to(base).parts):
                continue
            try:
                found.append((p.stat().st_mtime, p.relative_to(base).as_posix()))
            except OSError:
                continue
            if len(found) >= MAX_LISTED * 2:
                break
    return [rel for _, rel in sorted(found, reverse=True)[:MAX_LISTED]]


def overview(info: LoraInfo) -> None:
    c = st.columns(5)
    c[0].metric("Kind", info.kind)
    c[1].metric("Family", info.family)
    c[2].metric("Rank", str(info.rank or "–") + (f" / conv {info.conv_rank}" if info.conv_rank else ""))
    c[3].metric("Tensors", f"{len(info.tensors):,}")
    c[4].metric("Size", human_size(info.file_size))
    if info.summary:
        st.dataframe(frame({"": list(info.summary), "value": [str(v) for v in info.summary.values()]}),
                     hide_index=True, width="stretch", key="tools_summary")
    else:
        st.caption("No training metadata in this file.")


def tags(info: LoraInfo) -> None:
    if not info.tags:
        st.caption("No tag frequency in this file (sd-scripts writes ss_tag_frequency for captioned datasets).")
        return
    df = frame(info.tags, columns=["tag", "count"])
    left, right = st.columns([2, 3], gap="large")
    with left:
        # st.dataframe sorts by any column on a header click
        st.dataframe(df, hide_index=True, width="stretch", key="tools_tags", height=min(600, 38 + 35 * len(df)))
    with right:
        top = df.head(30)
        st.bar_chart(top, x="tag", y="count", horizontal=True, sort="-count",
                     height=max(200, 22 * len(top)))
        st.caption(f"{len(df)} tags; the bar chart shows the {len(top)} most frequent.")


def tensors(info: LoraInfo) -> None:
    needle = st.text_input("Filter tensors", key="tools_tensor_filter", placeholder="e.g. attn1 or lora_te")
    rows = [t for t in info.tensors if needle.lower() in t.name.lower()] if needle else info.tensors
    df = frame({"name": [t.name for t in rows], "dtype": [t.dtype for t in rows],
                       "shape": [" × ".join(map(str, t.shape)) or "scalar" for t in rows],
                       "parameters": [t.params for t in rows]})
    st.caption(f"{len(rows):,} of {len(info.tensors):,} tensors · {sum(t.params for t in rows):,} parameters")
    st.dataframe(df, hide_index=True, width="stretch", key="tools_tensors", height=420)


def raw_metadata(info: LoraInfo) -> None:
    with st.expander(f"All metadata keys ({len(info.metadata)})"):
        shown = {}
        for k, v in sorted(info.metadata.items()):
            try:
                shown[k] = json.loads(v) if v[:1] in "{[" else v
            except ValueError:
                shown[k] = v
        st.json(shown, expanded=False)


def edit_form(ws, path: Path, info: LoraInfo) -> None:
    current = user_fields(info.metadata)
    with st.form("tools_edit_form"):
        st.caption("Edits are written to a new file; the original is kept. An empty field removes the key.")
        values = {}
        for name in EDITABLE:
            label = {"trigger": "Trigger words", "license": "Licence"}.get(name, name.capitalize())
            if name in ("description", "comment"):
                values[name] = st.text_area(label, value=current[name], key=f"tools_md_{name}", height=80)
            else:
                values[name] = st.text_input(label, value=current[name], key=f"tools_md_{name}")
        out = st.text_input("Save as", value=ws.relative(default_edited_name(path)), key="tools_md_out")
        submitted = st.form_submit_button("Save as new file", icon=":material/save:")
    if submitted:
        try:
            dest = ws.resolve(out)
            if dest.exists():
                raise NyxError(f"{out} already exists: choose a new name")
            if dest.suffix != ".safetensors":
                raise NyxError("the new file must end in .safetensors")
            changes = {k: v for k, v in values.items() if v != current[k]}
            md = edited(read_header(path).metadata, changes)
            write_with_metadata(path, dest, md)
            st.success(f"Wrote `{ws.relative(dest)}` ({len(changes)} field(s) changed).")
        except (NyxError, OSError) as exc:
            st.error(str(exc))


def output_name(path: Path, suffix: str) -> str:
    return path.with_name(f"{path.stem}-{suffix}.safetensors").name


def job_submitted(job) -> None:
    st.success(f"Started job `{job.id}` ({job.state.value}). Follow it on the Monitor.")
    try:
        st.page_link("pages/monitor.py", label="Open Monitor", icon=":material/monitoring:",
                     query_params={"job": job.id})
    except Exception:  # noqa: BLE001 - page links need the app's navigation; a single-page test has none
        st.markdown(f"[Open Monitor](monitor?job={job.id})")


def try_grids(path: Path) -> list[Path]:
    folder = path.parent / "try"
    if not folder.is_dir():
        return []
    grids = [p / "grid.png" for p in folder.iterdir()
             if p.name.startswith(path.stem) and (p / "grid.png").is_file()]
    return sorted(grids, key=lambda p: p.stat().st_mtime, reverse=True)


def show_grid(ws, grid: Path) -> None:
    recipe = {}
    try:
        recipe = json.loads((grid.parent / "recipe.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    cap = f"{ws.relative(grid)} · {time.strftime('%Y-%m-%d %H:%M', time.localtime(grid.stat().st_mtime))}"
    st.image(str(grid), caption=cap)
    if recipe:
        with st.expander("Recipe"):
            st.json({k: recipe[k] for k in ("prompts", "strengths", "files", "seed", "steps", "width", "height",
                                             "sampler", "base") if k in recipe}, expanded=False)


def inspect_link(rel: str, label: str = "Inspect in LoRA tools") -> None:
    """A link into the Tools page with ``?file=`` (used by the Monitor and Files)."""
    try:
        st.page_link("pages/tools.py", label=label, icon=":material/search:", query_params={"file": rel})
    except Exception:  # noqa: BLE001 - page links need the app's navigation; a single-page run has none
        from urllib.parse import quote

        st.markdown(f"[{label}](tools?file={quote(rel)})")
