"""Streamlit pieces for the Datasets page: reports, previews, the tag grid, the bucket chart."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core.datasets.caption_ops import Preview
from nyx_core.datasets.health import HealthReport
from nyx_core.datasets.ingest import IngestReport
from nyx_ui.tables import frame


def flash(kind: str, text: str) -> None:
    """Show a message on the next run (after st.rerun())."""
    st.session_state["ds_flash"] = (kind, text)


def show_flash() -> None:
    item = st.session_state.pop("ds_flash", None)
    if item:
        getattr(st, item[0])(item[1])


def note(slot: str, kind: str, text: str, details: list[str] | None = None) -> None:
    """A result to show on the next run next to the action that caused it (``show_note(slot)``):
    on a long page a message at the top is off-screen from the button."""
    st.session_state[f"ds_note_{slot}"] = (kind, text, details or [])


def show_note(slot: str) -> None:
    # always one container here, filled or not: the page keeps the same shape run to run, so the
    # browser never shows a stale copy of the widgets below while the new run draws
    box = st.container(key=f"ds_note_box_{slot}")
    item = st.session_state.pop(f"ds_note_{slot}", None)
    if item:
        kind, text, details = item
        with box:
            getattr(st, kind)(text)
            if details:
                st.code("\n".join(details[:100]) + ("\n…" if len(details) > 100 else ""), language=None)


def ingest_report(report: IngestReport) -> None:
    (st.success if report.taken else st.warning)(report.summary())
    if report.renamed:
        with st.expander(f"Renamed to avoid overwriting ({len(report.renamed)})"):
            st.dataframe(frame(report.renamed, columns=["from", "saved as"]), hide_index=True)
    if report.skipped:
        with st.expander(f"Skipped ({len(report.skipped)})", expanded=True):
            st.dataframe(frame(report.skipped, columns=["file", "why"]), hide_index=True,
                         width="stretch")


def preview_block(pv: Preview, root: Path) -> None:
    st.markdown(f"**Preview: {pv.op}** — {pv.changed} of {pv.total} caption(s) would change.")
    if pv.samples:
        rows = [{"image": s.image.relative_to(root).as_posix(), "before": s.before if s.before is not None
                 else "(no caption)", "after": s.after} for s in pv.samples]
        st.dataframe(frame(rows), hide_index=True, width="stretch")


def tag_grid(freq: list[tuple[str, int]], key: str) -> list[str]:
    """An AG Grid of tags with counts and checkbox selection; returns the selected tags.

    The grid is a custom component; where it cannot render (AppTest) it yields no selection and the
    page's multiselect does the job."""
    df = frame(freq, columns=["tag", "count"])
    try:
        from st_aggrid import AgGrid, GridOptionsBuilder

        gb = GridOptionsBuilder.from_dataframe(df)
        gb.configure_selection("multiple", use_checkbox=True, header_checkbox=True)
        gb.configure_column("tag", filter=True, sortable=True, flex=3)
        gb.configure_column("count", sortable=True, flex=1, sort="desc")
        gb.configure_grid_options(pagination=True, paginationPageSize=20)
        grid = AgGrid(df, gridOptions=gb.build(), height=330, key=key, update_on=["selectionChanged"],
                      show_download_button=False, show_toolbar=False)
        rows = grid.selected_rows
    except Exception:  # noqa: BLE001 - the table is a convenience; the multiselect below still works
        st.dataframe(df, hide_index=True, height=330, width="stretch")
        return []
    if rows is None:
        return []
    if hasattr(rows, "columns"):  # a DataFrame (st_aggrid's newer versions)
        return [str(t) for t in rows.get("tag", [])]
    return [str(r.get("tag")) for r in rows if isinstance(r, dict)]


def bucket_chart(report: HealthReport) -> None:
    import plotly.graph_objects as go

    if not report.bucket_rows:
        return
    labels = [f"{r.resolution[0]}×{r.resolution[1]}" for r in report.bucket_rows]
    counts = [r.count for r in report.bucket_rows]
    colors = ["#e0a030" if c < report.batch_size else "#7c6cf0" for c in counts]
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=colors,
                           hovertext=[f"{len(r.images)} image(s) × repeats" for r in report.bucket_rows]))
    fig.update_layout(title="Aspect-ratio buckets (images × repeats)", xaxis_title="bucket (w×h)",
                      yaxis_title="images", height=320, margin=dict(l=10, r=10, t=40, b=10))
    if report.batch_size > 1:
        fig.add_hline(y=report.batch_size, line_dash="dot", annotation_text=f"batch size {report.batch_size}")
    st.plotly_chart(fig, width="stretch", key="ds_bucket_chart")
