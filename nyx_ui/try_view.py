"""The Tools page's "Try it" tab: the grid form (prompts × strengths × epochs) for every family,
with the Flux/SD3 model files (default: the run's own) where the family needs them."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core.errors import NyxError
from nyx_core.lora.info import LoraInfo
from nyx_ui import lora_view as lv

SCRIPT_NOTE = {
    "Flux": "Runs sd-scripts' `flux_minimal_inference.py` once for the whole grid (model loaded once; "
            "each epoch file is a LoRA switched on per image).",
    "SD3": "Runs sd-scripts' `sd3_minimal_inference.py` once for the whole grid (model loaded once; "
           "each epoch file is a LoRA switched on per image).",
}


def _shown(ws, value: str) -> str:  # noqa: ANN001
    try:
        return ws.relative(Path(value))
    except ValueError:
        return value


def try_tab(ws, path: Path, info: LoraInfo, jobs) -> None:  # noqa: ANN001 - jobs: () -> JobManager
    from nyx_core.lora.tryit import default_size, defaults_from_run, find_run, run_models
    from nyx_core.lora.tryit_dit import SCRIPTS, encoder_fields

    family = info.family
    dit = family in SCRIPTS
    run_dir = find_run(ws, path)
    run_prompts, run_base = defaults_from_run(run_dir)
    models = run_models(run_dir)
    size = default_size(family)
    if dit:
        st.caption(SCRIPT_NOTE[family])
    with st.form("tools_try_form"):
        prompts = st.text_area("Prompts (one per line)", "\n".join(run_prompts), key="tools_try_prompts",
                               help="Default: the run's sample prompts. The trigger word is added when missing.")
        c = st.columns(4)
        strengths = c[0].text_input("Strengths", "0, 0.5, 0.75, 1", key="tools_try_strengths")
        epochs = c[1].selectbox("Epochs", ["this file", "all", "pick"], key="tools_try_epochs")
        pick = c[2].text_input("Epoch numbers (pick)", key="tools_try_pick", placeholder="2, 4, final")
        seed = c[3].number_input("Seed", 0, 2**31 - 1, 42, key="tools_try_seed")
        c2 = st.columns(4)
        base = c2[0].text_input("Base model", _shown(ws, run_base) if run_base else "", key="tools_try_base")
        steps = c2[1].number_input("Steps (0 = default)", 0, 500, 0, key="tools_try_steps",
                                   help="Default 20; Flux schnell 4.")
        width = c2[2].number_input("Width", 64, 4096, size, step=64, key="tools_try_w")
        height = c2[3].number_input("Height", 64, 4096, size, step=64, key="tools_try_h")
        extra: dict = {}
        if dit:
            fields = encoder_fields(family)
            ce = st.columns(len(fields))
            for col, (name, what) in zip(ce, fields):
                extra[name] = col.text_input(what, _shown(ws, models[name]) if models.get(name) else "",
                                             key=f"tools_try_{name}",
                                             help="Default: the run's own file. A bare name is looked up in models/."
                                             + (" Empty: the checkpoint's own, if it has one." if family == "SD3" else ""))
            c3 = st.columns(4)
            extra["precision"] = c3[0].selectbox("Precision", ["bf16", "fp16", "fp32"], key="tools_try_precision")
            extra["scale"] = c3[1].number_input("CFG scale", 0.0, 30.0, 1.0 if family == "Flux" else 5.0, step=0.5,
                                                key="tools_try_cfg",
                                                help="Flux: 1 = no CFG (uses guidance). SD3: 5 is the script's default.")
            if family == "Flux":
                extra["guidance"] = c3[2].number_input("Guidance", 0.0, 30.0, 3.5, step=0.5, key="tools_try_guidance")
            extra["offload"] = c3[3].checkbox("Offload to CPU", key="tools_try_offload",
                                              help="Less GPU memory, slower: models wait on the CPU between uses.")
        go = st.form_submit_button("Render grid", icon=":material/grid_view:")
    if go:
        try:
            from nyx_core.lora.tryit import TryRequest, submit_try

            for name in ("clip_l", "clip_g", "t5xxl", "ae"):
                if name in extra:
                    extra[name] = extra[name].strip() or None
            req = TryRequest(lora=str(path), prompts=prompts.splitlines(),
                             strengths=[float(x) for x in strengths.split(",") if x.strip()],
                             epochs={"this file": "", "all": "all"}.get(epochs, pick), base=base or None,
                             seed=int(seed), steps=int(steps) or None, width=int(width), height=int(height), **extra)
            lv.job_submitted(submit_try(jobs(), req))
        except NyxError as exc:  # first: a path error is also a ValueError
            st.error(str(exc))
        except ValueError:
            st.error("strengths are numbers separated by commas, e.g. 0, 0.5, 1")
    grids = lv.try_grids(path)
    if grids:
        lv.show_grid(ws, grids[0])
        if len(grids) > 1:
            st.caption(f"{len(grids) - 1} earlier grid(s) in `{ws.relative(grids[0].parent.parent)}`.")
