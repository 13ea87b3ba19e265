"""Tools: look inside a LoRA (or any .safetensors), edit its metadata, resize, merge, bake, try it.

Thin view over nyx_core.lora. ``?file=outputs/x.safetensors`` opens that file (the Monitor and
Files link here). Heavy work is submitted as jobs; reading a header is instant.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core.errors import NyxError
from nyx_ui import lora_view as lv
from nyx_ui.context import get_settings, get_workspace

st.title("Tools")
st.caption("Look inside a LoRA, edit its metadata, resize, merge, bake it into a checkpoint, or try it.")

ws = get_workspace()
files = lv.safetensors_files(str(ws.root), ("outputs", "models"))
wanted = st.query_params.get("file")
if wanted and "tools_file" not in st.session_state:
    st.session_state["tools_file"] = wanted

choice = st.selectbox("File", files, index=None, key="tools_pick", placeholder="Pick a .safetensors file…",
                      help="Files under outputs/ and models/, newest first. Or type a path below.")
if choice and choice != st.session_state.get("tools_last_pick"):
    st.session_state["tools_file"] = choice
    st.session_state["tools_last_pick"] = choice
rel = st.text_input("Path in the workspace", key="tools_file", placeholder="outputs/my_lora.safetensors")

path: Path | None = None
info = None
if rel:
    try:
        path = ws.resolve(rel, must_exist=True)
        if path.is_dir():
            raise NyxError(f"{rel} is a folder: pick a .safetensors file")
        info = lv.info_for(path)
        if st.query_params.get("file") != rel:
            st.query_params["file"] = rel
    except (NyxError, OSError) as exc:
        st.error(str(exc))
        path = None

if info is None or path is None:
    st.info("Pick a file to see its training metadata, tags and tensors.")
    st.stop()

tab_info, tab_tags, tab_tensors, tab_edit, tab_resize, tab_merge, tab_bake, tab_try = st.tabs(
    ["Overview", "Tags", "Tensors", "Edit metadata", "Resize", "Merge", "Bake", "Try it"])

with tab_info:
    lv.overview(info)
    lv.raw_metadata(info)
with tab_tags:
    lv.tags(info)
with tab_tensors:
    lv.tensors(info)
with tab_edit:
    lv.edit_form(ws, path, info)


def _jobs():
    from nyx_core.jobs import JobManager

    return JobManager(ws, get_settings())


def _dest(text: str) -> Path:
    dest = ws.resolve(text)
    if dest.suffix != ".safetensors":
        raise NyxError("the output must end in .safetensors")
    if dest.exists():
        raise NyxError(f"{text} already exists: choose a new name (nothing is overwritten)")
    if not dest.parent.is_dir():
        raise NyxError(f"folder does not exist: {ws.relative(dest.parent)}")
    return dest


with tab_resize:
    if info.kind not in ("LoRA", "LoCon"):
        st.warning(f"This is a {info.kind} file: only LoRA and LoCon files can be resized.")
    else:
        with st.form("tools_resize_form"):
            c = st.columns(4)
            method = c[0].selectbox("Method", ["fixed rank", "sv_ratio", "sv_fro", "sv_cumulative"],
                                    key="tools_rs_method",
                                    help="Dynamic methods pick a rank per module; the rank is then the upper bound.")
            rank = c[1].number_input("Rank", 1, 1024, max(1, (info.rank or 8) // 2), key="tools_rs_rank")
            param = c[2].number_input("Parameter", 0.0, 1000.0, 0.9, step=0.05, key="tools_rs_param",
                                      help="sv_ratio: largest/smallest kept singular value (e.g. 2–10); "
                                           "sv_fro / sv_cumulative: the fraction kept (e.g. 0.9)")
            precision = c[3].selectbox("Save as", ["fp16", "bf16", "fp32"], key="tools_rs_precision")
            conv = st.number_input("Conv rank (LoCon 3×3; 0 = same as rank)", 0, 1024, 0, key="tools_rs_conv")
            out = st.text_input("Output", ws.relative(path.with_name(lv.output_name(path, f"r{int(rank)}"))),
                                key="tools_rs_out")
            go = st.form_submit_button("Resize", icon=":material/compress:")
        if go:
            try:
                from nyx_core.lora.jobs import resize_recipe, submit_tool
                from nyx_core.lora.resize import ResizeOptions

                opts = dict(rank=int(rank), conv_rank=int(conv) or None,
                            dynamic=None if method == "fixed rank" else method,
                            param=None if method == "fixed rank" else float(param), precision=precision)
                ResizeOptions(**opts).check()
                job = submit_tool(_jobs(), resize_recipe(path, _dest(out), **opts), f"resize {path.stem}")
                lv.job_submitted(job)
            except NyxError as exc:
                st.error(str(exc))

with tab_merge:
    others = [f for f in files if f != rel]
    with st.form("tools_merge_form"):
        st.caption(f"Merges `{rel}` with the files you add, each at its weight. Concatenation keeps every "
                   "rank (exact); SVD reduces to a rank, as sd-scripts' svd_merge_lora.py.")
        picked = st.multiselect("Merge with", others, key="tools_mg_with")
        w0 = st.number_input(f"Weight of {path.name}", -4.0, 4.0, 1.0, step=0.05, key="tools_mg_w0")
        weights_text = st.text_input("Weights of the others (comma-separated, in order; default 1)",
                                     key="tools_mg_weights")
        c = st.columns(3)
        how = c[0].selectbox("Method", ["concatenate (exact)", "SVD to a rank"], key="tools_mg_method")
        mrank = c[1].number_input("Rank (SVD)", 1, 1024, info.rank or 8, key="tools_mg_rank")
        mprec = c[2].selectbox("Save as", ["fp16", "bf16", "fp32"], key="tools_mg_precision")
        mout = st.text_input("Output", ws.relative(path.with_name(lv.output_name(path, "merged"))),
                             key="tools_mg_out")
        mgo = st.form_submit_button("Merge", icon=":material/merge:")
    if mgo:
        try:
            from nyx_core.lora.jobs import merge_recipe, submit_tool

            if not picked:
                raise NyxError("pick at least one other LoRA to merge with")
            ws_ = [float(x) for x in weights_text.split(",") if x.strip()] if weights_text.strip() else []
            ws_ += [1.0] * (len(picked) - len(ws_))
            inputs = [(path, float(w0))] + [(ws.resolve(p, must_exist=True), w) for p, w in zip(picked, ws_)]
            recipe = merge_recipe(inputs, _dest(mout), None if how.startswith("concat") else int(mrank),
                                  precision=mprec)
            lv.job_submitted(submit_tool(_jobs(), recipe, f"merge {path.stem}"))
        except ValueError:
            st.error("weights are numbers separated by commas, e.g. 0.5, 0.8")
        except NyxError as exc:
            st.error(str(exc))

with tab_bake:
    checkpoints = [f for f in files if f.startswith("models/")]
    with st.form("tools_bake_form"):
        st.caption("Adds the LoRA to an SD1.5/SD2/SDXL checkpoint at a strength and writes a new checkpoint "
                   "(U-Net and text encoders, SDXL's second one too). Streams one tensor at a time.")
        ckpt = st.selectbox("Checkpoint", checkpoints, index=None, key="tools_bk_ckpt",
                            placeholder="a .safetensors checkpoint under models/")
        strength = st.number_input("Strength", -4.0, 4.0, 1.0, step=0.05, key="tools_bk_strength")
        bout = st.text_input("Output", "models/" + lv.output_name(path, "baked"), key="tools_bk_out")
        bgo = st.form_submit_button("Bake", icon=":material/layers:")
    if bgo:
        try:
            from nyx_core.lora.bake import plan_bake
            from nyx_core.lora.jobs import bake_recipe, submit_tool

            if not ckpt:
                raise NyxError("pick a checkpoint")
            ckpt_path = ws.resolve(ckpt, must_exist=True)
            recipe = bake_recipe(ckpt_path, [(path, float(strength))], _dest(bout))
            # headers only: refuses a wrong family or shape here, and says what will be left out
            plan = plan_bake(ckpt_path, [(str(path), float(strength))])
            lv.job_submitted(submit_tool(_jobs(), recipe, f"bake {path.stem}"))
            st.info(f"Bakes {plan.modules_baked} LoRA modules ({plan.parts()}) into {len(plan.targets)} layers "
                    f"of this {plan.family} checkpoint.")
            if plan.not_found:
                st.warning(plan.not_found_line())
        except NyxError as exc:
            st.error(str(exc))

with tab_try:
    from nyx_ui.try_view import try_tab

    try_tab(ws, path, info, _jobs)
